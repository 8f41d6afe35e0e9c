"""``vjepa-ac sim collect``: scripted, noisy and failing behaviours written as raw DROID episodes.

Each episode (10-20 s at 4 Hz by default) chains behaviours drawn from ``BehaviourMix`` (reach to
random points, grasp-lift-carry-release, pick-and-place, random exploration) in a random training
lab, with per-episode noise, speed and deliberate sloppiness (missed grasps, drops). It is
written by ``vjepa_ac.data.droid_writer`` (MP4 per camera + ``trajectory.h5`` + metadata JSON)
under ``out_dir/<lab>/{success,failure}/<date>/<time>/``; "success" is the outcome of the
episode's first manipulation attempt, as DROID labels an episode by its task.

Episode ``i`` depends only on (seed, i): its lab, its scene, its date (``start_time`` + i
minutes). A done-marker per episode (``out_dir/.collect/done/<i>.json``) makes collection
resumable: rerunning skips finished episodes and rewrites half-written ones.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import queue as queue_lib
import shutil
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.config import to_dict
from vjepa_ac.data.droid_writer import CameraRecording, EpisodeRecord, episode_folder, write_droid_episode
from vjepa_ac.sim import policies as P
from vjepa_ac.sim.env import FrankaSim, SimConfig
from vjepa_ac.sim.labs import HELD_OUT_LABS, LABS, TRAIN_LABS, get_lab
from vjepa_ac.sim.scene import OBJECTS

BEHAVIOURS = ("reach", "grasp", "pick_and_place", "explore")
_DONE_DIR = ".collect/done"


@dataclass
class BehaviourMix:
    """Relative weights of the behaviours an episode chains."""

    reach: float = 0.25  # move to a random point (gripper open or closed)
    grasp: float = 0.3  # grasp, lift, carry, then place or drop
    pick_and_place: float = 0.25  # grasp and place at a random spot
    explore: float = 0.2  # smooth random walk incl. gripper toggles

    def __post_init__(self):
        w = np.array([self.reach, self.grasp, self.pick_and_place, self.explore])
        if np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"behaviour weights must be >= 0 with a positive sum, got {w.tolist()}")

    def probabilities(self) -> np.ndarray:
        w = np.array([getattr(self, b) for b in BEHAVIOURS], np.float64)
        return w / w.sum()


@dataclass
class CollectConfig:
    out_dir: str = "data/sim_droid"  # raw DROID root: <out_dir>/<lab>/{success,failure}/<date>/<time>/
    episodes: int = 100  # episode indices 0 .. episodes-1 (already written ones are skipped)
    labs: tuple[str, ...] = TRAIN_LABS  # episode i uses labs[i % len(labs)]
    allow_eval_labs: bool = False  # the eval labs are held out: collecting there needs this flag
    workers: int = 0  # processes; 0 = one per CPU core
    seed: int = 0  # episode i is seeded by (seed, i)
    min_seconds: float = 10.0  # s, episode length drawn uniformly from [min_seconds, max_seconds]
    max_seconds: float = 20.0  # s
    sim: SimConfig = field(default_factory=SimConfig)  # sim.lab is ignored: labs decides
    mix: BehaviourMix = field(default_factory=BehaviourMix)
    pos_noise: float = 0.01  # m, largest per-episode std of the noise on each translation
    sloppy: float = 0.15  # probability that a grasp attempt is made sloppy (offset grasp point, may miss)
    drop: float = 0.1  # probability that a held object is dropped from the air
    crf: int = 20  # H.264 quality (lower = better, larger files)
    start_time: str = "2026-01-05T09:00:00"  # ISO time (UTC) of episode 0; episode i is i minutes later
    progress: bool = True  # tqdm progress bar

    def __post_init__(self):
        if self.episodes < 0:
            raise ValueError(f"episodes must be >= 0, got {self.episodes}")
        if not self.labs:
            raise ValueError("labs must name at least one lab")
        for lab in self.labs:
            get_lab(lab)
        held_out = [lab for lab in self.labs if lab in HELD_OUT_LABS]
        if held_out and not self.allow_eval_labs:
            raise ValueError(f"labs {held_out} are evaluation or probe labs, held out of training data; "
                             "set allow_eval_labs=true to collect there anyway")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(f"need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        for name in ("sloppy", "drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        datetime.fromisoformat(self.start_time)


# ---------------------------------------------------------------------------- one episode
def episode_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def episode_start(cfg: CollectConfig, index: int) -> tuple[np.random.Generator, int, int]:
    """Episode ``index``'s generator (after its first draws), control steps and scene seed (the
    ``FrankaSim.reset`` seed, in [0, 2**31)): lets a study check that no collected scene is an
    evaluation scene (the eval resets with seeds ``sim.seed + 1000 k + i``, sim/evaluate.py)."""
    rng = episode_rng(cfg.seed, index)
    n_steps = round(rng.uniform(cfg.min_seconds, cfg.max_seconds) * cfg.sim.control_hz)
    return rng, n_steps, int(rng.integers(2**31))


def episode_time(cfg: CollectConfig, index: int) -> datetime:
    return datetime.fromisoformat(cfg.start_time) + timedelta(minutes=index)


def camera_serial(lab: str, camera: str) -> str:
    """An 8-digit DROID-like serial, distinct per lab and camera."""
    return f"{list(LABS).index(lab) + 1:02d}0000{['ext1', 'ext2', 'wrist'].index(camera) + 1:02d}"


def _object_words(sim: FrankaSim, name: str) -> str:
    colour = sim.layout.object_colours.get(name)
    return f"the {colour} {name}" if colour else f"the {name}"


def episode_script(sim: FrankaSim, rng: np.random.Generator, cfg: CollectConfig, log: list[dict]) -> P.Behaviour:
    """Chain random behaviours forever (the caller stops after the episode's steps); each finished
    behaviour is appended to ``log`` as {kind, object, success, task, start, end}."""
    probs = cfg.mix.probabilities()
    pos_noise = rng.uniform(0.0, cfg.pos_noise)
    while True:
        kind = str(rng.choice(BEHAVIOURS, p=probs))
        style = P.Style(max_dpos=rng.uniform(0.04, 0.1), pos_noise=pos_noise, yaw_noise=rng.uniform(0.0, 0.05))
        reachable = [o for o in sim.layout.objects if _graspable(sim, o)]
        if kind in ("grasp", "pick_and_place") and not reachable:
            kind = "reach"
        start, obj, task = sim.steps, None, ""
        if kind == "reach":
            point = P.random_point(rng)
            gripper = float(rng.random() < 0.3)
            yaw = P.current_yaw(sim) + rng.uniform(-0.8, 0.8)
            ok = yield from P.reach(sim, rng, style, point, yaw=yaw, gripper=gripper, max_steps=12)
            task = "move the gripper to a point"
        elif kind == "explore":
            yield from P.explore(sim, rng, int(rng.integers(4, 16)))
            ok, task = None, "explore"  # no outcome
        else:
            obj = str(rng.choice(reachable))
            if rng.random() < cfg.sloppy:
                style.grasp_offset = rng.uniform(0.015, 0.04)
            words = _object_words(sim, obj)
            if kind == "grasp":
                task = f"pick up {words}"
                ok = yield from P.grasp(sim, rng, style, obj, lift_to=rng.uniform(0.12, 0.3))
                if ok and rng.random() >= cfg.drop:  # carry it somewhere, then put it down
                    yield from P.carry_to(sim, rng, style, P.random_point(rng, low_z=0.12), max_steps=8)
                    yield from P.place(sim, rng, style, obj, P.random_point(rng)[:2])
                else:  # let go where it is (a drop when it was lifted)
                    yield from P.hold(sim, rng, style, 0.0, 2)
            else:
                task = f"put {words} somewhere else on the table"
                ok = yield from P.pick_and_place(sim, rng, style, obj, P.random_point(rng)[:2])
            if not ok:  # open and back off after a failed attempt
                yield from P.hold(sim, rng, style, 0.0, 2)
        log.append({"kind": kind, "object": obj, "success": ok, "task": task, "start": start, "end": sim.steps})


def _graspable(sim: FrankaSim, name: str) -> bool:
    """On the table top, upright enough and within the arm's comfortable reach."""
    pos, rot = sim.object_pose(name)
    return bool(0.0 < pos[2] < OBJECTS[name].half_height + 0.02 and rot[2, 2] > 0.9
                and 0.25 < pos[0] < 0.75 and abs(pos[1]) < 0.4)


def collect_episode(sim: FrankaSim, cfg: CollectConfig, index: int) -> dict:
    """Roll out and write episode ``index`` with ``sim`` (already built for its lab); returns its summary."""
    t0 = time.perf_counter()
    rng, n_steps, scene_seed = episode_start(replace(cfg, sim=sim.cfg), index)
    obs = sim.reset(scene_seed)
    log: list[dict] = []
    script = episode_script(sim, rng, cfg, log)
    cams = sim.cfg.cameras
    states, commanded = [obs.state], [sim.commanded_state()]
    frames = {c: [obs.images[c]] for c in cams}
    extrinsics = {c: [sim.camera_extrinsics(c)] for c in cams}
    for _ in range(n_steps):
        obs = sim.step(next(script))
        states.append(obs.state)
        commanded.append(sim.commanded_state())
        for c in cams:
            frames[c].append(obs.images[c])
            extrinsics[c].append(sim.camera_extrinsics(c))
    states_arr, commanded_arr = np.array(states), np.array(commanded)  # [T,7]

    attempts = [e for e in log if e["success"] is not None]
    success = bool(attempts[0]["success"]) if attempts else False
    task = attempts[0]["task"] if attempts else "explore"
    when = episode_time(cfg, index)
    t = len(states_arr)
    start_ms = int(when.replace(tzinfo=timezone.utc).timestamp() * 1000)  # start_time is read as UTC
    timestamps = start_ms + np.round(np.arange(t) * 1000.0 / sim.cfg.control_hz).astype(np.int64)
    lab = sim.cfg.lab
    for stale in (True, False):  # a crash may have left a half-written folder
        shutil.rmtree(episode_folder(cfg.out_dir, lab, stale, when), ignore_errors=True)
    record = EpisodeRecord(
        cartesian_position=states_arr[:, :6],
        gripper_position=states_arr[:, 6],
        timestamps_ms=timestamps,
        cameras={c: CameraRecording(camera_serial(lab, c), np.stack(frames[c]), np.array(extrinsics[c])) for c in cams},
        success=success,
        task=task,
        building=lab,
        scene_id=index,
        lab=lab,
        # from (seed, index) like everything else of the episode: the same ids, hence the same
        # train/validation split, in every run (a random uuid made two runs of the main job differ)
        uuid_hex=hashlib.sha256(f"{cfg.seed}:{index}".encode()).hexdigest()[:8],
        commanded_cartesian=commanded_arr[:, :6],
        commanded_gripper=commanded_arr[:, 6],
        extra_metadata={"sim": {"index": index, "seed": cfg.seed, "control_hz": sim.cfg.control_hz,
                                "image_size": sim.cfg.image_size, "gripper": sim.cfg.gripper,
                                "behaviours": log}},
    )
    folder = write_droid_episode(cfg.out_dir, record, when=when, crf=cfg.crf)
    return {"index": index, "folder": str(folder.relative_to(cfg.out_dir)), "lab": lab, "success": success, "steps": n_steps, "frames": t,
            "behaviours": [(e["kind"], e["success"]) for e in log], "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- workers
_WORKER: dict = {}  # per process: cfg and one FrankaSim per lab


def _init_worker(cfg: CollectConfig) -> None:
    _WORKER["cfg"], _WORKER["sims"] = cfg, {}


def _run_one(index: int) -> dict:
    cfg: CollectConfig = _WORKER["cfg"]
    lab = cfg.labs[index % len(cfg.labs)]
    try:
        sim = _WORKER["sims"].get(lab)
        if sim is None:
            sim = _WORKER["sims"][lab] = FrankaSim(replace(cfg.sim, lab=lab))
        result = collect_episode(sim, cfg, index)
    except Exception:  # noqa: BLE001  (reported with its traceback and counted; the CLI exits 1)
        return {"index": index, "lab": lab, "error": traceback.format_exc()}
    _write_json(_done_path(cfg, index), result)
    return result


def _close_worker_sims() -> None:
    for sim in _WORKER.get("sims", {}).values():
        sim.close()
    _WORKER.get("sims", {}).clear()


def _done_path(cfg: CollectConfig, index: int) -> Path:
    return Path(cfg.out_dir) / _DONE_DIR / f"{index:07d}.json"


def _write_json(path: Path, obj) -> None:
    atomic_write_json(path, obj)


def _pool_worker_main(cfg: CollectConfig, indices: list[int], queue) -> None:
    """A worker process: episodes ``indices`` in order, each result put on ``queue``."""
    _init_worker(cfg)
    try:
        for i in indices:
            queue.put(_run_one(i))
    finally:
        _close_worker_sims()
        queue.put(None)


# ---------------------------------------------------------------------------- driver
def collect(cfg: CollectConfig) -> dict:
    """Collect episodes ``0 .. cfg.episodes-1`` not yet done; write and return the summary."""
    from tqdm import tqdm

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(cfg.episodes) if not _done_path(cfg, i).is_file()]
    workers = min(cfg.workers or os.cpu_count() or 1, max(1, len(todo)))
    # each worker takes whole labs where it can, so it builds few models
    shards: list[list[int]] = [[] for _ in range(workers)]
    for k, i in enumerate(sorted(todo, key=lambda i: (i % len(cfg.labs), i))):
        shards[k * workers // max(1, len(todo))].append(i)

    t0 = time.perf_counter()
    results, errors = [], []
    bar = tqdm(total=len(todo), desc="sim collect", unit="ep", disable=not cfg.progress)
    if workers == 1:
        _init_worker(cfg)
        try:
            for i in todo:
                _handle(_run_one(i), results, errors, bar)
        finally:
            _close_worker_sims()
    else:
        ctx = mp.get_context("spawn")  # no GL or MuJoCo state is shared with a forked parent
        queue = ctx.Queue()
        procs = [ctx.Process(target=_pool_worker_main, args=(cfg, shard, queue), daemon=True) for shard in shards if shard]
        for p in procs:
            p.start()
        running = len(procs)
        while running:
            try:
                item = queue.get(timeout=10.0)
            except queue_lib.Empty:
                if not any(p.is_alive() for p in procs):  # a worker died without saying goodbye
                    errors.append({"index": -1, "lab": "", "error": "a worker process died"})
                    break
                continue
            if item is None:
                running -= 1
            else:
                _handle(item, results, errors, bar)
        for p in procs:
            p.join()
    bar.close()
    wall = time.perf_counter() - t0
    summary = _summarise(cfg, results, errors, wall, workers)
    _write_json(out / "summary.json", summary)
    return summary


def _handle(result: dict, results: list, errors: list, bar) -> None:
    if "error" in result:
        errors.append(result)
        bar.write(f"episode {result['index']} ({result['lab']}) failed:\n{result['error']}")
    else:
        results.append(result)
    bar.update(1)


def _summarise(cfg: CollectConfig, new: list[dict], errors: list[dict], wall: float, workers: int) -> dict:
    """Totals over every episode done so far (this run and earlier ones) plus this run's speed."""
    done = sorted(Path(cfg.out_dir, _DONE_DIR).glob("*.json"))
    episodes = [json.loads(p.read_text()) for p in done]
    episodes = [e for e in episodes if e["index"] < cfg.episodes]
    kinds: dict[str, dict[str, int]] = {}
    for e in episodes:
        for kind, ok in e["behaviours"]:
            k = kinds.setdefault(kind, {"count": 0, "success": 0})
            k["count"] += 1
            k["success"] += int(bool(ok))  # explore has no outcome (None) and never counts
    per_lab = {lab: sum(e["lab"] == lab for e in episodes) for lab in cfg.labs}
    frames = sum(e["frames"] for e in episodes)
    root = Path(cfg.out_dir).resolve()
    (root / "episodes.txt").write_text("".join(f"{root / e['folder']}\n" for e in episodes))
    return {
        "episodes": len(episodes),
        "new_episodes": len(new),
        "errors": len(errors),
        "error_indices": [e["index"] for e in errors],
        "success_rate": float(np.mean([e["success"] for e in episodes])) if episodes else 0.0,
        "behaviours": kinds,
        "per_lab": per_lab,
        "held_out_labs": [lab for lab in HELD_OUT_LABS if lab not in cfg.labs],
        "frames": frames,
        "robot_hours": frames / cfg.sim.control_hz / 3600.0,
        "wall_seconds": wall,
        "workers": workers,
        "episodes_per_minute": 60.0 * len(new) / wall if new and wall > 0 else 0.0,
        "episodes_per_minute_per_worker": 60.0 * len(new) / wall / workers if new and wall > 0 else 0.0,
        "config": to_dict(cfg),
    }
