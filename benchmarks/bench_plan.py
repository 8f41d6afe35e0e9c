"""Planner speed: seconds per executed action (one CEM plan) for the paper's budget.

    python benchmarks/bench_plan.py --world-model toy --horizons 1 2 3
    python benchmarks/bench_plan.py --world-model toy --device cpu --tokens 64 --width 256 --repeats 2

Prints one JSON line: device name, settings, and per horizon the mean seconds per action and
candidate rollouts per second. ``--world-model toy`` is the analytic model of
``vjepa_ac.plan.toy`` (synthetic: it measures the planner's own overhead plus the energy over
``[S, H, N, D]`` reps); ``predictor`` will time the real V-JEPA 2-AC predictor once
``vjepa_ac.models.world_model`` lands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vjepa_ac.plan.cem import cem  # noqa: E402
from vjepa_ac.plan.config import CEMConfig  # noqa: E402
from vjepa_ac.plan.interface import Context, RolloutModel  # noqa: E402
from vjepa_ac.plan.toy import ToyWorldModel  # noqa: E402


def build_toy(args: argparse.Namespace, device: torch.device) -> tuple[RolloutModel, Context, torch.Tensor]:
    model = ToyWorldModel(tokens=args.tokens, width=args.width, seed=0, device=device)
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0], device=device)
    target = start.clone()
    target[:3] += torch.tensor([0.2, -0.1, 0.05], device=device)
    return model, Context.single(model.embed(start), start), model.embed(target)


def build_predictor(args: argparse.Namespace, device: torch.device):
    raise NotImplementedError("--world-model predictor needs vjepa_ac.models.world_model (not merged yet)")


WORLD_MODELS = {"toy": build_toy, "predictor": build_predictor}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_plans(model, context, goal, cfg: CEMConfig, device: torch.device, repeats: int) -> float:
    """Mean seconds of one ``cem`` call after one warm-up call."""
    generator = torch.Generator(device=device).manual_seed(0)
    cem(model, context, goal, cfg, generator)  # warm-up (allocator, kernels)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        cem(model, context, goal, cfg, generator)
    sync(device)
    return (time.perf_counter() - t0) / repeats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-model", choices=sorted(WORLD_MODELS), default="toy")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--samples", type=int, default=800)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--elites", type=int, default=10)
    p.add_argument("--chunk-size", type=int, default=None, help="candidates per rollout call (default: all)")
    p.add_argument("--tokens", type=int, default=256, help="toy: N tokens per frame (256 at 256 px)")
    p.add_argument("--width", type=int, default=1408, help="toy: D (1408 = ViT-g)")
    p.add_argument("--repeats", type=int, default=3, help="timed plans per horizon")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    model, context, goal = WORLD_MODELS[args.world_model](args, device)
    results = []
    for horizon in args.horizons:
        cfg = CEMConfig(horizon=horizon, num_samples=args.samples, iterations=args.iterations,
                        num_elites=args.elites, chunk_size=args.chunk_size)
        seconds = time_plans(model, context, goal, cfg, device, args.repeats)
        rollouts = args.samples * args.iterations + 1  # + the re-scored plan
        results.append({"horizon": horizon, "s_per_action": round(seconds, 5),
                        "rollouts_per_s": round(rollouts / seconds, 1)})
    print(json.dumps({
        "bench": "plan", "device": device_name(device), "world_model": args.world_model,
        "planner": "cem", "samples": args.samples, "iterations": args.iterations,
        "elites": args.elites, "chunk_size": args.chunk_size, "tokens": args.tokens,
        "width": args.width, "repeats": args.repeats, "torch": torch.__version__, "results": results,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
