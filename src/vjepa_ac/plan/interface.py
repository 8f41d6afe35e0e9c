"""What planners need from a world model: a ``Context`` and the ``rollout``/``encode`` verbs.

Planners call only ``RolloutModel.rollout`` (the gradient planner: ``DifferentiableRolloutModel.
rollout_differentiable``); the image policy (``plan/mpc.py: Planner``) also
calls ``WorldModel.encode``. Two classes satisfy these protocols: ``plan.world_model.
LatentWorldModel`` (the real encoder + predictor, an adapter over ``models.world_model.
ACWorldModel``, whose own ``rollout(z, states, actions)`` takes tensors, not a ``Context``) and
the analytic ``plan.toy.ToyWorldModel``; nothing here imports either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from vjepa_ac.plan.actions import ACTION_DIM


@dataclass(frozen=True)
class Context:
    """The observed past a plan starts from.

    z: [C, N, D] layer-normed representations of the C context frames (usually C = 1)
    states: [C, 7] end-effector states of those frames
    actions: [C-1, 7] actions taken between them
    """

    z: Tensor
    states: Tensor
    actions: Tensor

    def __post_init__(self) -> None:
        if self.z.ndim != 3:
            raise ValueError(f"Context.z must be [C, N, D], got {tuple(self.z.shape)}")
        C = self.z.shape[0]
        if tuple(self.states.shape) != (C, ACTION_DIM):
            raise ValueError(f"Context.states must be [{C}, {ACTION_DIM}], got {tuple(self.states.shape)}")
        if tuple(self.actions.shape) != (C - 1, ACTION_DIM):
            raise ValueError(f"Context.actions must be [{C - 1}, {ACTION_DIM}], "
                             f"got {tuple(self.actions.shape)}")

    @classmethod
    def single(cls, z: Tensor, state: Tensor) -> Context:
        """One context frame: ``z [N, D]`` or ``[1, N, D]``, ``state [7]`` or ``[1, 7]``."""
        z = z.reshape(1, *z.shape[-2:])  # [1, N, D]
        state = state.reshape(1, ACTION_DIM).to(z.device)  # [1, 7]
        return cls(z=z, states=state, actions=state.new_zeros(0, ACTION_DIM))

    @property
    def device(self) -> torch.device:
        return self.z.device


@runtime_checkable
class RolloutModel(Protocol):
    """The one verb planners use."""

    def rollout(self, context: Context, actions: Tensor) -> Tensor:
        """Predict after each action: ``actions [S, H, 7]`` -> layer-normed reps ``[S, H, N, D]``.

        Each of the S candidate sequences starts from ``context``; the model advances the
        state itself (pose math), so step h sees the state after actions 0..h-1.
        """
        ...


@runtime_checkable
class DifferentiableRolloutModel(RolloutModel, Protocol):
    """A rollout model whose predictions can be differentiated w.r.t. the actions (the gradient
    planner's need; ``rollout`` itself may run under ``torch.no_grad``)."""

    def rollout_differentiable(self, context: Context, actions: Tensor) -> Tensor:
        """As ``rollout``: ``actions [S, H, 7]`` -> ``[S, H, N, D]``, with autograd recording."""
        ...


@runtime_checkable
class WorldModel(RolloutModel, Protocol):
    """A rollout model that also encodes camera frames."""

    def encode(self, images: Tensor) -> Tensor:
        """``images`` uint8 ``[B, H, W, 3]`` or ``[B, 3, H, W]`` -> layer-normed reps ``[B, N, D]``."""
        ...
