"""Index a dataset once: usable episode streams, plus a skip report with a reason per bad one.

``build_index(cfg, clips)`` reads every episode's small arrays (states, timestamps, extrinsics)
and probes its video (opens, counts frames) without decoding, drops episodes that cannot give
a clip (bad files, missing keys, NaN states, a video shorter than its states, too short for a
clip), logs one summary naming them, and raises ``NoUsableEpisodesError`` at once when nothing
is left. ``DatasetIndex.split`` cuts train/validation by episode, before any clip exists.
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

from vjepa_ac.atomic import atomic_write_json
from vjepa_ac.config import ConfigError, require, require_seed
from vjepa_ac.data import droid, lerobot
from vjepa_ac.data.clips import ClipConfig, clip_indices, clip_requirement
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.episode import Episode, EpisodeError
from vjepa_ac.data.lerobot import LeRobotConfig

log = logging.getLogger(__name__)


class NoUsableEpisodesError(ValueError):
    """A dataset has no episode that can give a clip; the message names the source and reasons."""


@dataclass
class DataConfig:
    """Which dataset to read (raw DROID or LeRobot v3) and how to split it."""

    format: Literal["droid", "lerobot"] = "droid"
    droid: DroidConfig = field(default_factory=DroidConfig)
    lerobot: LeRobotConfig = field(default_factory=LeRobotConfig)
    val_fraction: float = 0.0  # share of episodes held out for validation (by episode, before clips)
    split_seed: int = 0  # the split is a pure function of (split_seed, episode ids)
    index_workers: int = 0  # processes that read DROID episodes while indexing (0: this process)

    def __post_init__(self) -> None:
        require(self, "val_fraction", 0.0 <= self.val_fraction < 1.0, "in [0, 1)")
        require_seed(self, "split_seed")
        require(self, "index_workers", self.index_workers >= 0, ">= 0")

    def describe(self) -> str:
        return self.droid.describe() if self.format == "droid" else self.lerobot.describe()


@dataclass
class SkippedEpisode:
    source: str  # episode folder / dataset#episode
    camera: str
    reason: str


@dataclass
class DatasetIndex:
    """Usable episode streams (one per episode and camera) and the skipped ones with reasons."""

    episodes: list[Episode]
    skipped: list[SkippedEpisode]
    source: str  # what was indexed, for messages

    def summary(self) -> dict:
        reasons = Counter(_reason_kind(s.reason) for s in self.skipped)
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


def _reason_kind(reason: str) -> str:
    """Group skip reasons for counting: drop file names and numbers."""
    for kind in (
        "unreadable video",
        "missing video",
        "no recordings/",
        "lacks key",
        "unreadable trajectory.h5",
        "no metadata",
        "metadata has no",
        "NaN",
        "frames for",
        "too short",
        "timestamps",
        "folder not found",
    ):
        if kind in reason:
            return kind
    return reason.split("(")[0].strip()


def _read_droid(args: tuple[str, str, DroidConfig]) -> Episode | SkippedEpisode:
    folder, view, cfg = args
    try:
        return droid.read_episode(folder, view, cfg)
    except EpisodeError as e:
        return SkippedEpisode(e.source, view, e.reason)


def _read_all(cfg: DataConfig) -> list[Episode | SkippedEpisode]:
    if cfg.format == "lerobot":
        episodes, bad = lerobot.read_dataset(cfg.lerobot)
        camera = episodes[0].camera if episodes else cfg.lerobot.camera_key
        return [*episodes, *(SkippedEpisode(e.source, camera, e.reason) for e in bad)]
    jobs = [
        (str(f), view, cfg.droid)
        for f in droid.discover_episodes(cfg.droid)
        for view in cfg.droid.camera_views
    ]
    if cfg.index_workers > 0 and len(jobs) > 1:
        with ProcessPoolExecutor(min(cfg.index_workers, os.cpu_count() or 1)) as pool:
            return list(pool.map(_read_droid, jobs, chunksize=16))
    return [_read_droid(j) for j in jobs]


def build_index(cfg: DataConfig, clips: ClipConfig) -> DatasetIndex:
    """Index the dataset of ``cfg`` for clips of ``clips``. Raises ``NoUsableEpisodesError``."""
    usable: list[Episode] = []
    skipped: list[SkippedEpisode] = []
    for got in _read_all(cfg):
        if isinstance(got, SkippedEpisode):
            skipped.append(got)
        elif len(clip_indices(got.timestamps, got.container_fps, clips)) == 0:
            skipped.append(
                SkippedEpisode(
                    got.source,
                    got.camera,
                    f"too short for a clip: {got.n_frames} rows "
                    f"over {got.timestamps[-1]:.2f} s, needs {clip_requirement(clips, got.container_fps)}",
                )
            )
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
