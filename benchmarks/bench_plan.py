"""Planner speed: seconds per executed action (one CEM plan) for the paper's budget.

    python benchmarks/bench_plan.py --world-model toy --horizons 1 2 3
    python benchmarks/bench_plan.py --world-model toy --device cpu --tokens 64 --width 256 --repeats 2

Prints one JSON line: device name, settings, and per horizon the mean seconds per action and
candidate rollouts per second. ``--world-model toy`` is the analytic model of
``vjepa_ac.plan.toy`` (synthetic: it measures the planner's own overhead plus the energy over
``[S, H, N, D]`` reps); ``predictor`` times the real V-JEPA 2-AC predictor (random weights of
the ``--predictor`` preset) with cached keys/values, or ``--full-recompute`` for the reference
that reruns the whole sequence at every horizon step.

    python benchmarks/bench_plan.py --world-model predictor --predictor small --horizons 1 2 3
    python benchmarks/bench_plan.py --world-model predictor --predictor paper --chunk-size 100

Each result also gives the peak memory of its timed plans (CUDA: max allocated; CPU: resident
memory sampled by a thread) and the part of it above ``base_mb``, the memory once the model and
its inputs are built (the planner's working memory). ``--chunk-size`` takes several values
(``all`` = no chunking) to show how chunking bounds that memory:

    python benchmarks/bench_plan.py --world-model predictor --predictor small --horizons 1 3 \
        --chunk-size all 400 100 25
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PeakMemory, current_memory_mb, device_name, sync  # noqa: E402

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


PREDICTORS = {
    # the sim default's size: 128 px frames (8x8 tokens) of a ViT-tiny-width encoder
    "small": dict(preset="small", img_size=(128, 128), embed_dim=192),
    # configs/sim.yaml's model: 128 px (8x8 tokens), width 192, 4 layers
    "sim": dict(preset="tiny", img_size=(128, 128), embed_dim=192),
    # the paper: ViT-g features at 256 px (16x16 tokens)
    "paper": dict(preset="paper", img_size=(256, 256), embed_dim=1408),
}


class FullRecompute:
    """Reference rollout without a cache: the whole sequence is rerun at every step."""

    def __init__(self, latent):
        self.latent = latent

    @torch.no_grad()
    def rollout(self, context: Context, actions: torch.Tensor) -> torch.Tensor:
        from vjepa_ac.data.poses import apply_actions
        from vjepa_ac.models.predictor import normalize_reps

        pred = self.latent.model.predictor
        S, H, _ = actions.shape
        z = context.z[-1:].flatten(0, 1)[None].expand(S, -1, -1)  # [S, N, D]
        s = context.states[-1:].expand(S, 1, -1)  # [S, 1, 7]
        n = z.shape[1]
        outs = []
        for h in range(H):
            out = normalize_reps(pred(z, actions[:, : h + 1], s)[:, -n:])  # [S, N, D]
            outs.append(out)
            z = torch.cat([z, out], dim=1)
            s = torch.cat([s, apply_actions(s[:, -1], actions[:, h])[:, None]], dim=1)
        return torch.stack(outs, dim=1)


def build_predictor(args: argparse.Namespace, device: torch.device):
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, normalize_reps
    from vjepa_ac.plan.world_model import LatentWorldModel

    spec = dict(PREDICTORS[args.predictor])
    cfg = PredictorConfig.preset(spec.pop("preset"), **spec)
    torch.manual_seed(0)
    latent = LatentWorldModel(None, ACPredictor(cfg, device=device).eval(), device=device)
    g = torch.Generator(device="cpu").manual_seed(0)
    z0, goal = normalize_reps(torch.randn(2, cfg.tokens_per_frame, cfg.embed_dim, generator=g)).to(device)
    start = torch.tensor([0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.0], device=device)
    model = FullRecompute(latent) if args.full_recompute else latent
    return model, Context.single(z0, start), goal


WORLD_MODELS = {"toy": build_toy, "predictor": build_predictor}


def time_plans(model, context, goal, cfg: CEMConfig, device: torch.device,
               repeats: int) -> tuple[float, PeakMemory]:
    """Mean seconds of one ``cem`` call after one warm-up call, and the peak memory of the timed calls."""
    generator = torch.Generator(device=device).manual_seed(0)
    cem(model, context, goal, cfg, generator)  # warm-up (allocator, kernels)
    sync(device)
    with PeakMemory(device) as memory:
        t0 = time.perf_counter()
        for _ in range(repeats):
            cem(model, context, goal, cfg, generator)
        sync(device)
        seconds = (time.perf_counter() - t0) / repeats
    return seconds, memory


def chunk_size(text: str) -> int | None:
    return None if text == "all" else int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-model", choices=sorted(WORLD_MODELS), default="toy")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--samples", type=int, default=800)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--elites", type=int, default=10)
    p.add_argument("--chunk-size", type=chunk_size, nargs="+", default=[None],
                   help="candidates per rollout call; several values compare memory ('all': no chunking)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--tokens", type=int, default=256, help="toy: N tokens per frame (256 at 256 px)")
    p.add_argument("--width", type=int, default=1408, help="toy: D (1408 = ViT-g)")
    p.add_argument("--repeats", type=int, default=3, help="timed plans per horizon")
    p.add_argument("--predictor", choices=sorted(PREDICTORS), default="small", help="predictor: size")
    p.add_argument("--full-recompute", action="store_true", help="predictor: no key/value cache (reference)")
    args = p.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, context, goal = WORLD_MODELS[args.world_model](args, device)
    base_mb = current_memory_mb(device)  # the model and its inputs, before any plan
    results = []
    for horizon in args.horizons:
        for chunk in args.chunk_size:
            cfg = CEMConfig(horizon=horizon, num_samples=args.samples, iterations=args.iterations,
                            num_elites=args.elites, chunk_size=chunk)
            seconds, memory = time_plans(model, context, goal, cfg, device, args.repeats)
            rollouts = args.samples * args.iterations + 1  # + the re-scored plan
            results.append({"horizon": horizon, "chunk_size": chunk, "s_per_action": round(seconds, 5),
                            "rollouts_per_s": round(rollouts / seconds, 1),
                            "peak_mb": round(memory.peak_mb, 1),
                            "peak_over_base_mb": round(memory.peak_mb - base_mb, 1)})
    print(json.dumps({
        "bench": "plan", "device": device_name(device), "world_model": args.world_model,
        "planner": "cem", "samples": args.samples, "iterations": args.iterations,
        "elites": args.elites, "tokens": args.tokens,
        "width": args.width, "repeats": args.repeats, "predictor": args.predictor if args.world_model ==
        "predictor" else None, "full_recompute": args.full_recompute,
        "memory": "cuda max allocated" if device.type == "cuda" else "cpu resident (sampled)",
        "base_mb": round(base_mb, 1),
        "torch": torch.__version__, "results": results,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
