"""Video probing and sparse frame decoding with PyAV.

Frame ``i`` of a file is the frame shown at time ``i / rate`` after the stream start, where
``rate`` is the container's reported rate (60 fps on DROID, whatever the recording rate was).
Decoding a sorted list of frame indices seeks to the keyframe at or before a wanted frame when
that keyframe lies past the decoder's position (read from the container's keyframe index;
without one, when the frame is more than ``max_decode_ahead`` frames ahead), and otherwise
decodes forward; only wanted frames are converted to RGB. Variable-frame-rate files,
whose frame times are not multiples of ``1 / rate``, are refused with ``VideoDecodeError``.

Containers are opened per call and closed before returning, so this is safe in forked
DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av
import numpy as np


class VideoDecodeError(RuntimeError):
    """A video cannot be opened, probed or decoded; the message names the file, ``detail`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.detail = message.split(": ", 1)[-1]


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int  # frames the file can deliver (not the header's claim; see probe_video)
    fps: float  # container's reported rate (frames/s); 60 on DROID although it records 15 Hz
    height: int  # px
    width: int  # px
    codec: str
    header_frames: int = 0  # frames the container header claims (0: it claims none)

    @property
    def truncated(self) -> bool:
        """True when the header claims frames whose data lies past the end of the file."""
        return self.header_frames > self.n_frames


def _frames_in_file(container, stream, path: Path, rate: float) -> int | None:
    """Frames the file can deliver, from the container's index (MP4 ``stco``/``stsz``: a
    truncated file whose index sits at the front still lists every frame), or None without one.

    When packets lie past the end of the file, the tail is decoded from the last keyframe
    before the cut up to the first error: the decoder holds frames back (B-frame reordering)
    and fails on the cut packet before it hands them out, so only a decode tells which frames
    come out. Only truncated files pay for this (one group of pictures).
    """
    try:
        entries = list(stream.index_entries)
        spans = [(int(e.pos), int(e.size)) for e in entries]
    except (AttributeError, av.error.FFmpegError):  # older PyAV, or no index
        return None
    if not spans:
        return None
    size = path.stat().st_size
    complete = 0
    for pos, length in spans:
        if pos < 0 or pos + length > size:
            break
        complete += 1
    if complete == len(spans):
        return complete
    keys = [i for i in range(complete) if entries[i].is_keyframe]
    if not keys:
        return 0
    start = stream.start_time or 0
    tb = float(stream.time_base)
    container.seek(int(entries[keys[-1]].timestamp), stream=stream, backward=True, any_frame=False)
    last = -1
    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                last = max(last, int(round((frame.pts - start) * tb * rate)))
    except (av.error.FFmpegError, OSError, ValueError):
        pass  # the cut packet: frames handed out before it are the ones the file delivers
    return max(0, min(last + 1, complete))


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, reported rate and size of the first video stream, without decoding.

    The header's frame count is not trusted: with a container index (MP4) the count is the
    frames whose data lies inside the file (a download cut short keeps an index at the front
    that lists frames it no longer holds); without one, packets are counted by demuxing.
    ``VideoInfo.header_frames`` keeps the header's claim (``truncated`` compares the two).
    Raises ``VideoDecodeError`` naming the file when it cannot be opened.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise VideoDecodeError(f"{path}: the container reports no frame rate")
            header = max(int(stream.frames), 0)
            n = _frames_in_file(container, stream, path, float(rate))
            if n is None:
                n = sum(1 for p in container.demux(stream) if p.size > 0)
            if header:
                n = min(n, header)
            return VideoInfo(
                n,
                float(rate),
                stream.codec_context.height,
                stream.codec_context.width,
                stream.codec_context.name,
                header,
            )
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        raise VideoDecodeError(f"{path}: cannot open video ({type(e).__name__}: {why})") from e


def _keyframe_indices(stream, rate: float) -> np.ndarray | None:
    """Frame indices of the keyframes from the container's index (MP4 ``stss``), or None if it has none.

    Index entries carry decode timestamps; with B-frames these run a constant delay behind the
    presentation times, so offsets from the first entry still count frames.
    """
    try:
        entries = stream.index_entries
        stamps = np.array([e.timestamp for e in entries], dtype=np.int64)
        keys = np.array([e.is_keyframe for e in entries], dtype=bool)
    except (AttributeError, av.error.FFmpegError):  # older PyAV, or no index
        return None
    if len(stamps) == 0 or not keys.any():
        return None
    idx = np.round((stamps[keys] - stamps[0]) * float(stream.time_base) * rate).astype(np.int64)
    return np.unique(idx)


def decode_frames(
    path: str | Path,
    indices: Sequence[int],
    *,
    fps: float | None = None,
    max_decode_ahead: int = 16,
    threads: int = 1,
) -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed).

    fps: the container rate used to turn frame times into indices (probed when None).
    With a keyframe index in the container (MP4), the decoder seeks exactly when the keyframe
    before a wanted frame lies past its position (fewest decoded frames); without one, it seeks
    when a wanted frame is more than ``max_decode_ahead`` frames ahead.
    Returns ``[K, H, W, 3]`` uint8 RGB in the order of ``indices``. Raises ``VideoDecodeError``
    naming the file if a frame is missing or the file is corrupt.
    """
    path = Path(path)
    wanted = sorted(set(int(i) for i in indices))
    if not wanted:
        raise ValueError(f"{path}: no frame indices to decode")
    if wanted[0] < 0:
        raise ValueError(f"{path}: negative frame index {wanted[0]}")
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if threads > 1:
                stream.thread_type = "AUTO"
                stream.codec_context.thread_count = threads
            rate = float(fps or stream.average_rate or stream.guessed_rate)
            start = stream.start_time or 0
            tb = float(stream.time_base)
            keyframes = _keyframe_indices(stream, rate)
            position = -1  # index of the last decoded frame
            frames = None  # the decode iterator, restarted by each seek
            for target in wanted:
                if keyframes is not None:
                    # seek only when the keyframe before the target lies ahead of the decoder
                    k = (
                        keyframes[np.searchsorted(keyframes, target, side="right") - 1]
                        if target >= keyframes[0]
                        else 0
                    )
                    seek = frames is None or k > position
                else:
                    seek = frames is None or target > position + max_decode_ahead
                if seek:
                    # seek to the keyframe at or before the target (pts in the stream time base)
                    container.seek(start + int(round(target / rate / tb)), stream=stream, backward=True)
                    frames = container.decode(stream)
                while position < target:
                    frame = next(frames, None)
                    if frame is None:
                        raise VideoDecodeError(
                            f"{path}: stream ended before frame {target} (last decoded {position})"
                        )
                    if frame.pts is None:
                        raise VideoDecodeError(f"{path}: a decoded frame has no timestamp")
                    exact = (frame.pts - start) * tb * rate
                    position = int(round(exact))
                    if abs(exact - position) > 0.25:
                        raise VideoDecodeError(
                            f"{path}: frame time {frame.time} s is not on the {rate} fps grid"
                        )
                if position != target:
                    raise VideoDecodeError(
                        f"{path}: frame {target} not found (the decoder jumped to {position})"
                    )
                got[target] = frame.to_ndarray(format="rgb24")
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, StopIteration) as e:
        raise VideoDecodeError(
            f"{path}: decoding failed near frame {wanted[min(len(got), len(wanted) - 1)]} "
            f"({type(e).__name__}: {e})"
        ) from e
    return np.stack([got[int(i)] for i in indices])  # [K, H, W, 3]
