"""Planning energies: distances between predicted and goal representations (lower is better).

Both inputs are already layer-normed over D (the world model returns normalised reps and
``encode`` does the same for goal images), so no normalisation happens here.
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import Tensor

EnergyFn = Callable[[Tensor, Tensor], Tensor]
Goals = Tensor | Sequence[Tensor]  # one goal [N, D], or G goals for the last G steps


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


def goal_steps(num_goals: int, horizon: int) -> list[int]:
    """Rollout steps compared with each of ``num_goals`` goals: the last ``num_goals`` steps."""
    if not 1 <= num_goals <= horizon:
        raise ValueError(f"{num_goals} goals need 1 <= goals <= horizon={horizon}")
    return list(range(horizon - num_goals, horizon))


def trajectory_energy(z_pred: Tensor, goals: Goals, energy: str | EnergyFn = "l1",
                      every_step: bool = False) -> Tensor:
    """Energy of rollouts ``z_pred [S, H, N, D]`` -> ``[S]``.

    ``goals`` is one ``[N, D]`` (compared with the last step, H-1; or, with ``every_step``,
    with each of the H steps, summed) or a sequence of G goals ``[N, D]`` (goal i compared
    with step ``H - G + i``; the last goal with the last step), whose energies are summed.
    """
    fn = ENERGIES[energy] if isinstance(energy, str) else energy
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
