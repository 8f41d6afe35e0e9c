"""The planning service, independent of HTTP: one model, a goal registry, one worker.

- One ``ServedModel`` in memory. The model is not thread-safe, and on a few CPU cores parallel
  plans would only share the same cores, so a single worker thread runs every model call
  (goal encodings and plans) one at a time, in arrival order.
- Work waits in a bounded queue (``ServeConfig.queue_size``); a full queue is refused at once
  with 503 ("busy, retry") instead of growing without bound.
- Every job has a deadline (arrival + ``timeout_s``). A job still queued at its deadline is
  skipped; a running plan is stopped at the next world-model call after it (``_DeadlineModel``).
  Either way the caller gets 504.
- A planning exception fails that job only (500 to its caller); the worker goes on.
- Registered goals keep their encodings in an LRU of ``max_goals`` entries, keyed by a random id.

``submit_plan`` / ``submit_goal`` return ``concurrent.futures.Future``s (the HTTP layer awaits
them without holding a thread); ``plan`` / ``register_goal`` are the blocking equivalents.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

import vjepa_ac
from vjepa_ac.data.poses import GRIPPER, ROT, XYZ
from vjepa_ac.plan.actions import ACTION_DIM
from vjepa_ac.plan.calibration import load_calibration
from vjepa_ac.plan.interface import Context, WorldModel
from vjepa_ac.plan.mpc import plan_actions, shift_mean
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.model import ServedModel
from vjepa_ac.serve.protocol import (
    IMAGE_ENCODINGS,
    JSON,
    MAX_ABS_VECTOR,
    MSGPACK,
    PLANNER_FLOAT_BOUNDS,
    GoalRequest,
    PlanRequest,
    ServeError,
    config_id,
    planner_wire,
    resolve_planner,
)

log = logging.getLogger(__name__)


class DeadlineExceeded(ServeError):
    def __init__(self, what: str):
        super().__init__(504, f"{what}: request timed out")


class _DeadlineModel:
    """The served world model, refusing calls after ``deadline`` (``time.monotonic`` seconds):
    planners call ``rollout`` once per iteration (and chunk), so a plan stops soon after it."""

    def __init__(self, model: WorldModel, deadline: float):
        self.model, self.deadline = model, deadline

    def _check(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded(what)

    def encode(self, images: Tensor) -> Tensor:
        self._check("encoding")
        return self.model.encode(images)

    def rollout(self, context: Context, actions: Tensor) -> Tensor:
        self._check("planning")
        return self.model.rollout(context, actions)


@dataclass
class GoalEntry:
    """z: G encodings [N, D] (intermediate goals, the last one at the horizon)."""

    goal_id: str
    z: list[Tensor]
    created: float  # time.time()

    def to_wire(self) -> dict[str, Any]:
        N, D = self.z[0].shape
        return {"goal_id": self.goal_id, "num_images": len(self.z), "tokens": N, "width": D}


class GoalRegistry:
    """Encoded goals by id, least recently used dropped beyond ``capacity``. Thread-safe."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[str, GoalEntry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, z: list[Tensor]) -> GoalEntry:
        entry = GoalEntry(secrets.token_hex(8), z, time.time())
        with self._lock:
            self._entries[entry.goal_id] = entry
            while len(self._entries) > self.capacity:
                dropped, _ = self._entries.popitem(last=False)
                log.info("goal %s dropped (registry holds %d)", dropped, self.capacity)
        return entry

    def get(self, goal_id: str) -> GoalEntry:
        with self._lock:
            entry = self._entries.get(goal_id)
            if entry is None:
                raise ServeError(404, f"unknown goal_id {goal_id!r} (never registered, deleted, or dropped "
                                      f"from the {self.capacity} most recently used); register it again",
                                 "goal_id")
            self._entries.move_to_end(goal_id)
            return entry

    def delete(self, goal_id: str) -> None:
        with self._lock:
            if self._entries.pop(goal_id, None) is None:
                raise ServeError(404, f"unknown goal_id {goal_id!r}", "goal_id")

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class PlanOutcome:
    """One plan's reply. action: [7] to execute now; actions: [H, 7] the plan; warm_start: [H, 7]
    its mean shifted by one step (send it back as the next request's init_mean)."""

    action: np.ndarray
    energy: float
    actions: np.ndarray
    warm_start: np.ndarray
    plan_time_s: float  # s the worker spent (encoding + search)
    queue_time_s: float  # s the request waited for the worker
    model_id: str
    config_id: str
    planner: dict[str, Any] = field(repr=False)

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action.tolist(), "energy": self.energy, "actions": self.actions.tolist(),
                "warm_start": self.warm_start.tolist(), "plan_time_s": self.plan_time_s,
                "queue_time_s": self.queue_time_s, "model_id": self.model_id, "config_id": self.config_id,
                "planner": self.planner}


@dataclass
class _Job:
    run: Callable[[float, float], Any]  # run(deadline, queue_time_s) -> result, on the worker
    deadline: float  # time.monotonic() s
    enqueued: float  # time.monotonic() s
    future: Future = field(default_factory=Future)


class PlanningService:
    """See the module doc. ``start()`` before submitting; ``stop()`` ends the worker."""

    def __init__(self, model: ServedModel, cfg: ServeConfig):
        self.model = model
        self.cfg = cfg
        self.goals = GoalRegistry(cfg.max_goals)
        self.default_planner = resolve_planner({}, cfg)
        self.calibration = None if cfg.calibration is None else load_calibration(cfg.calibration)
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=cfg.queue_size)
        self._worker: threading.Thread | None = None
        self._started = time.monotonic()
        self._counts_lock = threading.Lock()
        self.counts = {"planned": 0, "goals_registered": 0, "failed": 0, "timed_out": 0, "busy": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> PlanningService:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="vjepa-ac-planner", daemon=True)
            self._worker.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Finish queued jobs, then end the worker."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout)

    @property
    def busy(self) -> bool:
        """The queue is full: a new request would be refused (checked before parsing one)."""
        return self._queue.full()

    def refuse_if_busy(self) -> None:
        if self.busy:
            self._count("busy")
            raise ServeError(503, f"busy: {self.cfg.queue_size} requests are queued; retry shortly")

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _count(self, key: str) -> None:
        with self._counts_lock:
            self.counts[key] += 1

    # ------------------------------------------------------------------ the worker
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up while it waited
            start = time.monotonic()
            try:
                if start > job.deadline:
                    raise DeadlineExceeded("queued")
                with torch.no_grad():
                    result = job.run(job.deadline, start - job.enqueued)
            except ServeError as e:
                if e.status == 504:
                    self._count("timed_out")
                job.future.set_exception(e)
            except Exception as e:  # a planning error belongs to this caller only
                log.exception("job failed")
                self._count("failed")
                job.future.set_exception(ServeError(500, f"planning failed: {type(e).__name__}: {e}"))
            else:
                job.future.set_result(result)

    def _submit(self, run: Callable[[float, float], Any], timeout_s: float) -> Future:
        if not self.alive:
            raise ServeError(503, "the planning worker is not running")
        now = time.monotonic()
        job = _Job(run=run, deadline=now + timeout_s, enqueued=now)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._count("busy")
            raise ServeError(503, f"busy: {self.cfg.queue_size} requests are queued; retry shortly") from None
        return job.future

    # ------------------------------------------------------------------ plans
    def submit_plan(self, req: PlanRequest) -> Future:
        """Queue ``req``; the future's result is a ``PlanOutcome``, its exception a ``ServeError``."""
        goal = self.goals.get(req.goal_id) if req.goal_id is not None else None  # 404 before queueing
        if goal is not None and len(goal.z) > req.planner.horizon:
            raise ServeError(422, f"goal {req.goal_id} has {len(goal.z)} images, planner.horizon is "
                                  f"{req.planner.horizon}", "planner.horizon")
        return self._submit(lambda deadline, waited: self._plan(req, goal, deadline, waited), req.timeout_s)

    def _plan(self, req: PlanRequest, goal: GoalEntry | None, deadline: float, waited: float) -> PlanOutcome:
        t0 = time.perf_counter()
        wm = _DeadlineModel(self.model.world_model, deadline)
        z = wm.encode(torch.from_numpy(req.image)[None])  # [1, N, D]
        context = Context.single(z[0], torch.from_numpy(req.state))
        if goal is not None:
            zs = goal.z
        else:
            zs = [wm.encode(torch.from_numpy(g)[None])[0] for g in req.goal_images]  # G x [N, D]
        goals = zs[0] if len(zs) == 1 else zs  # one goal: [N, D] (energy_at applies); G: a list
        generator = torch.Generator(device=context.device).manual_seed(req.seed)
        init = None if req.init_mean is None else torch.from_numpy(req.init_mean).to(context.device)
        result = plan_actions(wm, context, goals, req.planner, generator, init)
        actions = result.actions.double().cpu().numpy()  # [H, 7]
        warm = shift_mean(result.mean).double().cpu().numpy()  # [H, 7]
        if not (np.isfinite(actions).all() and np.isfinite(warm).all() and np.isfinite(result.energy)):
            raise ServeError(500, "planning failed: the plan or its energy is not finite")
        if self.calibration is not None:  # planned in the model's frame; executed in the robot's
            actions = self.calibration.to_robot(actions)  # [H, 7]; warm_start stays in the model's frame
        self._count("planned")
        return PlanOutcome(action=actions[0], energy=float(result.energy), actions=actions, warm_start=warm,
                           plan_time_s=time.perf_counter() - t0, queue_time_s=waited,
                           model_id=self.model.model_id, config_id=config_id(req.planner),
                           planner=planner_wire(req.planner))

    def plan(self, req: PlanRequest) -> PlanOutcome:
        """Blocking ``submit_plan``."""
        return _wait(self.submit_plan(req), req.timeout_s)

    # ------------------------------------------------------------------ goals
    def submit_goal(self, req: GoalRequest, timeout_s: float | None = None) -> Future:
        """Queue the encoding of goal images; the future's result is a ``GoalEntry``."""
        return self._submit(lambda deadline, waited: self._register(req, deadline),
                            timeout_s or self.cfg.timeout_s)

    def _register(self, req: GoalRequest, deadline: float) -> GoalEntry:
        wm = _DeadlineModel(self.model.world_model, deadline)
        z = [wm.encode(torch.from_numpy(img)[None])[0] for img in req.images]  # G x [N, D]
        self._count("goals_registered")
        return self.goals.add(z)

    def register_goal(self, req: GoalRequest, timeout_s: float | None = None) -> GoalEntry:
        """Blocking ``submit_goal``."""
        return _wait(self.submit_goal(req, timeout_s), timeout_s or self.cfg.timeout_s)

    def delete_goal(self, goal_id: str) -> None:
        self.goals.delete(goal_id)

    # ------------------------------------------------------------------ reports
    def health(self) -> dict[str, Any]:
        with self._counts_lock:
            counts = dict(self.counts)
        return {"status": "ok" if self.alive else "worker stopped", "model_id": self.model.model_id,
                "queued": self._queue.qsize(), "queue_size": self.cfg.queue_size, "goals": len(self.goals),
                "uptime_s": time.monotonic() - self._started, **counts}

    def metadata(self) -> dict[str, Any]:
        cfg = self.cfg
        layout = {name: [s.start, s.stop] for name, s in (("xyz", XYZ), ("rot", ROT), ("gripper", GRIPPER))}
        return {
            "model_id": self.model.model_id,
            "model": self.model.info,
            "version": vjepa_ac.__version__,
            "image_size": self.model.image_size,  # px; frames of any size are cropped and resized to it
            "crop": getattr(self.model.world_model, "crop", cfg.crop),  # the one frames are planned with
            "fps": cfg.fps if cfg.fps is not None else self.model.fps,
            "action_dim": ACTION_DIM,
            "action_layout": layout,  # [start, stop) of each group
            "action_units": {"xyz": "m (displacement)", "rot": "rad (extrinsic xyz euler of R_next R^T)",
                             "gripper": "closure change (state 0 open .. 1 closed)"},
            "state_layout": layout,
            "state_units": {"xyz": "m", "rot": "rad (extrinsic xyz euler)", "gripper": "0 open .. 1 closed"},
            "calibration": None if self.calibration is None else self.calibration.summary(),
            "planner_default": planner_wire(self.default_planner),
            "config_id": config_id(self.default_planner),
            "planner_bounds": {"max_samples": cfg.max_samples, "max_iterations": cfg.max_iterations,
                               "max_horizon": cfg.max_horizon,
                               **{name: list(b) for name, b in PLANNER_FLOAT_BOUNDS.items()}},
            "max_abs_state": MAX_ABS_VECTOR,  # |entry| of state and init_mean
            "limits": {"max_body_bytes": cfg.max_body_bytes, "max_image_side": cfg.max_image_side,
                       "min_image_side": cfg.min_image_side, "max_goal_images": cfg.max_goal_images,
                       "max_goals": cfg.max_goals, "queue_size": cfg.queue_size, "timeout_s": cfg.timeout_s},
            "content_types": [JSON, MSGPACK],
            "image_encodings": list(IMAGE_ENCODINGS),
        }


def _wait(future: Future, timeout_s: float) -> Any:
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        future.cancel()
        raise DeadlineExceeded("waiting") from None
