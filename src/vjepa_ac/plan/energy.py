"""Planning energies: distances between predicted and goal representations (lower is better).

Both inputs are already layer-normed over D (the world model returns normalised reps and
``encode`` does the same for goal images), so no normalisation happens here.

Distances: ``l1`` (V-JEPA 2 section 4, the default) and ``l2`` (mean squared difference:
DINO-WM's objective; jepa-wms, arXiv 2512.24497, found it better for CEM; both as
jepa-wms' ``ReprTargetDist*MPCObjective``, a mean over tokens and width). Token handling:
``per_token`` compares each of the N tokens with the goal's (the paper), ``pooled`` compares
the token means ``[D]`` (a global, translation-insensitive summary of the frame).
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import Tensor

EnergyFn = Callable[[Tensor, Tensor], Tensor]
Goals = Tensor | Sequence[Tensor]  # one goal [N, D], or G goals for the last G steps
TOKEN_MODES = ("per_token", "pooled")


def _check(z_pred: Tensor, z_goal: Tensor) -> None:
    if z_goal.ndim != 2 or z_pred.ndim < 3 or tuple(z_pred.shape[-2:]) != tuple(z_goal.shape):
        raise ValueError(f"energy: z_pred must be [S, ..., N, D] and z_goal [N, D] with the same N, D; "
                         f"got {tuple(z_pred.shape)} and {tuple(z_goal.shape)}")


def l1_energy(z_pred: Tensor, z_goal: Tensor) -> Tensor:
    """Mean absolute difference (the paper): ``z_pred [S, ..., N, D]``, ``z_goal [N, D]`` -> ``[S]``."""
    _check(z_pred, z_goal)
    diff = (z_pred.float() - z_goal.float()).abs()  # [S, ..., N, D]
    return diff.flatten(1).mean(dim=1)  # [S]


def l2_energy(z_pred: Tensor, z_goal: Tensor) -> Tensor:
    """Mean squared difference (DINO-WM's objective): ``[S, ..., N, D]``, ``[N, D]`` -> ``[S]``."""
    _check(z_pred, z_goal)
    diff = (z_pred.float() - z_goal.float()).square()  # [S, ..., N, D]
    return diff.flatten(1).mean(dim=1)  # [S]


ENERGIES: dict[str, EnergyFn] = {"l1": l1_energy, "l2": l2_energy}


def pool_tokens(z: Tensor) -> Tensor:
    """Mean over the token axis, kept: ``[..., N, D]`` -> ``[..., 1, D]``."""
    return z.mean(dim=-2, keepdim=True)


def pooled(fn: EnergyFn) -> EnergyFn:
    """``fn`` applied to token means: ``(z_pred [S, ..., N, D], z_goal [N, D]) -> [S]``."""
    def energy(z_pred: Tensor, z_goal: Tensor) -> Tensor:
        _check(z_pred, z_goal)
        return fn(pool_tokens(z_pred), pool_tokens(z_goal))
    energy.__name__ = f"pooled_{getattr(fn, '__name__', 'energy')}"
    return energy


def energy_fn(energy: str | EnergyFn = "l1", tokens: str = "per_token") -> EnergyFn:
    """The distance named by ``energy`` (``l1``, ``l2``, or a callable), per token or pooled.

    Raises ValueError for an unknown name or token mode (the message names ``energy`` /
    ``energy_tokens``, the config fields).
    """
    if isinstance(energy, str):
        if energy not in ENERGIES:
            raise ValueError(f"energy must be one of {sorted(ENERGIES)}, got {energy!r}")
        energy = ENERGIES[energy]
    if tokens not in TOKEN_MODES:
        raise ValueError(f"energy_tokens must be one of {list(TOKEN_MODES)}, got {tokens!r}")
    return pooled(energy) if tokens == "pooled" else energy


def goal_steps(num_goals: int, horizon: int) -> list[int]:
    """Rollout steps compared with each of ``num_goals`` goals: the last ``num_goals`` steps."""
    if not 1 <= num_goals <= horizon:
        raise ValueError(f"{num_goals} goals need 1 <= goals <= horizon={horizon}")
    return list(range(horizon - num_goals, horizon))


def trajectory_energy(z_pred: Tensor, goals: Goals, energy: str | EnergyFn = "l1",
                      every_step: bool = False, tokens: str = "per_token") -> Tensor:
    """Energy of rollouts ``z_pred [S, H, N, D]`` -> ``[S]``.

    ``goals`` is one ``[N, D]`` (compared with the last step, H-1; or, with ``every_step``,
    with each of the H steps, summed) or a sequence of G goals ``[N, D]`` (goal i compared
    with step ``H - G + i``; the last goal with the last step), whose energies are summed.
    ``tokens``: ``per_token`` or ``pooled`` (``energy_fn``). Differentiable in ``z_pred``.
    """
    fn = energy_fn(energy, tokens)
    if z_pred.ndim != 4:
        raise ValueError(f"trajectory_energy: z_pred must be [S, H, N, D], got {tuple(z_pred.shape)}")
    H = z_pred.shape[1]
    if isinstance(goals, Tensor):
        if every_step:
            return sum(fn(z_pred[:, h], goals) for h in range(H))  # [S]
        return fn(z_pred[:, H - 1], goals)  # [S]
    if every_step:
        raise ValueError("trajectory_energy: every_step needs a single goal, got a sequence of goals")
    goals = list(goals)
    steps = goal_steps(len(goals), H)
    total = fn(z_pred[:, steps[0]], goals[0])  # [S]
    for step, goal in zip(steps[1:], goals[1:]):
        total = total + fn(z_pred[:, step], goal)
    return total
