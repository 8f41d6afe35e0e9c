"""Pictures of what the world model predicts: labelled strips (PNG) and animations (GIF / MP4).

    grid = labelled_grid([("observed", frames_a), ("predicted", frames_b)], header=["t=0", ...])
    write_png("strip.png", grid)
    write_animation("episode.gif", [side_by_side(a, b) for a, b in zip(frames_a, frames_b)], fps=4)

Frames are uint8, ``[3, H, W]`` tensors or ``[H, W, 3]`` arrays (both accepted); ``None`` is an
empty cell. PNG and GIF go through Pillow, MP4 through PyAV (``data.droid_writer.write_mp4``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vjepa_ac.data.droid_writer import write_mp4

Frame = np.ndarray  # [H, W, 3] uint8
BACKGROUND, EMPTY, TEXT = 255, 200, (0, 0, 0)
LABEL_W, HEADER_H, GAP = 64, 12, 2  # px


def as_hwc(frame) -> Frame:
    """A uint8 frame ``[3, H, W]`` (tensor or array) or ``[H, W, 3]`` -> ``[H, W, 3]`` numpy."""
    a = frame.detach().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    if a.ndim != 3 or a.dtype != np.uint8 or 3 not in (a.shape[0], a.shape[-1]):
        raise ValueError(f"a frame must be uint8 [3, H, W] or [H, W, 3], got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a.transpose(1, 2, 0) if a.shape[-1] != 3 else a)


def display_scale(size: int) -> int:
    """Nearest-neighbour upscaling that makes frames of ``size`` px at least ~128 px in a picture."""
    return max(1, 128 // max(1, size))


def upscale(frame: np.ndarray, k: int) -> np.ndarray:
    """``[H, W, 3]`` -> ``[k H, k W, 3]`` (nearest neighbour: pixels stay visible as pixels)."""
    return frame if k == 1 else frame.repeat(k, 0).repeat(k, 1)


def _text(image: np.ndarray, xy: tuple[int, int], text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(image)
    ImageDraw.Draw(im).text(xy, text, fill=TEXT)
    return np.array(im)  # writable


def labelled_grid(rows: Sequence[tuple[str, Sequence]], header: Sequence[str] | None = None,
                  label_width: int = LABEL_W, scale: int = 1) -> np.ndarray:
    """Rows of frames (``(label, frames)``; ``None`` = empty cell) as one ``[H, W, 3]`` image:
    the label left of each row, ``header`` texts above the columns. Frames of a grid share a size;
    ``scale`` enlarges them (nearest neighbour)."""
    rows = [(label, [None if f is None else upscale(as_hwc(f), scale) for f in frames]) for label, frames in rows]
    cells = [f for _, frames in rows for f in frames if f is not None]
    if not cells:
        raise ValueError("labelled_grid: no frames")
    h, w = cells[0].shape[:2]
    cols = max(len(frames) for _, frames in rows)
    top = HEADER_H if header else 0
    out = np.full((top + len(rows) * (h + GAP), label_width + cols * (w + GAP), 3), BACKGROUND, np.uint8)
    for r, (label, frames) in enumerate(rows):
        y = top + r * (h + GAP)
        for c in range(cols):
            x = label_width + c * (w + GAP)
            f = frames[c] if c < len(frames) else None
            out[y : y + h, x : x + w] = EMPTY if f is None else as_hwc(f)
        out = _text(out, (2, y + h // 2 - 5), label)
    for c, text in enumerate(header or []):
        out = _text(out, (label_width + c * (w + GAP) + 1, 0), text)
    return out


def side_by_side(*frames, labels: Sequence[str] | None = None, scale: int = 1) -> np.ndarray:
    """Frames of equal size (``None``: empty) joined left to right, with ``labels`` above them;
    ``scale`` enlarges them (nearest neighbour)."""
    frames = tuple(None if f is None else upscale(as_hwc(f), scale) for f in frames)
    real = [f for f in frames if f is not None]
    h, w = real[0].shape[:2]
    top = HEADER_H if labels else 0
    out = np.full((top + h, len(frames) * (w + GAP) - GAP, 3), BACKGROUND, np.uint8)
    for i, f in enumerate(frames):
        out[top:, i * (w + GAP) : i * (w + GAP) + w] = EMPTY if f is None else as_hwc(f)
    for i, text in enumerate(labels or []):
        out = _text(out, (i * (w + GAP) + 1, 0), text)
    return out


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """``[H, W, 3]`` uint8 -> PNG (optimised: figures stay small)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path, optimize=True)
    return path


def write_animation(path: str | Path, frames: Sequence[np.ndarray], fps: float = 4.0) -> Path:
    """``[H, W, 3]`` uint8 frames -> ``.gif`` (Pillow, loops) or ``.mp4`` (H.264, PyAV) by suffix."""
    path = Path(path)
    a = np.stack([as_hwc(f) for f in frames])  # [T, H, W, 3]
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in a]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    elif suffix == ".mp4":
        h, w = a.shape[1:3]
        write_mp4(path, np.pad(a, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))), fps=fps)  # yuv420p: even sizes
    else:
        raise ValueError(f"{path}: unknown animation suffix {suffix!r}; use .gif or .mp4")
    return path
