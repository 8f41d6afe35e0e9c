"""The GPU check (``benchmarks/gpu_check.sh``): one JSON line per figure, <= 8 minutes on one H100/H200.

    bash benchmarks/gpu_check.sh               # on a CUDA machine: the figures of notes/gpu.md
    bash benchmarks/gpu_check.sh --cpu-smoke   # the same code at tiny sizes on a CPU (CI)

Figures (``figure`` key):
- ``gpu_tests``: ``pytest -m gpu`` (the CUDA tests; counts of passed / failed / skipped).
- ``train_step``: the paper-size predictor (width 1024, depth 24: ~305M parameters) on ViT-g
  features (256 tokens per frame, width 1408), 8 clips x 8 frames per step, teacher forcing + 2-step
  rollout, bfloat16 autocast, FlexAttention (compiled) and activation checkpointing, AdamW:
  clips/s, peak CUDA memory, MFU (predictor FLOPs / (step time x the card's dense bf16 peak)).
- ``plan``: the paper's planning setting, seconds per action: encode the current frame with a
  ViT-g (random weights) and plan with CEM 800 samples x 10 iterations, H = 1, with the 305M
  predictor; in fp32 (the default) and with the planner's ``precision="bf16"`` (rollouts under
  bfloat16 autocast; ``energy`` is the returned plan's fp32 energy in both, so the two plans'
  quality compares). The paper reports 16 s on an RTX 4090; goal <= 2.5 s.
- ``ddp``: a 2-process DDP training step (``train.step.train_step`` on a DDP-wrapped objective):
  s/step and whether both ranks hold equal weights afterwards. NCCL with >= 2 GPUs; with one GPU
  both processes share it over gloo.

``--cpu-smoke`` runs the same functions with tiny models, SDPA instead of FlexAttention (which
needs a compiler for the CPU), gloo on the CPU, and skips ``gpu_tests``. A figure that fails
prints ``error`` and the script exits 1 after the others ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import device_name  # noqa: E402

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig  # noqa: E402

# sizes: (predictor, tokens grid, clips, frames); the smoke sizes only exercise the code
PAPER = dict(predictor=dict(img_size=(256, 256), embed_dim=1408, width=1024, depth=24, num_heads=16),
             encoder=dict(preset="vit_giant", img_size=256), clips=8, frames=8, samples=800, iterations=10,
             ddp_predictor=dict(img_size=(128, 128), embed_dim=192, width=384, depth=6, num_heads=6))
SMOKE = dict(predictor=dict(img_size=(64, 64), embed_dim=32, width=64, depth=2, num_heads=2),
             encoder=dict(preset="vit_tiny", img_size=64, embed_dim=32, depth=1, num_heads=2), clips=2, frames=4,
             samples=16, iterations=2, ddp_predictor=dict(img_size=(64, 64), embed_dim=32, width=64, depth=2,
                                                          num_heads=2))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mb(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def synthetic_batch(p: PredictorConfig, clips: int, frames: int, device: torch.device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"z": torch.randn(clips, frames, p.tokens_per_frame, p.embed_dim, generator=g).to(device),
            "states": torch.randn(clips, frames, 7, generator=g).to(device),
            "actions": (0.05 * torch.randn(clips, frames - 1, 7, generator=g)).to(device)}


def fig_gpu_tests(smoke: bool, device: torch.device) -> dict:
    if smoke:
        return dict(skipped="--cpu-smoke: the CUDA tests skip without a GPU")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    counts = {k: 0 for k in ("passed", "failed", "skipped", "errors")}
    for part in last.replace("=", "").split(","):
        words = part.split()
        if len(words) >= 2 and words[0].isdigit():
            key = words[1] if words[1] in counts else words[1] + "s"
            counts[key if key in counts else "errors"] = int(words[0])
    return dict(**counts, exit_code=proc.returncode, summary=last.strip(), seconds=round(time.perf_counter() - t0, 1))


def fig_train_step(smoke: bool, device: torch.device, steps: int = 5) -> dict:
    from bench_train import peak_flops, predictor_train_flops

    from vjepa_ac.train.config import OptimConfig
    from vjepa_ac.train.optim import build_optimizer
    from vjepa_ac.train.step import WorldModelObjective, train_step

    sizes = SMOKE if smoke else PAPER
    attention = "sdpa" if device.type == "cpu" else "flex"
    p = PredictorConfig(**sizes["predictor"], attention=attention, activation_checkpointing=True)
    torch.manual_seed(0)
    predictor = ACPredictor(p, device=device).train()
    predictor.extrinsics_encoder.requires_grad_(False)  # unused without extrinsics, as train.build does
    objective = WorldModelObjective(predictor, rollout_steps=2)
    optim = OptimConfig()
    optimizer = build_optimizer(predictor, optim)
    batch = synthetic_batch(p, sizes["clips"], sizes["frames"], device)
    state = {"step": 0}

    def one():
        out = train_step(objective, [batch], optimizer, step=state["step"], optim=optim, encoder=None, device=device,
                         amp_dtype=torch.bfloat16)
        state["step"] += 1
        return out

    t0 = time.perf_counter()
    one()  # compile (flex) + allocator warm-up
    one()
    sync(device)
    warmup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    n = 1 if smoke else steps
    t0 = time.perf_counter()
    for _ in range(n):
        metrics = one()
    sync(device)
    step_s = (time.perf_counter() - t0) / n
    flops = sizes["clips"] * predictor_train_flops(
        SimpleNamespace(data=SimpleNamespace(frames_per_clip=sizes["frames"]), rollout_steps=2), predictor)
    peak = peak_flops(device_name(device)) if device.type == "cuda" else None
    return dict(params_m=round(sum(q.numel() for q in predictor.parameters()) / 1e6, 1), attention=attention,
                checkpointing=True, amp="bf16", clips=sizes["clips"], frames=sizes["frames"],
                step_s=round(step_s, 4), clips_per_s=round(sizes["clips"] / step_s, 2), peak_mem_mb=peak_mb(device),
                mfu=None if peak is None else round(flops / step_s / peak, 4), warmup_s=round(warmup_s, 1),
                loss=round(metrics["loss"], 5))


def fig_plan(smoke: bool, device: torch.device) -> dict:
    from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
    from vjepa_ac.plan.cem import cem
    from vjepa_ac.plan.config import cem_preset
    from vjepa_ac.plan.interface import Context
    from vjepa_ac.plan.world_model import LatentWorldModel

    sizes = SMOKE if smoke else PAPER
    enc_spec = dict(sizes["encoder"])
    enc_cfg = EncoderConfig.preset(enc_spec.pop("preset"), **enc_spec)
    p = PredictorConfig(**{**sizes["predictor"], "embed_dim": enc_cfg.embed_dim})
    torch.manual_seed(0)
    wm = LatentWorldModel(VisionTransformer(enc_cfg, device=device).eval(), ACPredictor(p, device=device).eval(),
                          device=device)
    g = torch.Generator().manual_seed(0)
    size = enc_cfg.img_size if isinstance(enc_cfg.img_size, int) else enc_cfg.img_size[0]
    frame, goal_frame = torch.randint(0, 256, (2, 1, size, size, 3), dtype=torch.uint8, generator=g)
    state = torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.0], device=device)
    cfg = cem_preset("paper", num_samples=sizes["samples"], iterations=sizes["iterations"], horizon=1)
    goal = wm.encode(goal_frame)[0]  # the goal is encoded once per episode
    out = dict(samples=cfg.num_samples, iterations=cfg.iterations, horizon=cfg.horizon,
               encoder_params_m=round(sum(q.numel() for q in wm.model.encoder.parameters()) / 1e6, 1),
               predictor_params_m=round(sum(q.numel() for q in wm.model.predictor.parameters()) / 1e6, 1))
    for precision in ("fp32", "bf16"):
        def action(cfg=replace(cfg, precision=precision)):
            z = wm.encode(frame)[0]  # [N, D]
            return cem(wm, Context.single(z, state), goal, cfg, torch.Generator(device=device).manual_seed(0))

        action()  # warm-up
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        res = action()
        sync(device)
        out[precision] = dict(s_per_action=round(time.perf_counter() - t0, 3), energy=round(res.energy, 5),
                              peak_mem_mb=peak_mb(device))
    return out


def _ddp_worker(rank: int, world: int, smoke: bool, port: int, result_file: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from vjepa_ac.train.config import OptimConfig
    from vjepa_ac.train.optim import build_optimizer
    from vjepa_ac.train.step import WorldModelObjective, train_step

    cuda = torch.cuda.is_available() and not smoke
    gpus = torch.cuda.device_count() if cuda else 0
    backend = "nccl" if gpus >= world else "gloo"
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world)
    device = torch.device("cuda", rank % gpus) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not cuda:
        torch.set_num_threads(1)
    sizes = SMOKE if smoke else PAPER
    p = PredictorConfig(**sizes["ddp_predictor"])
    torch.manual_seed(0)  # same init on both ranks (DDP also broadcasts rank 0's)
    predictor = ACPredictor(p, device=device).train()
    predictor.extrinsics_encoder.requires_grad_(False)  # unused without extrinsics, as train.build does
    objective = DDP(WorldModelObjective(predictor, rollout_steps=2), device_ids=[device.index] if cuda else None)
    optim = OptimConfig()
    optimizer = build_optimizer(predictor, optim)
    batch = synthetic_batch(p, sizes["clips"], sizes["frames"], device, seed=rank)  # each rank its own clips
    amp = torch.bfloat16 if cuda else None
    times = []
    for step in range(4):
        sync(device)
        t0 = time.perf_counter()
        train_step(objective, [batch], optimizer, step=step, optim=optim, encoder=None, device=device, amp_dtype=amp)
        sync(device)
        times.append(time.perf_counter() - t0)
    checksum = torch.stack([q.detach().double().sum() for q in predictor.parameters()]).sum().reshape(1)
    sums = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(sums, checksum)
    if rank == 0:
        Path(result_file).write_text(json.dumps(dict(
            backend=backend, processes=world, gpus=gpus, s_per_step=round(sorted(times[1:])[len(times[1:]) // 2], 4),
            weights_equal_across_ranks=bool(all(torch.equal(s, sums[0]) for s in sums)))))
    dist.destroy_process_group()


def fig_ddp(smoke: bool, device: torch.device) -> dict:
    import socket
    import tempfile

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "ddp.json"
        mp.start_processes(_ddp_worker, args=(2, smoke, port, str(result)), nprocs=2, join=True, start_method="spawn")
        return json.loads(result.read_text())


FIGURES = {"gpu_tests": fig_gpu_tests, "train_step": fig_train_step, "plan": fig_plan, "ddp": fig_ddp}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU (CI)")
    p.add_argument("--only", nargs="+", choices=sorted(FIGURES), default=list(FIGURES))
    args = p.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print(json.dumps(dict(figure="setup", error="no CUDA device; use --cpu-smoke on a CPU")))
        return 1
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    failed = False
    for name in args.only:
        t0 = time.perf_counter()
        try:
            row = FIGURES[name](args.cpu_smoke, device)
        except Exception as e:  # one figure's failure must not hide the others'
            failed = True
            row = dict(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=3)[-800:])
        print(json.dumps(dict(figure=name, device=device_name(device), torch=torch.__version__,
                              smoke=args.cpu_smoke, wall_s=round(time.perf_counter() - t0, 1), **row)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
