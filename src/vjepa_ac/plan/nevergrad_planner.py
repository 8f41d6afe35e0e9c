"""NeverGrad planning: a black-box optimiser of the ``nevergrad`` library over the searched dims.

The searched dims of the ``[H, 7]`` sequence form an ``ng.p.Array [H, k]`` bounded by the box
of each group (xyz: +-``xyz_radius``, rotation: +-``rot_limit``, gripper: +-``gripper_limit``);
each candidate is mapped into the planner's feasible set (``sampling.apply_bounds``: the L1 ball
for xyz) before it is scored, and its energy is told back. Each iteration asks
``num_samples`` candidates (``num_workers`` = ``num_samples``, budget = ``num_samples *
iterations``), as jepa-wms' ``NevergradPlanner`` (arXiv 2512.24497: NGOpt ties CEM on DROID and
RoboCasa without tuning). Like jepa-wms, an NGOpt that picks ``MetaModel`` (numerically
unstable on flat energies) is replaced by ``DiagonalCMA``.

``nevergrad`` is optional: ``pip install 'vjepa-ac[nevergrad]'``; it is imported on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.plan.actions import ACTION_DIM, GROUPS
from vjepa_ac.plan.config import NeverGradConfig, SearchConfig
from vjepa_ac.plan.energy import Goals
from vjepa_ac.plan.interface import Context, RolloutModel
from vjepa_ac.plan.sampling import PlanResult, apply_bounds, finalize, prepare_goals, score, search_mask

EXTRA = "nevergrad"  # the pyproject extra that installs the library


def import_nevergrad() -> Any:
    """The ``nevergrad`` module; ImportError naming the extra when it is not installed."""
    try:
        import nevergrad
    except ImportError as e:
        raise ImportError(f"the NeverGrad planner needs the 'nevergrad' package: "
                          f"pip install 'vjepa-ac[{EXTRA}]'") from e
    return nevergrad


def box_bounds(cfg: SearchConfig) -> Tensor:
    """``[7]`` per-dim half-widths of the box around the feasible set (0 on unsearched dims)."""
    half = torch.zeros(ACTION_DIM)
    limits = {"xyz": cfg.xyz_radius, "rot": cfg.rot_limit, "gripper": cfg.gripper_limit}
    for group in cfg.search:
        half[GROUPS[group]] = limits[group]
    return half


def build_optimizer(cfg: NeverGradConfig, init: np.ndarray, half: np.ndarray, seed: int) -> Any:
    """A nevergrad optimiser over ``init [H, k]`` within ``+-half [k]`` (seeded numpy state)."""
    ng = import_nevergrad()
    if cfg.optimizer not in ng.optimizers.registry:
        raise ValueError(f"NeverGradConfig.optimizer: unknown nevergrad optimizer {cfg.optimizer!r}")
    H = init.shape[0]
    lower, upper = np.tile(-half, (H, 1)), np.tile(half, (H, 1))  # [H, k] each
    def make(name: str):
        param = ng.p.Array(init=np.clip(init, lower, upper), lower=lower, upper=upper)
        param.random_state = np.random.RandomState(seed)
        return ng.optimizers.registry[name](parametrization=param, budget=cfg.num_samples * cfg.iterations,
                                            num_workers=cfg.num_samples)
    opt = make(cfg.optimizer)
    chosen = getattr(getattr(opt, "optim", None), "name", None)  # what NGOpt delegated to
    if chosen == "MetaModel":
        opt = make("DiagonalCMA")
    return opt


def nevergrad_plan(world_model: RolloutModel, context: Context, z_goal: Goals, cfg: NeverGradConfig,
                   generator: torch.Generator, init_mean: Tensor | None = None) -> PlanResult:
    """Plan ``cfg.horizon`` actions from ``context`` toward ``z_goal`` with a nevergrad optimiser.

    z_goal: [N, D], or a sequence of G goals [N, D] for the last G steps (energies summed)
    init_mean: [H, 7] the optimiser's starting point (a warm start); zeros when None
    Returns ``PlanResult`` with ``actions [H, 7]``: the optimiser's recommendation
    (``select: mean``) or the best candidate scored (``select: best``); ``mean`` is the
    recommendation in bounds (the next warm start), ``std`` zeros. The optimiser's randomness is
    seeded from ``generator``, so a generator state gives one plan. Raises ImportError without
    the ``nevergrad`` extra, FloatingPointError on non-finite energies.
    """
    if not isinstance(cfg, NeverGradConfig):
        raise TypeError(f"nevergrad_plan needs a NeverGradConfig, got {type(cfg).__name__}")
    device = context.device
    goals = prepare_goals(z_goal, cfg, device)
    mask = search_mask(cfg)  # [7] on the CPU
    H, k = cfg.horizon, int(mask.sum())
    start = torch.zeros(H, ACTION_DIM) if init_mean is None else init_mean.detach().float().cpu()
    if tuple(start.shape) != (H, ACTION_DIM):
        raise ValueError(f"init_mean must be [horizon={H}, {ACTION_DIM}], got {tuple(start.shape)}")
    half = box_bounds(cfg)[mask].numpy()  # [k]
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
    opt = build_optimizer(cfg, apply_bounds(start, cfg)[:, mask].double().numpy(), half, seed)

    def full(values: np.ndarray) -> Tensor:
        """searched values ``[..., H, k]`` -> actions ``[..., H, 7]`` in bounds, on ``device``."""
        v = torch.as_tensor(values, dtype=torch.float32)
        out = torch.zeros(*v.shape[:-1], ACTION_DIM)
        out[..., mask] = v
        return apply_bounds(out.to(device), cfg)

    best_energy, best_actions = float("inf"), full(opt.parametrization.value)
    iter_best, iter_fit = [], []
    for _ in range(cfg.iterations):
        asked = [opt.ask() for _ in range(cfg.num_samples)]
        candidates = full(np.stack([c.value for c in asked]))  # [S, H, 7]
        energies = score(world_model, context, candidates, goals, cfg)  # [S]
        bad = int((~torch.isfinite(energies)).sum())
        if bad:
            raise FloatingPointError(f"{bad} of {energies.numel()} candidate energies are not finite; "
                                     "check the world model's outputs and the goal reps")
        for c, e in zip(asked, energies.tolist()):
            opt.tell(c, e)
        i = int(energies.argmin())
        if float(energies[i]) < best_energy:
            best_energy, best_actions = float(energies[i]), candidates[i].clone()
        iter_best.append(float(energies[i]))
        iter_fit.append(float(energies.mean()))
    recommended = full(opt.provide_recommendation().value)  # [H, 7]
    chosen = recommended if cfg.select == "mean" else best_actions
    actions = finalize(chosen, cfg)  # [H, 7]
    energy = float(score(world_model, context, actions[None], goals, cfg, precision="fp32")[0])
    return PlanResult(
        actions=actions, energy=energy, mean=recommended, std=torch.zeros_like(recommended),
        best_actions=best_actions, best_energy=best_energy, iter_best_energy=torch.tensor(iter_best),
        iter_fit_energy=torch.tensor(iter_fit),
    )
