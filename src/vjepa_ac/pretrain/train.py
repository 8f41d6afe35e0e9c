"""Pretraining loop: ``PretrainConfig``, schedules, ``train_step`` and ``pretrain``.

Each step draws ``batch_size`` random frames of the training episodes, crops them (V-JEPA's
random resized crop, or the deterministic resize), repeats each frame to fill one tubelet (the
way V-JEPA 2-AC encodes frames, so the encoder is trained on exactly the inputs it will see),
samples one mask per mask kind, and takes an AdamW step on the L1 loss; the target encoder then
follows by EMA. The target encoder is the one to keep (as V-JEPA 2's ``target_encoder``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from vjepa_ac.data.transforms import normalize
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.official import save_encoder
from vjepa_ac.pretrain.frames import FrameSet, random_resized_crop, resize
from vjepa_ac.pretrain.masks import MaskSpec, sample_masks
from vjepa_ac.pretrain.model import JEPA, JEPAPredictor, JEPAPredictorConfig, ema_update
from vjepa_ac.train.optim import param_groups, set_lr

log = logging.getLogger(__name__)

# Masks for a 4x4 grid (64 px): V-JEPA's short-range (8 x 15 %) and long-range (2 x 70 %) blocks
# leave 2-5 of 16 tokens visible; these hide ~45 % and ~69 % (targets 7.2 / 11.0 of 16 tokens
# on average; 29 / 43 of 64 at 128 px).
SMALL_GRID_MASKS = (MaskSpec(num_blocks=4, scale=(0.15, 0.15)), MaskSpec(num_blocks=2, scale=(0.5, 0.5)))
VJEPA_MASKS = (MaskSpec(num_blocks=8, scale=(0.15, 0.15)), MaskSpec(num_blocks=2, scale=(0.7, 0.7)))
MASK_PRESETS = {"small_grid": SMALL_GRID_MASKS, "vjepa": VJEPA_MASKS}


def default_encoder() -> EncoderConfig:
    """The project's small default: 64 px, 16 tokens per frame, 192 wide, 4 blocks, 3 heads."""
    return EncoderConfig(img_size=64, patch_size=16, embed_dim=192, depth=4, num_heads=3)


@dataclass
class PretrainConfig:
    """Everything one pretraining run depends on (stored in its report)."""

    encoder: EncoderConfig = field(default_factory=default_encoder)
    predictor: JEPAPredictorConfig = field(default_factory=JEPAPredictorConfig)
    masks: str = "small_grid"  # a key of MASK_PRESETS
    # data
    val_fraction: float = 0.05  # episodes held out (same split as the feature cache / trainer)
    split_seed: int = 0
    augment: bool = True  # random resized crop (else the deterministic resize of the encode pipeline)
    crop_scale: tuple[float, float] = (0.3, 1.0)  # area fraction (V-JEPA: random_resize_scale)
    crop_aspect: tuple[float, float] = (0.75, 1.35)  # width / height (V-JEPA)
    # optimisation
    steps: int = 3000
    batch_size: int = 64  # frames per step
    warmup: int = 300  # steps of linear warm-up from start_lr
    start_lr: float = 1e-4
    lr: float = 5e-4  # peak, then cosine to final_lr
    final_lr: float = 1e-6
    weight_decay: float = 0.04  # on weights, not on biases / norms / mask tokens
    grad_clip: float = 1.0  # max global grad norm (0 = off)
    ema: tuple[float, float] = (0.996, 1.0)  # target momentum, linear from first to last over the run
    seed: int = 0
    log_every: int = 50  # steps
    snapshot_every: int = 0  # steps between target-encoder files (0 = only the final one)

    def __post_init__(self):
        if self.masks not in MASK_PRESETS:
            raise ValueError(f"masks must be one of {sorted(MASK_PRESETS)}, got {self.masks!r}")
        if self.predictor.embed_dim != self.encoder.embed_dim:
            raise ValueError(f"predictor.embed_dim {self.predictor.embed_dim} != encoder.embed_dim "
                             f"{self.encoder.embed_dim}")
        if self.steps < 1 or self.batch_size < 1 or not 0 <= self.warmup <= self.steps:
            raise ValueError("need steps >= 1, batch_size >= 1 and 0 <= warmup <= steps")
        if not 0.0 <= self.ema[0] <= self.ema[1] <= 1.0:
            raise ValueError(f"ema must satisfy 0 <= start <= end <= 1, got {self.ema}")

    @property
    def mask_specs(self) -> tuple[MaskSpec, ...]:
        return MASK_PRESETS[self.masks]


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up ``start_lr -> lr`` over ``warmup`` steps, then cosine down to ``final_lr``."""
    if step < cfg.warmup:
        return cfg.start_lr + (cfg.lr - cfg.start_lr) * step / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def momentum_at(step: int, cfg: PretrainConfig) -> float:
    """EMA momentum, linear from ``ema[0]`` to ``ema[1]`` over the run (I-JEPA / V-JEPA)."""
    return cfg.ema[0] + (cfg.ema[1] - cfg.ema[0]) * step / cfg.steps


def build_optimizer(jepa: JEPA, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW over the online encoder and predictor (the target encoder is frozen, so left out);
    no decay on 1-D tensors (biases, norms) and the mask tokens."""
    groups = param_groups(jepa, cfg.weight_decay, exempt=[jepa.predictor.mask_tokens])
    return torch.optim.AdamW(groups, lr=cfg.start_lr, betas=(0.9, 0.999))


def make_clip(frames: torch.Tensor, tubelet: int) -> torch.Tensor:
    """uint8 frames ``[B, 3, R, R]`` -> normalised clip ``[B, 3, tubelet, R, R]`` (each frame repeated)."""
    return normalize(frames).unsqueeze(2).expand(-1, -1, tubelet, -1, -1)


def batch_frames(data: FrameSet, cfg: PretrainConfig, g: torch.Generator) -> torch.Tensor:
    """``batch_size`` random training frames as model inputs: uint8 ``[B, 3, R, R]``."""
    idx = torch.randint(0, len(data), (cfg.batch_size,), generator=g).sort().values.numpy()
    raw = data.frames(idx)  # [B, 3, S, S]
    size = cfg.encoder.img_size
    if cfg.augment:
        return random_resized_crop(raw, size, cfg.crop_scale, cfg.crop_aspect, g)
    return resize(raw, size)


def train_step(jepa: JEPA, clip: torch.Tensor, optimizer: torch.optim.Optimizer, cfg: PretrainConfig,
               step: int, g: torch.Generator) -> dict[str, float]:
    """One optimisation step on ``clip [B, C, T, H, W]`` and the EMA update; returns metrics."""
    lr, momentum = lr_at(step, cfg), momentum_at(step, cfg)
    set_lr(optimizer, lr)
    grid = jepa.encoder.token_grid(clip)
    masks = [sample_masks(spec, clip.shape[0], grid, g) for spec in cfg.mask_specs]
    loss, stats = jepa.loss(clip, masks)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"step {step}: loss is {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        stats["grad_norm"] = nn.utils.clip_grad_norm_(
            [p for group in optimizer.param_groups for p in group["params"]], cfg.grad_clip
        ).item()
    optimizer.step()
    ema_update(jepa.target, jepa.encoder, momentum)
    return {**stats, "lr": lr, "momentum": momentum}


def build_jepa(cfg: PretrainConfig) -> JEPA:
    torch.manual_seed(cfg.seed)
    return JEPA(VisionTransformer(cfg.encoder), JEPAPredictor(cfg.predictor))


def pretrain(cfg: PretrainConfig, train: FrameSet, out_dir: str | Path) -> tuple[VisionTransformer, list[dict]]:
    """Run ``cfg.steps`` steps on ``train``; writes ``<out_dir>/log.jsonl`` and target-encoder
    snapshots ``<out_dir>/snapshots/step_<k>.pt``. Returns the target encoder and the log."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jepa = build_jepa(cfg)
    jepa.encoder.train()
    optimizer = build_optimizer(jepa, cfg)
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    t0, t_data, t_step = time.perf_counter(), 0.0, 0.0
    with open(out_dir / "log.jsonl", "w") as logf:
        for step in range(cfg.steps):
            t = time.perf_counter()
            clip = make_clip(batch_frames(train, cfg, g), cfg.encoder.tubelet_size)  # [B, 3, 2, R, R]
            t_data += time.perf_counter() - t
            t = time.perf_counter()
            stats = train_step(jepa, clip, optimizer, cfg, step, g)
            t_step += time.perf_counter() - t
            if step % cfg.log_every == 0 or step == cfg.steps - 1:
                row = {"step": step, **{k: round(v, 5) if isinstance(v, float) else v for k, v in stats.items()},
                       "elapsed_s": round(time.perf_counter() - t0, 1), "data_s": round(t_data, 1),
                       "compute_s": round(t_step, 1)}
                history.append(row)
                logf.write(json.dumps(row) + "\n")
                logf.flush()
                log.info("%s", json.dumps(row))
            if cfg.snapshot_every and (step + 1) % cfg.snapshot_every == 0 and step + 1 < cfg.steps:
                save_encoder(jepa.target, out_dir / "snapshots" / f"step_{step + 1:06d}.pt")
    return jepa.target, history


def config_dict(cfg: PretrainConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def seeded_random_encoder(cfg: EncoderConfig, seed: int = 0) -> VisionTransformer:
    """The fixed random baseline: ``VisionTransformer(cfg)`` initialised under ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return VisionTransformer(cfg).eval()

