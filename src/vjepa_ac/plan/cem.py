"""Cross-entropy method over action sequences (the paper's planner and the notebook variant).

Each iteration samples ``cfg.num_samples`` sequences from a diagonal Gaussian, maps them into
the feasible set, scores them with the world model and refits the Gaussian to the
``cfg.num_elites`` lowest energies (with optional momentum). The plan is the final mean.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vjepa_ac.plan.config import CEMConfig
from vjepa_ac.plan.energy import Goals
from vjepa_ac.plan.interface import Context, RolloutModel
from vjepa_ac.plan.sampling import PlanResult, run_search


def cem_refit(candidates: Tensor, energies: Tensor, mean: Tensor, std: Tensor,
              cfg: CEMConfig) -> tuple[Tensor, Tensor, float]:
    """Mean and (unbiased) std ``[H, 7]`` of the ``cfg.num_elites`` lowest-energy candidates
    ``[S, H, 7]``, and the elites' mean energy."""
    top = torch.topk(energies, cfg.num_elites, largest=False)
    elites = candidates[top.indices]  # [K, H, 7]
    return elites.mean(dim=0), elites.std(dim=0), float(top.values.mean())


def cem(world_model: RolloutModel, context: Context, z_goal: Goals, cfg: CEMConfig,
        generator: torch.Generator, init_mean: Tensor | None = None) -> PlanResult:
    """Plan ``cfg.horizon`` actions from ``context`` toward ``z_goal``.

    z_goal: [N, D], or a sequence of G goals [N, D] for the last G steps (energies summed)
    init_mean: [H, 7] starting mean (a warm start); zeros when None
    Returns ``PlanResult`` with ``actions [H, 7]``. Deterministic for a given generator state.
    """
    if not isinstance(cfg, CEMConfig):
        raise TypeError(f"cem needs a CEMConfig, got {type(cfg).__name__}")
    return run_search(world_model, context, z_goal, cfg, generator, cem_refit, init_mean)
