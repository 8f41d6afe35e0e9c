"""The planners' world model over the real encoder and predictor.

``LatentWorldModel`` satisfies ``plan.interface.WorldModel``: ``encode`` takes camera frames
(uint8, any size), applies the planning crop (a named crop of ``data.transforms``: the one the
training run used, ``vjepa_ac.load``; resized to the model resolution) and ImageNet normalisation, and returns layer-normed representations; ``rollout`` predicts
from a ``Context`` with cached keys/values, advancing the state by each action with
``data.poses.apply_actions``. ``rollout_differentiable`` is the same prediction with autograd on,
for the gradient planner (``plan.interface.DifferentiableRolloutModel``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vjepa_ac.data.poses import apply_actions
from vjepa_ac.data.transforms import crop_and_resize, normalize
from vjepa_ac.models.encoder import VisionTransformer
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.models.world_model import ACWorldModel
from vjepa_ac.plan.interface import Context


class LatentWorldModel:
    """Frozen encoder + AC predictor as a planning world model.

    crop: the named crop of ``data.transforms`` applied to incoming frames; plan with the crop
    the model was trained with (``vjepa_ac.load.load_world_model`` reads it from the run).
    max_batch: candidates per predictor call (bounds memory; the planners chunk too); None: chosen by
        ``ACWorldModel.auto_batch`` (CPU: ~1024 new tokens per call, measured fastest; GPU: all at once).
    """

    def __init__(self, encoder: VisionTransformer | None, predictor: ACPredictor, crop: str = "square",
                 max_batch: int | None = None, device: torch.device | str | None = None):
        self.device = torch.device(device) if device is not None else next(predictor.parameters()).device
        self.model = ACWorldModel(predictor.to(self.device), advance_state=apply_actions,
                                encoder=None if encoder is None else encoder.to(self.device), max_batch=max_batch)
        self.crop = crop
        self.image_size = None if encoder is None else encoder.cfg.img_size

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """images: uint8 [B, H, W, 3] or [B, 3, H, W] -> layer-normed reps [B, N, D]."""
        if self.image_size is None:
            raise RuntimeError("this world model has no encoder; give it representations, not images")
        images = torch.as_tensor(images)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 images [B, H, W, 3] or [B, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        if images.shape[1] == 3 and images.shape[-1] != 3:
            images = images.permute(0, 2, 3, 1)  # [B, H, W, 3]
        frames = crop_and_resize(images.cpu(), crop=self.crop, size=self.image_size)  # [B, 3, S, S] uint8
        x = normalize(frames.to(self.device))  # [B, 3, S, S]
        return self.model.encode(x[:, None])[:, 0]  # [B, N, D]

    @torch.no_grad()
    def rollout(self, context: Context, actions: Tensor) -> Tensor:
        """actions: [S, H, 7] -> layer-normed reps [S, H, N, D] after each action."""
        return self.model.rollout(context.z.to(self.device), context.states.to(self.device),
                                  actions.to(self.device), context.actions.to(self.device))

    def rollout_differentiable(self, context: Context, actions: Tensor) -> Tensor:
        """``rollout`` through which gradients reach ``actions [S, H, 7]`` (the gradient planner)."""
        with torch.enable_grad():
            return self.model.rollout_differentiable(
                context.z.to(self.device), context.states.to(self.device), actions.to(self.device),
                context.actions.to(self.device))
