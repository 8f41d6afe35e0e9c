"""End to end: the simulated Franka of ``vjepa_ac.sim`` driven only through the planning client.

The server holds the tiny random-weight model (the point is the plumbing: images, states and
actions crossing the wire each step, goals registered and deleted), on a loopback port.
"""

from __future__ import annotations

import numpy as np
import pytest

tasks = pytest.importorskip("vjepa_ac.sim.tasks", reason="needs the sim package and the [sim] extra",
                            exc_type=ImportError)

from vjepa_ac.client import PlanningClient
from vjepa_ac.serve.app import create_app
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.loop import run_episode
from vjepa_ac.serve.server import BackgroundServer
from vjepa_ac.serve.service import PlanningService

pytestmark = pytest.mark.sim


def test_sim_reach_driven_through_the_client(tiny_model):
    task = tasks.make_task("reach", image_size=64)
    service = PlanningService(tiny_model, ServeConfig(port=0))
    with BackgroundServer(create_app(service)) as url, PlanningClient(url, image_encoding="png") as client:
        result = run_episode(client, task, seed=0, max_steps=3, num_samples=32, iterations=2, num_elites=4)
        health = client.health()
    assert result.steps == task.steps == 3 and result.actions.shape == (3, 7)
    assert np.all(np.abs(result.actions[:, :3]).sum(axis=1) <= 0.075 + 1e-6)  # inside the L1 ball
    assert np.all(result.actions[:, 3:6] == 0) and np.isfinite(result.energies).all()
    assert isinstance(result.success, bool) and result.distance is not None
    assert health["planned"] == 3 and health["goals"] == 0 and health["failed"] == 0
