"""The paper's manipulation tasks with goal images, success detectors and an episode API.

    task = make_task("pick_and_place", lab="eval_kitchen", image_size=128)
    obs = task.reset(seed=0)                 # obs.image [H,W,3] uint8, obs.state [7]
    while not task.done():
        action = policy(obs, task.goal_image)   # any callable policy(obs, goal_image) -> [7]
        obs = task.step(action)
    task.success(); task.distance_to_goal(); task.save_video("episode.mp4")

Each ``reset`` samples a scene, runs the scripted expert from the start to the goal configuration
(re-sampling the scene in the rare case the expert fails) and renders the goal image(s) there,
then restores the start. Physics is deterministic, so ``expert_policy()`` replays that path.

| task | start | goal image(s) | success |
| --- | --- | --- | --- |
| reach | arm at home | end effector at a random point | EE within 4 cm of the goal point |
| grasp | gripper open 6 cm above the object | closed on the object at rest | closed on it (closure >= 0.2), and a scripted 10 cm lift after the episode (gripper command unchanged) carries it 5 cm above rest |
| reach_with_object | object already held | held object at a random point | held, EE within 4 cm of the goal point |
| pick_and_place | gripper open 6 cm above the object | 1: closed on it, 2: held at the target, 3: released there | resting, not held, within 5 cm of the target (xy) |

Pick-and-place switches goals after 4, 10 and 4 steps (``goal_schedule``), as in the paper.

Grasp starts where Pick-and-place does and its goal is Pick-and-place's first sub-goal, so the
two agree on what "grasp" means. With a goal image of the object lifted in the gripper and the arm
at home (the definition before 2026-11-30), the energy of real frames along the expert's path
rises while the gripper descends, and hovering at the goal height with the object left on the
table scores nearly as well as the goal itself (notes/manipulation.md): no greedy planner
can grasp that way. The lift test makes success mean a grasp that holds, not a touch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vjepa_ac.sim import policies as P
from vjepa_ac.sim.env import OBJECT_AREA, FrankaSim, Observation, SimConfig
from vjepa_ac.sim.labs import EVAL_LABS
from vjepa_ac.sim.scene import OBJECTS
from vjepa_ac.sim.video import side_by_side, write_video

TaskName = Literal["reach", "grasp", "reach_with_object", "pick_and_place"]
TASKS: tuple[str, ...] = ("reach", "grasp", "reach_with_object", "pick_and_place")
# tasks about an object (TaskConfig.object); in reach the object only stands on the table as scenery
OBJECT_TASKS: tuple[str, ...] = ("grasp", "reach_with_object", "pick_and_place")
_DEFAULT_STEPS = {"reach": 10, "grasp": 8, "reach_with_object": 10, "pick_and_place": 18}
LIFT_TEST_HEIGHT = 0.10  # m: the grasp task's success check lifts the end effector this much
# measured closure a grasp needs (expert grasps read 0.42 cup, 0.52 box, 0.69 cube): an open gripper
# pushed down over the cup can wedge it between its fingers and lift it, which is no grasp
GRASP_MIN_CLOSURE = 0.2
_MAX_SCENE_TRIES = 10


@dataclass
class TaskConfig:
    name: TaskName = "reach"
    sim: SimConfig = field(default_factory=lambda: SimConfig(lab=EVAL_LABS[0], image_size=128))
    # manipulated object (the paper's Grasp uses a cup and a box); in reach it is only scenery
    object: Literal["cube", "cup", "box"] = "cup"
    clutter: bool = False  # put the other task objects on the table too
    max_steps: int = 0  # control steps per episode; 0 = the task's default (reach 10, grasp 8, rwo 10, p&p 18)
    goal_schedule: tuple[int, ...] = ()  # steps per goal image; () = all steps on one goal, p&p (4, 10, 4)
    record_video: bool = False  # keep frames for save_video

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"unknown task {self.name!r}; tasks: {TASKS}")
        if self.object not in OBJECTS:
            raise ValueError(f"object must be one of {list(OBJECTS)}, got {self.object!r}")
        if self.max_steps < 0 or any(s <= 0 for s in self.goal_schedule):
            raise ValueError(f"max_steps and goal_schedule must be positive, got {self.max_steps}, {self.goal_schedule}")
        expected = 3 if self.name == "pick_and_place" else 1
        if self.goal_schedule and len(self.goal_schedule) != expected:
            raise ValueError(f"goal_schedule of {self.name} needs {expected} entries, got {self.goal_schedule}")


def make_task(name: TaskName, *, lab: str = EVAL_LABS[0], image_size: int = 128, seed: int | None = None,
              sim: FrankaSim | None = None, **overrides) -> Task:
    """Build task ``name`` in ``lab``; ``overrides`` are TaskConfig fields (``object="box"``...) or
    SimConfig fields (``gripper="panda"``...). ``sim`` reuses a built simulator of the same config.
    With ``seed`` the task is reset once."""
    sim_fields = set(SimConfig.__dataclass_fields__)
    sim_kw = {k: overrides.pop(k) for k in list(overrides) if k in sim_fields}
    cfg = TaskConfig(name=name, sim=SimConfig(lab=lab, image_size=image_size, **sim_kw), **overrides)
    task = Task(cfg, sim=sim)
    if seed is not None:
        task.reset(seed)
    return task


@dataclass
class Goal:
    """Where the expert put things when the goal image was taken."""

    image: np.ndarray  # [H,W,3] uint8
    state: np.ndarray  # [7] robot state
    ee_pos: np.ndarray  # [3] m
    object_pos: np.ndarray | None  # [3] m


class Task:
    """One of TASKS in one lab; see the module doc for the episode API."""

    def __init__(self, cfg: TaskConfig, sim: FrankaSim | None = None):
        self.cfg = cfg
        if sim is not None and sim.cfg != cfg.sim:
            raise ValueError(f"sim was built with {sim.cfg}, the task needs {cfg.sim}")
        self.sim = sim or FrankaSim(cfg.sim)
        self.max_steps = cfg.max_steps or _DEFAULT_STEPS[cfg.name]
        default_schedule = (4, 10, 4) if cfg.name == "pick_and_place" else (self.max_steps,)
        self.goal_schedule: tuple[int, ...] = cfg.goal_schedule or default_schedule
        self.goals: list[Goal] = []
        self.frames: list[np.ndarray] = []
        self._layout = None
        self._target = np.zeros(3)  # reach point / place location, m
        self._seed = 0
        self._t = 0  # control steps since the episode start (a preamble is not counted)
        self.scene_tries = 0  # scenes the last reset sampled until the expert reached the goal
        self.episode = 0  # resets so far
        self._obs: Observation | None = None

    # ---------------------------------------------------------------- episode API
    def reset(self, seed: int) -> Observation:
        """Sample a scene from ``seed``, make the goal image(s), return the start observation."""
        self.episode += 1
        rng = np.random.default_rng(seed)
        for self.scene_tries in range(1, _MAX_SCENE_TRIES + 1):
            self._layout = self.sim.sample_layout(rng, **self._layout_kwargs(rng))
            self._target = self._sample_target(rng)
            self._seed = int(rng.integers(2**31))
            if self._make_goals():
                break
        else:
            raise RuntimeError(f"{self.cfg.name}: the scripted expert failed on {_MAX_SCENE_TRIES} scenes of seed {seed}")
        self._obs = self._start()
        self._t = 0
        self.frames = []
        self._record(self._obs)
        return self._obs

    def step(self, action: np.ndarray) -> Observation:
        """Apply one 7-D action ``[dxyz, drot euler xyz, dgripper]``."""
        if self._obs is None:
            raise RuntimeError("call reset(seed) before step")
        self._obs = self.sim.step(action)
        self._t += 1
        self._record(self._obs)
        return self._obs

    @property
    def steps(self) -> int:
        """Control steps taken since ``reset``."""
        return self._t

    def done(self) -> bool:
        return self._t >= self.max_steps

    @property
    def goal_images(self) -> list[np.ndarray]:
        return [g.image for g in self.goals]

    @property
    def goal_index(self) -> int:
        """Which goal image is active now, following ``goal_schedule`` (the last one stays on)."""
        switch = np.cumsum(self.goal_schedule)
        return int(min(np.searchsorted(switch, self._t, side="right"), len(self.goals) - 1))

    @property
    def goal_image(self) -> np.ndarray:
        return self.goals[self.goal_index].image

    def success(self) -> bool:
        sim, name = self.sim, self.cfg.object
        ee = sim.ee_pose()[0]
        if self.cfg.name == "reach":
            return bool(np.linalg.norm(ee - self._target) < P.REACH_TOLERANCE)
        if self.cfg.name == "grasp":
            return self._lift_test()
        if self.cfg.name == "reach_with_object":
            return P.is_held(sim, name) and bool(np.linalg.norm(ee - self._target) < P.REACH_TOLERANCE)
        return P.is_placed(sim, name, self._target[:2])

    def distance_to_goal(self) -> float:
        """Metres from the final goal: end effector to the goal point (reach, reach_with_object) or
        to where the expert closed the gripper (grasp), or object to where the expert left it
        (pick_and_place)."""
        if self.cfg.name in ("reach", "reach_with_object"):
            return float(np.linalg.norm(self.sim.ee_pose()[0] - self._target))
        if self.cfg.name == "grasp":
            return float(np.linalg.norm(self.sim.ee_pose()[0] - self.goals[-1].ee_pos))
        return float(np.linalg.norm(self.sim.object_pose(self.cfg.object)[0] - self.goals[-1].object_pos))

    def expert_policy(self, noise: float = 0.0) -> ExpertPolicy:
        """The privileged scripted expert as a policy ``policy(obs, goal_image) -> action``; ``noise``
        (m) is the std of Gaussian noise on each translation (0: replays the goal images' path)."""
        return ExpertPolicy(self, noise)

    def rollout(self, policy: P.Policy, seed: int) -> dict:
        """Reset with ``seed`` and run ``policy`` for ``max_steps``; returns success and distance."""
        obs = self.reset(seed)
        while not self.done():
            obs = self.step(policy(obs, self.goal_image))
        return {"success": self.success(), "distance": self.distance_to_goal(), "steps": self._t}

    def save_video(self, path: str | Path, fps: float | None = None) -> Path:
        """Write the recorded episode (frame | active goal image) as MP4 or GIF, by suffix."""
        if not self.frames:
            raise RuntimeError("no frames recorded: build the task with record_video=True and reset it")
        return write_video(path, np.stack(self.frames), fps=fps or self.cfg.sim.control_hz)

    def close(self) -> None:
        """Release the simulator's GL context (idempotent; rendering again makes a new one)."""
        self.sim.close()

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- task definitions
    def _layout_kwargs(self, rng: np.random.Generator) -> dict:
        name = self.cfg.object
        others = tuple(o for o in OBJECTS if o != name) if self.cfg.clutter else ()
        # the manipulated object starts in reach below the home pose (EE at about (0.45, 0, 0.33))
        xy = rng.uniform([0.4, -0.15], [0.6, 0.15])
        return {"objects": (name, *others), "positions": {name: tuple(xy)}}

    def _sample_target(self, rng: np.random.Generator) -> np.ndarray:
        """The reach point (reach, reach_with_object) or place location (pick_and_place), m."""
        (x0, y0), (x1, y1) = OBJECT_AREA
        if self.cfg.name == "pick_and_place":
            start = np.array(self._layout.objects[self.cfg.object][:2])
            for _ in range(100):
                xy = rng.uniform([x0, y0], [x1, y1])
                if 0.15 <= np.linalg.norm(xy - start) <= 0.3:
                    return np.array([*xy, OBJECTS[self.cfg.object].half_height])
            raise RuntimeError("no place location 0.15-0.3 m from the object")
        low_z = 0.15 if self.cfg.name == "reach_with_object" else 0.08
        return rng.uniform([x0, y0, low_z], [x1, y1, 0.35])

    def _start(self, render: bool = True) -> Observation:
        """Reset the sim to the episode start (deterministic)."""
        obs = self.sim.reset(layout=self._layout, render=render and self.cfg.name not in _PREAMBLE)
        if self.cfg.name in _PREAMBLE:
            P.run(_PREAMBLE[self.cfg.name](self), self.sim, render=False)
            obs = self.sim.observe(render)
        return obs

    def _expert(self, rng: np.random.Generator, style: P.Style) -> P.Behaviour:
        """The scripted path from the start to the final goal, as actions."""
        return _skip_markers(self._expert_script(rng, style))

    def _expert_script(self, rng: np.random.Generator, style: P.Style):
        """Yields the expert's actions, and None wherever a goal image is due."""
        sim, name = self.sim, self.cfg.object
        if self.cfg.name in ("reach", "reach_with_object"):
            gripper = 1.0 if self.cfg.name == "reach_with_object" else None
            yield from P.reach(sim, rng, style, self._target, gripper=gripper, max_steps=self.max_steps)
            yield None
        elif self.cfg.name == "grasp":
            grasp_point = sim.object_pose(name)[0] + [0.0, 0.0, OBJECTS[name].grasp_height]
            yield from P.move_to(sim, rng, style, lambda: grasp_point, lambda: P.current_yaw(sim), 0.0, 3)
            yield from P.close_gripper(sim, rng, style, max_steps=3)
            yield None
        else:
            spec = OBJECTS[name]
            grasp_point = sim.object_pose(name)[0] + [0.0, 0.0, spec.grasp_height]
            yield from P.move_to(sim, rng, style, lambda: grasp_point, lambda: P.current_yaw(sim), 0.0, 2)
            yield from P.hold(sim, rng, style, 1.0, 2)
            yield None  # goal 1: closing on the object
            yield from P.close_gripper(sim, rng, style, max_steps=3)
            offset = sim.ee_pose()[0] - sim.object_pose(name)[0]  # keep the object where the gripper holds it
            above = np.array([self._target[0] + offset[0], self._target[1] + offset[1], 0.12])
            yield from P.carry_to(sim, rng, style, above, max_steps=5, tolerance=0.03)
            low = np.array([above[0], above[1], spec.half_height + offset[2] + 0.01])
            yield from P.carry_to(sim, rng, style, low, max_steps=3, tolerance=0.015)
            yield None  # goal 2: held just above the place location
            yield from P.hold(sim, rng, style, 0.0, 3)
            up = sim.ee_pose()[0] + [0.0, 0.0, 0.06]
            yield from P.move_to(sim, rng, style, lambda: up, lambda: P.current_yaw(sim), 0.0, 1)
            yield None  # goal 3: released at the place location

    def _make_goals(self) -> bool:
        """Run the expert from the start, snapshot each goal; False when the expert fails."""
        self._start(render=False)
        self.goals, steps = [], 0
        for item in self._expert_script(np.random.default_rng(self._seed), P.Style()):
            if item is None:
                self.goals.append(self._snapshot())
            else:
                self.sim.step(item, render=False)
                steps += 1
        return steps <= self.max_steps and self.success()

    def _lift_test(self) -> bool:
        """Lift the end effector LIFT_TEST_HEIGHT with the gripper command as the policy left it;
        True when the gripper is closed on the object and it comes along (held). The sim returns
        to where it was."""
        sim = self.sim
        if sim.gripper_state() < GRASP_MIN_CLOSURE:
            return False
        snap = sim.snapshot()
        try:
            up = sim.ee_pose()[0] + [0.0, 0.0, LIFT_TEST_HEIGHT]
            grip = float(sim.commanded_state()[6])
            lift = P.move_to(sim, np.random.default_rng(0), P.Style(), lambda: up, lambda: P.current_yaw(sim), grip, 4,
                             tolerance=0.02)
            P.run(lift, sim, render=False)
            return P.is_held(sim, self.cfg.object)
        finally:
            sim.restore(snap)

    def _snapshot(self) -> Goal:
        sim = self.sim
        obj = sim.object_pose(self.cfg.object)[0] if sim.object_on_table(self.cfg.object) else None
        return Goal(image=sim.render(), state=sim.state(), ee_pos=sim.ee_pose()[0], object_pos=obj)

    def _record(self, obs: Observation) -> None:
        if self.cfg.record_video:
            self.frames.append(side_by_side(obs.image, self.goal_image))


class ExpertPolicy:
    """The task's scripted expert as a ``policy(obs, goal_image) -> action``; it restarts its script
    whenever the task was reset, and holds still once the script is done."""

    def __init__(self, task: Task, noise: float = 0.0):
        self.task, self.style = task, P.Style(pos_noise=noise)
        self._episode = -1
        self._script: P.Behaviour | None = None

    def __call__(self, obs: Observation, goal_image: np.ndarray | None = None) -> np.ndarray:
        if self._episode != self.task.episode:
            self._episode = self.task.episode
            self._script = self.task._expert(np.random.default_rng(self.task._seed), self.style)
        try:
            return next(self._script)
        except StopIteration:
            return np.zeros(7)


def _skip_markers(gen) -> P.Behaviour:
    for item in gen:
        if item is not None:
            yield item
    return True


def _pregrasp(task: Task) -> P.Behaviour:
    """Grasp and Pick-and-place start with the open gripper aligned 6 cm above the object."""
    sim, name = task.sim, task.cfg.object
    rng, style = np.random.default_rng(task._seed + 1), P.Style()
    yaw = P.object_grasp_yaw(sim, name)
    above = sim.object_pose(name)[0] + [0.0, 0.0, OBJECTS[name].grasp_height + 0.06]
    yield from P.move_to(sim, rng, style, lambda: above, lambda: yaw, 0.0, 12, tolerance=0.005)
    return True


def _grasp_first(task: Task) -> P.Behaviour:
    """Reach-with-object starts holding the object, lifted."""
    rng = np.random.default_rng(task._seed + 1)
    return (yield from P.grasp(task.sim, rng, P.Style(), task.cfg.object, lift_to=0.2))


_PREAMBLE: dict[str, Callable[[Task], P.Behaviour]] = {
    "grasp": _pregrasp, "pick_and_place": _pregrasp, "reach_with_object": _grasp_first,
}
