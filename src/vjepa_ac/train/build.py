"""Build the frozen encoder and the trainable predictor of a ``ModelConfig``."""

from __future__ import annotations

import torch

from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import RELEASED, load_strict, read_checkpoint, strip_prefixes
from vjepa_ac.runs import frozen_encoder
from vjepa_ac.train.config import ModelConfig


def build_encoder(cfg: ModelConfig, device: torch.device) -> FrameEncoder:
    """The frozen encoder: seeded random weights or a released-format checkpoint read with
    ``cfg.encoder``'s architecture (``runs.frozen_encoder``, which planning uses too)."""
    vit = frozen_encoder(cfg.encoder, cfg.encoder_checkpoint, cfg.encoder_key, cfg.init_seed)
    return FrameEncoder(vit.to(device), max_frames_per_batch=cfg.encoder_frames_per_call)


def build_predictor(cfg: ModelConfig, device: torch.device) -> ACPredictor:
    """The predictor: seeded init or the ``predictor`` entry of a released-format file. An unused
    extrinsics encoder is frozen (no gradient, no weight decay, not synchronised by DDP)."""
    if cfg.predictor_init == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed + 1)
            model = ACPredictor(cfg.predictor)
    else:
        rel = RELEASED.get(cfg.predictor_init)
        model = ACPredictor(cfg.predictor, device="meta")
        state = read_checkpoint(rel.url if rel else cfg.predictor_init)
        load_strict(model, strip_prefixes(state["predictor"]), f"predictor_init={cfg.predictor_init}")
    if not cfg.predictor.use_extrinsics:
        model.extrinsics_encoder.requires_grad_(False)
    return model.to(device).train()
