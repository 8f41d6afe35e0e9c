"""Helpers for the planner tests (imported by name; conftest.py holds only fixtures)."""

from __future__ import annotations

import torch

from vjepa_ac.plan.actions import GRIPPER_DIM, XYZ
from vjepa_ac.plan.interface import Context
from vjepa_ac.plan.toy import ToyWorldModel

# Start pose: 40 cm in front of the base, 30 cm up, gripper open (state layout of REFERENCE 6).
START = (0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0)


class RecordingModel:
    """Wraps a world model and keeps every candidate batch it is asked to roll out."""

    def __init__(self, inner):
        self.inner = inner
        self.batches: list[torch.Tensor] = []

    def rollout(self, context, actions):
        self.batches.append(actions.detach().clone())
        return self.inner.rollout(context, actions)


def context_at(model: ToyWorldModel, state: torch.Tensor) -> Context:
    return Context.single(model.embed(state), state)


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def target_from(start: torch.Tensor, dxyz, gripper: float = 0.0) -> torch.Tensor:
    """The state ``[7]`` a planner should reach: ``start`` moved by ``dxyz`` (m), gripper set."""
    t = start.clone()
    t[XYZ] += torch.tensor(dxyz)
    t[GRIPPER_DIM] = gripper
    return t
