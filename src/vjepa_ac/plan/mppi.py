"""Model predictive path integral (MPPI) search over action sequences.

Same sampling, bounds and scoring as CEM (``plan/sampling.py``); the refit uses every
candidate, weighted by ``softmax(-(E - min E) / (temperature * scale))`` where ``scale`` is
the std of the iteration's energies when ``cfg.normalize_energy`` (a scale-free temperature:
the energies of different world models differ in scale) and 1 otherwise (pytorch_mppi's
``lambda_`` in energy units). No control-cost term: actions are bounded instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vjepa_ac.plan.config import MPPIConfig
from vjepa_ac.plan.energy import Goals
from vjepa_ac.plan.interface import Context, RolloutModel
from vjepa_ac.plan.sampling import PlanResult, run_search


def mppi_weights(energies: Tensor, temperature: float, normalize: bool = True) -> Tensor:
    """Importance weights ``[S]`` (sum to 1) of candidate energies ``[S]``; lower is heavier."""
    shifted = energies - energies.min()  # [S], >= 0
    if normalize and energies.numel() > 1:  # one sample has no spread (its std is NaN): weight 1
        shifted = shifted / energies.std().clamp(min=torch.finfo(energies.dtype).tiny)
    return torch.softmax(-shifted / temperature, dim=0)


def mppi_refit(candidates: Tensor, energies: Tensor, mean: Tensor, std: Tensor,
               cfg: MPPIConfig) -> tuple[Tensor, Tensor, float]:
    """Weighted mean ``[H, 7]`` of all candidates ``[S, H, 7]``; the weighted std too if
    ``cfg.update_std`` (else ``std`` unchanged); and the weighted mean energy."""
    w = mppi_weights(energies, cfg.temperature, cfg.normalize_energy)  # [S]
    new_mean = torch.einsum("s,shd->hd", w, candidates)  # [H, 7]
    if cfg.update_std:
        new_std = torch.einsum("s,shd->hd", w, (candidates - new_mean).square()).sqrt()  # [H, 7]
    else:
        new_std = std
    return new_mean, new_std, float((w * energies).sum())


def mppi(world_model: RolloutModel, context: Context, z_goal: Goals, cfg: MPPIConfig,
         generator: torch.Generator, init_mean: Tensor | None = None) -> PlanResult:
    """Plan ``cfg.horizon`` actions from ``context`` toward ``z_goal`` with MPPI.

    Arguments and result as ``cem``. With ``update_std=False, iterations=1`` and a warm start
    this is classic MPPI (one update per control step, fixed noise).
    """
    if not isinstance(cfg, MPPIConfig):
        raise TypeError(f"mppi needs an MPPIConfig, got {type(cfg).__name__}")
    return run_search(world_model, context, z_goal, cfg, generator, mppi_refit, init_mean)
