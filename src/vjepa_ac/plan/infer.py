"""Inferring the action between two frames: planning with the next observed frame as the goal.

The move a world model "sees" between frame t and frame t+1 is the action whose one-step
prediction from frame t (and its state) lands closest to the encoding of frame t+1, i.e. the
plan of horizon 1 toward frame t+1 (inverse dynamics by planning, as the V-JEPA 2 paper's
App. B.4 does to measure the inferred action frame). Only the xyz part is searched: rotation and
gripper stay 0, so callers should use moves with neither (``vjepa-ac calibrate`` executes pure
translations, and picks such frame pairs from recorded episodes).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from vjepa_ac.plan.config import PlannerSpec, SearchConfig
from vjepa_ac.plan.interface import Context, WorldModel
from vjepa_ac.plan.mpc import _as_uint8_batch, plan_actions

# The search of an inferred move: xyz only, horizon 1, a box wide enough for any probe move
# (a rotated 5 cm move can leave the planners' 0.075 m L1 ball), CEM with a budget that settles.
INFER_PLANNER = "cem"
INFER_DEFAULTS: dict[str, Any] = dict(
    horizon=1, search=["xyz"], xyz_bound="box", xyz_radius=0.1, init_std_xyz=0.05,
    num_samples=400, iterations=8, num_elites=20,
)


def infer_planner(overrides: dict[str, Any] | None = None, kind: str = INFER_PLANNER) -> SearchConfig:
    """The planner config of ``infer_moves``: ``INFER_DEFAULTS`` <- ``overrides`` (horizon fixed at 1)."""
    cfg = PlannerSpec(kind, overrides={**INFER_DEFAULTS, **(overrides or {})}).resolve(where="infer", horizon=1)
    if "xyz" not in cfg.search:
        raise ValueError("infer.search must include 'xyz' (the moves are inferred in xyz)")
    return cfg


@torch.no_grad()
def infer_moves(world_model: WorldModel, frames: Sequence[Any], states: np.ndarray, next_frames: Sequence[Any],
                cfg: SearchConfig | None = None, seed: int = 0) -> np.ndarray:
    """The action each frame pair shows, as the world model sees it.

    frames, next_frames: K uint8 frames ``[H, W, 3]`` each (t and t+1)
    states: ``[K, 7]`` end-effector states at t (the predictor is conditioned on them)
    cfg: the planner (default ``infer_planner()``); seed: its generator's seed (per pair: seed + k)
    Returns ``[K, 7]`` inferred actions (float64; unsearched dims 0).
    """
    cfg = cfg if cfg is not None else infer_planner()
    states = np.asarray(states, dtype=np.float32).reshape(-1, 7)
    if not len(frames) == len(next_frames) == len(states):
        raise ValueError(f"infer_moves: {len(frames)} frames, {len(next_frames)} next frames and "
                         f"{len(states)} states must be as many")
    out = np.zeros((len(states), 7))
    for k, (frame, nxt, state) in enumerate(zip(frames, next_frames, states)):
        z = world_model.encode(_as_uint8_batch(frame))  # [1, N, D]
        goal = world_model.encode(_as_uint8_batch(nxt))[0]  # [N, D]
        context = Context.single(z, torch.from_numpy(state))
        generator = torch.Generator(device=context.device).manual_seed(seed + k)
        out[k] = plan_actions(world_model, context, goal, cfg, generator).actions[0].double().cpu().numpy()
    return out
