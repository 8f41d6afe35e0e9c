"""Build the frozen encoder and the trainable predictor of a ``ModelConfig``."""

from __future__ import annotations

import logging

import torch

from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import load_strict
from vjepa_ac.runs import frozen_encoder
from vjepa_ac.train.config import FinetuneConfig, ModelConfig
from vjepa_ac.train.finetune import apply_finetune, start_point

log = logging.getLogger(__name__)


def build_encoder(cfg: ModelConfig, device: torch.device) -> FrameEncoder:
    """The frozen encoder: seeded random weights or a released-format checkpoint read with
    ``cfg.encoder``'s architecture (``runs.frozen_encoder``, which planning uses too)."""
    vit = frozen_encoder(cfg.encoder, cfg.encoder_checkpoint, cfg.encoder_key, cfg.init_seed)
    return FrameEncoder(vit.to(device), max_frames_per_batch=cfg.encoder_frames_per_call)


def build_predictor(cfg: ModelConfig, device: torch.device, finetune: FinetuneConfig | None = None) -> ACPredictor:
    """The predictor: seeded init, or the start weights ``finetune.init`` names (a release, a
    released-format file, a Hub folder / id, a run: ``train/finetune.start_point``), loaded
    strictly, at the LayerNorm eps they were trained with (written into ``cfg.predictor``); then
    ``finetune``'s frozen blocks / LoRA adapters. An unused extrinsics encoder is frozen (no
    gradient, no weight decay, not synchronised by DDP)."""
    finetune = finetune or FinetuneConfig()
    init = finetune.init if finetune.init != "none" else cfg.predictor_init
    if init == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed + 1)
            model = ACPredictor(cfg.predictor)
    else:
        state, norm_eps = start_point(init)
        if norm_eps != cfg.predictor.norm_eps:
            # the start weights were trained with another LayerNorm eps: keep theirs, and record it
            # in the config (the run saves it again after setup, and in every checkpoint)
            log.info("model.predictor.norm_eps %g -> %g: the eps finetune.init=%s was trained with",
                     cfg.predictor.norm_eps, norm_eps, init)
            cfg.predictor.norm_eps = norm_eps
        model = ACPredictor(cfg.predictor, device="meta")
        load_strict(model, state, f"finetune.init={init}")
    if not cfg.predictor.use_extrinsics:
        model.extrinsics_encoder.requires_grad_(False)
    apply_finetune(model, finetune)
    return model.to(device).train()
