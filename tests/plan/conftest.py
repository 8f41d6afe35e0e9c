"""Fixtures for planner tests: the analytic toy world model and a start state."""

from __future__ import annotations

import pytest
import torch

from plan_helpers import START
from vjepa_ac.plan.toy import ToyWorldModel


@pytest.fixture
def toy() -> ToyWorldModel:
    return ToyWorldModel(tokens=4, width=16, seed=0)


@pytest.fixture
def start() -> torch.Tensor:
    return torch.tensor(START)
