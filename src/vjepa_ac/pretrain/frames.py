"""Frames of a raw DROID dataset held in memory for pretraining and probing, and their crops.

``load_frames`` decodes every row of every usable episode stream once (the sim records at the
4 Hz clip rate, so every row is a clip frame; ``stride`` subsamples 15 Hz DROID), crops it
(``transforms.crop_box``, square by default) at its native size and keeps it as uint8, with the
states and the episode of each frame. ``cache`` stores the result as ``.npy`` + ``.npz`` so later
runs memory-map it. Model inputs are made per batch: ``resize`` is the deterministic pipeline
(equal to ``transforms.crop_and_resize`` on the same frames, tested), ``random_resized_crop``
the V-JEPA augmentation.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.droid import DroidConfig
from vjepa_ac.data.index import DataConfig, build_index, validation_ids
from vjepa_ac.data.transforms import crop_and_resize, resize_uint8

log = logging.getLogger(__name__)


@dataclass
class FrameSet:
    """N frames of many episodes, in episode order; ``store`` may be a shared memory map."""

    store: np.ndarray  # [M, 3, S, S] uint8, all frames of the source (M >= N)
    rows: np.ndarray  # [N] int64, this set's rows of ``store``
    states: np.ndarray  # [N, 7] float32: xyz (m), euler (rad), gripper
    episode: np.ndarray  # [N] int64, index into episode_ids
    episode_ids: list[str]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def resolution(self) -> int:
        return int(self.store.shape[-1])

    def frames(self, idx: np.ndarray | None = None) -> torch.Tensor:
        """uint8 ``[K, 3, S, S]`` of this set's frames ``idx`` (all when None)."""
        rows = self.rows if idx is None else self.rows[np.asarray(idx)]
        return torch.from_numpy(np.ascontiguousarray(self.store[rows]))

    def subset(self, episode_ids: set[str]) -> FrameSet:
        """The frames of the episodes in ``episode_ids`` (episode indices renumbered)."""
        keep_eps = [i for i, e in enumerate(self.episode_ids) if e in episode_ids]
        sel = np.flatnonzero(np.isin(self.episode, keep_eps))
        remap = np.full(len(self.episode_ids), -1, dtype=np.int64)
        remap[keep_eps] = np.arange(len(keep_eps))
        return FrameSet(self.store, self.rows[sel], self.states[sel], remap[self.episode[sel]],
                        [self.episode_ids[i] for i in keep_eps])

    def split(self, val_fraction: float, seed: int) -> tuple[FrameSet, FrameSet]:
        """(train, val) by episode, with the same ids ``DatasetIndex.split`` (and so the feature
        cache and the trainer) put on the validation side for the same fraction and seed."""
        val = validation_ids(self.episode_ids, val_fraction, seed)
        return self.subset(set(self.episode_ids) - val), self.subset(val)


def _settings(root: str, crop: str, stride: int) -> dict:
    return {"version": 1, "root": str(root), "crop": crop, "stride": stride}


def load_frames(root: str | Path, crop: str = "square", stride: int = 1, cache: str | Path | None = None,
                camera: str = "left_mp4_path") -> FrameSet:
    """Every ``stride``-th row of every usable episode under ``root``, cropped at native size.

    ``cache``: a folder; reused when its settings match, written otherwise.
    """
    settings = _settings(str(root), crop, stride)
    if cache is not None:
        cache = Path(cache)
        meta_path = cache / "frames_meta.npz"
        if meta_path.is_file():
            meta = np.load(meta_path, allow_pickle=False)
            if json.loads(str(meta["settings"])) == settings:
                store = np.load(cache / "frames.npy", mmap_mode="r")
                return FrameSet(store, np.arange(len(store)), meta["states"], meta["episode"],
                                [str(e) for e in meta["episode_ids"]])
            log.warning("%s: settings differ, rebuilding", cache)
    data = DataConfig(droid=DroidConfig(root=Path(root), camera_views=(camera,)))
    index = build_index(data, ClipConfig(frames_per_clip=2, sampling="timestamps"))
    frames, states, episode, ids = [], [], [], []
    for k, ep in enumerate(index.episodes):
        rows = np.arange(0, ep.n_frames, stride)
        raw = ep.read_frames(rows)  # [K, H, W, 3]
        side = min(raw.shape[1:3]) if crop == "square" else None
        frames.append(crop_and_resize(raw, crop, side or raw.shape[1]).numpy())  # [K, 3, S, S]
        states.append(ep.states[rows].astype(np.float32))
        episode.append(np.full(len(rows), k, dtype=np.int64))
        ids.append(ep.episode_id)
        if (k + 1) % 100 == 0:
            log.info("decoded %d / %d episodes", k + 1, len(index.episodes))
    store = np.concatenate(frames)
    out = FrameSet(store, np.arange(len(store)), np.concatenate(states), np.concatenate(episode), ids)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / "frames.npy", store)
        np.savez(cache / "frames_meta.npz", states=out.states, episode=out.episode,
                 episode_ids=np.array(ids), settings=json.dumps(settings))
    return out


def resize(frames: Tensor, size: int) -> Tensor:
    """Deterministic model input: uint8 ``[B, 3, S, S]`` -> uint8 ``[B, 3, size, size]``, bilinear
    without antialiasing and rounded, as ``transforms.crop_and_resize`` (the encode pipeline)."""
    return frames if frames.shape[-1] == size else resize_uint8(frames, size)


def random_resized_crop(frames: Tensor, size: int, scale: tuple[float, float], aspect: tuple[float, float],
                        g: torch.Generator) -> Tensor:
    """V-JEPA's augmentation: per sample a crop of area ``scale`` and ratio ``aspect`` (w / h) of
    uint8 ``[B, 3, S, S]``, resized to uint8 ``[B, 3, size, size]``."""
    B, _, H, W = frames.shape
    out = torch.empty(B, 3, size, size, dtype=torch.uint8)
    for i in range(B):
        area = H * W * (scale[0] + (scale[1] - scale[0]) * torch.rand((), generator=g).item())
        lo, hi = math.log(aspect[0]), math.log(aspect[1])
        ratio = math.exp(lo + (hi - lo) * torch.rand((), generator=g).item())
        w = min(W, max(1, round(math.sqrt(area * ratio))))
        h = min(H, max(1, round(math.sqrt(area / ratio))))
        top = int(torch.randint(0, H - h + 1, (), generator=g))
        left = int(torch.randint(0, W - w + 1, (), generator=g))
        out[i] = resize_uint8(frames[i : i + 1, :, top : top + h, left : left + w], size)[0]  # [3, size, size]
    return out
