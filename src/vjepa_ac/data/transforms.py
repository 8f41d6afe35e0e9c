"""Image pipeline: named deterministic crops, resize to the model resolution, ImageNet normalisation.

Crops (``CROPS``):

- ``"released"``: what the released recipe's augmentation (``random_resize_scale`` 1.777,
  ``random_resize_aspect_ratio`` 0.75-1.35) always ends in. A scale above 1 never fits, so its
  random-resized-crop falls back to a centre crop clamped to the aspect range: an image wider than
  1.35 (DROID's 1280x720 is 1.78) keeps its full height and a centred width ``round(1.35 H)``
  (972 px); one taller than 0.75 keeps its width and a centred height ``round(W / 0.75)``; one
  in between is kept whole (and squashed to a square). Then resized to ``size x size``.
- ``"square"``: centre square of side ``min(H, W)``, resized; for planning goal/observation images.

Resizing matches the released pipeline: ``F.interpolate(mode="bilinear", align_corners=False)``
on float pixels with no antialiasing (that is what the released encoder and predictor saw; pass
``antialias=True`` for a cleaner downscale in new models). Outputs are rounded back to uint8 so
clips stay small in DataLoader queues; this adds at most 0.5/255 of pixel error against the
released float pipeline. Normalisation happens later, on the device, with ``normalize``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CROPS = ("released", "square")
RELEASED_ASPECT_RANGE = (0.75, 1.35)  # width / height range of the released random-resized crop
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def crop_box(height: int, width: int, crop: str) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of the named crop in an image of ``height x width`` pixels."""
    if crop == "released":
        lo, hi = RELEASED_ASPECT_RANGE
        ratio = width / height
        if ratio < lo:
            w, h = width, int(round(width / lo))
        elif ratio > hi:
            h, w = height, int(round(height * hi))
        else:
            h, w = height, width
    elif crop == "square":
        h = w = min(height, width)
    else:
        raise ValueError(f"unknown crop {crop!r}; choose one of {CROPS}")
    return (height - h) // 2, (width - w) // 2, h, w


def crop_and_resize(
    frames: np.ndarray | torch.Tensor, crop: str = "released", size: int = 256, antialias: bool = False
) -> torch.Tensor:
    """Crop and resize RGB frames.

    frames: ``[T, H, W, 3]`` uint8 (as decoded). Returns ``[T, 3, size, size]`` uint8.
    Frames are processed one at a time so a 1280x720 clip never exists as float all at once.
    """
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
        raise ValueError(f"frames must be [T, H, W, 3] uint8, got {tuple(x.shape)} {x.dtype}")
    t, height, width, _ = x.shape
    top, left, h, w = crop_box(height, width, crop)
    out = torch.empty(t, 3, size, size, dtype=torch.uint8)
    for i in range(t):
        patch = x[i, top : top + h, left : left + w].permute(2, 0, 1)  # [3, h, w]
        if (h, w) == (size, size):
            out[i] = patch
            continue
        out[i] = resize_uint8(patch[None], size, antialias)[0]
    return out


def resize_uint8(frames: torch.Tensor, size: int, antialias: bool = False) -> torch.Tensor:
    """uint8 ``[B, 3, h, w]`` -> uint8 ``[B, 3, size, size]``: bilinear (the released pipeline does
    not antialias), rounded to the nearest integer."""
    x = F.interpolate(frames.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def normalize(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ImageNet normalisation of uint8 frames ``[..., 3, H, W]`` -> float ``(x/255 - mean) / std``.

    Call it on the device, just before the encoder.
    """
    if frames.shape[-3] != 3:
        raise ValueError(f"frames must be [..., 3, H, W], got {tuple(frames.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=frames.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=frames.device).view(3, 1, 1)
    return (frames.to(dtype) / 255.0 - mean) / std
