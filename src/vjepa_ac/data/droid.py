"""Raw DROID episodes (REFERENCE.md section 6): discovery and ``read_episode``.

An episode folder holds ``trajectory.h5``, one ``metadata_<uuid>.json`` and
``recordings/MP4/<serial>.mp4``. The camera comes from the metadata (``left_mp4_path`` by
default; only the part after ``recordings/MP4/`` is used); states are
``[cartesian_position (6), gripper_position (1)]``; per-row times come from the chosen camera's
``<serial>_estimated_capture`` clock (or the control loop's ``step_start``), in ms since the
epoch; extrinsics, if asked for, from ``observation/camera_extrinsics/<serial>_left``.

Frame ``i`` of the MP4 belongs to row ``i`` of the HDF5; the MP4 often has one frame fewer, so an
episode keeps ``min(rows, frames)`` rows. Anything wrong raises ``EpisodeError`` naming the
folder and the file or key; the index (``index.py``) turns that into a skipped, counted episode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from vjepa_ac.config import ConfigError, require
from vjepa_ac.data import droid_layout as L
from vjepa_ac.data.episode import Episode, EpisodeError, EpisodeFault
from vjepa_ac.data.video import VideoDecodeError, probe_video


@dataclass
class DroidConfig:
    """Where raw DROID episodes are and which of their streams to read."""

    root: Path | None = None  # folder scanned recursively for episode folders (holding trajectory.h5)
    # text/CSV file, one episode folder per line (first field; '#' starts a comment); relative
    # paths are relative to the list's folder. root and episode_list may both be given
    episode_list: Path | None = None
    camera_views: tuple[str, ...] = ("left_mp4_path",)  # metadata keys; each view is its own stream
    # per-row clock: the view's <serial>_estimated_capture, or the control loop's step_start
    timestamps: Literal["camera", "control"] = "camera"
    extrinsics: bool = False  # read the view's camera extrinsics [T, 6] (needed for camera-frame poses)
    max_missing_video_frames: int = 1  # frames the MP4 may lack against the rows (DROID: 1); more: bad

    def __post_init__(self) -> None:
        require(self, "camera_views", len(self.camera_views) > 0, "at least one metadata key, e.g. left_mp4_path")
        require(self, "max_missing_video_frames", self.max_missing_video_frames >= 0, ">= 0")

    def describe(self) -> str:
        parts = [
            f"root={self.root}" if self.root else "",
            f"episode_list={self.episode_list}" if self.episode_list else "",
        ]
        return "DROID " + " ".join(p for p in parts if p)


def read_episode_list(path: str | Path) -> list[Path]:
    """Episode folders listed in a text/CSV file: first comma- or space-separated field of each line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"episode_list: file not found: {path}")
    folders = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split(",")[0].split()[0]
        p = Path(first).expanduser()
        folders.append(p if p.is_absolute() else path.parent / p)
    return folders


def scan_episode_folders(root: str | Path) -> list[Path]:
    """Every folder under ``root`` holding a ``trajectory.h5`` (sorted; ``recordings/`` is not entered)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"root: folder not found: {root}")
    found = []
    for folder, dirs, files in os.walk(root):
        if L.TRAJECTORY_FILE in files:
            found.append(Path(folder))
            dirs[:] = []  # an episode folder holds no other episode
        else:
            dirs[:] = sorted(d for d in dirs if d != "recordings")
    return sorted(found)


def discover_episodes(cfg: DroidConfig) -> list[Path]:
    """Episode folders from ``cfg.root`` and/or ``cfg.episode_list``: no duplicates, a stable order."""
    if cfg.root is None and cfg.episode_list is None:
        raise ConfigError("DroidConfig: give root (a folder to scan) and/or episode_list (a text/CSV file)")
    folders: list[Path] = []
    if cfg.root is not None:
        folders += scan_episode_folders(cfg.root)
    if cfg.episode_list is not None:
        folders += read_episode_list(cfg.episode_list)
    seen, unique = set(), []
    for f in folders:
        k = os.path.normpath(os.path.abspath(f))
        if k not in seen:
            seen.add(k)
            unique.append(f)
    return unique


def _read_metadata(folder: Path) -> dict:
    found = sorted(folder.glob(L.METADATA_GLOB))
    if not found:
        raise EpisodeError(str(folder), f"no {L.METADATA_GLOB}", EpisodeFault.NO_METADATA)
    if len(found) > 1:
        raise EpisodeError(str(folder), f"{len(found)} metadata files, expected one", EpisodeFault.NO_METADATA)
    try:
        with open(found[0]) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise EpisodeError(
            str(folder), f"unreadable metadata {found[0].name} ({e})", EpisodeFault.UNREADABLE_METADATA
        ) from e
    if not isinstance(meta, dict):
        raise EpisodeError(
            str(folder), f"metadata {found[0].name} is not a JSON object", EpisodeFault.UNREADABLE_METADATA
        )
    return meta


def _dataset(h5: h5py.File, key: str, folder: Path) -> np.ndarray:
    if key not in h5:
        raise EpisodeError(str(folder), f"{L.TRAJECTORY_FILE} lacks key {key}", EpisodeFault.MISSING_KEY)
    return np.asarray(h5[key])


def read_episode(folder: str | Path, view: str, cfg: DroidConfig) -> Episode:
    """Read one camera stream of a raw DROID episode folder. Raises ``EpisodeError``."""
    folder = Path(folder)
    src = str(folder)
    if not folder.is_dir():
        raise EpisodeError(src, "folder not found", EpisodeFault.FOLDER_NOT_FOUND)
    meta = _read_metadata(folder)
    rel = meta.get(view)
    if not rel:
        raise EpisodeError(src, f"metadata has no {view}", EpisodeFault.NO_VIEW)
    mp4_name = str(rel).split(L.MP4_DIR + "/")[-1]
    serial = Path(mp4_name).name.split(".")[0]
    video_path = folder / L.MP4_DIR / mp4_name
    if not (folder / "recordings").is_dir():
        raise EpisodeError(src, "no recordings/ folder", EpisodeFault.NO_RECORDINGS)
    if not video_path.is_file():
        raise EpisodeError(src, f"missing video {L.MP4_DIR}/{mp4_name}", EpisodeFault.MISSING_VIDEO)

    h5_path = folder / L.TRAJECTORY_FILE
    try:
        with h5py.File(h5_path, "r") as h5:
            cartesian = _dataset(h5, L.CARTESIAN_KEY, folder).astype(np.float64)
            gripper = _dataset(h5, L.GRIPPER_KEY, folder).astype(np.float64)
            if cfg.timestamps == "camera":
                ts_key = f"{L.CAMERA_TIMESTAMP_GROUP}/{serial}_estimated_capture"
            else:
                ts_key = f"{L.CONTROL_TIMESTAMP_GROUP}/step_start"
            stamps_ms = _dataset(h5, ts_key, folder)
            extrinsics = None
            if cfg.extrinsics:
                extrinsics = _dataset(h5, f"{L.EXTRINSICS_GROUP}/{serial}_left", folder).astype(np.float64)
    except EpisodeError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise EpisodeError(
            src, f"unreadable {L.TRAJECTORY_FILE} ({type(e).__name__}: {e})", EpisodeFault.UNREADABLE_DATA
        ) from e

    rows = len(cartesian)
    gripper = gripper.reshape(len(gripper), -1)
    if cartesian.shape != (rows, 6) or gripper.shape != (rows, 1):
        raise EpisodeError(
            src,
            f"state shapes {cartesian.shape} and {gripper.shape}, expected [T, 6] and [T]",
            EpisodeFault.BAD_SHAPE,
        )
    if len(stamps_ms) != rows or (extrinsics is not None and extrinsics.shape != (rows, 6)):
        raise EpisodeError(
            src, f"{L.TRAJECTORY_FILE}: datasets of different lengths ({rows} state rows)", EpisodeFault.BAD_SHAPE
        )
    states = np.concatenate([cartesian, gripper], axis=1)  # [T, 7]
    if not np.isfinite(states).all():
        raise EpisodeError(
            src, f"NaN/inf in states ({int((~np.isfinite(states)).any(1).sum())} rows)", EpisodeFault.NONFINITE
        )
    if extrinsics is not None and not np.isfinite(extrinsics).all():
        raise EpisodeError(src, "NaN/inf in camera extrinsics", EpisodeFault.NONFINITE)

    try:
        info = probe_video(video_path)
    except VideoDecodeError as e:
        raise EpisodeError(src, f"unreadable video {mp4_name}: {e.detail}", EpisodeFault.UNREADABLE_VIDEO) from e
    if info.truncated and info.n_frames < rows - cfg.max_missing_video_frames:
        raise EpisodeError(
            src,
            f"truncated video {mp4_name}: its header claims {info.header_frames} frames, the file "
            f"holds the data of {info.n_frames}, for {rows} rows",
            EpisodeFault.UNREADABLE_VIDEO,
        )
    if info.n_frames < rows - cfg.max_missing_video_frames:
        raise EpisodeError(
            src, f"video {mp4_name} has {info.n_frames} frames for {rows} rows", EpisodeFault.SHORT_VIDEO
        )
    t = min(rows, info.n_frames)
    if t == 0:
        raise EpisodeError(src, "empty episode", EpisodeFault.NO_ROWS)
    stamps = np.asarray(stamps_ms[:t], dtype=np.float64) / 1000.0  # ms -> s
    if t > 1 and not (np.diff(stamps) > 0).all():
        raise EpisodeError(src, f"timestamps {ts_key} are not increasing", EpisodeFault.TIMESTAMPS)
    episode_id = str(meta.get("uuid") or folder.name)
    return Episode(
        episode_id=episode_id,
        camera=view,
        source=src,
        video_path=video_path,
        states=states[:t],
        timestamps=stamps - stamps[0],
        container_fps=info.fps,
        extrinsics=None if extrinsics is None else extrinsics[:t],
    )
