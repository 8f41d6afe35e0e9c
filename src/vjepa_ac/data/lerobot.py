"""LeRobot v3 datasets (own-robot data) read as ``Episode`` streams, with pyarrow and PyAV.

A local dataset folder holds ``meta/info.json`` (fps, features, path templates),
``meta/episodes/chunk-*/file-*.parquet`` (one row per episode: length, which data and video
files hold it, and where its frames start in the shared video: ``videos/<key>/from_timestamp``),
``data/chunk-*/file-*.parquet`` (one row per frame: ``timestamp`` in s, ``episode_index``, the
feature columns) and ``videos/<key>/chunk-*/file-*.mp4`` (several episodes back to back).

``LeRobotConfig`` says which feature is the 7-D end-effector state ``[x, y, z, roll, pitch, yaw,
gripper]`` (metres, extrinsic "xyz" Euler radians, gripper 0 open .. 1 closed; ``state_indices``
picks those 7 entries out of a longer vector) and which camera to use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vjepa_ac.config import ConfigError
from vjepa_ac.data.episode import Episode, EpisodeError
from vjepa_ac.data.video import VideoDecodeError, VideoInfo, probe_video

INFO_FILE = "meta/info.json"
EPISODES_DIR = "meta/episodes"


@dataclass
class LeRobotConfig:
    """Which LeRobot v3 dataset to read and how its features map onto V-JEPA 2-AC's inputs."""

    root: Path | None = None  # dataset folder (holds meta/info.json)
    # video feature, e.g. "observation.images.front"; "" = the dataset's only video feature
    camera_key: str = ""
    state_key: str = "observation.state"  # feature holding the end-effector state
    # indices of [x y z roll pitch yaw gripper] in that feature; None: all of it (must be 7-D)
    state_indices: tuple[int, ...] | None = None
    # optional feature [6]: camera pose (xyz, euler "xyz") in the robot base frame, per frame
    extrinsics_key: str | None = None
    episodes: tuple[int, ...] | None = None  # episode indices to read; None: all
    max_missing_video_frames: int = 0  # frames the video may lack against the rows

    def __post_init__(self) -> None:
        if self.state_indices is not None and len(self.state_indices) != 7:
            raise ConfigError(
                f"state_indices must pick 7 entries (x y z roll pitch yaw gripper), got {self.state_indices}"
            )
        if self.max_missing_video_frames < 0:
            raise ConfigError(f"max_missing_video_frames must be >= 0, got {self.max_missing_video_frames}")

    def describe(self) -> str:
        return f"LeRobot root={self.root}"


def read_info(root: Path) -> dict:
    path = root / INFO_FILE
    if not path.is_file():
        raise ConfigError(f"lerobot.root: {path} not found (is {root} a LeRobot dataset?)")
    info = json.loads(path.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise ConfigError(
            f"{path}: codebase_version {version!r}; only LeRobot v3 datasets are read "
            "(convert older ones with LeRobot's v2.1 -> v3.0 conversion script)"
        )
    return info


def _resolve_camera(info: dict, cfg: LeRobotConfig, where: Path) -> str:
    videos = sorted(k for k, f in info["features"].items() if f.get("dtype") == "video")
    if cfg.camera_key:
        if cfg.camera_key not in videos:
            raise ConfigError(
                f"lerobot.camera_key: {cfg.camera_key!r} is not a video feature of {where}; "
                f"video features: {videos}"
            )
        return cfg.camera_key
    if len(videos) != 1:
        raise ConfigError(f"lerobot.camera_key: {where} has video features {videos}; name one")
    return videos[0]


def _check_feature(info: dict, key: str, field: str, dims: int | None, where: Path) -> None:
    feats = info["features"]
    if key not in feats:
        raise ConfigError(f"lerobot.{field}: {key!r} is not a feature of {where}; features: {sorted(feats)}")
    shape = feats[key].get("shape")
    if dims is not None and shape is not None and list(shape) != [dims]:
        raise ConfigError(f"lerobot.{field}: feature {key!r} has shape {shape}, expected [{dims}]")


def read_episode_table(root: Path) -> pa.Table:
    """All rows of ``meta/episodes/**/*.parquet`` (one per episode), sorted by episode_index."""
    files = sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))
    if not files:
        raise ConfigError(f"lerobot.root: no {EPISODES_DIR}/chunk-*/file-*.parquet in {root}")
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    return table.sort_by("episode_index")


def _column_2d(table: pa.Table, key: str) -> np.ndarray:
    col = table.column(key).combine_chunks()
    flat = pc.list_flatten(col).to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float64).reshape(len(col), -1)  # [rows, dims]


def read_dataset(cfg: LeRobotConfig) -> tuple[list[Episode], list[EpisodeError]]:
    """Every episode of the dataset as an ``Episode`` (the configured camera), plus the bad ones."""
    if cfg.root is None:
        raise ConfigError("lerobot.root: give the dataset folder (it holds meta/info.json)")
    root = Path(cfg.root)
    info = read_info(root)
    camera = _resolve_camera(info, cfg, root)
    state_dims = None if cfg.state_indices is not None else 7
    _check_feature(info, cfg.state_key, "state_key", state_dims, root)
    if cfg.extrinsics_key:
        _check_feature(info, cfg.extrinsics_key, "extrinsics_key", 6, root)
    table = read_episode_table(root).to_pylist()
    if cfg.episodes is not None:
        wanted = set(cfg.episodes)
        table = [r for r in table if r["episode_index"] in wanted]
        missing = wanted - {r["episode_index"] for r in table}
        if missing:
            raise ConfigError(f"lerobot.episodes: {sorted(missing)} not in {root}")

    columns = ["episode_index", "timestamp", cfg.state_key] + (
        [cfg.extrinsics_key] if cfg.extrinsics_key else []
    )
    data_cache: dict[Path, pa.Table] = {}
    probes: dict[Path, VideoInfo | VideoDecodeError] = {}
    episodes: list[Episode] = []
    bad: list[EpisodeError] = []
    for row in table:
        k = int(row["episode_index"])
        src = f"{root}#episode_{k:06d}"
        try:
            data_path = root / info["data_path"].format(
                chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
            )
            if data_path not in data_cache:
                data_cache.clear()  # one data file in memory at a time (episodes are sorted)
                try:
                    data_cache[data_path] = pq.read_table(data_path, columns=columns)
                except (OSError, pa.ArrowException) as e:
                    raise EpisodeError(src, f"unreadable {data_path.relative_to(root)} ({e})") from e
            data = data_cache[data_path]
            rows = data.filter(pc.equal(data.column("episode_index"), k))
            if rows.num_rows == 0:
                raise EpisodeError(src, f"no rows in {data_path.relative_to(root)}")
            states = _column_2d(rows, cfg.state_key)
            if cfg.state_indices is not None:
                if max(cfg.state_indices) >= states.shape[1]:
                    raise EpisodeError(
                        src,
                        f"state_indices {cfg.state_indices} outside {cfg.state_key} [{states.shape[1]}]",
                    )
                states = states[:, list(cfg.state_indices)]
            stamps = rows.column("timestamp").to_numpy().astype(np.float64)
            extrinsics = _column_2d(rows, cfg.extrinsics_key) if cfg.extrinsics_key else None
            if not np.isfinite(states).all() or (
                extrinsics is not None and not np.isfinite(extrinsics).all()
            ):
                raise EpisodeError(src, "NaN/inf in states or extrinsics")

            video_path = root / info["video_path"].format(
                video_key=camera,
                chunk_index=row[f"videos/{camera}/chunk_index"],
                file_index=row[f"videos/{camera}/file_index"],
            )
            if video_path not in probes:
                try:
                    probes[video_path] = (
                        probe_video(video_path)
                        if video_path.is_file()
                        else VideoDecodeError(f"{video_path}: file not found")
                    )
                except VideoDecodeError as e:
                    probes[video_path] = e
            probe = probes[video_path]
            if isinstance(probe, VideoDecodeError):
                raise EpisodeError(src, f"unreadable video {video_path.relative_to(root)}: {probe.detail}")
            offset = int(round(float(row[f"videos/{camera}/from_timestamp"]) * probe.fps))
            n_video = probe.n_frames - offset
            if n_video < len(states) - cfg.max_missing_video_frames:
                raise EpisodeError(
                    src,
                    f"video {video_path.relative_to(root)} has {max(n_video, 0)} frames "
                    f"from {offset} for {len(states)} rows",
                )
            t = min(len(states), n_video)
            if t > 1 and not (np.diff(stamps[:t]) > 0).all():
                raise EpisodeError(src, "timestamps are not increasing")
            episodes.append(
                Episode(
                    episode_id=f"{root.name}/episode_{k:06d}",
                    camera=camera,
                    source=src,
                    video_path=video_path,
                    states=states[:t],
                    timestamps=stamps[:t] - stamps[0],
                    container_fps=probe.fps,
                    extrinsics=None if extrinsics is None else extrinsics[:t],
                    frame_offset=offset,
                )
            )
        except EpisodeError as e:
            bad.append(e)
    return episodes, bad
