"""Fixtures of the evaluation tests: one torch thread, a model trained for a few steps."""

from __future__ import annotations

import pytest
import torch

from tests.train.conftest import tiny_config


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and the CPU is shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder of the train tests' tiny config (32 px, 6 steps): its latest checkpoint loads
    with ``load_world_model``. Shared by the tests of this folder (read only)."""
    from vjepa_ac.train.loop import train

    run_dir = tmp_path_factory.mktemp("eval") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train(tiny_config(run_dir))
    torch.set_num_threads(before)
    return run_dir
