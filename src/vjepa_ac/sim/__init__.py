"""A DROID-like simulated Franka Panda (MuJoCo): scenes, labs, EE-delta control, tasks, collection.

Needs the ``[sim]`` extra plus robosuite's asset files (``pip install --no-deps robosuite==1.5.2``).
Importing this package picks MuJoCo's offscreen GL backend (see ``_gl.py``) before MuJoCo loads,
so import ``vjepa_ac.sim`` before anything that imports ``mujoco``.

Entry points:
- ``vjepa_ac.sim.env.FrankaSim(SimConfig(...))``: ``reset(seed) -> Observation``, ``step(action[7])``.
- ``vjepa_ac.sim.tasks.make_task(name, lab=..., image_size=...)``: reach, grasp, reach_with_object,
  pick_and_place, with goal images, success detectors and episode videos.
- ``vjepa_ac.sim.collect.collect(CollectConfig(...)) -> dict``: raw DROID episodes (``vjepa-ac sim collect``).
- ``vjepa_ac.sim.labs``: TRAIN_LABS (data) and EVAL_LABS (held out for evaluation).
"""

from vjepa_ac.sim._gl import configure_gl

GL_BACKEND = configure_gl()
