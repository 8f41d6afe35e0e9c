"""``vjepa-ac landscape``: the planning energy over a grid of xyz actions, as in the public notebook.

    vjepa-ac landscape vjepa2-ac-vitg --npz franka_example_traj.npz --out landscape.png
    vjepa-ac landscape runs/sim --image now.png --goal goal.png --state "0.5 0 0.3 3.1 0 0 0"

For one frame pair (current, goal), every action ``(dx, dy, dz, 0, 0, 0, gripper)`` on a
``steps^3`` grid over ``[-grid, grid]^3`` m is rolled out one step from the current frame and
scored against the goal frame (``plan.sampling.score``: the planner's own energy, chunked).
The plot shows three planes through the grid's minimum (or through 0, or through the
recorded action): dx-dy, dx-dz and dy-dz, with the recorded action (from the two states,
``data.poses.states_to_actions``) and the minimum marked. A good world model puts the minimum
near the recorded action; a flat or shifted landscape is what makes CEM wander.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.data.poses import states_to_actions
from vjepa_ac.eval.report import write_json
from vjepa_ac.plan.actions import ACTION_DIM, GRIPPER_DIM, XYZ
from vjepa_ac.plan.config import SearchConfig
from vjepa_ac.plan.interface import Context, WorldModel
from vjepa_ac.plan.sampling import score

AXES = ("dx", "dy", "dz")
PLANES = ((0, 1), (0, 2), (1, 2))  # (horizontal, vertical) axes of the three heatmaps


@dataclass
class Landscape:
    """values: [K] grid coordinates of each axis (m); energies: [K, K, K] at (dx_i, dy_j, dz_k).
    true_action: [7] recorded action (or None); true_energy / zero_energy: energies of the
    recorded action and of the zero action, computed exactly (not on the grid)."""

    values: np.ndarray
    energies: np.ndarray
    gripper: float
    energy: str
    true_action: np.ndarray | None = None
    true_energy: float | None = None
    zero_energy: float | None = None

    @property
    def argmin_index(self) -> tuple[int, int, int]:
        return tuple(int(i) for i in np.unravel_index(np.argmin(self.energies), self.energies.shape))

    @property
    def argmin(self) -> np.ndarray:
        """[3] xyz (m) of the lowest energy on the grid."""
        return self.values[list(self.argmin_index)]

    def summary(self) -> dict:
        out = dict(
            grid=float(self.values[-1]),
            steps=len(self.values),
            energy=self.energy,
            gripper=self.gripper,
            argmin_xyz=self.argmin.tolist(),
            min_energy=float(self.energies.min()),
            max_energy=float(self.energies.max()),
            zero_energy=self.zero_energy,
        )
        if self.true_action is not None:
            true_xyz = self.true_action[XYZ]
            diff = self.argmin - true_xyz
            norms = np.linalg.norm(self.argmin) * np.linalg.norm(true_xyz)
            out.update(
                true_action=self.true_action.tolist(),
                true_energy=self.true_energy,
                true_inside_grid=bool(np.all(np.abs(true_xyz) <= self.values[-1] + 1e-9)),
                argmin_to_true_l2=float(np.linalg.norm(diff)),
                argmin_to_true_l1=float(np.abs(diff).sum()),
                argmin_true_cosine=float(self.argmin @ true_xyz / norms) if norms > 0 else None,
            )
        return out


def action_grid(grid: float, steps: int, gripper: float = 0.0) -> Tensor:
    """``[steps^3, 7]`` actions: (dx, dy, dz) on ``linspace(-grid, grid, steps)`` per axis, in
    ``ij`` order (dz fastest), rotation 0, gripper change ``gripper``."""
    if grid <= 0 or steps < 2:
        raise ValueError(f"landscape grid must be > 0 m with >= 2 steps, got {grid}, {steps}")
    v = torch.linspace(-grid, grid, steps)
    xyz = torch.stack(torch.meshgrid(v, v, v, indexing="ij"), dim=-1).reshape(-1, 3)  # [K^3, 3]
    actions = torch.zeros(len(xyz), ACTION_DIM)
    actions[:, XYZ] = xyz
    actions[:, GRIPPER_DIM] = gripper
    return actions


@torch.no_grad()
def energy_landscape(
    world_model: WorldModel,
    context: Context,
    z_goal: Tensor,
    *,
    grid: float = 0.075,
    steps: int = 21,
    gripper: float = 0.0,
    energy: Literal["l1", "l2"] = "l1",
    chunk_size: int | None = 1024,
    true_action: Tensor | None = None,
) -> Landscape:
    """Energies of every grid action, one step from ``context`` toward ``z_goal [N, D]``."""
    cfg = SearchConfig(energy=energy, chunk_size=chunk_size)
    actions = action_grid(grid, steps, gripper).to(context.device)[:, None]  # [K^3, 1, 7]
    energies = score(world_model, context, actions, z_goal.to(context.device), cfg)  # [K^3]
    extra = [torch.zeros(ACTION_DIM)] + (
        [] if true_action is None else [torch.as_tensor(true_action).float()]
    )
    exact = score(
        world_model, context, torch.stack(extra).to(context.device)[:, None], z_goal.to(context.device), cfg
    )
    return Landscape(
        values=np.linspace(-grid, grid, steps),
        energies=energies.view(steps, steps, steps).cpu().numpy(),
        gripper=gripper,
        energy=energy,
        zero_energy=float(exact[0]),
        true_action=None if true_action is None else np.asarray(true_action, dtype=np.float64),
        true_energy=None if true_action is None else float(exact[1]),
    )


def frame_pair_landscape(
    world_model: WorldModel,
    image: np.ndarray,
    goal: np.ndarray,
    state: np.ndarray,
    next_state: np.ndarray | None = None,
    *,
    gripper: str = "true",
    **kwargs,
) -> Landscape:
    """The landscape from uint8 frames ``image``, ``goal`` ``[H, W, 3]`` and the current ``state [7]``.
    With ``next_state`` the recorded action is ``states_to_actions([state, next_state])``;
    ``gripper``: ``"true"`` (the recorded closure change, 0 without one) or ``"zero"``."""
    frames = torch.as_tensor(np.stack([image, goal]))  # [2, H, W, 3]
    z = world_model.encode(frames)  # [2, N, D]
    s = torch.as_tensor(np.asarray(state, dtype=np.float32)).reshape(ACTION_DIM)
    true = None
    if next_state is not None:
        pair = torch.stack([s, torch.as_tensor(np.asarray(next_state, dtype=np.float32)).reshape(ACTION_DIM)])
        true = states_to_actions(pair)[0]  # [7]
    g = float(true[GRIPPER_DIM]) if (gripper == "true" and true is not None) else 0.0
    return energy_landscape(world_model, Context.single(z[0], s), z[1], true_action=true, gripper=g, **kwargs)


def plane_indices(landscape: Landscape, through: str) -> tuple[int, int, int]:
    """Grid indices the three planes pass through: the minimum, the origin, or the recorded action."""
    if through == "argmin":
        return landscape.argmin_index
    if through == "zero":
        point = np.zeros(3)
    elif through == "true":
        if landscape.true_action is None:
            raise ValueError("through='true' needs the recorded action (a next state)")
        point = landscape.true_action[XYZ]
    else:
        raise ValueError(f"through must be argmin, zero or true, got {through!r}")
    return tuple(int(np.abs(landscape.values - p).argmin()) for p in point)


def plot_landscape(
    landscape: Landscape, path: str | Path | None = None, through: str = "argmin", title: str | None = None
):
    """Three heatmaps (dx-dy, dx-dz, dy-dz) in cm through ``plane_indices(through)``; the
    recorded action is a red cross (a hollow circle on the border when outside the grid), the
    grid minimum a white star. Saves a PNG when ``path`` is given; returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = 100 * landscape.values  # cm
    half = (v[1] - v[0]) / 2
    extent = (v[0] - half, v[-1] + half, v[0] - half, v[-1] + half)
    at = plane_indices(landscape, through)
    E = landscape.energies
    vmin, vmax = float(E.min()), float(E.max())
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), layout="constrained")
    for ax, (a, b) in zip(axes, PLANES):
        c = 3 - a - b  # the axis held fixed
        plane = np.take(E, at[c], axis=c)  # [K, K] over (a, b)
        im = ax.imshow(
            plane.T,
            origin="lower",
            extent=extent,
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set_xlabel(f"{AXES[a]} (cm)")
        ax.set_ylabel(f"{AXES[b]} (cm)")
        ax.set_title(f"{AXES[a]}-{AXES[b]} at {AXES[c]} = {v[at[c]]:.1f} cm")
        ax.plot(
            100 * landscape.argmin[a],
            100 * landscape.argmin[b],
            marker="*",
            color="white",
            markersize=14,
            markeredgecolor="black",
            linestyle="none",
            label="minimum",
        )
        if landscape.true_action is not None:
            t = 100 * landscape.true_action[XYZ]
            x, y = np.clip(t[a], v[0], v[-1]), np.clip(t[b], v[0], v[-1])
            inside = (x, y) == (t[a], t[b])
            ax.plot(
                x,
                y,
                marker="x" if inside else "o",
                color="red",
                markersize=12,
                markeredgewidth=2.5,
                fillstyle="full" if inside else "none",
                linestyle="none",
                label="recorded action" + ("" if inside else " (outside the grid)"),
            )
    fig.colorbar(im, ax=axes, shrink=0.9, label=f"energy ({landscape.energy})")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9)
    s = landscape.summary()
    fig.suptitle(title or _title(s))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def _title(s: dict) -> str:
    cm = ", ".join(f"{100 * x:.1f}" for x in s["argmin_xyz"])
    text = f"minimum at ({cm}) cm, energy {s['min_energy']:.4f}"
    if "true_action" in s:
        t = ", ".join(f"{100 * x:.1f}" for x in s["true_action"][:3])
        text += f"; recorded ({t}) cm, energy {s['true_energy']:.4f}"
        text += f"; distance {100 * s['argmin_to_true_l2']:.1f} cm"
    return text


def save_landscape(
    landscape: Landscape, out: str | Path, through: str = "argmin", meta: dict | None = None
) -> dict:
    """Write ``out`` (PNG), ``out.npz`` (values, energies, recorded action) and ``out.json`` (summary)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    fig = plot_landscape(landscape, out, through)
    plt.close(fig)
    np.savez(
        out.with_suffix(".npz"),
        values=landscape.values,
        energies=landscape.energies,
        true_action=np.full(7, np.nan) if landscape.true_action is None else landscape.true_action,
    )
    summary = {**landscape.summary(), **(meta or {}), "png": str(out), "npz": str(out.with_suffix(".npz"))}
    write_json(out.with_suffix(".json"), summary)
    return summary


def load_npz_pair(path: str | Path, traj: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image, goal, state, next_state) from a notebook-style trajectory file: ``observations
    [B, T, H, W, 3]`` uint8 and ``states [B, T, 7]``; the first and last frame of trajectory ``traj``."""
    with np.load(path) as f:
        obs, states = f["observations"], f["states"]
    if obs.ndim != 5 or states.ndim != 3 or obs.shape[:2] != states.shape[:2] or obs.shape[1] < 2:
        raise ValueError(
            f"{path}: expected observations [B, T>=2, H, W, 3] and states [B, T, 7], "
            f"got {obs.shape} and {states.shape}"
        )
    return obs[traj, 0], obs[traj, -1], states[traj, 0], states[traj, -1]
