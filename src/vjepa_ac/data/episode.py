"""``Episode``: what every reader (raw DROID, LeRobot) returns for one camera stream of one episode.

States, timestamps and extrinsics are small and live in memory; frames stay in the video file
and are decoded on demand (``Episode.read_frames``). Row ``i`` of every array belongs to frame
``frame_offset + i`` of ``video_path``; readers have already cut the arrays to
``min(rows, video frames)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vjepa_ac.data.video import decode_frames


class EpisodeFault(str, enum.Enum):
    """Why an episode stream is skipped: the reason code every ``EpisodeError`` carries.

    Skip reports count episodes by these codes; the message beside them names the file,
    key and numbers. Add a code here when a reader learns a new way to refuse an episode.
    """

    FOLDER_NOT_FOUND = "folder_not_found"
    NO_METADATA = "no_metadata"  # raw DROID: no (or several) metadata_*.json
    UNREADABLE_METADATA = "unreadable_metadata"
    NO_VIEW = "no_view"  # the metadata has no key for the camera view
    NO_RECORDINGS = "no_recordings"  # raw DROID: no recordings/ folder
    MISSING_VIDEO = "missing_video"
    UNREADABLE_VIDEO = "unreadable_video"  # cannot be opened, or truncated (frames past the end of the file)
    SHORT_VIDEO = "short_video"  # fewer video frames (or a shorter video slice) than rows
    MISSING_KEY = "missing_key"  # an HDF5 key / parquet column the config needs
    UNREADABLE_DATA = "unreadable_data"  # trajectory.h5 / data parquet cannot be read
    BAD_SHAPE = "bad_shape"  # arrays of unexpected shapes or different lengths
    NO_ROWS = "no_rows"  # no data rows (LeRobot: none for this episode_index)
    NONFINITE = "nonfinite"  # NaN/inf in states or extrinsics
    IMPLAUSIBLE_STATE = "implausible_state"  # finite but outside DataConfig.plausible (e.g. x = 1e30 m)
    TIMESTAMPS = "timestamps"  # timestamps not increasing
    TOO_SHORT = "too_short"  # no clip fits, or shorter than DataConfig.min_episode_seconds

    def __str__(self) -> str:  # the code itself (enum.StrEnum needs Python 3.11; we support 3.10)
        return self.value


class EpisodeError(ValueError):
    """An episode cannot be used. ``code`` (an ``EpisodeFault``) says why for counting;
    ``reason`` says it in words with the file / key / numbers; the message names the source."""

    def __init__(self, source: str, reason: str, code: EpisodeFault):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.code = EpisodeFault(code)


@dataclass
class Episode:
    episode_id: str  # stable across machines (DROID: metadata uuid; LeRobot: "<dataset>/episode_<k>")
    camera: str  # the view: DROID metadata key ("left_mp4_path") or LeRobot video key
    source: str  # episode folder or dataset path, for messages
    video_path: Path
    states: np.ndarray  # [T, 7] float64: xyz (m), euler "xyz" (rad), gripper (0 open .. 1 closed)
    timestamps: np.ndarray  # [T] float64, s since the episode's first row
    container_fps: float  # rate the video container reports (frames/s); DROID: 60 for 15 Hz data
    extrinsics: np.ndarray | None = None  # [T, 6] float64 camera pose in the robot base frame
    frame_offset: int = 0  # video frame of row 0 (LeRobot v3 files hold several episodes)

    def __post_init__(self) -> None:
        t = len(self.states)
        if self.states.shape != (t, 7):
            raise ValueError(f"{self.source}: states must be [T, 7], got {self.states.shape}")
        if self.timestamps.shape != (t,):
            raise ValueError(f"{self.source}: timestamps must be [{t}], got {self.timestamps.shape}")
        if self.extrinsics is not None and self.extrinsics.shape != (t, 6):
            raise ValueError(f"{self.source}: extrinsics must be [{t}, 6], got {self.extrinsics.shape}")

    @property
    def n_frames(self) -> int:
        """T: rows with both a state and a video frame."""
        return len(self.states)

    @property
    def key(self) -> str:
        """Unique name of this stream: ``episode_id`` plus the camera."""
        return f"{self.episode_id}|{self.camera}"

    def read_frames(self, rows: Sequence[int], *, max_decode_ahead: int = 16, threads: int = 1) -> np.ndarray:
        """Decode the frames of ``rows`` (row indices of this episode). Returns ``[K, H, W, 3]`` uint8."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_frames):
            raise IndexError(f"{self.source}: rows {rows.min()}..{rows.max()} outside 0..{self.n_frames - 1}")
        return decode_frames(
            self.video_path,
            (rows + self.frame_offset).tolist(),
            fps=self.container_fps,
            max_decode_ahead=max_decode_ahead,
            threads=threads,
        )
