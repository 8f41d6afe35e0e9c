"""Episode videos: MP4 (H.264 via PyAV, as the DROID writer) or GIF (Pillow), chosen by suffix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vjepa_ac.data.droid_writer import write_mp4


def write_video(path: str | Path, frames: np.ndarray | list[np.ndarray], fps: float = 4.0) -> Path:
    """Write ``frames [T,H,W,3] uint8`` to ``path`` (``.mp4`` or ``.gif``) at ``fps``; returns the path."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"{path}: frames must be a non-empty [T,H,W,3] uint8 array, got {frames.shape} {frames.dtype}")
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        h, w = frames.shape[1:3]
        if h % 2 or w % 2:  # yuv420p needs even sizes
            frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
        write_mp4(path, frames, fps=fps)
    elif suffix == ".gif":
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    else:
        raise ValueError(f"{path}: unknown video suffix {suffix!r}; use .mp4 or .gif")
    return path


def side_by_side(*frames: np.ndarray, gap: int = 2) -> np.ndarray:
    """Frames ``[H,W,3]`` of equal height joined left to right with a ``gap`` px white bar."""
    h = frames[0].shape[0]
    bar = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, f in enumerate(frames):
        parts += [bar, f] if i else [f]
    return np.concatenate(parts, axis=1)
