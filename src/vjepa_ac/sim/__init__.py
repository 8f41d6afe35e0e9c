"""A DROID-like simulated Franka Panda (MuJoCo): scenes, labs, EE-delta control, tasks, collection.

Needs the ``[sim]`` extra plus robosuite's asset files (``pip install --no-deps robosuite==1.5.2``).
Importing this package picks MuJoCo's offscreen GL backend (see ``_gl.py``) before MuJoCo loads.

Entry points:
- ``FrankaSim(SimConfig(...))``: ``reset(seed) -> Observation``, ``step(action[7]) -> Observation``.
- ``make_task(name, lab=..., image_size=..., seed=...)``: Reach, Grasp, ReachWithObject, PickAndPlace.
- ``collect(CollectConfig(...)) -> dict``: raw DROID episodes of scripted/noisy behaviours.
"""

from vjepa_ac.sim._gl import configure_gl

GL_BACKEND = configure_gl()
