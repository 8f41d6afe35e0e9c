"""``vjepa-ac decoder train``: a frame decoder on frozen encoder features (a feature cache + its frames).

    vjepa-ac decoder train features=runs/sim/features data.droid.root=runs/sim/episodes out_dir=runs/sim/decoder
    vjepa-ac decoder eval runs/sim/decoder/decoder.pt features=heldout_features data.droid.root=heldout

As the V-JEPA 2 paper's decoder (arXiv 2506.09985, App. B.3): MSE between the decoded and the
real frame (0..1 pixels), AdamW, a cosine learning-rate schedule after a linear warmup. The
features come from the cache ``vjepa-ac encode`` wrote, the frames from the dataset it read
(``data.frame_pairs.read_pairs``: the cache's crop and resize), so any encoder size works; the
decoder's shape is read from the cache's manifest. Held-out episodes (``val_fraction``, the
cache's split rule) give the reconstruction error: MSE and PSNR (``10 log10(1 / MSE)`` per
frame, dB), next to the PSNR of the mean training frame (a decoder that ignores its input).

The out_dir gets ``decoder.pt`` (``models.decoder.save_decoder``), ``config.yaml`` (resolved),
``train.csv``, ``summary.json`` and ``samples.png`` (held-out frames over their decodings).
A finished out_dir is not trained again (``train_decoder`` returns its summary); a killed run
resumes from ``state.pt`` (model, optimizer, step and sampling generator, written every
``ckpt_every`` steps) when its config is unchanged, and ends with the same weights.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.config import ConfigError, require, require_seed, save_config, to_dict
from vjepa_ac.data.features import FeatureCache
from vjepa_ac.data.frame_pairs import FramePairs, read_pairs
from vjepa_ac.data.index import DataConfig
from vjepa_ac.load import resolve_device
from vjepa_ac.models.decoder import DecoderConfig, FrameDecoder, save_decoder
from vjepa_ac.models.encoder import EncoderConfig

log = logging.getLogger("vjepa_ac.decoder")
DECODER_FILE, SUMMARY_FILE, STATE_FILE = "decoder.pt", "summary.json", "state.pt"


@dataclass
class DecoderArch:
    """The decoder's own size (its input width, image and patch size are the encoder's)."""

    width: int = 256
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0


@dataclass
class DecoderTrainConfig:
    """``vjepa-ac decoder train``: which cache and frames, the decoder's size, the optimisation."""

    features: Path | None = None  # feature cache folder (vjepa-ac encode's output); required
    data: DataConfig = field(default_factory=DataConfig)  # the dataset the cache was encoded from
    out_dir: Path | None = None  # decoder.pt, config.yaml, train.csv, summary.json, samples.png; required
    arch: DecoderArch = field(default_factory=DecoderArch)
    steps: int = 2000  # optimizer steps
    batch_size: int = 64  # frames per step
    peak_lr: float = 1e-3  # AdamW, after `warmup` linear steps; cosine to final_lr (paper App. B.3)
    final_lr: float = 1e-5
    warmup: int = 100
    weight_decay: float = 0.05
    val_fraction: float = 0.05  # held-out episodes of the cache (FeatureCache.split)
    split_seed: int = 0
    every: int = 1  # use every n-th grid frame of an episode (consecutive frames look alike)
    max_episodes: int = 0  # at most this many training episodes (0: all)
    val_frames: int = 512  # held-out frames scored (at most)
    seed: int = 0
    device: str = "auto"  # auto: cuda when available
    log_every: int = 100
    ckpt_every: int = 500  # steps between resume states (state.pt)

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "every", "val_frames", "log_every", "ckpt_every"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require(self, "warmup", 0 <= self.warmup < self.steps, "in [0, steps)")
        require(self, "peak_lr", 0 < self.peak_lr < 1, "in (0, 1)")
        require(self, "final_lr", 0 <= self.final_lr <= self.peak_lr, "in [0, peak_lr]")
        require(self, "weight_decay", self.weight_decay >= 0, ">= 0")
        require(self, "val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)")
        require(self, "max_episodes", self.max_episodes >= 0, ">= 0 (0: all)")
        require_seed(self, "seed")


def cosine_lr(step: int, cfg: DecoderTrainConfig) -> float:
    """Linear warmup to ``peak_lr`` over ``warmup`` steps, then cosine to ``final_lr`` at ``steps``."""
    if step < cfg.warmup:
        return cfg.peak_lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.final_lr + 0.5 * (cfg.peak_lr - cfg.final_lr) * (1 + math.cos(math.pi * t))


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float [B, 3, H, W] in 0..1."""
    return frames.float().div_(255.0)


@torch.no_grad()
def reconstruction_scores(decoder: FrameDecoder, pairs: FramePairs, batch: int = 128,
                          mean_frame: torch.Tensor | None = None) -> dict[str, Any]:
    """MSE and PSNR (dB, per frame, then averaged) of ``decoder`` on ``pairs``; with
    ``mean_frame [3, H, W]`` (0..1) also the PSNR of always answering that frame."""
    dev = next(decoder.parameters()).device
    mse, base = [], []
    for z, f in zip(pairs.z.split(batch), pairs.frames.split(batch)):
        target = to_unit(f.to(dev))
        out = decoder(z.to(dev)).clamp(0, 1)
        mse.append(((out - target) ** 2).flatten(1).mean(1).cpu())  # [b]
        if mean_frame is not None:
            base.append(((mean_frame.to(dev) - target) ** 2).flatten(1).mean(1).cpu())
    m = torch.cat(mse).double()
    psnr = -10 * torch.log10(m.clamp(min=1e-10))
    out = dict(frames=len(m), mse=float(m.mean()), psnr=float(psnr.mean()), psnr_std=float(psnr.std()),
               episodes=len(pairs.episode_ids))
    if base:
        b = torch.cat(base).double()
        out["psnr_mean_frame"] = float((-10 * torch.log10(b.clamp(min=1e-10))).mean())
    return out


def _subset(pairs: FramePairs, n: int) -> FramePairs:
    """At most ``n`` frames spread evenly over ``pairs`` (a deterministic choice)."""
    if len(pairs) <= n:
        return pairs
    idx = torch.linspace(0, len(pairs) - 1, n).round().long()
    return FramePairs(pairs.z[idx], pairs.frames[idx], pairs.episode[idx], pairs.position[idx], pairs.episode_ids)


def decoder_meta(cache: FeatureCache) -> dict[str, Any]:
    """How the decoder's frames were made, from the cache's manifest (stored in ``decoder.pt``)."""
    m = cache.manifest
    return dict(crop=m["crop"], resolution=m["resolution"], antialias=m["antialias"],
                encoder=dict(config=m["encoder"]["config"], weights_sha256=m["encoder"]["weights_sha256"]),
                features=str(cache.root))


def train_decoder(cfg: DecoderTrainConfig) -> dict[str, Any]:
    """Train the decoder of ``cfg`` into ``cfg.out_dir``; returns (and writes) ``summary.json``.
    Raises ``ConfigError`` without ``features`` / ``out_dir``, ``FileNotFoundError`` for a missing cache."""
    if cfg.features is None or cfg.out_dir is None:
        raise ConfigError("features and out_dir: give the feature cache and the output folder")
    out = Path(cfg.out_dir)
    summary_path = out / SUMMARY_FILE
    if summary_path.is_file() and (out / DECODER_FILE).is_file():
        done = json.loads(summary_path.read_text())
        if done.get("config") == to_dict(cfg):
            log.info("%s: already trained (%d steps)", out, cfg.steps)
            return {**done, "skipped": True}
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    torch.manual_seed(cfg.seed)
    cache = FeatureCache(cfg.features)
    train_entries, val_entries = cache.split(cfg.val_fraction, cfg.split_seed)
    t0 = time.perf_counter()
    train_pairs = read_pairs(cache, cfg.data, train_entries, every=cfg.every, max_episodes=cfg.max_episodes)
    val_pairs = _subset(read_pairs(cache, cfg.data, val_entries), cfg.val_frames) if val_entries else None
    read_s = time.perf_counter() - t0
    enc = EncoderConfig(**cache.manifest["encoder"]["config"])
    dcfg = DecoderConfig.for_encoder(enc, **to_dict(cfg.arch))
    if dcfg.size_hw != tuple(train_pairs.frames.shape[-2:]):
        raise ConfigError(f"{cache.root}: frames are {tuple(train_pairs.frames.shape[-2:])} px but the encoder's "
                          f"img_size is {enc.img_size}; the decoder reads features of the encoder's own size")
    device = resolve_device(cfg.device)
    decoder = FrameDecoder(dcfg).to(device)
    decay = [p for n, p in decoder.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in decoder.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=cfg.weight_decay),
                             dict(params=no_decay, weight_decay=0.0)], lr=cfg.peak_lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(cfg.seed)
    z_all, f_all = train_pairs.z.to(device), train_pairs.frames.to(device)
    rows, t1, start = [], time.perf_counter(), 0
    state_path = out / STATE_FILE
    if state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["config"] == to_dict(cfg):
            decoder.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            start, rows = int(state["step"]), list(state["rows"])
            log.info("decoder %s: resumed at step %d", out, start)
    log.info("decoder %s: %d train frames (%d episodes), %d held-out, %s parameters, %s", out, len(train_pairs),
             len(train_pairs.episode_ids), 0 if val_pairs is None else len(val_pairs),
             f"{sum(p.numel() for p in decoder.parameters()):,}", device)
    decoder.train()
    running = 0.0
    for step in range(start, cfg.steps):
        lr = cosine_lr(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(len(train_pairs), (cfg.batch_size,), generator=gen).to(device)
        loss = F.mse_loss(decoder(z_all[idx]), to_unit(f_all[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += loss.item()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            n = (step + 1) % cfg.log_every or cfg.log_every
            rows.append(dict(step=step + 1, loss=running / n, lr=lr, seconds=round(time.perf_counter() - t1, 2)))
            log.info("decoder step %d: mse %.5f lr %.2e", step + 1, running / n, lr)
            running = 0.0
        if (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.steps:
            _save_state(state_path, decoder, opt, gen, step + 1, rows, cfg)
    decoder.eval()
    train_s = time.perf_counter() - t1
    mean_frame = sum(f.double().sum(0) for f in train_pairs.frames.split(1024)) / (255.0 * len(train_pairs))
    mean_frame = mean_frame.float()  # [3, H, W] in 0..1 (summed in chunks: all frames as float would be GBs)
    summary: dict[str, Any] = dict(
        decoder=str(out / DECODER_FILE), steps=cfg.steps, train_frames=len(train_pairs),
        train_episodes=len(train_pairs.episode_ids), first_loss=rows[0]["loss"], last_loss=rows[-1]["loss"],
        read_seconds=round(read_s, 1), train_seconds=round(train_s, 1),
        parameters=sum(p.numel() for p in decoder.parameters()),
        train_scores=reconstruction_scores(decoder, _subset(train_pairs, cfg.val_frames), mean_frame=mean_frame),
    )
    if val_pairs is not None:
        summary["val_scores"] = reconstruction_scores(decoder, val_pairs, mean_frame=mean_frame)
        _write_samples(decoder, val_pairs, out / "samples.png")
    meta = dict(decoder_meta(cache), steps=cfg.steps, val_scores=summary.get("val_scores"),
                mean_frame=(mean_frame * 255).round().to(torch.uint8).cpu())  # the baseline of evaluate_decoder
    save_decoder(decoder.cpu(), out / DECODER_FILE, meta)
    with open(out / "train.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary["config"] = to_dict(cfg)
    atomic_write_json(summary_path, summary)
    state_path.unlink(missing_ok=True)
    return summary


def _save_state(path: Path, decoder: FrameDecoder, opt: torch.optim.Optimizer, gen: torch.Generator, step: int,
                rows: list[dict], cfg: DecoderTrainConfig) -> None:
    """What a killed run resumes from (plain values and tensors: read with ``weights_only=True``)."""
    from vjepa_ac.atomic import atomic_open

    state = dict(model=decoder.state_dict(), optimizer=opt.state_dict(), generator=gen.get_state(), step=step,
                 rows=rows, config=to_dict(cfg))
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def _write_samples(decoder: FrameDecoder, pairs: FramePairs, path: Path, n: int = 8) -> None:
    from vjepa_ac.pictures import display_scale, labelled_grid, write_png

    pick = _subset(pairs, n)
    decoded = decoder.decode(pick.z)
    write_png(path, labelled_grid([("real", list(pick.frames)), ("decoded", list(decoded))],
                                  scale=display_scale(pick.frames.shape[-1])))


def evaluate_decoder(decoder_path: str | Path, features: str | Path, data: DataConfig, *,
                     every: int = 1, device: str = "auto", out: str | Path | None = None) -> dict[str, Any]:
    """Reconstruction scores of a decoder file on every episode of another cache (e.g. held-out
    labs encoded with the same encoder; ``vjepa-ac decoder eval``). Raises ``ValueError`` when the
    cache's encoder is not the decoder's. ``out``: also write a sample grid PNG there."""
    from vjepa_ac.models.decoder import load_decoder

    decoder, meta = load_decoder(decoder_path, resolve_device(device))
    cache = FeatureCache(features)
    mine = meta.get("encoder", {}).get("weights_sha256")
    theirs = cache.manifest["encoder"]["weights_sha256"]
    if mine is not None and mine != theirs:
        raise ValueError(f"{features}: encoded by another encoder (weights sha256 {theirs[:12]}) than the one "
                         f"{decoder_path} was trained on ({mine[:12]})")
    pairs = read_pairs(cache, data, every=every)
    mean_frame = meta.get("mean_frame")
    scores = reconstruction_scores(decoder, pairs, mean_frame=None if mean_frame is None else to_unit(mean_frame))
    if out is not None:
        _write_samples(decoder, pairs, Path(out))
    return dict(decoder=str(decoder_path), features=str(features), **scores)
