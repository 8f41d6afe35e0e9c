"""Training-step speed and memory: a stripped copy of the training step (``train_step``: features,
losses, backward, clipping, AdamW) on synthetic clips, one JSON line per configuration.

    # one case (CPU default: configs/cpu_small.yaml models, 8 clips per step, 8 frames, rollout 2)
    python benchmarks/bench_train.py --synthetic --mode frames     # encoder in the loop
    python benchmarks/bench_train.py --synthetic --mode features   # cached features
    # the CPU matrix: frames vs features, frames per clip, rollout steps (each case in a fresh
    # process, so peak memory is per case)
    python benchmarks/bench_train.py --synthetic --sweep
    # GPU: the paper's models (ViT-g encoder, 300M predictor), 8 clips per GPU, bf16, MFU
    python benchmarks/bench_train.py --synthetic --config paper --batch 8 --mode frames

Data loading is not timed (batches are collated once); see benchmarks/bench_data.py for that.
Throughput: clips/s = batch / step time; predictor tokens/s counts every token the predictor
processes (teacher forcing over T-1 steps plus the rollout's extra steps, action/state tokens
included). MFU (CUDA only) = model FLOPs / (step time x the card's dense bf16 peak); model FLOPs
count the predictor's forward+backward (3x forward) with block-causal attention (each query
attends to its own and earlier steps), plus the encoder's forward for ``frames`` mode.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, emit, rss_now_mb, rss_peak_mb, sync, timeit  # noqa: E402

from vjepa_ac.config import load_config  # noqa: E402
from vjepa_ac.train.build import build_encoder, build_predictor  # noqa: E402
from vjepa_ac.train.config import TrainConfig  # noqa: E402
from vjepa_ac.train.optim import build_optimizer  # noqa: E402
from vjepa_ac.train.step import WorldModelObjective, train_step  # noqa: E402
from vjepa_ac.train.synthetic_clips import SyntheticClips  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {  # paper = the TrainConfig defaults
    "cpu_small": ROOT / "configs" / "cpu_small.yaml",
    "sim": ROOT / "configs" / "sim.yaml",
    "paper": None,
}
# dense bf16 peak FLOP/s (no sparsity) by device-name fragment
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "RTX 4090": 165e12}


def peak_flops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def linear_params(module: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def predictor_train_flops(cfg: TrainConfig, predictor) -> float:
    """Forward+backward FLOPs of one clip through the objective (teacher forcing + rollout)."""
    p = predictor.cfg
    tps = p.tokens_per_frame + p.cond_tokens  # tokens per step
    lin = linear_params(predictor.predictor_blocks) + p.width * (p.embed_dim * 2)  # blocks + embed/proj
    T, R = cfg.data.frames_per_clip, cfg.rollout_steps

    def attention(q_steps: int, first_step: int) -> float:  # 4 * ctx * width per token per layer
        return sum(4 * tps * (first_step + s + 1) * tps * p.width * p.depth for s in range(q_steps))

    tf_tokens = (T - 1) * tps
    fwd = 2 * lin * tf_tokens + attention(T - 1, 0)
    for k in range(1, R):  # rollout step k: one new step after k cached ones
        fwd += 2 * lin * tps + attention(1, k)
    return 3 * fwd


def encoder_flops(cfg: TrainConfig, encoder) -> float:
    e = encoder.cfg
    n = e.tokens_per_frame
    per_frame = 2 * linear_params(encoder.vit) * n + 4 * n * n * e.embed_dim * e.depth
    return per_frame * cfg.data.frames_per_clip


def run_case(args) -> dict:
    device = torch.device(args.device)
    rss_base = rss_now_mb()  # after imports, before any model: the CPU baseline
    overrides = [
        f"data.clips.frames_per_clip={args.frames}",
        f"rollout_steps={args.rollout}",
        f"micro_batch_size={args.batch}",
        f"batch_size={args.batch}",
        f"data.synthetic.features={str(args.mode == 'features').lower()}",
        f"model.predictor.activation_checkpointing={str(args.checkpointing).lower()}",
    ]
    cfg = load_config(TrainConfig, CONFIGS[args.config], overrides)
    amp = torch.bfloat16 if (args.bf16 or (args.bf16 is None and device.type == "cuda")) else None
    encoder = build_encoder(cfg.model, device) if args.mode == "frames" else None
    predictor = build_predictor(cfg.model, device)
    objective = WorldModelObjective(predictor, cfg.rollout_steps)
    if args.compile:
        objective = torch.compile(objective)
    optimizer = build_optimizer(predictor, cfg.optim)
    p = cfg.model.predictor
    data = SyntheticClips(
        cfg.data.synthetic, "train", args.frames, cfg.model.encoder.img_size, p.tokens_per_frame, p.embed_dim
    )
    batch = default_collate([data[i % len(data)] for i in range(args.batch)])
    step = [0]

    def one_step():
        train_step(
            objective,
            [batch],
            optimizer,
            step=step[0],
            optim=cfg.optim,
            encoder=encoder,
            device=device,
            amp_dtype=amp,
        )
        step[0] += 1

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = timeit(one_step, device, warmup=args.warmup, repeat=args.repeat)
    sync(device)
    peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss_peak_mb()
    tps = p.tokens_per_frame + p.cond_tokens
    tokens = args.batch * (args.frames - 1 + args.rollout - 1) * tps
    out = dict(
        bench="train_step",
        config=args.config,
        device=device_name(device),
        mode=args.mode,
        batch=args.batch,
        frames=args.frames,
        rollout_steps=args.rollout,
        tokens_per_frame=p.tokens_per_frame,
        predictor_params_m=round(sum(q.numel() for q in predictor.parameters()) / 1e6, 2),
        bf16=amp is not None,
        checkpointing=args.checkpointing,
        compile=args.compile,
        step_s=round(seconds, 4),
        clips_per_s=round(args.batch / seconds, 2),
        predictor_tokens_per_s=round(tokens / seconds, 1),
        peak_mem_mb=round(peak_mb, 1),
        peak_over_baseline_mb=round(peak_mb - (0 if device.type == "cuda" else rss_base), 1),
        threads=torch.get_num_threads(),
        load_avg=round(os.getloadavg()[0], 2),
    )
    peak = peak_flops(out["device"]) if device.type == "cuda" else None
    if peak:
        flops = args.batch * predictor_train_flops(cfg, predictor)
        out["mfu_predictor"] = round(flops / seconds / peak, 4)
        if encoder is not None:
            out["mfu_with_encoder"] = round(
                (flops + args.batch * encoder_flops(cfg, encoder)) / seconds / peak, 4
            )
    return out


def flops_only(args) -> dict:
    """Analytic FLOPs per clip (models built on the meta device: nothing allocated or run)."""
    from vjepa_ac.models.encoder import FrameEncoder, VisionTransformer
    from vjepa_ac.models.predictor import ACPredictor

    cfg = load_config(
        TrainConfig,
        CONFIGS[args.config],
        [f"data.clips.frames_per_clip={args.frames}", f"rollout_steps={args.rollout}"],
    )
    predictor = ACPredictor(cfg.model.predictor, device="meta")
    encoder = FrameEncoder(VisionTransformer(cfg.model.encoder, device="meta"))
    pred, enc = predictor_train_flops(cfg, predictor), encoder_flops(cfg, encoder)
    return dict(
        bench="train_flops",
        config=args.config,
        frames=args.frames,
        rollout_steps=args.rollout,
        predictor_train_tflop_per_clip=round(pred / 1e12, 3),
        encoder_fwd_tflop_per_clip=round(enc / 1e12, 3),
        encoder_share_of_step=round(enc / (enc + pred), 3),
    )


SWEEP = (  # (mode, frames, rollout): frames vs features, then frames per clip, then rollout steps
    [("frames", 8, 2), ("features", 8, 2)]
    + [("features", t, 2) for t in (4, 16)]
    + [("features", 8, r) for r in (1, 4, 7)]
)


def sweep(args) -> None:
    for mode, frames, rollout in SWEEP:
        cmd = [
            sys.executable,
            __file__,
            "--synthetic",
            "--config",
            args.config,
            "--device",
            args.device,
            "--mode",
            mode,
            "--frames",
            str(frames),
            "--rollout",
            str(rollout),
            "--batch",
            str(args.batch),
            "--repeat",
            str(args.repeat),
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        emit(json.loads(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", action="store_true", help="synthetic clips (the only source here)")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="cpu_small")
    ap.add_argument(
        "--mode",
        choices=["frames", "features"],
        default="frames",
        help="frames: encoder in the loop; features: cached features",
    )
    ap.add_argument("--batch", type=int, default=8, help="clips per step (one micro-batch)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--rollout", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: on for CUDA"
    )
    ap.add_argument("--checkpointing", action="store_true", help="activation checkpointing in the predictor")
    ap.add_argument("--compile", action="store_true", help="torch.compile the objective")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 is steadiest on a shared box)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sweep", action="store_true", help="run the CPU matrix, one process per case")
    ap.add_argument("--flops", action="store_true", help="print analytic FLOPs per clip only (no run)")
    args = ap.parse_args()
    if not args.synthetic:
        ap.error("only --synthetic is supported (real data: time a run with vjepa-ac train, see metrics.csv)")
    torch.set_num_threads(args.threads)
    if args.flops:
        emit(flops_only(args))
    elif args.sweep:
        sweep(args)
    else:
        emit(run_case(args))


if __name__ == "__main__":
    main()
