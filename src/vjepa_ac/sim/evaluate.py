"""Closed-loop evaluation of any policy on the sim tasks, and the statistics of the results.

    cfg = SimEvalConfig(tasks=("reach",), episodes=10)
    results = evaluate_policy(policy, cfg, name="planner")     # policy(obs, goal_image) -> action [7]
    rows = summary_rows(results.episodes)                      # success rate + Wilson 95 % CI, ...

A policy is any callable ``policy(obs, goal_image) -> action [7]`` (``obs`` is the task's
``Observation``: ``.image`` uint8 ``[H, W, 3]``, ``.state`` ``[7]``), with optional
``reset(seed)`` (called at the start of each episode with the episode's seed) and
``episode_info() -> dict`` (stored with the episode: energies, ...). ``PolicyFactory(fn)``
builds one policy per task instead (``fn(task)``, e.g. the scripted expert). Nothing here
knows about world models or planners (STYLE item 1): ``vjepa_ac.eval.sim`` wires the planner in.

Episode ``i`` of every (task, object) in lab ``k`` (the lab's index in ``sim.labs.LABS``) uses
seed ``cfg.seed + LAB_SEED_STRIDE * k + i``: a planner and a baseline see the same scenes, and
each lab adds scenes of its own (a scene's layout depends on the seed only, so with
``lab_seeds="shared"`` every lab replays the same scenes in its own appearance). The active
goal image is passed each step (``task.goal_image``), so pick-and-place switches goals on the
task's schedule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from vjepa_ac.sim.camera_turn import turned_ext1
from vjepa_ac.sim.env import FrankaSim, Observation, SimConfig
from vjepa_ac.sim.labs import EVAL_LABS, LABS
from vjepa_ac.sim.scene import OBJECTS
from vjepa_ac.sim.tasks import OBJECT_TASKS, TASKS, Task, make_task

# The paper's Grasp uses a cup and a box and reports two numbers for each object task.
DEFAULT_OBJECTS: dict[str, tuple[str, ...]] = {
    "reach": ("cup",),
    "grasp": ("cup", "box"),
    "reach_with_object": ("cup", "box"),
    "pick_and_place": ("cup", "box"),
}
ALL = "all"  # the lab / task / object name of pooled rows
DEFAULT_IMAGE_SIZE = 128  # px, when SimEvalConfig.image_size is 0 and the caller does not choose
LAB_SEED_STRIDE = 1000  # seeds between the first episodes of two labs (lab_seeds="distinct")


class Policy(Protocol):
    def __call__(self, obs: Observation, goal: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PolicyFactory:
    """Marks a policy that needs its task: ``make(task) -> policy``, called once per built task."""

    make: Callable[[Task], Policy]


@dataclass
class SimEvalConfig:
    """Which episodes to run: tasks x objects x labs x ``episodes`` seeds."""

    tasks: tuple[str, ...] = TASKS
    labs: tuple[str, ...] = EVAL_LABS  # held-out labs (sim/labs.py); training labs are allowed too
    episodes: int = 10  # per (task, object, lab)
    task_episodes: dict[str, int] = field(default_factory=dict)  # task -> episodes; absent: `episodes`
    seed: int = 0  # first episode seed
    # distinct: lab k's episode i uses seed `seed + 1000 k + i` (new scenes per lab);
    # shared: `seed + i` in every lab (the same scenes, each lab's appearance)
    lab_seeds: Literal["distinct", "shared"] = "distinct"
    image_size: int = 0  # px, camera frames; 0: the caller's choice (eval sim: the model's), else 128
    # SimConfig.ext1_zoom of every lab: frame the scene as the training data did; None: the caller's
    # choice (eval sim: the main job's collection zoom for a main-job model), else 1.0
    camera_zoom: float | None = None
    # deg: every lab's ext1 turned about the vertical through the point it looks at (sim/camera_turn.py);
    # 0: the lab's own placement. Labs with the camera elsewhere around the base (calibration, issue 15)
    camera_azimuth: float = 0.0
    objects: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_OBJECTS)
    )  # task -> objects
    max_steps: dict[str, int] = field(default_factory=dict)  # task -> control steps; absent: the task's
    video: Literal["none", "failures", "all"] = "failures"  # which episodes are saved as MP4
    video_dir: Path | None = None  # videos go to video_dir/<policy>/; None: ./videos (eval sim: OUT/videos)
    progress: bool = True  # tqdm bar over episodes

    def __post_init__(self) -> None:
        self.tasks, self.labs = tuple(self.tasks), tuple(self.labs)
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise ValueError(f"SimEvalConfig.tasks must be names from {TASKS}, got {list(self.tasks)}")
        bad = [lab for lab in self.labs if lab not in LABS]
        if bad or not self.labs:
            raise ValueError(f"SimEvalConfig.labs: unknown lab(s) {bad}; labs: {sorted(LABS)}")
        if not 1 <= self.episodes <= LAB_SEED_STRIDE or self.image_size < 0:
            raise ValueError(
                f"SimEvalConfig.episodes must be in [1, {LAB_SEED_STRIDE}] and image_size >= 0, "
                f"got {self.episodes}, {self.image_size}"
            )
        if not -180.0 <= self.camera_azimuth <= 180.0:
            raise ValueError(f"SimEvalConfig.camera_azimuth must be in [-180, 180] deg, got {self.camera_azimuth}")
        self.objects = {k: tuple(v) for k, v in self.objects.items()}
        for task, objs in self.objects.items():
            if task not in TASKS or not objs or any(o not in OBJECTS for o in objs):
                raise ValueError(
                    f"SimEvalConfig.objects[{task!r}] = {list(objs)}: tasks are {TASKS}, "
                    f"objects {sorted(OBJECTS)}"
                )
        for task, n in self.task_episodes.items():
            if task not in TASKS or not 1 <= n <= LAB_SEED_STRIDE:
                raise ValueError(
                    f"SimEvalConfig.task_episodes[{task!r}] = {n}: tasks are {TASKS}, "
                    f"episodes in [1, {LAB_SEED_STRIDE}]"
                )
        for task, steps in self.max_steps.items():
            if task not in TASKS or steps < 1:
                raise ValueError(
                    f"SimEvalConfig.max_steps[{task!r}] = {steps}: tasks are {TASKS}, steps >= 1"
                )

    def objects_of(self, task: str) -> tuple[str, ...]:
        return self.objects.get(task, DEFAULT_OBJECTS[task])

    def episodes_of(self, task: str) -> int:
        return self.task_episodes.get(task, self.episodes)

    def first_seed(self, lab: str) -> int:
        """Seed of episode 0 in ``lab`` (see ``lab_seeds``)."""
        return self.seed + (LAB_SEED_STRIDE * list(LABS).index(lab) if self.lab_seeds == "distinct" else 0)

    def episode_keys(self, policy: str) -> list[tuple[str, str, str, str, int]]:
        """Every (policy, task, object, lab, seed) this config runs, in running order."""
        return [
            (policy, task, obj, lab, self.first_seed(lab) + i)
            for lab in self.labs
            for task in self.tasks
            for obj in self.objects_of(task)
            for i in range(self.episodes_of(task))
        ]


@dataclass
class EpisodeRecord:
    """One evaluated episode (a row of results.json)."""

    policy: str
    task: str
    object: str  # TaskConfig.object: the manipulated object (reach: scenery on the table, not a task object)
    lab: str
    seed: int
    success: bool
    distance: float  # m, task.distance_to_goal() at the end
    steps: int  # actions executed
    goal_switches: int  # times the active goal image changed (pick-and-place: 2)
    action_time_s: list[float]  # s per action, time spent inside the policy call
    wall_s: float  # s for the whole episode (reset, goal images, physics, rendering, policy)
    scene_tries: int  # scenes sampled until the expert made the goal images
    video: str | None = None  # path of the saved episode video
    info: dict[str, Any] = field(default_factory=dict)  # the policy's episode_info()

    def key(self) -> tuple[str, str, str, str, int]:
        return (self.policy, self.task, self.object, self.lab, self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EpisodeRecord:
        return cls(**d)


@dataclass
class EvalResults:
    episodes: list[EpisodeRecord] = field(default_factory=list)

    def keys(self) -> set[tuple]:
        return {e.key() for e in self.episodes}


def _video_path(cfg: SimEvalConfig, rec_key: tuple) -> Path:
    policy, task, obj, lab, seed = rec_key
    return Path(cfg.video_dir or "videos") / policy / f"{task}-{obj}-{lab}-seed{seed:04d}.mp4"


def run_episode(task: Task, policy: Policy, seed: int) -> dict:
    """Reset ``task`` with ``seed`` and run ``policy`` until ``task.done()``; the record's fields."""
    t_start = time.perf_counter()
    obs = task.reset(seed)
    if hasattr(policy, "reset"):
        policy.reset(seed)
    times, switches, active = [], 0, task.goal_index
    while not task.done():
        if task.goal_index != active:
            switches, active = switches + 1, task.goal_index
        goal = task.goal_image
        t0 = time.perf_counter()
        action = policy(obs, goal)
        times.append(time.perf_counter() - t0)
        obs = task.step(np.asarray(action, dtype=np.float64).reshape(7))
    info = policy.episode_info() if hasattr(policy, "episode_info") else {}
    return dict(
        success=bool(task.success()),
        distance=float(task.distance_to_goal()),
        steps=task.steps,
        goal_switches=switches,
        action_time_s=times,
        wall_s=time.perf_counter() - t_start,
        scene_tries=task.scene_tries,
        info=info,
    )


def evaluate_policy(
    policy: Policy | PolicyFactory,
    cfg: SimEvalConfig,
    *,
    name: str = "policy",
    skip: Container[tuple] = (),
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> EvalResults:
    """Run ``policy`` on every episode of ``cfg`` not in ``skip`` (keys as ``EpisodeRecord.key``).

    ``on_episode(record)`` is called after each episode (to save results as they come).
    Returns the new episodes only. One simulator per lab is built and shared by its tasks.
    """
    from tqdm import tqdm

    keys = [k for k in cfg.episode_keys(name) if k not in skip]
    results = EvalResults()
    size = cfg.image_size or DEFAULT_IMAGE_SIZE
    zoom = 1.0 if cfg.camera_zoom is None else cfg.camera_zoom
    record_video = cfg.video != "none"
    with tqdm(total=len(keys), desc=f"eval {name}", unit="ep", disable=not cfg.progress) as bar:
        for lab in dict.fromkeys(k[3] for k in keys):
            camera = turned_ext1(lab, cfg.camera_azimuth) if cfg.camera_azimuth else {}
            sim = FrankaSim(SimConfig(lab=lab, image_size=size, ext1_zoom=zoom, **camera))
            try:
                for task_name, obj in dict.fromkeys((k[1], k[2]) for k in keys if k[3] == lab):
                    task = make_task(
                        task_name,
                        lab=lab,
                        image_size=size,
                        ext1_zoom=zoom,
                        **camera,
                        sim=sim,
                        object=obj,
                        max_steps=cfg.max_steps.get(task_name, 0),
                        record_video=record_video,
                    )
                    pol = policy.make(task) if isinstance(policy, PolicyFactory) else policy
                    for key in (k for k in keys if k[1:4] == (task_name, obj, lab)):
                        rec = EpisodeRecord(
                            name, task_name, obj, lab, key[4], **run_episode(task, pol, key[4])
                        )
                        if cfg.video == "all" or (cfg.video == "failures" and not rec.success):
                            rec.video = str(task.save_video(_video_path(cfg, key)))
                        results.episodes.append(rec)
                        if on_episode is not None:
                            on_episode(rec)
                        bar.update(1)
                        bar.set_postfix(task=task_name, success=rec.success)
            finally:
                sim.close()
    return results


class RandomPolicy:
    """Random actions within a planner's bounds: xyz uniform in the L1 ball of radius
    ``xyz_radius`` (or the box of half-width ``xyz_radius``), rotation 0, gripper change uniform
    in ``[-gripper_limit, gripper_limit]``. ``reset(seed)`` reseeds from (``seed`` of the policy,
    episode seed), so each episode's actions are reproducible."""

    def __init__(
        self, seed: int = 0, xyz_radius: float = 0.075, xyz_bound: str = "l1_ball", gripper_limit: float = 1.0
    ):
        if xyz_bound not in ("l1_ball", "box") or xyz_radius <= 0 or gripper_limit < 0:
            raise ValueError(
                f"RandomPolicy: xyz_bound l1_ball|box, xyz_radius > 0, gripper_limit >= 0; "
                f"got {xyz_bound!r}, {xyz_radius}, {gripper_limit}"
            )
        self.seed, self.xyz_radius, self.xyz_bound, self.gripper_limit = (
            seed,
            xyz_radius,
            xyz_bound,
            gripper_limit,
        )
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng([self.seed, seed])

    def settings(self) -> dict:
        return dict(
            kind="random",
            seed=self.seed,
            xyz_radius=self.xyz_radius,
            xyz_bound=self.xyz_bound,
            gripper_limit=self.gripper_limit,
        )

    def sample_xyz(self, n: int | None = None) -> np.ndarray:
        """``[3]`` (or ``[n, 3]``) displacements, uniform in the feasible set."""
        shape = (1 if n is None else n, 3)
        if self.xyz_bound == "box":
            xyz = self.rng.uniform(-self.xyz_radius, self.xyz_radius, shape)
        else:  # the first 3 of 4 normalised exponentials are uniform on the simplex {x >= 0, sum <= 1}
            e = self.rng.exponential(size=(shape[0], 4))
            signs = self.rng.choice([-1.0, 1.0], size=shape)
            xyz = self.xyz_radius * signs * e[:, :3] / e.sum(axis=1, keepdims=True)
        return xyz[0] if n is None else xyz

    def __call__(self, obs: Any = None, goal: Any = None) -> np.ndarray:
        action = np.zeros(7)
        action[:3] = self.sample_xyz()
        action[6] = self.rng.uniform(-self.gripper_limit, self.gripper_limit)
        return action


# ----------------------------------------------------------------------------- statistics


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for the default ``z``).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n,
    which is what 10-episode success rates need. ``n = 0`` gives (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, got {successes}, {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(episodes: Sequence[EpisodeRecord]) -> dict:
    """Aggregates of a group of episodes: success rate with its Wilson 95 % interval, final
    distance mean and std (m), time per action median and mean (s), steps."""
    n = len(episodes)
    k = sum(e.success for e in episodes)
    lo, hi = wilson_interval(k, n)
    dist = np.array([e.distance for e in episodes], dtype=np.float64)
    times = np.array([t for e in episodes for t in e.action_time_s], dtype=np.float64)
    return dict(
        episodes=n,
        successes=k,
        success_rate=k / n if n else float("nan"),
        ci95=[lo, hi],
        distance_mean=float(dist.mean()) if n else float("nan"),
        distance_std=float(dist.std(ddof=1)) if n > 1 else 0.0,
        action_time_median=float(np.median(times)) if times.size else float("nan"),
        action_time_mean=float(times.mean()) if times.size else float("nan"),
        steps_mean=float(np.mean([e.steps for e in episodes])) if n else float("nan"),
    )


def task_object(episode: EpisodeRecord) -> str | None:
    """The object an episode's task is about; None for a task without one (reach)."""
    return episode.object if episode.task in OBJECT_TASKS else None


def summary_rows(episodes: Iterable[EpisodeRecord]) -> list[dict]:
    """Rows of the results table: each (task, object) per lab and pooled over labs, then all
    tasks per lab and pooled (pooled rows only where there is more than one lab / task).
    Each row: ``task``, ``object`` (None for a task without one: reach, whatever stood on
    the table), ``lab`` and ``policies`` (policy name -> ``summarize`` of its episodes;
    policies without episodes are absent)."""
    eps = list(episodes)
    policies = list(dict.fromkeys(e.policy for e in eps))
    labs = list(dict.fromkeys(e.lab for e in eps))
    pairs = list(dict.fromkeys((e.task, task_object(e)) for e in eps))
    lab_keys = [*labs, ALL] if len(labs) > 1 else labs  # a pooled row only when it pools something
    groups = [(t, o, lab) for t, o in pairs for lab in lab_keys]
    groups += [(ALL, ALL, lab) for lab in lab_keys] if len(pairs) > 1 else []
    rows = []
    for t, o, lab in groups:
        row = dict(task=t, object=o, lab=lab, policies={})
        for p in policies:
            members = [
                e
                for e in eps
                if e.policy == p and t in (ALL, e.task) and o in (ALL, task_object(e)) and lab in (ALL, e.lab)
            ]
            if members:
                row["policies"][p] = summarize(members)
        rows.append(row)
    return rows
