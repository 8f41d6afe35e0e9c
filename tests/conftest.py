"""Shared test fixtures: golden tensors from the public implementation, thread limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vjepa_ac.threads import prefer_passive_wait

prefer_passive_wait()  # before torch starts OpenMP: waiting threads sleep (the suite shares a small machine)
import torch  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# reference tensors of the public implementation (copied from the project's shared/golden)
GOLDEN = Path(os.environ.get("VJEPA_AC_GOLDEN", ARTIFACTS / "golden"))
# a real two-frame Franka trajectory from the public repository
FRANKA_EXAMPLE = ARTIFACTS / "franka_example_traj.npz"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny models run fastest so, and the CPU is shared); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load_golden(name: str) -> dict:
    path = GOLDEN / f"{name}.pt"
    assert path.is_file(), f"golden file {path} is missing"
    return torch.load(path, weights_only=True)


@pytest.fixture
def golden():
    return load_golden
