"""Fine-tuning cost at paper size: trainable parameters, peak memory and step time of one training
step (``train_step``: the paper's teacher-forcing + rollout L1, backward, clipping, AdamW) for
full fine-tuning, frozen first k blocks, and LoRA adapters; one JSON line per method.

    # CPU, each method in a fresh process (peak RSS is per method): 305M predictor, random weights,
    # cached-feature clips (ViT-g width 1408, 256 px -> 256 tokens per frame), batch 1, 4 frames
    python benchmarks/bench_finetune.py --synthetic --sweep
    # one method
    python benchmarks/bench_finetune.py --synthetic --method lora --lora-rank 16
    # GPU (bf16 autocast, CUDA peak allocated memory)
    python benchmarks/bench_finetune.py --synthetic --sweep --device cuda --batch 8 --frames 8

Reported: ``trainable_m`` / ``params_m`` (millions), ``optimizer_state_mb`` (fp32 gradients +
AdamW moments of the trainable parameters: 12 bytes each, exact), ``peak_mem_mb`` (CPU: the
process's peak RSS; CUDA: peak allocated), ``peak_over_baseline_mb`` (minus the RSS after imports),
``step_s`` (median of ``--repeat`` steps after ``--warmup``). The encoder is not in the step
(cached features), as in a fine-tuning run with ``data.source=features``.
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
from vjepa_ac.train.build import build_predictor  # noqa: E402
from vjepa_ac.train.config import TrainConfig  # noqa: E402
from vjepa_ac.train.finetune import trainable_parameters  # noqa: E402
from vjepa_ac.train.optim import build_optimizer  # noqa: E402
from vjepa_ac.train.step import WorldModelObjective, train_step  # noqa: E402
from vjepa_ac.train.synthetic_clips import SyntheticClips  # noqa: E402

METHODS = ("full", "freeze", "lora")


def overrides(args) -> list[str]:
    out = [f"data.clips.frames_per_clip={args.frames}", f"rollout_steps={args.rollout}",
           f"micro_batch_size={args.batch}", f"batch_size={args.batch}", "data.source=synthetic",
           "data.synthetic.features=true", "data.num_workers=0"]
    if args.method == "freeze":
        out.append(f"finetune.freeze_blocks={args.freeze_blocks}")
    if args.method == "lora":
        out += [f"finetune.lora.rank={args.lora_rank}", f"finetune.lora.alpha={2 * args.lora_rank}"]
    return out


def run_case(args) -> dict:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rss_base = rss_now_mb()
    cfg = load_config(TrainConfig, None, overrides(args))  # the paper's sizes (TrainConfig defaults)
    predictor = build_predictor(cfg.model, device, cfg.finetune)  # random weights, fine-tuning applied
    objective = WorldModelObjective(predictor, cfg.rollout_steps)
    optimizer = build_optimizer(predictor, cfg.optim)
    p = cfg.model.predictor
    data = SyntheticClips(cfg.data.synthetic, "train", args.frames, cfg.model.encoder.img_size,
                          p.tokens_per_frame, p.embed_dim)
    batch = default_collate([data[i % len(data)] for i in range(args.batch)])
    amp = torch.bfloat16 if device.type == "cuda" else None
    step = [0]

    def one_step():
        train_step(objective, [batch], optimizer, step=step[0], optim=cfg.optim, encoder=None, device=device,
                   amp_dtype=amp)
        step[0] += 1

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = timeit(one_step, device, warmup=args.warmup, repeat=args.repeat)
    sync(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else rss_peak_mb()
    trainable, total = trainable_parameters(predictor)
    return dict(
        bench="finetune_step", method=args.method, device=device_name(device),
        freeze_blocks=cfg.finetune.freeze_blocks, lora_rank=cfg.finetune.lora.rank,
        batch=args.batch, frames=args.frames, rollout_steps=args.rollout, tokens_per_frame=p.tokens_per_frame,
        params_m=round(total / 1e6, 2), trainable_m=round(trainable / 1e6, 3),
        trainable_share=round(trainable / total, 4), optimizer_state_mb=round(trainable * 12 / 2**20, 1),
        bf16=amp is not None, step_s=round(seconds, 2), peak_mem_mb=round(peak, 1),
        peak_over_baseline_mb=round(peak - (0 if device.type == "cuda" else rss_base), 1),
        threads=torch.get_num_threads(), load_avg=round(os.getloadavg()[0], 2),
    )


def sweep(args) -> None:
    for method in METHODS:
        cmd = [sys.executable, __file__, "--synthetic", "--method", method, "--device", args.device,
               "--batch", str(args.batch), "--frames", str(args.frames), "--rollout", str(args.rollout),
               "--freeze-blocks", str(args.freeze_blocks), "--lora-rank", str(args.lora_rank),
               "--warmup", str(args.warmup), "--repeat", str(args.repeat), "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        emit(json.loads(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", action="store_true", help="synthetic feature clips (the only source here)")
    ap.add_argument("--method", choices=METHODS, default="lora")
    ap.add_argument("--sweep", action="store_true", help="every method, each in a fresh process")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1, help="clips per step")
    ap.add_argument("--frames", type=int, default=4, help="frames per clip")
    ap.add_argument("--rollout", type=int, default=2, help="rollout steps of the loss")
    ap.add_argument("--freeze-blocks", type=int, default=12, help="frozen first blocks (method freeze)")
    ap.add_argument("--lora-rank", type=int, default=16, help="adapter rank (method lora; alpha = 2 x rank)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    if args.sweep:
        sweep(args)
    else:
        emit(run_case(args))


if __name__ == "__main__":
    main()
