"""Clips: which rows of an episode form a clip (pure index math), and the clip dataset.

Two sampling modes (``ClipConfig.sampling``), in seconds per predictor step on DROID (rows at a
nominal 15 Hz, MP4 containers reporting 60 fps):

- ``"timestamps"`` (default for new training): frame k of a clip is the row whose timestamp is
  nearest to ``t_start + k / fps``; a step is ``1 / fps`` s of real time (0.25 s at the paper's
  4 fps; a 16-frame clip spans 3.75 s). Rows farther than ``max_time_error`` from their target
  time (dropped frames) invalidate the window.
- ``"container_stride"`` (the released loader, to match the released checkpoint): every
  ``ceil(container_fps / fps)``-th row, i.e. a stride of ``ceil(60 / 4) = 15`` rows on DROID,
  which is ~1 s of real time per step (15 rows at 15 Hz), so an 8-frame "4 fps" clip spans ~7 s.

Window starts (``ClipConfig.starts``): ``"any"`` row (all windows that fit, like the released
loader), or ``"grid"``: only windows on the episode's fixed grid of frames anchored at row 0
(the frames the feature cache stores), so raw-video and cached-feature datasets can serve
exactly the same clips.
"""

from __future__ import annotations

import abc
import logging
import math
from dataclasses import dataclass
from typing import Iterator, Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vjepa_ac.config import ConfigError, require, require_seed
from vjepa_ac.data.episode import Episode
from vjepa_ac.data.poses import states_to_actions, to_camera_frame
from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.data.video import VideoDecodeError

log = logging.getLogger(__name__)

Sampling = Literal["timestamps", "container_stride"]


@dataclass
class ClipConfig:
    """How clips are cut from episodes and what a clip item holds."""

    frames_per_clip: int = 8  # T frames per clip (released recipe 8, paper 16)
    fps: float = 4.0  # target rate, frames/s (container_stride: stride = ceil(container fps / fps) rows)
    # "timestamps": the true rate, from the HDF5 clock; "container_stride": the released loader
    sampling: Sampling = "timestamps"
    starts: Literal["any", "grid"] = "any"  # window start: any row, or the grid the feature cache stores
    # s, timestamps mode: max |row time - target time|; None: 0.75 x the median row interval
    max_time_error: float | None = None
    crop: Literal["released", "square"] = "released"  # see transforms.py
    resolution: int = 256  # px, square side after the crop
    antialias: bool = False  # resize with antialiasing (False = the released pipeline)
    camera_frame: bool = False  # express states in the camera frame (needs episodes read with extrinsics)
    clips_per_episode: int = 1  # dataset length = episodes x this; each item draws a random window
    seed: int = 0  # per-item randomness is seeded from (seed, epoch, index)
    # a clip that fails to decode at read time: "replace" logs and counts it and draws another
    # episode's clip (at most 3 tries, then raises); "raise" stops at once, naming the file
    on_decode_error: Literal["raise", "replace"] = "replace"
    max_decode_ahead: int = 16  # videos without a keyframe index: frames decoded forward before a seek
    decode_threads: int = 1  # FFmpeg threads per decode (keep 1 with many DataLoader workers)

    def __post_init__(self) -> None:
        require(self, "frames_per_clip", self.frames_per_clip >= 2, ">= 2 (one action needs two frames)")
        require(self, "fps", 0 < self.fps < math.inf, "a positive, finite number of frames/s")
        if self.max_time_error is not None:
            require(self, "max_time_error", 0 < self.max_time_error < math.inf, "> 0 s or null")
            if self.sampling != "timestamps":
                raise ConfigError(
                    f"max_time_error applies to sampling=timestamps only; sampling is {self.sampling!r}",
                    key="max_time_error",
                )
        require(self, "resolution", self.resolution > 0 and self.resolution % 2 == 0, "a positive even number of px")
        require(self, "clips_per_episode", self.clips_per_episode >= 1, ">= 1")
        require_seed(self, "seed")
        require(self, "max_decode_ahead", self.max_decode_ahead >= 0, ">= 0")
        require(self, "decode_threads", self.decode_threads >= 1, ">= 1")


# ----------------------------------------------------------------------------- index math


def container_stride(container_fps: float, fps: float) -> int:
    """Rows between clip frames in the released loader: ``ceil(container_fps / fps)`` (60/4 -> 15)."""
    return max(1, math.ceil(container_fps / fps - 1e-9))


def seconds_per_step(cfg: ClipConfig, recording_hz: float, container_fps: float) -> float:
    """Real time between consecutive clip frames: ``1/fps`` (timestamps) or ``stride / recording_hz``."""
    if cfg.sampling == "timestamps":
        return 1.0 / cfg.fps
    return container_stride(container_fps, cfg.fps) / recording_hz


def stride_windows(n_frames: int, frames_per_clip: int, stride: int) -> np.ndarray:
    """All windows ``start + stride * arange(T)`` that fit in ``n_frames`` rows. Returns ``[W, T]``."""
    n_starts = n_frames - (frames_per_clip - 1) * stride
    if n_starts <= 0:
        return np.zeros((0, frames_per_clip), np.int64)
    return np.arange(n_starts)[:, None] + stride * np.arange(frames_per_clip)[None, :]  # [W, T]


def _nearest_rows(timestamps: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the timestamp nearest to each target (``timestamps`` increasing)."""
    right = np.clip(np.searchsorted(timestamps, targets), 1, len(timestamps) - 1)
    left = right - 1
    return np.where(targets - timestamps[left] <= timestamps[right] - targets, left, right)


def default_max_time_error(timestamps: np.ndarray) -> float:
    """0.75 x the median row interval (s): nearest-row error stays under 0.5 on a regular clock."""
    return 0.75 * float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 0.0


def timestamp_windows(
    timestamps: np.ndarray, frames_per_clip: int, fps: float, max_error: float
) -> np.ndarray:
    """Windows of rows nearest to ``t_s + k / fps`` for every start row s. Returns ``[W, T]``.

    A window is kept when every row is within ``max_error`` s of its target time and rows strictly
    increase (``fps`` above the recording rate would repeat rows).
    """
    if len(timestamps) < frames_per_clip:
        return np.zeros((0, frames_per_clip), np.int64)
    targets = timestamps[:, None] + np.arange(frames_per_clip)[None, :] / fps  # [n, T]
    rows = _nearest_rows(timestamps, targets)  # [n, T]
    ok = (np.abs(timestamps[rows] - targets) <= max_error).all(1) & (np.diff(rows, axis=1) > 0).all(1)
    return rows[ok]


def frame_grid(
    timestamps: np.ndarray, container_fps: float, cfg: ClipConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The episode's fixed grid of frames at the clip rate, anchored at row 0.

    Returns ``rows [K]`` and ``valid [K]`` (bool; False where the nearest row is too far from
    the grid time, or repeats the previous row). Clips on the grid are ``T`` consecutive valid
    grid entries (``grid_windows``); the feature cache stores exactly these rows.
    """
    n = len(timestamps)
    if cfg.sampling == "container_stride":
        rows = np.arange(0, n, container_stride(container_fps, cfg.fps))
        return rows, np.ones(len(rows), bool)
    max_error = cfg.max_time_error if cfg.max_time_error is not None else default_max_time_error(timestamps)
    span = timestamps[-1] - timestamps[0] if n else 0.0
    targets = timestamps[0] + np.arange(int(math.floor((span + max_error) * cfg.fps)) + 1) / cfg.fps  # [K]
    rows = _nearest_rows(timestamps, targets) if n > 1 else np.zeros(len(targets), np.int64)
    valid = np.abs(timestamps[rows] - targets) <= max_error
    valid[1:] &= np.diff(rows) > 0
    return rows, valid


def grid_windows(valid: np.ndarray, frames_per_clip: int) -> np.ndarray:
    """Windows of ``T`` consecutive valid grid positions. Returns positions ``[W, T]``."""
    k = len(valid)
    if k < frames_per_clip:
        return np.zeros((0, frames_per_clip), np.int64)
    starts = np.arange(k - frames_per_clip + 1)
    pos = starts[:, None] + np.arange(frames_per_clip)[None, :]  # [W, T]
    return pos[valid[pos].all(1)]


def clip_indices(timestamps: np.ndarray, container_fps: float, cfg: ClipConfig) -> np.ndarray:
    """Every clip window of an episode as rows ``[W, T]`` (int64), per ``cfg`` (sampling, starts)."""
    if cfg.starts == "grid":
        rows, valid = frame_grid(timestamps, container_fps, cfg)
        return rows[grid_windows(valid, cfg.frames_per_clip)]
    if cfg.sampling == "container_stride":
        return stride_windows(len(timestamps), cfg.frames_per_clip, container_stride(container_fps, cfg.fps))
    max_error = cfg.max_time_error if cfg.max_time_error is not None else default_max_time_error(timestamps)
    return timestamp_windows(timestamps, cfg.frames_per_clip, cfg.fps, max_error)


def clip_requirement(cfg: ClipConfig, container_fps: float) -> str:
    """Words for the shortest usable episode (skip reasons)."""
    if cfg.sampling == "container_stride":
        stride = container_stride(container_fps, cfg.fps)
        return (
            f"{(cfg.frames_per_clip - 1) * stride + 1} rows ({cfg.frames_per_clip} frames, stride {stride})"
        )
    return (
        f"{(cfg.frames_per_clip - 1) / cfg.fps:.2f} s of rows ({cfg.frames_per_clip} frames at {cfg.fps} fps)"
    )


# ----------------------------------------------------------------------------- datasets


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item: the same (seed, epoch, index) draws the same clip in any worker/rank."""
    return np.random.default_rng([seed, epoch, index])


def epoch_and_index(key: int | tuple[int, int], epoch: int) -> tuple[int, int]:
    """A dataset key -> (epoch, index): an ``(epoch, index)`` pair, or an int with the dataset's epoch."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return epoch, int(key)


class WindowedEpisodes(Dataset, abc.ABC):
    """Shared logic of the clip datasets: item -> (episode, window) from (seed, epoch, index).

    ``len = episodes x clips_per_episode``; item ``i`` uses episode ``i % E``. Keys are an int
    (uses ``set_epoch``) or an ``(epoch, index)`` pair (from ``EpochSampler``; use that with
    persistent DataLoader workers, which never see a later ``set_epoch``).
    """

    def __init__(self, episodes: Sequence[Episode], cfg: ClipConfig):
        if not episodes:
            raise ValueError("no episodes: build the dataset from a non-empty index")
        self.episodes = list(episodes)
        self.cfg = cfg
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.episodes) * self.cfg.clips_per_episode

    @abc.abstractmethod
    def windows(self, episode_number: int) -> np.ndarray:
        """All windows of one episode, ``[W, T]`` (rows for raw video, grid positions for features)."""

    def choose(self, rng: np.random.Generator, index: int) -> tuple[int, np.ndarray]:
        e = index % len(self.episodes)
        windows = self.windows(e)
        if len(windows) == 0:
            raise ValueError(
                f"{self.episodes[e].source}: no clip fits (needs "
                f"{clip_requirement(self.cfg, self.episodes[e].container_fps)}); index it first"
            )
        return e, windows[int(rng.integers(len(windows)))]

    def targets(self, episode: Episode, rows: np.ndarray) -> dict:
        """``states [T, 7]``, ``actions [T-1, 7]`` (float32), ids, optional ``extrinsics [T, 6]``."""
        states = episode.states[rows]  # [T, 7] float64
        extrinsics = None if episode.extrinsics is None else episode.extrinsics[rows]
        if self.cfg.camera_frame:
            if extrinsics is None:
                raise ValueError(
                    f"{episode.source}: camera_frame needs extrinsics; read episodes with extrinsics"
                )
            states = to_camera_frame(states, extrinsics)
        item = {
            "states": torch.from_numpy(states.astype(np.float32)),
            "actions": torch.from_numpy(states_to_actions(states).astype(np.float32)),  # [T-1, 7]
            "episode_id": episode.episode_id,
            "camera": episode.camera,
            "rows": torch.from_numpy(rows.astype(np.int64)),
            "timestamps": torch.from_numpy(episode.timestamps[rows].astype(np.float32)),  # s
        }
        if extrinsics is not None:
            item["extrinsics"] = torch.from_numpy(extrinsics.astype(np.float32))
        return item


class ClipDataset(WindowedEpisodes):
    """Clips decoded from video. Items (T = ``frames_per_clip``)::

        frames      [T, 3, R, R] uint8   cropped and resized, NOT normalised (transforms.normalize)
        states      [T, 7] float32       xyz, euler "xyz", gripper (camera frame if cfg.camera_frame)
        actions     [T-1, 7] float32     states_to_actions(states)
        episode_id  str;  camera  str;  rows [T] int64 (episode rows);  timestamps [T] float32 (s)
        decode_failures  int             clips that failed to decode before this one was read
        extrinsics  [T, 6] float32       only when episodes carry extrinsics

    A decode failure (``on_decode_error="replace"``, the default) is logged, counted in
    ``decode_failures`` (per worker, and in the item, so the training loop can sum it over
    workers) and replaced by a clip of another episode drawn from the same item generator (at
    most 3 tries, then it raises). With ``"raise"`` it raises ``VideoDecodeError`` naming the file.
    """

    def __init__(self, episodes: Sequence[Episode], cfg: ClipConfig):
        super().__init__(episodes, cfg)
        self.decode_failures: list[str] = []

    def windows(self, episode_number: int) -> np.ndarray:
        # recomputed per item (microseconds): a cache would grow in every worker
        ep = self.episodes[episode_number]
        return clip_indices(ep.timestamps, ep.container_fps, self.cfg)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = epoch_and_index(key, self.epoch)
        rng = item_rng(self.cfg.seed, epoch, index)
        tries = 3 if self.cfg.on_decode_error == "replace" else 0
        for attempt in range(tries + 1):
            e, rows = self.choose(rng, index)
            episode = self.episodes[e]
            try:
                raw = episode.read_frames(
                    rows, max_decode_ahead=self.cfg.max_decode_ahead, threads=self.cfg.decode_threads
                )  # [T, H, W, 3]
            except VideoDecodeError as err:
                if attempt == tries:
                    raise
                self.decode_failures.append(str(err))
                log.warning(
                    "clip %d: %s; replaced by another episode (%d decode failures so far)",
                    index,
                    err,
                    len(self.decode_failures),
                )
                index = int(rng.integers(len(self)))
                continue
            item = self.targets(episode, rows)
            item["frames"] = crop_and_resize(raw, self.cfg.crop, self.cfg.resolution, self.cfg.antialias)
            item["decode_failures"] = attempt
            return item
        raise AssertionError("unreachable")


class EpochSampler(Sampler):
    """Wrap a sampler of indices so it yields ``(epoch, index)`` keys; ``set_epoch`` reaches both.

    With it, per-item randomness follows the epoch even in persistent DataLoader workers.
    Works with ``DistributedSampler`` (its ``set_epoch`` is forwarded).
    """

    def __init__(self, base: Sampler):
        self.base = base
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.base)

    def __len__(self) -> int:
        return len(self.base)
