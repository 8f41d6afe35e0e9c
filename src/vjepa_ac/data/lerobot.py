"""LeRobot v3 datasets (own-robot data) read as ``Episode`` streams, with pyarrow and PyAV.

A local dataset folder holds ``meta/info.json`` (fps, features, path templates),
``meta/episodes/chunk-*/file-*.parquet`` (one row per episode: length, which data and video
files hold it, and where its frames start in the shared video: ``videos/<key>/from_timestamp``),
``data/chunk-*/file-*.parquet`` (one row per frame: ``timestamp`` in s, ``episode_index``, the
feature columns) and ``videos/<key>/chunk-*/file-*.mp4`` (several episodes back to back).

``LeRobotConfig`` says which feature(s) hold the 7-D end-effector state ``[x, y, z, roll, pitch,
yaw, gripper]`` (metres, extrinsic "xyz" Euler radians, gripper 0 open .. 1 closed) and which
camera to use. ``state_key`` is one feature or a list of features concatenated in order (vector
and scalar columns alike: the DROID port keeps the pose in ``observation.state.cartesian_position``
[6] and the gripper in the scalar ``observation.state.gripper_position``); ``state_indices``
picks the 7 entries out of that concatenation. Actions are not read: V-JEPA 2-AC derives them
from consecutive states (``poses.states_to_actions``).

An episode's frames are its own slice ``[from_timestamp, to_timestamp)`` of the shared video
file: an episode whose slice holds fewer frames than it has rows (beyond
``max_missing_video_frames``) is skipped with ``EpisodeFault.SHORT_VIDEO``, never padded with the
next episode's frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vjepa_ac.config import ConfigError, require
from vjepa_ac.data.episode import Episode, EpisodeError, EpisodeFault
from vjepa_ac.data.video import VideoDecodeError, VideoInfo, probe_video

INFO_FILE = "meta/info.json"
EPISODES_DIR = "meta/episodes"


@dataclass
class LeRobotConfig:
    """Which LeRobot v3 dataset to read and how its features map onto V-JEPA 2-AC's inputs."""

    root: Path | None = None  # dataset folder (holds meta/info.json)
    # video feature, e.g. "observation.images.front"; "" = the dataset's only video feature
    camera_key: str = ""
    # feature holding the end-effector state, or a list of features concatenated in order
    # (vector or scalar columns), e.g. [observation.state.cartesian_position,
    # observation.state.gripper_position] for the DROID port (lerobot/droid_1.0.1)
    state_key: str | tuple[str, ...] = "observation.state"
    # indices of [x y z roll pitch yaw gripper] in that (concatenated) vector; None: all of it (7-D)
    state_indices: tuple[int, ...] | None = None
    # optional feature(s) [6]: camera pose (xyz, euler "xyz") in the robot base frame, per frame
    extrinsics_key: str | tuple[str, ...] | None = None
    episodes: tuple[int, ...] | None = None  # episode indices to read; None: all
    max_missing_video_frames: int = 0  # frames the video slice may lack against the rows

    def __post_init__(self) -> None:
        if isinstance(self.state_key, list):
            self.state_key = tuple(self.state_key)
        if isinstance(self.extrinsics_key, list):
            self.extrinsics_key = tuple(self.extrinsics_key)
        require(self, "state_key", len(self.state_keys) >= 1 and all(self.state_keys), "one or more feature names")
        if self.state_indices is not None:
            require(
                self,
                "state_indices",
                len(self.state_indices) == 7 and min(self.state_indices) >= 0,
                "7 indices >= 0 (x y z roll pitch yaw gripper)",
            )
        require(self, "max_missing_video_frames", self.max_missing_video_frames >= 0, ">= 0")

    @property
    def state_keys(self) -> tuple[str, ...]:
        """``state_key`` as a tuple of feature names."""
        return (self.state_key,) if isinstance(self.state_key, str) else tuple(self.state_key)

    @property
    def extrinsics_keys(self) -> tuple[str, ...]:
        """``extrinsics_key`` as a tuple of feature names (empty: no extrinsics)."""
        if not self.extrinsics_key:
            return ()
        return (self.extrinsics_key,) if isinstance(self.extrinsics_key, str) else tuple(self.extrinsics_key)

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


def _feature_dims(info: dict, keys: tuple[str, ...], field: str, where: Path) -> int | None:
    """Total width of features ``keys`` concatenated (a scalar counts 1; None if a shape is
    not in info.json). Raises ``ConfigError`` naming the field for unknown or non-vector features."""
    feats = info["features"]
    total = 0
    for key in keys:
        if key not in feats:
            raise ConfigError(f"lerobot.{field}: {key!r} is not a feature of {where}; features: {sorted(feats)}")
        shape = feats[key].get("shape")
        if shape is None:
            return None
        if len(shape) != 1:
            raise ConfigError(
                f"lerobot.{field}: feature {key!r} has shape {shape}; only scalars and vectors can be read"
            )
        total += int(shape[0])
    return total


def _check_dims(info: dict, keys: tuple[str, ...], field: str, dims: int, where: Path) -> None:
    got = _feature_dims(info, keys, field, where)
    if got is not None and got != dims:
        shapes = {k: info["features"][k].get("shape") for k in keys}
        hint = " (list several features to concatenate them, or pick entries with state_indices)" if field == "state_key" else ""
        raise ConfigError(f"lerobot.{field}: features {shapes} give {got} values, expected [{dims}]{hint}")


def read_episode_table(root: Path) -> pa.Table:
    """All rows of ``meta/episodes/**/*.parquet`` (one per episode), sorted by episode_index."""
    files = sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))
    if not files:
        raise ConfigError(f"lerobot.root: no {EPISODES_DIR}/chunk-*/file-*.parquet in {root}")
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    return table.sort_by("episode_index")


def _column_2d(table: pa.Table, key: str) -> np.ndarray:
    """One feature column as ``[rows, dims]`` float64: list columns (fixed or variable size,
    equal lengths) and scalar columns (dims 1)."""
    col = table.column(key).combine_chunks()
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type):
        flat = pc.list_flatten(col).to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float64).reshape(len(col), -1)  # [rows, dims]
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(len(col), 1)  # [rows, 1]


def _features_2d(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    """Features ``keys`` concatenated along the last axis: ``[rows, sum of dims]`` float64."""
    return np.concatenate([_column_2d(table, k) for k in keys], axis=1)


def read_dataset(cfg: LeRobotConfig) -> tuple[list[Episode], list[EpisodeError]]:
    """Every episode of the dataset as an ``Episode`` (the configured camera), plus the bad ones.

    States are ``cfg.state_keys`` concatenated (then ``state_indices``): ``[T, 7]`` float64.
    Row ``i`` of an episode is frame ``round(from_timestamp x fps) + i`` of its video file; its
    slice holds ``round((to_timestamp - from_timestamp) x fps)`` frames (without
    ``to_timestamp``: up to the end of the file). Raises ``ConfigError`` for a config that cannot
    fit the dataset (unknown feature, wrong widths); bad episodes come back as ``EpisodeError``s.
    """
    if cfg.root is None:
        raise ConfigError("lerobot.root: give the dataset folder (it holds meta/info.json)")
    root = Path(cfg.root)
    info = read_info(root)
    camera = _resolve_camera(info, cfg, root)
    state_keys, ext_keys = cfg.state_keys, cfg.extrinsics_keys
    if cfg.state_indices is None:
        _check_dims(info, state_keys, "state_key", 7, root)
    else:
        width = _feature_dims(info, state_keys, "state_key", root)
        if width is not None and max(cfg.state_indices) >= width:
            raise ConfigError(
                f"lerobot.state_indices: {cfg.state_indices} outside the {width} values of {list(state_keys)}"
            )
    if ext_keys:
        _check_dims(info, ext_keys, "extrinsics_key", 6, root)
    table = read_episode_table(root).to_pylist()
    if cfg.episodes is not None:
        wanted = set(cfg.episodes)
        table = [r for r in table if r["episode_index"] in wanted]
        missing = wanted - {r["episode_index"] for r in table}
        if missing:
            raise ConfigError(f"lerobot.episodes: {sorted(missing)} not in {root}")

    columns = list(dict.fromkeys(["episode_index", "timestamp", *state_keys, *ext_keys]))
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
                    raise EpisodeError(
                        src, f"unreadable {data_path.relative_to(root)} ({e})", EpisodeFault.UNREADABLE_DATA
                    ) from e
            data = data_cache[data_path]
            rows = data.filter(pc.equal(data.column("episode_index"), k))
            if rows.num_rows == 0:
                raise EpisodeError(src, f"no rows in {data_path.relative_to(root)}", EpisodeFault.NO_ROWS)
            try:
                states = _features_2d(rows, state_keys)  # [rows, width]
                extrinsics = _features_2d(rows, ext_keys) if ext_keys else None  # [rows, 6]
            except (ValueError, pa.ArrowException) as e:
                raise EpisodeError(
                    src,
                    f"cannot read {list(state_keys) + list(ext_keys)} from {data_path.relative_to(root)} "
                    f"as numbers ({type(e).__name__}: {e})",
                    EpisodeFault.BAD_SHAPE,
                ) from e
            if cfg.state_indices is not None:
                if max(cfg.state_indices) >= states.shape[1]:
                    raise EpisodeError(
                        src,
                        f"state_indices {cfg.state_indices} outside {list(state_keys)} [{states.shape[1]}]",
                        EpisodeFault.BAD_SHAPE,
                    )
                states = states[:, list(cfg.state_indices)]
            if states.shape[1] != 7 or (extrinsics is not None and extrinsics.shape[1] != 6):
                raise EpisodeError(
                    src,
                    f"states have {states.shape[1]} values per row (expected 7)"
                    + (f", extrinsics {extrinsics.shape[1]} (expected 6)" if extrinsics is not None else ""),
                    EpisodeFault.BAD_SHAPE,
                )
            stamps = rows.column("timestamp").to_numpy().astype(np.float64)
            if not np.isfinite(states).all() or (
                extrinsics is not None and not np.isfinite(extrinsics).all()
            ):
                raise EpisodeError(src, "NaN/inf in states or extrinsics", EpisodeFault.NONFINITE)

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
            rel = video_path.relative_to(root)
            if isinstance(probe, VideoDecodeError):
                code = EpisodeFault.MISSING_VIDEO if not video_path.is_file() else EpisodeFault.UNREADABLE_VIDEO
                raise EpisodeError(src, f"unreadable video {rel}: {probe.detail}", code)
            n_video, offset, where = _video_slice(row, camera, probe)
            if n_video < len(states) - cfg.max_missing_video_frames:
                cut = (
                    f" (truncated file: its header claims {probe.header_frames} frames, it holds {probe.n_frames})"
                    if probe.truncated
                    else ""
                )
                raise EpisodeError(
                    src,
                    f"video {rel} has {max(n_video, 0)} frames {where} for {len(states)} rows{cut}",
                    EpisodeFault.UNREADABLE_VIDEO if probe.truncated else EpisodeFault.SHORT_VIDEO,
                )
            t = min(len(states), n_video)
            if t > 1 and not (np.diff(stamps[:t]) > 0).all():
                raise EpisodeError(src, "timestamps are not increasing", EpisodeFault.TIMESTAMPS)
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


def _video_slice(row: dict, camera: str, probe: VideoInfo) -> tuple[int, int, str]:
    """(frames the episode's slice holds, its first frame, words for messages).

    The slice is ``[from_timestamp, to_timestamp)`` of the file, at the file's rate; it never
    reaches past the end of the file, nor (with ``to_timestamp``) into the next episode's frames.
    """
    start = float(row[f"videos/{camera}/from_timestamp"])
    offset = int(round(start * probe.fps))
    in_file = probe.n_frames - offset
    end = row.get(f"videos/{camera}/to_timestamp")
    if end is None:
        return in_file, offset, f"from frame {offset} to the end of the file"
    in_slice = int(round((float(end) - start) * probe.fps))
    where = f"in its slice [{start:.3f}, {float(end):.3f}) s (frames {offset}..{offset + in_slice - 1})"
    if in_file < in_slice:
        where += f", of which the file holds {max(in_file, 0)}"
    return min(in_slice, in_file), offset, where
