"""Fixtures for the simulator tests: skip cleanly without the [sim] extra or robosuite's assets."""

from __future__ import annotations

import importlib.util

import pytest

# find_spec, not importorskip: importing mujoco before vjepa_ac.sim would fix its GL backend too early
for _module, _hint in (("mujoco", "the [sim] extra"), ("fast_simplification", "the [sim] extra"),
                       ("robosuite", "robosuite's asset files: pip install --no-deps robosuite==1.5.2")):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is missing ({_hint})", allow_module_level=True)

import vjepa_ac.sim  # noqa: F401  (chooses MUJOCO_GL before mujoco is imported)
from vjepa_ac.sim.env import FrankaSim, SimConfig

SIZE = 64  # px: tiny frames keep the tests fast


@pytest.fixture(scope="session")
def sim():
    """One 64 px simulator in the first training lab, shared by the tests (reset before use)."""
    s = FrankaSim(SimConfig(image_size=SIZE))
    yield s
    s.close()
