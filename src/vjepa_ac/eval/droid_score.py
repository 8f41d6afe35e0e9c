"""The DROID action score of jepa-wms (Terver et al., arXiv 2512.24497), for ``eval offline``.

The protocol, as their evaluation code runs it (``evals/simu_env_planning``: ``plan_evaluator.py``,
the DROID base config, and ``app/plan_common/plot``'s rescaling):

1. An *episode* is a window of ``goal_steps + 1`` frames (jepa-wms: goal_H = 3, so 4 frames at
   4 fps) drawn from a held-out clip: the clip uniformly, the offset inside it uniformly.
2. Plan once from the first frame (one context frame and its state) toward the last frame's
   representation with CEM 300 x 15, 10 elites, horizon 3, every dim drawn from N(0, 0.1^2)
   and clipped to 0.1 (xyz, m; rotation, rad) and 0.75 (gripper), the mean kept among the
   candidates, L2 energy at the horizon (``plan.config.CEM_PRESETS["jepa_wms_droid"]``).
3. All planned actions are "executed" (3): no replanning, since recorded video cannot react.
4. The episode's error is per action dim ``|sum_t planned_t - sum_t recorded_t|`` over the
   executed steps (the displacement the plan makes against the one the robot made); the xyz
   error is its sum over x, y, z (m).
5. Score = ``max(0, 800 * (0.1 - mean xyz error))``: 0 at a mean error of 10 cm or more, 80 at
   none. jepa-wms publish 42.9 (V-JEPA 2-AC, fixed) and 48.2 (JEPA-WM) on their episodes.

The differences this implementation cannot avoid are listed in ``notes/plan.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.config import ConfigError
from vjepa_ac.plan.actions import GRIPPER, ROT, XYZ
from vjepa_ac.plan.config import PlannerSpec, SearchConfig
from vjepa_ac.plan.interface import Context
from vjepa_ac.plan.mpc import plan_actions

SCORE_SCALE = 800.0  # score points per metre of mean xyz error (jepa-wms' rescaling)
SCORE_ZERO_ERROR = 0.1  # m; mean xyz error at and above which the score is 0
PUBLISHED = {"V-JEPA 2-AC (fixed), jepa-wms": 42.9, "JEPA-WM, jepa-wms": 48.2}  # arXiv 2512.24497


@dataclass
class DroidScoreConfig:
    """jepa-wms' DROID planning score (``scores`` must include ``droid_score``)."""

    episodes: int = 64  # planned episodes (jepa-wms: 64)
    goal_steps: int = 3  # frames from the start to the goal frame (jepa-wms' goal_H)
    actions_executed: int | None = None  # planned actions compared with the recorded ones; None: the horizon
    seed: int = 1  # seeds the episode draws and each episode's planner (jepa-wms' meta.seed)
    planner: str = "jepa_wms_droid"  # any PlannerSpec kind; the protocol's CEM by default
    planner_config: Path | None = None  # YAML of planner overrides (configs/plan/*.yaml)
    plan: dict[str, Any] = field(default_factory=dict)  # planner overrides: droid_score.plan.num_samples=100

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.goal_steps < 1:
            raise ConfigError(f"droid_score.episodes and droid_score.goal_steps must be >= 1, "
                              f"got {self.episodes} and {self.goal_steps}")
        if self.actions_executed is not None and self.actions_executed < 1:
            raise ConfigError(f"droid_score.actions_executed must be >= 1 or None, "
                              f"got {self.actions_executed}")
        self.executed()  # validates the planner and the counts before any model loads

    def planner_cfg(self) -> SearchConfig:
        """``planner`` <- ``planner_config`` <- ``plan``; errors name ``droid_score.plan.<field>``."""
        return PlannerSpec(self.planner, self.planner_config, self.plan).resolve(where="droid_score.plan")

    def executed(self) -> int:
        """Actions compared per episode: ``actions_executed`` or the planner's horizon; at most
        the horizon and ``goal_steps`` (ConfigError naming the fields otherwise)."""
        horizon = self.planner_cfg().horizon
        k = horizon if self.actions_executed is None else self.actions_executed
        if k > horizon or k > self.goal_steps:
            raise ConfigError(f"droid_score: {k} executed actions need droid_score.plan.horizon ({horizon}) "
                              f"and droid_score.goal_steps ({self.goal_steps}) >= {k}")
        return k


def draw_episodes(num_clips: int, frames_per_clip: int, cfg: DroidScoreConfig) -> list[tuple[int, int]]:
    """``cfg.episodes`` draws of ``(clip index, first frame)``, clip and offset uniform, with
    replacement (as jepa-wms), from a generator seeded with ``cfg.seed``."""
    if num_clips < 1:
        raise ConfigError("droid_score: no held-out clips to draw episodes from")
    last = frames_per_clip - cfg.goal_steps - 1  # the latest first frame
    if last < 0:
        raise ConfigError(f"droid_score.goal_steps={cfg.goal_steps} needs clips of at least "
                          f"{cfg.goal_steps + 1} frames; clips.frames_per_clip is {frames_per_clip}")
    g = torch.Generator().manual_seed(cfg.seed)
    draws = []
    for _ in range(cfg.episodes):
        clip = int(torch.randint(num_clips, (1,), generator=g))
        first = int(torch.randint(last + 1, (1,), generator=g))
        draws.append((clip, first))
    return draws


def displacement_error(planned: Tensor, recorded: Tensor) -> dict[str, float]:
    """jepa-wms' end distance of ``planned [k, 7]`` against ``recorded [k, 7]``: per dim
    ``|sum planned - sum recorded|``, summed over xyz (m), rotation (rad) and gripper."""
    if planned.shape != recorded.shape or planned.ndim != 2:
        raise ValueError(f"planned and recorded actions must both be [k, 7], got "
                         f"{tuple(planned.shape)} and {tuple(recorded.shape)}")
    delta = (planned.double().sum(0) - recorded.double().sum(0)).abs()  # [7]
    xyz, rot, grip = float(delta[XYZ].sum()), float(delta[ROT].sum()), float(delta[GRIPPER].sum())
    return dict(xyz_error=xyz, orientation_error=rot, closure_error=grip, error=xyz + rot + grip)


def score_from_error(mean_xyz_error: float) -> float:
    """``max(0, 800 * (0.1 - mean xyz error in m))`` (jepa-wms' DROID rescaling; 80 at no error)."""
    return max(0.0, SCORE_SCALE * (SCORE_ZERO_ERROR - mean_xyz_error))


@torch.no_grad()
def score_episode(world_model, frames: Tensor, states: Tensor, actions: Tensor, planner_cfg: SearchConfig,
                  executed: int, generator: torch.Generator) -> dict:
    """One episode: ``frames`` uint8 ``[K+1, 3, H, W]`` (start .. goal), ``states [K+1, 7]``,
    recorded ``actions [K, 7]``. Plans once from frame 0 toward frame K and compares the first
    ``executed`` planned actions with the recorded ones (``displacement_error``)."""
    z = world_model.encode(frames[[0, -1]])  # [2, N, D]: start and goal
    plan = plan_actions(world_model, Context.single(z[0], states[0]), z[1], planner_cfg, generator)
    planned = plan.actions[:executed].float().cpu()  # [k, 7]
    recorded = actions[:executed].float().cpu()  # [k, 7]
    return dict(**displacement_error(planned, recorded), energy=plan.energy,
                planned=planned.tolist(), recorded=recorded.tolist())


def droid_scores(world_model, dataset, cfg: DroidScoreConfig, progress: bool = True) -> list[dict]:
    """``score_episode`` for each of ``draw_episodes`` over ``dataset``'s clips (items with
    ``frames [T, 3, H, W]``, ``states [T, 7]``, ``actions [T-1, 7]``, ``episode_id``)."""
    from tqdm import tqdm

    planner_cfg, k, K = cfg.planner_cfg(), cfg.executed(), cfg.goal_steps
    T = dataset[0]["frames"].shape[0] if len(dataset) else 0
    draws = draw_episodes(len(dataset), T, cfg)
    device = world_model.device
    out = []
    for e, (clip, first) in enumerate(tqdm(draws, desc="droid score", unit="episode", disable=not progress)):
        item = dataset[clip]
        g = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + e)
        window = slice(first, first + K + 1)  # K + 1 frames: start .. goal
        rec = score_episode(world_model, item["frames"][window], item["states"][window],
                            item["actions"][first:first + K], planner_cfg, k, g)
        out.append(dict(episode=e, clip=clip, episode_id=item["episode_id"], first_frame=first, **rec))
    return out


def summarize_droid(episodes: list[dict]) -> dict:
    """Mean errors over episodes and the score (``score_from_error`` of the mean xyz error)."""
    if not episodes:
        return {}
    out: dict[str, Any] = {"episodes": len(episodes)}
    for key in ("xyz_error", "orientation_error", "closure_error", "error", "energy"):
        v = np.array([ep[key] for ep in episodes], dtype=np.float64)
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
    out["score"] = score_from_error(out["xyz_error"])
    # the score's standard error, from the xyz error's (0 where the score is clipped at 0)
    sem = out["xyz_error_std"] / math.sqrt(len(episodes))
    out["score_sem"] = SCORE_SCALE * sem if out["score"] > 0 else 0.0
    out["published"] = dict(PUBLISHED)
    return out
