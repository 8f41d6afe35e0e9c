"""The served model's names, kept for callers of the older API: ``ServedModel`` is
``vjepa_ac.load.LoadedWorldModel`` (one record) and ``load_service_model`` is
``vjepa_ac.load.load_world_model`` with the server's default device ``"auto"`` (one loader).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from vjepa_ac.load import RELEASED_AC_FPS, LoadedWorldModel, file_id, load_world_model, resolve_device

ServedModel = LoadedWorldModel

__all__ = ["RELEASED_AC_FPS", "ServedModel", "file_id", "load_service_model", "resolve_device"]


def load_service_model(checkpoint: str, device: str | torch.device = "auto", crop: str | None = None,
                       max_batch: int | None = None, encoder_kwargs: Mapping[str, Any] | None = None,
                       predictor_kwargs: Mapping[str, Any] | None = None) -> LoadedWorldModel:
    """``load_world_model(checkpoint, device=device, ...)``; see ``vjepa_ac.load``."""
    return load_world_model(checkpoint, device=device, crop=crop, max_batch=max_batch,
                            encoder_kwargs=encoder_kwargs, predictor_kwargs=predictor_kwargs)
