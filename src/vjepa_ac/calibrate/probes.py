"""Probe moves: frame pairs with the move the robot executed between them.

Two sources, one record (``ProbePairs``):
- ``sim_probe_pairs``: the sim executes known moves (``PROBE_MOVES``: +-x, +-y, +-z and four
  horizontal diagonals, ``move_cm`` long) from the start pose of each seed's scene, each from
  the same snapshot, and records frame t, frame t+1 and the measured states;
- ``episode_probe_pairs``: recorded episodes (raw DROID or LeRobot, what a real robot has):
  frame pairs one control period apart whose recorded move is mostly a translation (rotation
  and gripper change small), since moves are inferred in xyz only (``plan/infer.py``).

The executed move is the measured state difference (``data.poses.states_to_actions``), not the
command: the model was trained on measured states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vjepa_ac.data.poses import GRIPPER_DIM, ROT, XYZ, states_to_actions

# unit directions of the probe moves (robot base frame)
_D = 1 / np.sqrt(2)
PROBE_MOVES: tuple[tuple[float, float, float], ...] = (
    (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1),
    (_D, _D, 0), (-_D, -_D, 0), (_D, -_D, 0), (-_D, _D, 0),
)


@dataclass
class ProbePairs:
    """K frame pairs. frames, next_frames: [K, H, W, 3] uint8; states: [K, 7] at t;
    executed: [K, 7] measured actions between t and t+1; where: [K] a label per pair."""

    frames: np.ndarray
    next_frames: np.ndarray
    states: np.ndarray
    executed: np.ndarray
    where: list[str]

    def __len__(self) -> int:
        return len(self.states)


def _stack(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]]) -> ProbePairs:
    if not pairs:
        raise ValueError("no probe pairs")
    f, n, s, e, w = zip(*pairs)
    return ProbePairs(np.stack(f), np.stack(n), np.stack(s), np.stack(e), list(w))


def sim_probe_pairs(lab: str, seeds: tuple[int, ...], move_m: float, sim_kwargs: dict[str, Any],
                    moves: tuple[tuple[float, float, float], ...] = PROBE_MOVES) -> ProbePairs:
    """Execute ``moves`` (unit directions x ``move_m`` m, rotation and gripper 0) in ``lab`` from
    the start of each seed's scene; ``sim_kwargs`` are further ``SimConfig`` fields (image_size,
    ext1_zoom, ext1_pos / ext1_target of a turned camera, ...)."""
    from vjepa_ac.sim.env import FrankaSim, SimConfig

    pairs = []
    with FrankaSim(SimConfig(lab=lab, **sim_kwargs)) as sim:
        for seed in seeds:
            start = sim.reset(seed)
            snap = sim.snapshot()
            for direction in moves:
                action = np.zeros(7)
                action[XYZ] = move_m * np.asarray(direction, dtype=np.float64)
                after = sim.step(action)
                executed = states_to_actions(np.stack([start.state, after.state]))[0]  # [7]
                pairs.append((start.image, after.image, start.state, executed, f"{lab} seed {seed} move "
                              f"{np.round(action[XYZ], 3).tolist()}"))
                sim.restore(snap)
    return _stack(pairs)


def translation_rows(actions: np.ndarray, min_move_m: float, max_rot: float, max_gripper: float) -> np.ndarray:
    """Indices of ``actions [T, 7]`` that are mostly translations: |xyz| >= ``min_move_m``,
    every rotation angle <= ``max_rot`` rad, |gripper change| <= ``max_gripper``."""
    a = np.asarray(actions, dtype=np.float64)
    ok = ((np.linalg.norm(a[:, XYZ], axis=1) >= min_move_m) & (np.abs(a[:, ROT]).max(axis=1) <= max_rot)
          & (np.abs(a[:, GRIPPER_DIM]) <= max_gripper))
    return np.flatnonzero(ok)


def episode_probe_pairs(episodes: list, fps: float, max_pairs: int, min_move_m: float = 0.01,
                        max_rot: float = 0.05, max_gripper: float = 0.05) -> ProbePairs:
    """Frame pairs ``1 / fps`` s apart from recorded ``data.episode.Episode``s whose move is a
    translation (``translation_rows``), at most ``max_pairs`` spread evenly over all candidates."""
    candidates = []  # (episode index, row t, row t+1)
    for e, ep in enumerate(episodes):
        ts = np.asarray(ep.timestamps, dtype=np.float64)
        rows = np.searchsorted(ts, ts + 1.0 / fps - 1e-6)  # first frame >= t + 1/fps
        keep = np.flatnonzero(rows < len(ts))
        if not len(keep):
            continue
        actions = np.stack([states_to_actions(ep.states[[t, rows[t]]])[0] for t in keep])  # [k, 7]
        good = keep[translation_rows(actions, min_move_m, max_rot, max_gripper)]
        candidates += [(e, int(t), int(rows[t])) for t in good]
    if not candidates:
        raise ValueError(f"no frame pair of the episodes moves at least {100 * min_move_m:.1f} cm with rotation "
                         f"<= {max_rot} rad and gripper change <= {max_gripper} in 1/{fps:g} s")
    pick = np.unique(np.linspace(0, len(candidates) - 1, min(max_pairs, len(candidates))).round().astype(int))
    chosen = [candidates[i] for i in pick]
    pairs = []
    for e in sorted({c[0] for c in chosen}):
        ep = episodes[e]
        mine = [c for c in chosen if c[0] == e]
        rows = sorted({r for _, t, t1 in mine for r in (t, t1)})
        frames = dict(zip(rows, ep.read_frames(rows)))
        for _, t, t1 in mine:
            executed = states_to_actions(ep.states[[t, t1]])[0]
            pairs.append((frames[t], frames[t1], ep.states[t], executed, f"{ep.key} rows {t}->{t1}"))
    return _stack(pairs)
