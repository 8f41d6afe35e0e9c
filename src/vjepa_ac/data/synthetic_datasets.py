"""Small synthetic datasets in the real on-disk formats, for tests and benchmarks.

``make_droid_episode`` writes a raw DROID episode through ``droid_writer`` (H.264 MP4s via PyAV,
``trajectory.h5`` via h5py, metadata JSON) with DROID's timing quirks: the container reports 60
fps while rows come at ~15 Hz (jittered timestamps), and the MP4 holds one frame fewer than the
HDF5 has rows. ``faults`` breaks an episode the way public DROID episodes are broken.
``make_lerobot_dataset`` writes a LeRobot v3 dataset (parquet + MP4 files shared by episodes).

The pictures are not noise: a coloured square moves with the end effector (x, y -> image
position, z -> size, gripper -> colour, yaw -> a bar's direction) over a textured background,
so a world model can learn something from them.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from vjepa_ac.data import droid_layout as L
from vjepa_ac.data.droid_writer import CameraRecording, EpisodeRecord, write_droid_episode, write_mp4

DROID_FAULTS = (
    "truncated_mp4",  # every MP4 cut to a third of its bytes (cannot be opened)
    "missing_mp4",  # the left camera's MP4 deleted
    "missing_recordings",  # the whole recordings/ folder deleted
    "missing_key",  # observation/robot_state/gripper_position removed from trajectory.h5
    "corrupt_h5",  # trajectory.h5 overwritten with garbage bytes
    "no_metadata",  # metadata_*.json deleted
    "nan_states",  # a few NaN rows in cartesian_position
    "short_video",  # MP4s hold half as many frames as the HDF5 has rows
)
_BASE_TIME = datetime(2023, 7, 7, 9, 0, 0)
_EXT1_POSE = np.array([0.35, 0.55, 0.45, -2.2, 0.0, -1.2])  # camera pose in the base frame (xyz, euler)
_EXT2_POSE = np.array([0.35, -0.55, 0.45, -2.2, 0.0, 1.2])


def synthetic_states(length: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random end-effector trajectory ``[T, 7]``: xyz in a table-top box, a gripper-down
    orientation with small wobbles, and a gripper that closes and opens."""
    t = np.arange(length)[:, None]
    n_waves = 3
    freq = rng.uniform(0.01, 0.08, (n_waves, 6))
    phase = rng.uniform(0, 2 * np.pi, (n_waves, 6))
    amp = rng.uniform(0.3, 1.0, (n_waves, 6)) / n_waves
    wave = (amp[None] * np.sin(2 * np.pi * freq[None] * t[..., None] + phase[None])).sum(
        1
    )  # [T, 6] in [-1, 1]
    xyz = np.array([0.5, 0.0, 0.3]) + wave[:, :3] * np.array([0.2, 0.3, 0.2])
    rot = np.array([np.pi - 0.05, 0.0, 0.0]) + wave[:, 3:] * np.array([0.05, 0.2, 0.8])
    rot[:, 0] = (rot[:, 0] + np.pi) % (2 * np.pi) - np.pi  # keep roll in [-pi, pi)
    switch = rng.integers(length // 4, max(length // 4 + 1, 3 * length // 4))
    gripper = 1.0 / (1.0 + np.exp(-(np.arange(length) - switch) / 2.0))
    return np.concatenate([xyz, rot, gripper[:, None]], axis=1)


def render_frames(
    states: np.ndarray, size: tuple[int, int], *, mirror: bool = False, seed: int = 0
) -> np.ndarray:
    """Draw ``states [T, 7]`` as ``[T, H, W, 3]`` uint8 frames (``mirror``: a second camera's view)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    background = np.stack(
        [(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), np.full_like(xx, 96)], -1
    ).astype(np.float32)
    background = (
        0.6 * background
        + 0.4 * rng.uniform(0, 255, (h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    )
    background = background.astype(np.uint8)
    frames = np.empty((len(states), h, w, 3), np.uint8)
    for i, s in enumerate(states):
        f = background.copy()
        y_img = -s[1] if mirror else s[1]
        cx = int(round((0.5 + y_img / 0.8) * (w - 1)))  # base y -> image column
        cy = int(round((0.5 + (s[0] - 0.5) / 0.6) * (h - 1)))  # base x -> image row
        half = max(2, int(round(min(h, w) * (0.06 + 0.12 * (0.5 - s[2])))))  # closer to the table: bigger
        color = np.array([255 * s[6], 255 * (1 - s[6]), 40], np.uint8)  # open green .. closed red
        f[max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half] = color
        for r in range(half * 2):  # a bar showing the yaw
            px = int(round(cx + r * np.cos(s[5])))
            py = int(round(cy + r * np.sin(s[5])))  # noqa: E702
            if 0 <= px < w and 0 <= py < h:
                f[py, px] = (255, 255, 255)
        frames[i] = f
    return frames


def make_droid_episode(
    root: str | Path,
    *,
    length: int = 40,
    size: tuple[int, int] = (72, 128),
    hz: float = L.RECORDING_HZ,
    container_fps: float = L.CONTAINER_FPS,
    seed: int = 0,
    faults: str | Iterable[str] = (),
    two_cameras: bool = True,
    jitter_ms: float = 3.0,
    crf: int = 23,
) -> Path:
    """Write one raw DROID episode under ``root`` (the lab root); return its folder.

    length: HDF5 rows (the MP4 holds ``length - 1`` frames, as on DROID). size: ``(H, W)`` px,
    even. hz: true recording rate of the rows' timestamps; container_fps: the rate the MP4 reports.
    faults: names from ``DROID_FAULTS``. The metadata uuid is ``SYN+<seed>``, so ids are stable.
    """
    faults = {faults} if isinstance(faults, str) else set(faults)
    unknown = faults - set(DROID_FAULTS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; choose from {DROID_FAULTS}")
    rng = np.random.default_rng(seed)
    states = synthetic_states(length, rng)
    if "nan_states" in faults:
        states[length // 2 : length // 2 + 2, :3] = np.nan
    steps = 1000.0 / hz + rng.uniform(-jitter_ms, jitter_ms, length)
    steps[0] = 0.0
    stamps = (1_688_720_400_000 + seed * 3_600_000 + np.cumsum(steps)).astype(np.int64)  # ms since the epoch
    cameras = {
        "ext1": CameraRecording(
            f"{20000000 + seed}",
            render_frames(np.nan_to_num(states), size, seed=seed),
            np.tile(_EXT1_POSE, (length, 1)),
        )
    }
    if two_cameras:
        cameras["ext2"] = CameraRecording(
            f"{30000000 + seed}",
            render_frames(np.nan_to_num(states), size, mirror=True, seed=seed + 1),
            np.tile(_EXT2_POSE, (length, 1)),
        )
    record = EpisodeRecord(
        cartesian_position=states[:, :6],
        gripper_position=states[:, 6],
        timestamps_ms=stamps,
        cameras=cameras,
        task="move the square",
        lab="SYN",
        extra_metadata={"uuid": f"SYN+{seed:06d}"},
    )
    folder = write_droid_episode(
        root, record, when=_BASE_TIME + timedelta(minutes=seed), container_fps=container_fps, crf=crf
    )
    _apply_faults(folder, faults, cameras, container_fps)
    return folder


def _apply_faults(
    folder: Path, faults: set[str], cameras: dict[str, CameraRecording], container_fps: float
) -> None:
    mp4s = sorted((folder / L.MP4_DIR).glob("*.mp4"))
    if "short_video" in faults:
        for cam in cameras.values():
            write_mp4(
                folder / L.MP4_DIR / f"{cam.serial}.mp4",
                cam.frames[: len(cam.frames) // 2],
                fps=container_fps,
            )
    if "truncated_mp4" in faults:
        for p in mp4s:
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 3])
    if "missing_mp4" in faults:
        meta = json.loads(next(folder.glob(L.METADATA_GLOB)).read_text())
        (folder / L.MP4_DIR / meta["left_mp4_path"].split(L.MP4_DIR + "/")[-1]).unlink()
    if "missing_recordings" in faults:
        shutil.rmtree(folder / "recordings")
    if "missing_key" in faults:
        with h5py.File(folder / L.TRAJECTORY_FILE, "a") as f:
            del f[L.GRIPPER_KEY]
    if "corrupt_h5" in faults:
        (folder / L.TRAJECTORY_FILE).write_bytes(b"\x00not an hdf5 file" * 64)
    if "no_metadata" in faults:
        for p in folder.glob(L.METADATA_GLOB):
            p.unlink()


def make_droid_dataset(
    root: str | Path,
    n_episodes: int = 4,
    *,
    length: int | tuple[int, int] = 40,
    faults: dict[int, str | Sequence[str]] | None = None,
    seed: int = 0,
    list_file: str | None = "episodes.txt",
    **episode_kwargs,
) -> list[Path]:
    """Write ``n_episodes`` raw DROID episodes under ``root``; return their folders.

    length: rows per episode, or an inclusive ``(min, max)`` range drawn per episode.
    faults: episode number -> fault name(s). list_file: also write the released recipe's list
    (one absolute folder per line, no header) as ``root/list_file``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    faults = faults or {}
    folders = []
    for i in range(n_episodes):
        n = length if isinstance(length, int) else int(rng.integers(length[0], length[1] + 1))
        folders.append(
            make_droid_episode(
                root, length=n, seed=seed * 1000 + i, faults=faults.get(i, ()), **episode_kwargs
            )
        )
    if list_file:
        (root / list_file).write_text("".join(f"{f.resolve()}\n" for f in folders))
    return folders


def make_lerobot_dataset(
    root: str | Path,
    n_episodes: int = 3,
    *,
    length: int | tuple[int, int] = 30,
    fps: int = 10,
    size: tuple[int, int] = (64, 96),
    episodes_per_file: int = 2,
    camera_key: str = "observation.images.front",
    seed: int = 0,
    crf: int = 23,
    lost_frames: dict[int, int] | None = None,
) -> Path:
    """Write a LeRobot v3 dataset under ``root``; return ``root``.

    Features: ``camera_key`` (video), ``observation.state`` [8] = the 7-D end-effector state
    followed by one extra joint value (read it with ``state_indices``), ``observation.ee_pose``
    [7], the DROID port's split form of the same state (``observation.state.cartesian_position``
    [6] and the scalar column ``observation.state.gripper_position``), ``action`` [7] (the next
    state's delta), ``timestamp`` (s), indices. Episodes are packed ``episodes_per_file`` to a
    data file and to a video file, so readers must use the ``from_timestamp`` offsets.

    ``lost_frames``: episode index -> frames missing from the end of its video slice (the slice
    ``[from_timestamp, to_timestamp)`` is that much shorter than its rows; the next episode's
    frames follow at once), as in datasets whose conversion dropped frames.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    lost = dict(lost_frames or {})
    rng = np.random.default_rng(seed)
    lengths = [
        length if isinstance(length, int) else int(rng.integers(length[0], length[1] + 1))
        for _ in range(n_episodes)
    ]
    h, w = size
    episode_rows, global_index = [], 0
    for file_index, first in enumerate(range(0, n_episodes, episodes_per_file)):
        members = range(first, min(first + episodes_per_file, n_episodes))
        data_cols: dict[str, list] = {
            k: []
            for k in (
                "observation.state",
                "observation.ee_pose",
                "observation.state.cartesian_position",
                "observation.state.gripper_position",
                "action",
                "timestamp",
                "frame_index",
                "episode_index",
                "index",
                "task_index",
            )
        }
        video, video_frames = [], 0
        for k in members:
            states = synthetic_states(lengths[k], np.random.default_rng(seed * 1000 + k))
            frames = render_frames(states, size, seed=seed * 1000 + k)
            n = lengths[k]
            extra = np.sin(np.arange(n) / 5.0)[:, None]
            actions = np.concatenate([np.diff(states, axis=0), np.zeros((1, 7))], axis=0)
            data_cols["observation.state"] += np.concatenate([states, extra], 1).astype(np.float32).tolist()
            data_cols["observation.ee_pose"] += states.astype(np.float32).tolist()
            data_cols["observation.state.cartesian_position"] += states[:, :6].astype(np.float32).tolist()
            data_cols["observation.state.gripper_position"] += states[:, 6].astype(np.float32).tolist()
            data_cols["action"] += actions.astype(np.float32).tolist()
            data_cols["timestamp"] += (np.arange(n) / fps).astype(np.float32).tolist()
            data_cols["frame_index"] += list(range(n))
            data_cols["episode_index"] += [k] * n
            data_cols["index"] += list(range(global_index, global_index + n))
            data_cols["task_index"] += [0] * n
            episode_rows.append(
                {
                    "episode_index": k,
                    "tasks": ["move the square"],
                    "length": n,
                    "data/chunk_index": 0,
                    "data/file_index": file_index,
                    "dataset_from_index": global_index,
                    "dataset_to_index": global_index + n,
                    f"videos/{camera_key}/chunk_index": 0,
                    f"videos/{camera_key}/file_index": file_index,
                    f"videos/{camera_key}/from_timestamp": video_frames / fps,
                    f"videos/{camera_key}/to_timestamp": (video_frames + n - lost.get(k, 0)) / fps,
                    "meta/episodes/chunk_index": 0,
                    "meta/episodes/file_index": 0,
                }
            )
            video.append(frames[: n - lost.get(k, 0)])
            video_frames += n - lost.get(k, 0)
            global_index += n
        data_path = root / "data" / "chunk-000" / f"file-{file_index:03d}.parquet"
        data_path.parent.mkdir(parents=True, exist_ok=True)
        schema = pa.schema(
            [
                ("observation.state", pa.list_(pa.float32(), 8)),
                ("observation.ee_pose", pa.list_(pa.float32(), 7)),
                ("observation.state.cartesian_position", pa.list_(pa.float32(), 6)),
                ("observation.state.gripper_position", pa.float32()),
                ("action", pa.list_(pa.float32(), 7)),
                ("timestamp", pa.float32()),
                ("frame_index", pa.int64()),
                ("episode_index", pa.int64()),
                ("index", pa.int64()),
                ("task_index", pa.int64()),
            ]
        )
        pq.write_table(pa.table(data_cols, schema=schema), data_path)
        write_mp4(
            root / "videos" / camera_key / "chunk-000" / f"file-{file_index:03d}.mp4",
            np.concatenate(video),
            fps=fps,
            crf=crf,
        )

    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(episode_rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    )
    pq.write_table(
        pa.table({"task_index": [0], "task": ["move the square"]}), root / "meta" / "tasks.parquet"
    )
    info = {
        "codebase_version": "v3.0",
        "robot_type": "synthetic_franka",
        "total_episodes": n_episodes,
        "total_frames": int(sum(lengths)),
        "total_tasks": 1,
        "chunks_size": 1000,
        "fps": fps,
        "splits": {"train": f"0:{n_episodes}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": {
            camera_key: {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.fps": fps,
                    "video.height": h,
                    "video.width": w,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "has_audio": False,
                },
            },
            "observation.state": {
                "dtype": "float32",
                "shape": [8],
                "names": ["x", "y", "z", "roll", "pitch", "yaw", "gripper", "joint_extra"],
            },
            "observation.ee_pose": {
                "dtype": "float32",
                "shape": [7],
                "names": ["x", "y", "z", "roll", "pitch", "yaw", "gripper"],
            },
            "observation.state.cartesian_position": {
                "dtype": "float32",
                "shape": [6],
                "names": {"axes": ["x", "y", "z", "roll", "pitch", "yaw"]},
            },
            "observation.state.gripper_position": {
                "dtype": "float32",
                "shape": [1],
                "names": {"axes": ["gripper"]},
            },
            "action": {"dtype": "float32", "shape": [7], "names": None},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            "frame_index": {"dtype": "int64", "shape": [1], "names": None},
            "episode_index": {"dtype": "int64", "shape": [1], "names": None},
            "index": {"dtype": "int64", "shape": [1], "names": None},
            "task_index": {"dtype": "int64", "shape": [1], "names": None},
        },
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return root
