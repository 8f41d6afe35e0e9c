"""Pretrain the small V-JEPA 2 encoder on simulated robot frames with a V-JEPA objective (issue 7).

    python scripts/pretrain_sim_encoder.py --data /path/sim600 --frames-cache .work/sim600_frames \\
        --img-size 64 --steps 2400 --batch 64 --seed 0 --out .work/pre64/encoder.pt

Writes ``--out`` (``official.save_encoder``: the EMA target encoder, loadable with
``official.load_released_encoder``; ``--fp16`` stores half-precision tensors, loaded back as
float32), ``<out>.json`` (config, data, timings, final loss, sha256) and, beside it,
``log.jsonl`` and ``snapshots/`` (``--snapshot-every``). Episodes of the validation split
(``--val-fraction``/``--split-seed``, the trainer's) are never used. One thread by default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from vjepa_ac.models.encoder import EncoderConfig
from vjepa_ac.official import save_encoder
from vjepa_ac.pretrain.frames import load_frames
from vjepa_ac.pretrain.model import JEPAPredictorConfig
from vjepa_ac.pretrain.train import MASK_PRESETS, PretrainConfig, config_dict, pretrain


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="raw DROID root (sim collection)")
    p.add_argument("--frames-cache", default=None, help="folder caching the decoded frames")
    p.add_argument("--out", required=True, help="encoder file to write")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--pred-width", type=int, default=96)
    p.add_argument("--pred-depth", type=int, default=4)
    p.add_argument("--pred-heads", type=int, default=3)
    p.add_argument("--masks", default="small_grid", choices=sorted(MASK_PRESETS))
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--warmup", type=int, default=None, help="default: 10 %% of steps")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.04)
    p.add_argument("--ema", type=float, nargs=2, default=(0.996, 1.0))
    p.add_argument("--no-augment", action="store_true", help="deterministic resize instead of random crops")
    p.add_argument("--crop-scale", type=float, nargs=2, default=(0.3, 1.0))
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = PretrainConfig(
        encoder=EncoderConfig(img_size=args.img_size, embed_dim=args.width, depth=args.depth, num_heads=args.heads),
        predictor=JEPAPredictorConfig(embed_dim=args.width, width=args.pred_width, depth=args.pred_depth,
                                      num_heads=args.pred_heads),
        masks=args.masks, val_fraction=args.val_fraction, split_seed=args.split_seed,
        augment=not args.no_augment, crop_scale=tuple(args.crop_scale), steps=args.steps, batch_size=args.batch,
        warmup=args.warmup if args.warmup is not None else args.steps // 10, lr=args.lr,
        weight_decay=args.weight_decay, ema=tuple(args.ema), seed=args.seed, log_every=args.log_every,
        snapshot_every=args.snapshot_every,
    )
    t0 = time.perf_counter()
    frames = load_frames(args.data, cache=args.frames_cache)
    train, val = frames.split(cfg.val_fraction, cfg.split_seed)
    t_data = time.perf_counter() - t0
    out = Path(args.out)
    encoder, history = pretrain(cfg, train, out.parent)
    if args.fp16:
        encoder = encoder.half()
    save_encoder(encoder, out)
    report = {
        "encoder_file": str(out), "sha256": sha256(out), "bytes": out.stat().st_size,
        "params": sum(p.numel() for p in encoder.parameters()), "dtype": "float16" if args.fp16 else "float32",
        "config": config_dict(cfg), "mask_specs": [vars(s) for s in cfg.mask_specs],
        "data": {"root": str(args.data), "train_episodes": len(train.episode_ids), "train_frames": len(train),
                 "val_episodes_excluded": len(val.episode_ids), "resolution_source": frames.resolution},
        "final": history[-1], "load_seconds": round(t_data, 1),
        "train_seconds": history[-1]["elapsed_s"], "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("encoder_file", "sha256", "bytes", "train_seconds", "final")}))


if __name__ == "__main__":
    main()
