"""Fixtures of the evaluation tests: one torch thread (the train tests' fixture), a model trained
for a few steps."""

from __future__ import annotations

import pytest
import torch

from tests.train.conftest import one_thread, tiny_config  # noqa: F401  (one_thread: autouse, one torch thread)


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
