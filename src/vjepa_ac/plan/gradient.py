"""Gradient planning: Adam on the action sequence through the differentiable rollout.

Each iteration rolls ``cfg.num_samples`` sequences ``[S, H, 7]`` out with autograd on, takes the
gradient of their energies w.r.t. the actions, makes one Adam step (Kingma & Ba 2015), adds
optional Gaussian noise, and projects the sequences back into the feasible set
(``sampling.apply_bounds``: projected gradient descent). This follows DINO-WM's ``GDPlanner``
and jepa-wms' ``AdamPlanner`` (arXiv 2512.24497, which found it behind CEM on DROID, and its
code adds noise and clips in the same order); unlike jepa-wms' code, the step here is Adam's
(their loop applies ``actions - lr * grad`` after building an Adam optimiser).

Cost per iteration: one rollout of S sequences plus its backward pass (roughly 3x a forward),
so ``iterations`` x ``num_samples`` forward rollouts + backwards in all.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vjepa_ac.plan.config import GradientConfig
from vjepa_ac.plan.energy import Goals, trajectory_energy
from vjepa_ac.plan.interface import Context, DifferentiableRolloutModel
from vjepa_ac.plan.sampling import (
    PlanResult, apply_bounds, finalize, initial_distribution, prepare_goals, sample_candidates, score,
    search_mask,
)


def sequence_energies(world_model: DifferentiableRolloutModel, context: Context, actions: Tensor,
                      goals: Goals, cfg: GradientConfig) -> Tensor:
    """Energies ``[S]`` of ``actions [S, H, 7]``, differentiable w.r.t. ``actions`` (autograd is
    switched on here, so callers under ``torch.no_grad``, e.g. the server's worker, still get it)."""
    with torch.enable_grad():
        z = world_model.rollout_differentiable(context, actions)  # [S, H, N, D]
        if z.ndim != 4 or tuple(z.shape[:2]) != tuple(actions.shape[:2]):
            raise ValueError(f"world_model.rollout_differentiable returned {tuple(z.shape)} for actions "
                             f"{tuple(actions.shape)}; expected [S, H, N, D]")
        return trajectory_energy(z, goals, cfg.energy, every_step=cfg.energy_at == "every_step",
                                 tokens=cfg.energy_tokens)  # [S]


def gradient_plan(world_model: DifferentiableRolloutModel, context: Context, z_goal: Goals,
                  cfg: GradientConfig, generator: torch.Generator,
                  init_mean: Tensor | None = None) -> PlanResult:
    """Plan ``cfg.horizon`` actions from ``context`` toward ``z_goal`` by projected Adam.

    z_goal: [N, D], or a sequence of G goals [N, D] for the last G steps (energies summed)
    init_mean: [H, 7] starting sequence (a warm start); zeros when None
    Returns ``PlanResult`` with ``actions [H, 7]``: the lowest-energy of the S final sequences
    (``select: mean``) or the lowest-energy sequence of any iteration (``select: best``).
    ``mean`` is the returned sequence before rounding (the next warm start), ``std`` zeros.
    Raises TypeError when the world model has no ``rollout_differentiable``, FloatingPointError
    on non-finite energies or gradients.
    """
    if not isinstance(cfg, GradientConfig):
        raise TypeError(f"gradient_plan needs a GradientConfig, got {type(cfg).__name__}")
    if not isinstance(world_model, DifferentiableRolloutModel):
        raise TypeError(f"the gradient planner needs a world model with rollout_differentiable "
                        f"(plan.interface.DifferentiableRolloutModel); {type(world_model).__name__} has none")
    device = context.device
    goals = prepare_goals(goals=z_goal, cfg=cfg, device=device)
    mean, std = initial_distribution(cfg, init_mean, device)  # [H, 7] each
    mask = search_mask(cfg, device).float()  # [7]
    S = cfg.num_samples
    if cfg.init == "random":
        actions = sample_candidates(mean, std, S, cfg, generator)  # [S, H, 7]
    else:
        actions = mean.expand(S, *mean.shape).clone()  # [S, H, 7]
    actions.requires_grad_(True)
    optimizer = torch.optim.Adam([actions], lr=cfg.lr, betas=cfg.betas)
    best_energy, best_actions = float("inf"), actions[0].detach().clone()
    iter_best, iter_fit = [], []
    for _ in range(cfg.iterations):
        energies = sequence_energies(world_model, context, actions, goals, cfg)  # [S]
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(energies.sum(), actions)  # [S, H, 7]
        if not (torch.isfinite(energies).all() and torch.isfinite(grad).all()):
            raise FloatingPointError("gradient planner: non-finite energies or gradients; check the "
                                     "world model's outputs and the goal reps")
        e = energies.detach()
        i = int(e.argmin())
        if float(e[i]) < best_energy:
            best_energy, best_actions = float(e[i]), actions[i].detach().clone()
        iter_best.append(float(e[i]))
        iter_fit.append(float(e.mean()))
        actions.grad = grad * mask  # unsearched dims never move
        optimizer.step()
        with torch.no_grad():
            if cfg.action_noise > 0:
                noise = torch.randn(actions.shape, generator=generator, device=generator.device)
                actions.add_(cfg.action_noise * noise.to(device) * mask)
            actions.copy_(apply_bounds(actions, cfg))
    final = actions.detach()  # [S, H, 7]
    final_energies = score(world_model, context, final, goals, cfg)  # [S]
    i = int(final_energies.argmin())
    if float(final_energies[i]) < best_energy:
        best_energy, best_actions = float(final_energies[i]), final[i].clone()
    chosen = final[i] if cfg.select == "mean" else best_actions
    planned = finalize(chosen, cfg)  # [H, 7]
    energy = float(score(world_model, context, planned[None], goals, cfg)[0])
    return PlanResult(
        actions=planned, energy=energy, mean=chosen.clone(), std=torch.zeros_like(chosen),
        best_actions=best_actions, best_energy=best_energy, iter_best_energy=torch.tensor(iter_best),
        iter_fit_energy=torch.tensor(iter_fit),
    )
