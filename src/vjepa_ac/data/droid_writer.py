"""Write episodes in the raw DROID layout: real H.264 MP4s (PyAV) and a real trajectory.h5 (h5py).

The simulator's collector and the test-data generator both write through here, so every
loader of raw DROID reads what we produce exactly as it reads DROID itself.
"""

from __future__ import annotations

import functools
import json
import uuid as uuid_lib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import av
import h5py
import numpy as np

from vjepa_ac.atomic import atomic_path
from vjepa_ac.data import droid_layout as L


@dataclass
class CameraRecording:
    """One camera of an episode: ``frames [T,H,W,3] uint8`` (left lens) and its pose per frame."""

    serial: str
    frames: np.ndarray
    extrinsics: np.ndarray | None = None  # [T,6] camera pose in the robot base frame


@dataclass
class EpisodeRecord:
    """Everything a raw DROID episode folder stores that V-JEPA 2-AC uses, plus metadata."""

    cartesian_position: np.ndarray  # [T,6] xyz (m), extrinsic euler xyz (rad)
    gripper_position: np.ndarray  # [T] 0 open .. 1 closed
    timestamps_ms: np.ndarray  # [T] int64 ms since the epoch, one per control step
    cameras: dict[str, CameraRecording]  # role ("ext1", "ext2", "wrist") -> recording
    success: bool = True
    task: str = ""
    building: str = ""
    scene_id: int = 0
    lab: str = "SIM"
    commanded_cartesian: np.ndarray | None = None  # [T,6] action/cartesian_position
    commanded_gripper: np.ndarray | None = None  # [T]
    extra_metadata: dict = field(default_factory=dict)
    # the 8 hex digits of the episode's uuid; None: random (as DROID's). Episode ids, and so the
    # validation split, derive from it: a collector that must reproduce its dataset sets it
    uuid_hex: str | None = None


# The CPU flags with which x264 (core 165, in PyAV 18's wheels) turns on its AVX-512 code
# (common/cpu.c: AVX512F, DQ, CD, BW, VL). Its AVX-512 mbtree_propagate_list works on 8 macroblocks
# at a time and does not mask the tail of a row: when a frame is not a multiple of 128 px wide
# (64 px: 4 macroblocks a row) it also reads the entries after the row's end, after the last row
# uninitialised heap memory, and adds what it finds to the rate control's propagate costs. The
# bitstream then depends on what the process's heap held before, and the same frames encode
# differently from run to run (measured: notes/sim.md, "Reproducible MP4s").
_X264_AVX512_FLAGS = frozenset({"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"})


def x264_asm(cpu_flags: frozenset[str] | set[str]) -> str | None:
    """x264's ``asm`` setting for a CPU with the Linux ``/proc/cpuinfo`` ``cpu_flags``: ``"AVX2"``
    (every feature x264 uses except AVX-512, which implies the others) where x264 would use its
    AVX-512 code, else None (x264 detects the CPU itself, as it does without the setting)."""
    return "AVX2" if _X264_AVX512_FLAGS <= set(cpu_flags) else None


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The first CPU's flags from ``/proc/cpuinfo``; empty where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def x264_options(crf: int) -> dict[str, str]:
    """libx264 options of every MP4 the writer encodes (a keyframe every 16 frames keeps seeking
    for clip decoding cheap). On an AVX-512 CPU x264 is held to AVX2 (see ``_X264_AVX512_FLAGS``):
    its output then no longer depends on leftover memory (it runs the code an AVX2 CPU runs);
    frames whose width is a multiple of 128 px encoded to the same bytes either way (72 of 72 sim
    episodes at 128 px; not guaranteed, x264's AVX2 and AVX-512 float code round differently)."""
    options = {"crf": str(crf), "preset": "veryfast", "g": "16"}
    asm = x264_asm(_cpu_flags())
    if asm is not None:
        options["x264-params"] = f"asm={asm}"
    return options


def write_mp4(path: Path, frames: np.ndarray, fps: float = L.CONTAINER_FPS, crf: int = 20) -> None:
    """Encode ``frames [T,H,W,3] uint8`` as H.264 (yuv420p) with the container rate ``fps``; the same
    frames give the same bytes on the same kind of machine (``x264_options``)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be [T,H,W,3] uint8, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {h}x{w}")
    with atomic_path(path, fsync=False) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = x264_options(crf)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _left_and_right(cameras: dict[str, CameraRecording]) -> tuple[str | None, str | None]:
    """DROID's "left" is the exterior camera on the robot's left: the larger extrinsic y."""
    exts = [r for r in ("ext1", "ext2") if r in cameras]
    if len(exts) < 2 or any(cameras[r].extrinsics is None for r in exts):
        return (exts[0] if exts else None), (exts[1] if len(exts) > 1 else None)
    y = {r: float(np.mean(cameras[r].extrinsics[:, 1])) for r in exts}
    left = max(exts, key=lambda r: y[r])
    right = min(exts, key=lambda r: y[r])
    return left, right


def episode_folder(lab_root: str | Path, lab: str, success: bool, when: datetime) -> Path:
    """``lab_root/<lab>/{success,failure}/<date>/<time>``, the folder ``write_droid_episode`` writes.

    DROID names the time folder like "Fri_Jul__7_09:42:23_2023" (day padded with "_")."""
    date = when.strftime("%Y-%m-%d")
    clock = when.strftime("%a_%b_") + f"{when.day:>2}".replace(" ", "_") + when.strftime("_%H:%M:%S_%Y")
    return Path(lab_root) / lab / ("success" if success else "failure") / date / clock


def write_droid_episode(
    lab_root: str | Path,
    record: EpisodeRecord,
    *,
    when: datetime,
    container_fps: float = L.CONTAINER_FPS,
    drop_last_video_frame: bool = True,
    version_key: str = "r2d2_version",
    crf: int = 20,
) -> Path:
    """Write ``record`` under ``lab_root/<lab>/{success,failure}/<date>/<time>/``; return that folder.

    ``drop_last_video_frame`` reproduces DROID's MP4s, which often hold one frame fewer than
    the trajectory has rows.
    """
    t = len(record.timestamps_ms)
    for name, arr in (("cartesian_position", record.cartesian_position), ("gripper_position", record.gripper_position)):
        if len(arr) != t:
            raise ValueError(f"{name} has {len(arr)} rows, timestamps have {t}")
    date = when.strftime("%Y-%m-%d")
    rel = episode_folder("", record.lab, record.success, when)
    folder = Path(lab_root) / rel
    if (folder / L.TRAJECTORY_FILE).exists():
        raise FileExistsError(f"{folder} already holds an episode; give each episode its own time")
    folder.mkdir(parents=True, exist_ok=True)
    uuid_hex = record.uuid_hex if record.uuid_hex is not None else uuid_lib.uuid4().hex[:8]
    episode_uuid = f"{record.lab}+{uuid_hex}+{when.strftime('%Y-%m-%d-%Hh-%Mm-%Ss')}"

    serials = {role: cam.serial for role, cam in record.cameras.items()}
    for role, cam in record.cameras.items():
        if len(cam.frames) != t:
            raise ValueError(f"camera {role} has {len(cam.frames)} frames, trajectory has {t} rows")
        frames = cam.frames[:-1] if drop_last_video_frame else cam.frames
        write_mp4(folder / L.MP4_DIR / f"{cam.serial}.mp4", frames, fps=container_fps, crf=crf)

    with atomic_path(folder / L.TRAJECTORY_FILE, fsync=False) as tmp:
        with h5py.File(tmp, "w") as f:
            f[L.CARTESIAN_KEY] = np.asarray(record.cartesian_position, np.float64)
            f[L.GRIPPER_KEY] = np.asarray(record.gripper_position, np.float64)
            ts = np.asarray(record.timestamps_ms, np.int64)
            for serial in serials.values():
                for suffix, offset in (("estimated_capture", 0), ("frame_received", 8), ("read_start", 9), ("read_end", 11)):
                    f[f"{L.CAMERA_TIMESTAMP_GROUP}/{serial}_{suffix}"] = ts + offset
            for suffix, offset in (("step_start", 0), ("policy_start", 1), ("sleep_start", 3), ("control_start", 60), ("step_end", 66)):
                f[f"{L.CONTROL_TIMESTAMP_GROUP}/{suffix}"] = ts + offset
            for cam in record.cameras.values():
                if cam.extrinsics is not None:
                    f[f"{L.EXTRINSICS_GROUP}/{cam.serial}_left"] = np.asarray(cam.extrinsics, np.float64)
                    f[f"{L.EXTRINSICS_GROUP}/{cam.serial}_right"] = np.asarray(cam.extrinsics, np.float64)
            cmd_cart = record.commanded_cartesian if record.commanded_cartesian is not None else record.cartesian_position
            cmd_grip = record.commanded_gripper if record.commanded_gripper is not None else record.gripper_position
            f[L.ACTION_CARTESIAN_KEY] = np.asarray(cmd_cart, np.float64)
            f[L.ACTION_GRIPPER_KEY] = np.asarray(cmd_grip, np.float64)

    left, right = _left_and_right(record.cameras)
    mp4_rel = lambda role: str(rel / L.MP4_DIR / f"{serials[role]}.mp4") if role in serials else None  # noqa: E731
    metadata = {
        "uuid": episode_uuid,
        "lab": record.lab,
        "date": date,
        "timestamp": when.strftime("%Y-%m-%d-%Hh-%Mm-%Ss"),
        "hdf5_path": str(rel / L.TRAJECTORY_FILE),
        "building": record.building,
        "scene_id": record.scene_id,
        "success": bool(record.success),
        "current_task": record.task,
        "trajectory_length": t,
        version_key: "1.3",
        "wrist_cam_serial": serials.get("wrist"),
        "ext1_cam_serial": serials.get("ext1"),
        "ext2_cam_serial": serials.get("ext2"),
        "left_mp4_path": mp4_rel(left) if left else None,
        "right_mp4_path": mp4_rel(right) if right else None,
        "wrist_mp4_path": mp4_rel("wrist"),
    }
    for role, cam in record.cameras.items():
        if cam.extrinsics is not None:
            metadata[f"{role}_cam_extrinsics"] = [float(v) for v in cam.extrinsics[0]]
    metadata.update(record.extra_metadata)
    with open(folder / f"metadata_{episode_uuid}.json", "w") as f:
        json.dump(metadata, f, indent=1)
    return folder
