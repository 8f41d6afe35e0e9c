"""What the planners share: the sampling distribution, the feasible set, chunked scoring and
the sample -> score -> refit loop. The planners differ only in their ``Refit`` function.

Candidate actions are ``[S, H, 7]`` throughout (S samples, H horizon, 7 = action layout of
``plan/actions.py``); the distribution is a diagonal Gaussian with ``mean, std [H, 7]``.
Unsearched dims have mean 0 and std 0 and are forced to 0 in every candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from vjepa_ac.plan.actions import (
    ACTION_DIM, GRIPPER, GROUPS, ROT, XYZ, group_mask, project_l1_ball, rescale_to_l1_ball,
)
from vjepa_ac.plan.config import SearchConfig
from vjepa_ac.plan.energy import Goals, goal_steps, trajectory_energy
from vjepa_ac.plan.interface import Context, RolloutModel


@dataclass
class PlanResult:
    """One plan. Tensors live on the context's device.

    actions: [H, 7] the plan to execute (its first row is the next command), inside the bounds
    energy: energy of ``actions`` (the returned plan, re-scored after rounding)
    mean, std: [H, 7] the final sampling distribution (before gripper rounding): warm starts
    best_actions: [H, 7] the lowest-energy candidate sampled; best_energy: its energy
    iter_best_energy: [I] lowest candidate energy of each iteration
    iter_fit_energy: [I] mean energy of what each refit used (CEM: the elites; MPPI: weighted)
    """

    actions: Tensor
    energy: float
    mean: Tensor
    std: Tensor
    best_actions: Tensor
    best_energy: float
    iter_best_energy: Tensor
    iter_fit_energy: Tensor


# refit(candidates [S, H, 7], energies [S], mean [H, 7], std [H, 7], cfg) -> (mean, std, fit_energy)
Refit = Callable[[Tensor, Tensor, Tensor, Tensor, SearchConfig], tuple[Tensor, Tensor, float]]


def search_mask(cfg: SearchConfig, device: torch.device | str | None = None) -> Tensor:
    """``[7]`` bool: True on searched dims."""
    return group_mask(cfg.search, device=device)


def apply_bounds(actions: Tensor, cfg: SearchConfig) -> Tensor:
    """Map ``actions [..., 7]`` into the feasible set: unsearched dims 0, xyz in its ball or box,
    rotation and gripper clipped per dim. Idempotent; points already inside are unchanged."""
    mask = search_mask(cfg, actions.device)  # [7]
    out = torch.where(mask, actions, torch.zeros_like(actions))
    if "xyz" in cfg.search:
        xyz = out[..., XYZ]  # [..., 3]
        if cfg.xyz_bound == "box":
            xyz = xyz.clamp(-cfg.xyz_radius, cfg.xyz_radius)
        elif cfg.l1_method == "project":
            xyz = project_l1_ball(xyz, cfg.xyz_radius)
        else:
            xyz = rescale_to_l1_ball(xyz, cfg.xyz_radius)
        out[..., XYZ] = xyz
    if "rot" in cfg.search:
        out[..., ROT] = out[..., ROT].clamp(-cfg.rot_limit, cfg.rot_limit)
    if "gripper" in cfg.search:
        out[..., GRIPPER] = out[..., GRIPPER].clamp(-cfg.gripper_limit, cfg.gripper_limit)
    return out


def initial_distribution(cfg: SearchConfig, init_mean: Tensor | None = None,
                         device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """``(mean, std)``, each ``[H, 7]``: mean 0 (or ``init_mean``, put in bounds), std from
    ``cfg.init_std_*`` on searched dims and 0 elsewhere."""
    H = cfg.horizon
    if init_mean is None:
        mean = torch.zeros(H, ACTION_DIM, device=device)
    else:
        if tuple(init_mean.shape) != (H, ACTION_DIM):
            raise ValueError(f"init_mean must be [horizon={H}, {ACTION_DIM}], got {tuple(init_mean.shape)}")
        mean = apply_bounds(init_mean.detach().to(device=device, dtype=torch.float32).clone(), cfg)
    per_group = {"xyz": cfg.init_std_xyz, "rot": cfg.init_std_rot, "gripper": cfg.init_std_gripper}
    std = torch.zeros(H, ACTION_DIM, device=device)
    for group in cfg.search:
        std[:, GROUPS[group]] = per_group[group]
    return mean, std


def sample_candidates(mean: Tensor, std: Tensor, num_samples: int, cfg: SearchConfig,
                      generator: torch.Generator) -> Tensor:
    """``num_samples`` candidates ``[S, H, 7]`` from N(mean, std^2), mapped into the bounds.

    The noise is drawn on the generator's device (so a seed gives the same candidates
    whatever ``chunk_size`` is) and moved to ``mean``'s device.
    """
    H = mean.shape[0]
    eps = torch.randn(num_samples, H, ACTION_DIM, generator=generator, device=generator.device)  # [S, H, 7]
    candidates = mean + std * eps.to(mean.device)  # [S, H, 7]
    return apply_bounds(candidates, cfg)


def prepare_goals(goals: Goals, cfg: SearchConfig, device: torch.device) -> Goals:
    """Goals on ``device``, checked against ``cfg.horizon`` and ``cfg.energy_at``."""
    if isinstance(goals, Tensor):
        return goals.to(device)
    if cfg.energy_at == "every_step":
        raise ValueError(f"{type(cfg).__name__}.energy_at='every_step' needs one goal, got {len(goals)}")
    goals = [g.to(device) for g in goals]
    goal_steps(len(goals), cfg.horizon)  # raises if there are more goals than steps
    return goals


@torch.no_grad()
def score(world_model: RolloutModel, context: Context, actions: Tensor, goals: Goals,
          cfg: SearchConfig, precision: str | None = None) -> Tensor:
    """Energies ``[S]`` of candidates ``actions [S, H, 7]``, rolled out ``cfg.chunk_size`` at a
    time so only one chunk of predicted reps ``[chunk, H, N, D]`` is alive at once.

    ``precision`` (default ``cfg.precision``): ``"bf16"`` runs the rollouts under bfloat16
    autocast on the world model's device; energies are always computed in fp32."""
    S, H, _ = actions.shape
    chunk = cfg.chunk_size or S
    device = getattr(world_model, "device", None) or context.device
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                              enabled=(precision or cfg.precision) == "bf16")
    energies = []
    for start in range(0, S, chunk):
        part = actions[start:start + chunk]  # [c, H, 7]
        with autocast:
            z = world_model.rollout(context, part)  # [c, H, N, D]
        if z.dtype in (torch.bfloat16, torch.float16):
            z = z.float()  # energies in fp32
        if z.ndim != 4 or tuple(z.shape[:2]) != tuple(part.shape[:2]):
            raise ValueError(f"world_model.rollout returned {tuple(z.shape)} for actions "
                             f"{tuple(part.shape)}; expected [{part.shape[0]}, {H}, N, D]")
        e = trajectory_energy(z, goals, cfg.energy, every_step=cfg.energy_at == "every_step",
                              tokens=cfg.energy_tokens)  # [c]
        energies.append(e.to(actions.device))
    return torch.cat(energies)  # [S]


def blend(fitted: Tensor, previous: Tensor, momentum: float) -> Tensor:
    """``(1 - momentum) * fitted + momentum * previous`` (the public notebook's momentum)."""
    return (1.0 - momentum) * fitted + momentum * previous


def finalize(actions: Tensor, cfg: SearchConfig) -> Tensor:
    """The plan to return: in bounds, closure changes below ``cfg.gripper_round`` set to 0."""
    out = apply_bounds(actions, cfg)
    if cfg.gripper_round > 0:
        g = out[..., GRIPPER]
        out[..., GRIPPER] = torch.where(g.abs() < cfg.gripper_round, torch.zeros_like(g), g)
    return out


@torch.no_grad()
def run_search(world_model: RolloutModel, context: Context, goals: Goals, cfg: SearchConfig,
               generator: torch.Generator, refit: Refit, init_mean: Tensor | None = None) -> PlanResult:
    """``cfg.iterations`` rounds of sample -> score -> ``refit``; returns the final mean (or the
    best candidate, ``cfg.select``) as the plan. No logging, no state kept between calls."""
    device = context.device
    goals = prepare_goals(goals, cfg, device)
    mean, std = initial_distribution(cfg, init_mean, device)  # [H, 7] each
    mask = search_mask(cfg, device)  # [7]
    best_energy = float("inf")
    best_actions = mean.clone()
    iter_best, iter_fit = [], []
    for _ in range(cfg.iterations):
        candidates = sample_candidates(mean, std, cfg.num_samples, cfg, generator)  # [S, H, 7]
        if cfg.include_mean:
            candidates[0] = apply_bounds(mean, cfg)  # jepa-wms' CEM: the mean is never lost
        energies = score(world_model, context, candidates, goals, cfg)  # [S]
        bad = int((~torch.isfinite(energies)).sum())
        if bad:
            raise FloatingPointError(f"{bad} of {energies.numel()} candidate energies are not finite; "
                                     "check the world model's outputs and the goal reps")
        i = int(energies.argmin())
        if float(energies[i]) < best_energy:
            best_energy, best_actions = float(energies[i]), candidates[i].clone()
        new_mean, new_std, fit_energy = refit(candidates, energies, mean, std, cfg)
        mean = torch.where(mask, blend(new_mean, mean, cfg.momentum_mean), torch.zeros_like(mean))
        std = torch.where(mask, blend(new_std, std, cfg.momentum_std).clamp(min=cfg.min_std),
                          torch.zeros_like(std))
        iter_best.append(float(energies[i]))
        iter_fit.append(fit_energy)
    chosen = mean if cfg.select == "mean" else best_actions
    actions = finalize(chosen, cfg)  # [H, 7]
    energy = float(score(world_model, context, actions[None], goals, cfg, precision="fp32")[0])
    return PlanResult(
        actions=actions, energy=energy, mean=mean, std=std, best_actions=best_actions,
        best_energy=best_energy, iter_best_energy=torch.tensor(iter_best),
        iter_fit_energy=torch.tensor(iter_fit),
    )
