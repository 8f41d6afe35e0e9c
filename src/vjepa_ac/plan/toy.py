"""An analytic world model with a known optimum, for tests and ``benchmarks/bench_plan.py``.

Representation: a fixed random affine embedding of the state's features (xyz / ``xyz_scale``,
euler / ``rot_scale``, gripper) into ``[N, D]``, layer-normed over D. Dynamics: the action is
added to the state (rotation added as angles, a small-angle toy of the real pose math) and the
gripper is clipped to [0, 1]. The goal representation is ``embed(target_state)``, so the
energy is 0 exactly at the target. A toy "camera" (``render``) writes the state into pixels,
and ``encode`` reads it back, so the image policy can be tested without a simulator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vjepa_ac.plan.actions import ACTION_DIM, GRIPPER, ROT, XYZ
from vjepa_ac.plan.interface import Context

_PIXEL_RANGE = 4.0  # the toy camera stores state values in [-2, 2) as 16-bit fixed point
_IMAGE_SIZE = 8  # pixels per side of a toy image


class ToyWorldModel:
    """Satisfies ``plan.interface.WorldModel`` and ``DifferentiableRolloutModel``."""

    def __init__(self, tokens: int = 4, width: int = 16, seed: int = 0, xyz_scale: float = 0.1,
                 rot_scale: float = 0.5, device: torch.device | str = "cpu"):
        g = torch.Generator().manual_seed(seed)
        self.tokens, self.width = tokens, width
        self.xyz_scale, self.rot_scale = xyz_scale, rot_scale
        self.device = torch.device(device)
        self.weight = torch.randn(ACTION_DIM, tokens * width, generator=g).to(self.device)  # [7, N*D]
        self.bias = torch.randn(tokens * width, generator=g).to(self.device)  # [N*D]

    def features(self, states: Tensor) -> Tensor:
        """``states [..., 7]`` -> scaled features ``[..., 7]``."""
        f = states.clone()
        f[..., XYZ] = states[..., XYZ] / self.xyz_scale
        f[..., ROT] = states[..., ROT] / self.rot_scale
        return f

    def embed(self, states: Tensor) -> Tensor:
        """``states [..., 7]`` -> layer-normed reps ``[..., N, D]``."""
        h = self.features(states.to(self.device, torch.float32)) @ self.weight + self.bias  # [..., N*D]
        h = h.reshape(*states.shape[:-1], self.tokens, self.width)  # [..., N, D]
        return F.layer_norm(h, (self.width,))

    @staticmethod
    def advance(states: Tensor, actions: Tensor) -> Tensor:
        """``states [..., 7]`` after ``actions [..., 7]``: added, gripper clipped to [0, 1]."""
        nxt = states + actions  # [..., 7]
        gripper = nxt[..., GRIPPER].clamp(0.0, 1.0)  # out of place: the rollout stays differentiable
        return torch.cat([nxt[..., :GRIPPER.start], gripper, nxt[..., GRIPPER.stop:]], dim=-1)

    def rollout(self, context: Context, actions: Tensor) -> Tensor:
        """``actions [S, H, 7]`` -> reps after each action ``[S, H, N, D]`` from the last context state."""
        S, H, _ = actions.shape
        state = context.states[-1].to(self.device).expand(S, ACTION_DIM)  # [S, 7]
        states = []
        for h in range(H):
            state = self.advance(state, actions[:, h].to(self.device))  # [S, 7]
            states.append(state)
        return self.embed(torch.stack(states, dim=1))  # [S, H, N, D]

    def rollout_differentiable(self, context: Context, actions: Tensor) -> Tensor:
        """``rollout`` is plain differentiable torch: gradients reach ``actions [S, H, 7]``."""
        return self.rollout(context, actions)

    # -- toy camera
    def render(self, state: Tensor) -> Tensor:
        """``state [7]`` -> uint8 image ``[8, 8, 3]`` holding the state in 16-bit fixed point."""
        q = ((state.double().cpu() + _PIXEL_RANGE / 2) / _PIXEL_RANGE * 65536).round().clamp(0, 65535)
        q = q.to(torch.int64)  # [7]
        raw = torch.stack([q // 256, q % 256], dim=-1).flatten()  # [14]
        img = torch.zeros(_IMAGE_SIZE * _IMAGE_SIZE * 3, dtype=torch.uint8)
        img[: raw.numel()] = raw.to(torch.uint8)
        return img.reshape(_IMAGE_SIZE, _IMAGE_SIZE, 3)

    def read_state(self, images: Tensor) -> Tensor:
        """Inverse of ``render``: uint8 ``[B, H, W, 3]`` or ``[B, 3, H, W]`` -> states ``[B, 7]``."""
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 [B, H, W, 3] or [B, 3, H, W], got {images.dtype} "
                             f"{tuple(images.shape)}")
        if images.shape[-1] != 3:
            images = images.permute(0, 2, 3, 1)  # [B, H, W, 3]
        raw = images.reshape(images.shape[0], -1)[:, : 2 * ACTION_DIM].to(torch.int64)  # [B, 14]
        q = raw[:, 0::2] * 256 + raw[:, 1::2]  # [B, 7]
        return (q.double() / 65536 * _PIXEL_RANGE - _PIXEL_RANGE / 2).float()

    def encode(self, images: Tensor) -> Tensor:
        """Toy image encoder: uint8 images -> reps ``[B, N, D]`` of the state they show."""
        return self.embed(self.read_state(images))
