"""Index a dataset once: usable episode streams, plus a skip report with a reason per bad one.

``build_index(cfg, clips)`` reads every episode's small arrays (states, timestamps, extrinsics)
and probes its video (opens, counts the frames the file can deliver) without decoding, drops
episodes that cannot give a clip (bad or truncated files, missing keys, NaN or implausible
states, a video shorter than its states, shorter than ``min_episode_seconds`` or than a clip),
logs one summary naming them, and raises ``NoUsableEpisodesError`` at once when nothing is
left. Each skipped episode carries a reason code (``EpisodeFault``) and a reason in words.
``DatasetIndex.split`` cuts train/validation by episode, before any clip exists.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.config import require, require_seed
from vjepa_ac.data import droid, lerobot
from vjepa_ac.data.clips import ClipConfig, clip_indices, clip_requirement
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.episode import Episode, EpisodeError, EpisodeFault
from vjepa_ac.data.lerobot import LeRobotConfig

log = logging.getLogger(__name__)


class NoUsableEpisodesError(ValueError):
    """A dataset has no episode that can give a clip; the message names the source and reasons."""


@dataclass
class StateBounds:
    """Values a robot's end-effector state can take; a row outside them is a sensor or
    conversion glitch (x = 1e30 m, a gripper in mm), and its episode is skipped at indexing
    (``EpisodeFault.IMPLAUSIBLE_STATE``) instead of turning the loss into NaN mid-run.
    States follow the project's convention (``Episode.states``)."""

    check: bool = True  # False: accept any finite state
    max_abs_position: float = 10.0  # m, |x|, |y|, |z| in the robot base frame (a Franka reaches ~0.9 m)
    max_abs_angle: float = 7.0  # rad, |roll|, |pitch|, |yaw| (Euler "xyz" lies in [-pi, pi]; 7 > 2 pi)
    gripper_min: float = -0.5  # gripper: 0 open .. 1 closed; a margin for calibration offsets
    gripper_max: float = 1.5

    def __post_init__(self) -> None:
        require(self, "max_abs_position", self.max_abs_position > 0, "> 0 m")
        require(self, "max_abs_angle", self.max_abs_angle > 0, "> 0 rad")
        require(self, "gripper_max", self.gripper_max > self.gripper_min, "> gripper_min")

    def violation(self, states: "np.ndarray", extrinsics: "np.ndarray | None" = None) -> str | None:
        """Words for the first kind of implausible value in ``states [T, 7]`` (and camera
        ``extrinsics [T, 6]``: position and angles), or None when all are plausible."""
        if not self.check:
            return None
        checks = [
            ("position", np.abs(states[:, 0:3]), self.max_abs_position, "m"),
            ("angle", np.abs(states[:, 3:6]), self.max_abs_angle, "rad"),
        ]
        if extrinsics is not None:
            checks += [
                ("camera position", np.abs(extrinsics[:, 0:3]), self.max_abs_position, "m"),
                ("camera angle", np.abs(extrinsics[:, 3:6]), self.max_abs_angle, "rad"),
            ]
        for name, values, limit, unit in checks:
            bad = (values > limit).any(1)  # [T]
            if bad.any():
                r = int(np.argmax(bad))
                return (
                    f"implausible {name} {float(values[r].max()):.4g} {unit} at row {r} "
                    f"({int(bad.sum())} rows beyond {limit} {unit}; data.plausible bounds)"
                )
        g = states[:, 6]
        bad = (g < self.gripper_min) | (g > self.gripper_max)
        if bad.any():
            r = int(np.argmax(bad))
            return (
                f"implausible gripper {float(g[r]):.4g} at row {r} ({int(bad.sum())} rows outside "
                f"[{self.gripper_min}, {self.gripper_max}]; expected 0 open .. 1 closed; "
                "data.plausible bounds)"
            )
        return None


@dataclass
class DataConfig:
    """Which dataset to read (raw DROID or LeRobot v3), which episodes to keep, how to split it."""

    format: Literal["droid", "lerobot"] = "droid"
    droid: DroidConfig = field(default_factory=DroidConfig)
    lerobot: LeRobotConfig = field(default_factory=LeRobotConfig)
    val_fraction: float = 0.0  # share of episodes held out for validation (by episode, before clips)
    split_seed: int = 0  # the split is a pure function of (split_seed, episode ids)
    index_workers: int = 0  # processes that read DROID episodes while indexing (0: this process)
    plausible: StateBounds = field(default_factory=StateBounds)  # states outside: episode skipped
    # s: episodes shorter than this are skipped (the paper discards videos shorter than 4 s; 0: off)
    min_episode_seconds: float = 0.0

    def __post_init__(self) -> None:
        require(self, "val_fraction", 0.0 <= self.val_fraction < 1.0, "in [0, 1)")
        require_seed(self, "split_seed")
        require(self, "index_workers", self.index_workers >= 0, ">= 0")
        require(self, "min_episode_seconds", self.min_episode_seconds >= 0, ">= 0 s (0: off)")

    def describe(self) -> str:
        return self.droid.describe() if self.format == "droid" else self.lerobot.describe()


@dataclass
class SkippedEpisode:
    source: str  # episode folder / dataset#episode
    camera: str
    reason: str  # words, naming the file / key / numbers
    code: str  # an EpisodeFault value: what the report counts by


@dataclass
class DatasetIndex:
    """Usable episode streams (one per episode and camera) and the skipped ones with reasons."""

    episodes: list[Episode]
    skipped: list[SkippedEpisode]
    source: str  # what was indexed, for messages

    def summary(self) -> dict:
        reasons = Counter(s.code for s in self.skipped)
        return {
            "source": self.source,
            "usable": len(self.episodes),
            "skipped": len(self.skipped),
            "skip_reasons": dict(reasons.most_common()),
            "frames": int(sum(e.n_frames for e in self.episodes)),
        }

    def write_report(self, path: str | Path) -> Path:
        """Write the summary, the usable streams and every skipped episode with its reason as JSON."""
        path = Path(path)
        report = {
            **self.summary(),
            "episodes": [
                {"episode_id": e.episode_id, "camera": e.camera, "source": e.source, "frames": e.n_frames}
                for e in self.episodes
            ],
            "skipped_episodes": [vars(s) for s in self.skipped],
        }
        return atomic_write_json(path, report)

    def split(self, val_fraction: float, seed: int) -> tuple["DatasetIndex", "DatasetIndex"]:
        """(train, val) by episode id (``validation_ids``). Every camera of an episode lands on the
        same side; the result does not depend on the order episodes were found in."""
        val_ids = validation_ids({e.episode_id for e in self.episodes}, val_fraction, seed)
        train = [e for e in self.episodes if e.episode_id not in val_ids]
        val = [e for e in self.episodes if e.episode_id in val_ids]
        return (
            DatasetIndex(train, self.skipped, self.source + " [train]"),
            DatasetIndex(val, [], self.source + " [val]"),
        )


def validation_ids(episode_ids: set[str] | list[str], val_fraction: float, seed: int) -> set[str]:
    """The validation side of a split: the ``round(val_fraction x n)`` ids with the smallest
    ``sha256(f"{seed}:{id}")`` (at least one, and never all, when ``val_fraction > 0`` and n >= 2)."""
    ids = sorted(set(episode_ids))
    n_val = int(round(val_fraction * len(ids)))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = min(max(n_val, 1), len(ids) - 1)
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[:n_val])


def _read_droid(args: tuple[str, str, DroidConfig]) -> Episode | SkippedEpisode:
    folder, view, cfg = args
    try:
        return droid.read_episode(folder, view, cfg)
    except EpisodeError as e:
        return SkippedEpisode(e.source, view, e.reason, e.code.value)


def _read_all(cfg: DataConfig) -> list[Episode | SkippedEpisode]:
    if cfg.format == "lerobot":
        episodes, bad = lerobot.read_dataset(cfg.lerobot)
        camera = episodes[0].camera if episodes else cfg.lerobot.camera_key
        return [*episodes, *(SkippedEpisode(e.source, camera, e.reason, e.code.value) for e in bad)]
    jobs = [
        (str(f), view, cfg.droid)
        for f in droid.discover_episodes(cfg.droid)
        for view in cfg.droid.camera_views
    ]
    if cfg.index_workers > 0 and len(jobs) > 1:
        with ProcessPoolExecutor(min(cfg.index_workers, os.cpu_count() or 1)) as pool:
            return list(pool.map(_read_droid, jobs, chunksize=16))
    return [_read_droid(j) for j in jobs]


def _usable(episode: Episode, cfg: DataConfig, clips: ClipConfig) -> tuple[str, EpisodeFault] | None:
    """Checks every reader shares: plausible states, the minimum duration, room for a clip."""
    why = cfg.plausible.violation(episode.states, episode.extrinsics)
    if why is not None:
        return why, EpisodeFault.IMPLAUSIBLE_STATE
    duration = float(episode.timestamps[-1]) if episode.n_frames else 0.0
    if duration < cfg.min_episode_seconds:
        return (
            f"too short: {duration:.2f} s < data.min_episode_seconds = {cfg.min_episode_seconds} s",
            EpisodeFault.TOO_SHORT,
        )
    if len(clip_indices(episode.timestamps, episode.container_fps, clips)) == 0:
        return (
            f"too short for a clip: {episode.n_frames} rows over {duration:.2f} s, "
            f"needs {clip_requirement(clips, episode.container_fps)}",
            EpisodeFault.TOO_SHORT,
        )
    return None


def build_index(cfg: DataConfig, clips: ClipConfig) -> DatasetIndex:
    """Index the dataset of ``cfg`` for clips of ``clips``. Raises ``NoUsableEpisodesError``."""
    usable: list[Episode] = []
    skipped: list[SkippedEpisode] = []
    for got in _read_all(cfg):
        if isinstance(got, SkippedEpisode):
            skipped.append(got)
            continue
        problem = _usable(got, cfg, clips)
        if problem is not None:
            reason, code = problem
            skipped.append(SkippedEpisode(got.source, got.camera, reason, code.value))
        else:
            usable.append(got)
    index = DatasetIndex(usable, skipped, cfg.describe())
    summary = index.summary()
    if not usable:
        raise NoUsableEpisodesError(
            f"{index.source}: no usable episode "
            f"({len(skipped)} skipped: {summary['skip_reasons'] or 'none found'})"
            + (f"; first: {skipped[0].source}: {skipped[0].reason}" if skipped else "")
        )
    if skipped:
        names = "\n  ".join(f"{s.source} [{s.camera}]: {s.reason}" for s in skipped[:50])
        more = f"\n  ... and {len(skipped) - 50} more (see the index report)" if len(skipped) > 50 else ""
        log.warning(
            "%s: %d usable, %d skipped %s:\n  %s%s",
            index.source,
            len(usable),
            len(skipped),
            summary["skip_reasons"],
            names,
            more,
        )
    else:
        log.info("%s: %d usable episode streams, none skipped", index.source, len(usable))
    return index
