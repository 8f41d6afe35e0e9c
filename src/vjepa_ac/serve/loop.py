"""A robot's closed loop through the planning server: reset, observe, ask, execute, replan.

``run_episode(client, task)`` drives any task with the sim's episode API only through a
``PlanningClient``; nothing here touches a model. The task protocol (what ``vjepa_ac.sim``'s
``make_task`` returns, and the ``ToyReachTask`` below)::

    obs = task.reset(seed)        # obs.image uint8 [H, W, 3], obs.state [7]
    task.goal_images              # list of uint8 [H, W, 3], valid after reset
    obs = task.step(action)       # action [7]
    task.success() -> bool
    optional: task.done() -> bool, task.goal_index -> int (active goal image), task.distance_to_goal()

``ToyReachTask`` is a reach task seen through the toy camera of ``plan.toy.ToyWorldModel``
(serve it with ``vjepa-ac serve toy:``): a closed loop to test and demo without a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from vjepa_ac.client import PlanningClient, PlanReply


class Observation(Protocol):
    image: np.ndarray  # uint8 [H, W, 3]
    state: np.ndarray  # [7]


class Task(Protocol):
    goal_images: list[np.ndarray]

    def reset(self, seed: int) -> Observation: ...

    def step(self, action: np.ndarray) -> Observation: ...

    def success(self) -> bool: ...


@dataclass
class EpisodeResult:
    """actions: [T, 7] executed; energies, round_trip_s, plan_time_s: [T] per plan."""

    success: bool
    steps: int
    actions: np.ndarray
    energies: np.ndarray
    round_trip_s: np.ndarray
    plan_time_s: np.ndarray
    distance: float | None = None  # task.distance_to_goal() at the end, if the task has it
    replies: list[PlanReply] = field(default_factory=list, repr=False)


def run_episode(client: PlanningClient, task: Task, seed: int = 0, max_steps: int | None = None,
                warm_start: bool = True, **planner: Any) -> EpisodeResult:
    """One episode: ``task.reset(seed)``, register its goal image(s), then observe -> plan ->
    execute the first action until ``task.done()`` (or ``max_steps`` actions, default 20 when
    the task has no ``done``). Each goal image is its own registered goal; the active one is
    ``task.goal_index`` (0 if absent). ``warm_start`` sends each reply's ``warm_start`` back as
    the next ``init_mean`` (reset when the goal switches); plan ``t`` uses seed ``seed + t``.
    ``planner``: per-request planner settings (``num_samples=400, horizon=2, ...``).
    The goals are deleted from the server at the end."""
    obs = task.reset(seed)
    goal_ids = [client.register_goal(img) for img in task.goal_images]
    replies: list[PlanReply] = []
    init, active = None, None
    limit = max_steps if max_steps is not None else (None if hasattr(task, "done") else 20)
    try:
        t = 0
        while (limit is None or t < limit) and not (hasattr(task, "done") and task.done()):
            index = int(getattr(task, "goal_index", 0))
            if index != active:
                init, active = None, index
            reply = client.plan(obs.image, obs.state, goal_id=goal_ids[index], init_mean=init,
                                seed=seed + t, **planner)
            obs = task.step(reply.action)
            init = reply.warm_start if warm_start else None
            replies.append(reply)
            t += 1
    finally:
        for goal_id in goal_ids:
            client.delete_goal(goal_id)
    distance = float(task.distance_to_goal()) if hasattr(task, "distance_to_goal") else None
    return EpisodeResult(
        success=bool(task.success()), steps=len(replies),
        actions=np.array([r.action for r in replies]).reshape(-1, 7),
        energies=np.array([r.energy for r in replies]),
        round_trip_s=np.array([r.round_trip_s for r in replies]),
        plan_time_s=np.array([r.plan_time_s for r in replies]), distance=distance, replies=replies)


@dataclass
class ToyObservation:
    image: np.ndarray  # uint8 [8, 8, 3]: the state written by ToyWorldModel.render
    state: np.ndarray  # [7]


class ToyReachTask:
    """Move the end effector from a random start to a random point 10-25 cm away (toy physics:
    the action is added to the state). Success: within ``tolerance`` m of the point."""

    def __init__(self, max_steps: int = 10, tolerance: float = 0.02):
        from vjepa_ac.plan.toy import ToyWorldModel

        self.max_steps, self.tolerance = max_steps, tolerance
        self._camera = ToyWorldModel()  # only its render() is used: no weights involved
        self.state = np.zeros(7)
        self.target = np.zeros(7)
        self.t = 0

    def render(self, state: np.ndarray) -> np.ndarray:
        import torch

        return self._camera.render(torch.as_tensor(state)).numpy()  # uint8 [8, 8, 3]

    def reset(self, seed: int) -> ToyObservation:
        rng = np.random.default_rng(seed)
        self.state = np.array([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
        self.state[:3] += rng.uniform(-0.05, 0.05, 3)
        direction = rng.normal(size=3)
        self.target = self.state.copy()
        self.target[:3] += direction / np.linalg.norm(direction) * rng.uniform(0.10, 0.25)
        self.t = 0
        return self.observe()

    def observe(self) -> ToyObservation:
        return ToyObservation(image=self.render(self.state), state=self.state.copy())

    @property
    def goal_images(self) -> list[np.ndarray]:
        return [self.render(self.target)]

    def step(self, action: np.ndarray) -> ToyObservation:
        self.state = self.state + np.asarray(action, dtype=np.float64)
        self.state[6] = np.clip(self.state[6], 0.0, 1.0)
        self.t += 1
        return self.observe()

    def done(self) -> bool:
        return self.t >= self.max_steps

    def distance_to_goal(self) -> float:
        return float(np.linalg.norm(self.state[:3] - self.target[:3]))

    def success(self) -> bool:
        return self.distance_to_goal() < self.tolerance
