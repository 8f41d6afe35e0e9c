"""Planners against compute: predictor evaluations, seconds per action and plan energy for each
planner (CEM, MPPI, NeverGrad, gradient) at a few budgets, on the toy or a random predictor.

    python benchmarks/bench_planners.py                               # toy, default budgets
    python benchmarks/bench_planners.py --budgets 0.05 0.25 1 --repeats 3
    python benchmarks/bench_planners.py --world-model predictor --predictor sim --budgets 0.1

A *budget* is a fraction of the paper setting's predictor evaluations (CEM 800 x 10 at the
horizon, one evaluation = one predicted frame of one candidate: samples x iterations x H).
Sampling planners (CEM, MPPI, NeverGrad) get ``iterations`` = 10 and ``samples`` = budget x
800; the gradient planner gets one sequence and as many Adam steps as the budget buys, each
counted as 3 evaluations (a rollout and its backward pass, ~2x a forward; an estimate).
Evaluations are counted by wrapping the model's ``rollout`` / ``rollout_differentiable``.

The toy's target is ``--distance`` m away in xyz with the gripper closing (reachable in one
0.075 m step only for distance <= 0.075), so the energy tells how well each planner searched;
``plan_error_m`` is the L1 distance of the planned first action's xyz from the optimum
(toy only, reachable targets). One JSON line per (planner, budget) with the device name.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import device_name, emit, sync  # noqa: E402

from vjepa_ac.plan.config import PlannerSpec, SearchConfig  # noqa: E402
from vjepa_ac.plan.interface import Context  # noqa: E402
from vjepa_ac.plan.mpc import plan_actions  # noqa: E402
from vjepa_ac.plan.toy import ToyWorldModel  # noqa: E402

PAPER_EVALUATIONS = 800 * 10  # CEM samples x iterations per horizon step (V-JEPA 2 section 4)
BACKWARD_COST = 2  # a backward pass counted as ~2 forwards (gradient planner)


class CountingModel:
    """Counts predicted frames (candidates x horizon) through ``rollout`` and
    ``rollout_differentiable`` (the latter weighted by 1 + ``BACKWARD_COST``)."""

    def __init__(self, inner):
        self.inner = inner
        self.evaluations = 0

    def rollout(self, context: Context, actions: torch.Tensor) -> torch.Tensor:
        self.evaluations += actions.shape[0] * actions.shape[1]
        return self.inner.rollout(context, actions)

    def rollout_differentiable(self, context: Context, actions: torch.Tensor) -> torch.Tensor:
        self.evaluations += (1 + BACKWARD_COST) * actions.shape[0] * actions.shape[1]
        return self.inner.rollout_differentiable(context, actions)


def build_toy(args: argparse.Namespace, device: torch.device):
    model = ToyWorldModel(tokens=args.tokens, width=args.width, seed=0, device=device)
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0], device=device)
    step = torch.tensor([1.0, -0.6, 0.3], device=device)
    optimum = step / step.abs().sum() * args.distance  # [3] xyz of the target
    target = start.clone()
    target[:3] += optimum
    target[6] = 1.0
    return model, Context.single(model.embed(start), start), model.embed(target), optimum


def build_predictor(args: argparse.Namespace, device: torch.device):
    from bench_plan import build_predictor as build

    model, context, goal = build(argparse.Namespace(predictor=args.predictor, full_recompute=False), device)
    return model, context, goal, None


def planner_config(kind: str, budget: float, horizon: int) -> SearchConfig:
    """``kind``'s defaults at ``budget`` x the paper's evaluations per horizon step."""
    if kind == "gradient":
        steps = max(1, round(budget * PAPER_EVALUATIONS / (1 + BACKWARD_COST)))
        return PlannerSpec(kind, overrides=dict(horizon=horizon, iterations=steps)).resolve()
    samples = max(10, round(budget * PAPER_EVALUATIONS / 10))
    return PlannerSpec(kind, overrides=dict(horizon=horizon, num_samples=samples, iterations=10)).resolve()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-model", choices=["toy", "predictor"], default="toy")
    p.add_argument("--predictor", default="sim", help="predictor: size (bench_plan.PREDICTORS)")
    p.add_argument("--planners", nargs="+", default=["cem", "mppi", "nevergrad", "gradient"])
    p.add_argument("--budgets", type=float, nargs="+", default=[0.05, 0.25, 1.0],
                   help="fractions of the paper's 800 x 10 evaluations per horizon step")
    p.add_argument("--horizon", type=int, default=1)
    p.add_argument("--distance", type=float, default=0.05, help="toy: xyz L1 distance to the target (m)")
    p.add_argument("--tokens", type=int, default=16, help="toy: N")
    p.add_argument("--width", type=int, default=64, help="toy: D")
    p.add_argument("--repeats", type=int, default=2, help="plans (seeds) per setting")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    build = build_toy if args.world_model == "toy" else build_predictor
    model, context, goal, optimum = build(args, device)
    for kind in args.planners:
        for budget in args.budgets:
            cfg = planner_config(kind, budget, args.horizon)
            counting = CountingModel(model)
            times, energies, errors = [], [], []
            for seed in range(args.repeats):
                g = torch.Generator(device=device).manual_seed(seed)
                sync(device)
                t = time.perf_counter()
                res = plan_actions(counting, context, goal, cfg, g)
                sync(device)
                times.append(time.perf_counter() - t)
                energies.append(res.energy)
                if optimum is not None and args.distance <= cfg.xyz_radius:
                    errors.append(float((res.actions[0, :3] - optimum).abs().sum()))
            emit(dict(
                bench="planners", device=device_name(device), world_model=args.world_model,
                planner=kind, budget=budget, horizon=args.horizon, num_samples=cfg.num_samples,
                iterations=cfg.iterations, evaluations=counting.evaluations // args.repeats,
                paper_fraction=round(counting.evaluations / args.repeats
                                     / (PAPER_EVALUATIONS * args.horizon), 4),
                s_per_action=round(statistics.median(times), 4),
                energy=round(statistics.mean(energies), 6), energy_max=round(max(energies), 6),
                plan_error_m=round(statistics.mean(errors), 5) if errors else None,
            ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
