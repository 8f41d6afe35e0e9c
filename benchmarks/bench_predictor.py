"""Predictor speed and memory: forward+backward tokens/s, the incremental step vs full recompute,
and host memory at construction. Prints one JSON line per configuration.

    python benchmarks/bench_predictor.py --config small
    python benchmarks/bench_predictor.py --config paper --batch 1 --frames 8
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, emit, rss_now_mb, rss_peak_mb, sync, timeit  # noqa: E402

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig  # noqa: E402

CONFIGS = {
    # the sim default's size: 128 px frames (8x8 tokens) from a small encoder
    "small": PredictorConfig.preset("small", img_size=(128, 128), embed_dim=192),
    # the paper: ViT-g features at 256 px (16x16 tokens)
    "paper": PredictorConfig.preset("paper"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA)")
    ap.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    ap.add_argument("--attention", choices=["sdpa", "flex"], default="sdpa")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    cfg = dataclasses.replace(CONFIGS[args.config], activation_checkpointing=args.checkpointing, attention=args.attention)

    rss0 = rss_now_mb()
    t = time.perf_counter()
    model = ACPredictor(cfg, device=device)
    build_s = time.perf_counter() - t
    n_params = sum(p.numel() for p in model.parameters())
    weights_mb = n_params * 4 / 2**20
    host_build_mb = rss_now_mb() - rss0

    B, T, N, D = args.batch, args.frames, cfg.tokens_per_frame, cfg.embed_dim
    z = torch.randn(B, T * N, D, device=device)
    a = torch.randn(B, T, 7, device=device)
    s = torch.randn(B, T, 7, device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def fwd_bwd():
        with amp:
            out = model(z, a, s)
        out.float().abs().mean().backward()

    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_s = timeit(fwd_bwd, device, warmup=1, repeat=args.repeat)
    peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss_peak_mb()
    tokens = B * T * (N + cfg.cond_tokens)

    # planning-style prediction of H = T steps for B candidates: cached step vs full recompute
    model.eval()
    model.zero_grad(set_to_none=True)

    @torch.no_grad()
    def incremental():
        cache, zt = None, z[:, :N]
        for t_ in range(T):
            with amp:
                zt, cache = model.step(zt, a[:, t_], s[:, t_], cache)

    @torch.no_grad()
    def recompute():
        for t_ in range(1, T + 1):
            with amp:
                model(z[:, : t_ * N], a[:, :t_], s[:, :t_])

    inc_s = timeit(incremental, device, warmup=1, repeat=args.repeat)
    full_s = timeit(recompute, device, warmup=1, repeat=args.repeat)
    sync(device)
    emit(
        dict(
            bench="predictor", config=args.config, device=device_name(device), params_m=round(n_params / 1e6, 1),
            batch=B, frames=T, tokens_per_step=N + cfg.cond_tokens, bf16=args.bf16, checkpointing=args.checkpointing,
            attention=args.attention, build_s=round(build_s, 2), weights_mb=round(weights_mb, 1),
            host_mb_at_build=round(host_build_mb, 1), fwd_bwd_s=round(step_s, 4),
            train_tokens_per_s=round(tokens / step_s, 1), peak_mem_mb=round(peak_mb, 1),
            rollout_incremental_s=round(inc_s, 4), rollout_full_recompute_s=round(full_s, 4),
            rollout_speedup=round(full_s / inc_s, 2),
        )
    )


if __name__ == "__main__":
    main()
