"""Receding-horizon control: plan, execute the first action, observe, replan.

Three layers, each usable alone:
- ``MPC``: the controller state (a seeded generator and the warm-start mean) around one
  planner; ``MPC.step(context, z_goal)`` plans once from latent inputs.
- ``run_mpc(mpc, observe, act, z_goal)``: the loop over ``observe() -> Context`` and
  ``act(action [7])`` callables (a robot driver or any latent-space test rig).
- ``Planner``: the image policy ``policy(obs, goal) -> action [7]`` that ``sim/evaluate.py``
  takes; it encodes frames with the world model and calls ``MPC.step``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.plan.actions import ACTION_DIM
from vjepa_ac.plan.cem import cem
from vjepa_ac.plan.config import CEMConfig, GradientConfig, MPCConfig, MPPIConfig, NeverGradConfig
from vjepa_ac.plan.energy import Goals
from vjepa_ac.plan.gradient import gradient_plan
from vjepa_ac.plan.interface import Context, RolloutModel, WorldModel
from vjepa_ac.plan.mppi import mppi
from vjepa_ac.plan.nevergrad_planner import nevergrad_plan
from vjepa_ac.plan.sampling import PlanResult

PlannerConfig = CEMConfig | MPPIConfig | NeverGradConfig | GradientConfig
# the planner function of each config type (all: (world_model, context, z_goal, cfg, generator, init_mean))
PLANNERS = {CEMConfig: cem, MPPIConfig: mppi, NeverGradConfig: nevergrad_plan, GradientConfig: gradient_plan}

# Keys of the observation mapping the image policy reads.
OBS_IMAGE = "image"  # uint8 [H, W, 3] (or [3, H, W]) camera frame
OBS_STATE = "state"  # [7] end-effector state (REFERENCE.md section 6)


def plan_actions(world_model: RolloutModel, context: Context, z_goal: Goals, cfg: PlannerConfig,
                 generator: torch.Generator, init_mean: Tensor | None = None) -> PlanResult:
    """Run the planner ``cfg`` names by its type (``PLANNERS``: ``CEMConfig`` -> cem,
    ``MPPIConfig`` -> mppi, ``NeverGradConfig`` -> nevergrad_plan, ``GradientConfig`` -> gradient_plan)."""
    planner = PLANNERS.get(type(cfg))
    if planner is None:
        raise TypeError(f"no planner for config type {type(cfg).__name__}; use one of "
                        f"{[t.__name__ for t in PLANNERS]}")
    return planner(world_model, context, z_goal, cfg, generator, init_mean)


def shift_mean(mean: Tensor, fill: str = "zero") -> Tensor:
    """Warm start for the next control step: ``mean [H, 7]`` advanced by one step; the freed
    last step is 0 (``"zero"``) or a copy of the last planned action (``"repeat"``)."""
    shifted = torch.empty_like(mean)
    shifted[:-1] = mean[1:]
    shifted[-1] = 0.0 if fill == "zero" else mean[-1]
    return shifted


class MPC:
    """Controller state around one planner: a generator seeded from ``cfg.seed`` and the
    shifted mean of the last plan. ``reset()`` before each episode."""

    def __init__(self, world_model: RolloutModel, planner_cfg: PlannerConfig, cfg: MPCConfig | None = None):
        self.world_model = world_model
        self.planner_cfg = planner_cfg
        self.cfg = cfg if cfg is not None else MPCConfig()
        self.seed = self.cfg.seed
        self.generator: torch.Generator | None = None  # made on the context's device at the next step
        self.next_mean: Tensor | None = None  # [H, 7] warm start for the next plan

    def reset(self, seed: int | None = None) -> None:
        """Forget the warm start; the generator is re-seeded (``seed`` or ``cfg.seed``) at the next step."""
        self.seed = self.cfg.seed if seed is None else seed
        self.generator = None
        self.next_mean = None

    def step(self, context: Context, z_goal: Goals) -> PlanResult:
        """Plan from ``context`` toward ``z_goal``; execute ``result.actions[0]``."""
        if self.generator is None or self.generator.device != context.device:
            self.generator = torch.Generator(device=context.device).manual_seed(self.seed)
        init = self.next_mean if self.cfg.warm_start else None
        result = plan_actions(self.world_model, context, z_goal, self.planner_cfg, self.generator, init)
        self.next_mean = shift_mean(result.mean, self.cfg.warm_start_fill)
        return result


@dataclass
class MPCResult:
    """actions: [T, 7] executed; energies: [T] energy of each plan; stop_reason: why it ended."""

    actions: Tensor
    energies: Tensor
    plans: list[PlanResult] = field(repr=False)
    stop_reason: str


def run_mpc(mpc: MPC, observe: Callable[[], Context], act: Callable[[Tensor], Any], z_goal: Goals,
            max_steps: int | None = None) -> MPCResult:
    """Loop ``observe -> plan -> act(first action [7])`` for up to ``max_steps`` (default
    ``mpc.cfg.max_steps``) actions; stops after executing a plan whose energy is at most
    ``mpc.cfg.stop_energy``. Does not reset ``mpc`` (call ``mpc.reset()`` per episode)."""
    steps = mpc.cfg.max_steps if max_steps is None else max_steps
    actions, energies, plans = [], [], []
    reason = "max_steps"
    for _ in range(steps):
        result = mpc.step(observe(), z_goal)
        action = result.actions[0]  # [7]
        act(action)
        actions.append(action)
        energies.append(result.energy)
        plans.append(result)
        if mpc.cfg.stop_energy is not None and result.energy <= mpc.cfg.stop_energy:
            reason = "stop_energy"
            break
    return MPCResult(actions=torch.stack(actions), energies=torch.tensor(energies), plans=plans,
                     stop_reason=reason)


def _as_uint8_batch(image: Any) -> Tensor:
    """One frame (numpy or torch, uint8 ``[H, W, 3]`` or ``[3, H, W]``) -> ``[1, ...]``."""
    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, Tensor) else image
    if t.dtype != torch.uint8 or t.ndim != 3:
        raise ValueError(f"expected one uint8 frame [H, W, 3] or [3, H, W], got {t.dtype} {tuple(t.shape)}")
    return t[None]


class Planner:
    """Image policy ``policy(obs, goal) -> action [7]`` (numpy float64) built on ``MPC``.

    obs: mapping with ``OBS_IMAGE`` (uint8 frame) and ``OBS_STATE`` ([7] end-effector state)
    goal: a uint8 goal frame, a sequence of frames (intermediate goals, the last one at the
        horizon), or already-encoded reps (float ``[N, D]`` or a sequence of them)
    The goal's encoding is cached until a different goal arrives. ``last_plan`` holds the
    latest ``PlanResult`` for diagnostics. Call ``reset()`` at the start of each episode.
    """

    def __init__(self, world_model: WorldModel, planner_cfg: PlannerConfig, cfg: MPCConfig | None = None):
        self.world_model = world_model
        self.mpc = MPC(world_model, planner_cfg, cfg)
        self.last_plan: PlanResult | None = None
        self._goal_key: list[Tensor] | None = None
        self._goal_z: Goals | None = None

    def reset(self, seed: int | None = None) -> None:
        self.mpc.reset(seed)
        self.last_plan = None

    def encode_goal(self, goal: Any) -> Goals:
        """Goal frame(s) or reps -> reps ``[N, D]`` (or a list of them), cached by content."""
        items = list(goal) if isinstance(goal, (list, tuple)) else [goal]
        keys = [torch.as_tensor(np.asarray(g)) if not isinstance(g, Tensor) else g for g in items]
        if self._goal_key is not None and len(keys) == len(self._goal_key) and all(
                k.shape == c.shape and k.dtype == c.dtype and torch.equal(k, c.to(k.device))
                for k, c in zip(keys, self._goal_key)):
            return self._goal_z
        reps = [self.world_model.encode(_as_uint8_batch(k))[0] if k.dtype == torch.uint8 else k
                for k in keys]  # each [N, D]
        self._goal_key = [k.clone() for k in keys]
        self._goal_z = reps if isinstance(goal, (list, tuple)) else reps[0]
        return self._goal_z

    def __call__(self, obs: Mapping[str, Any], goal: Any) -> np.ndarray:
        z = self.world_model.encode(_as_uint8_batch(obs[OBS_IMAGE]))  # [1, N, D]
        state = torch.as_tensor(np.asarray(obs[OBS_STATE], dtype=np.float32)).reshape(ACTION_DIM)  # [7]
        context = Context.single(z, state)
        self.last_plan = self.mpc.step(context, self.encode_goal(goal))
        return self.last_plan.actions[0].double().cpu().numpy()
