"""Feature cache: the on-disk format of the frozen encoder's features, and its readers.

The encoder is frozen and the crop deterministic, so the encoder's output for a frame never
changes. The encode job (``vjepa_ac.encode.encode_dataset``, ``vjepa-ac encode``) runs it over
each usable episode at the clip rate, on the episode's fixed frame grid (``clips.frame_grid``:
every ``stride``-th row in ``container_stride`` mode, the rows nearest to ``k / fps`` s in
``timestamps`` mode), and writes, with the helpers of this module::

    <output>/manifest.json              settings (encoder + weights sha256, crop, fps, sampling,
                                        dtype, N, D), the episode list, complete: true|false
    <output>/index_report.json          usable and skipped episodes with reasons
    <output>/episodes/<stem>.npy        [K, N, D] float16 (bfloat16: stored as its int16 bits)
    <output>/episodes/<stem>.meta.npz   rows [K], valid [K], states [K, 7], timestamps [K], ...

Every file is written to a temporary name and renamed (``vjepa_ac.atomic``), the ``.meta.npz`` last, so a killed run
leaves only whole episodes; running again skips them (after checking the settings match).

``FeatureClipDataset`` serves clips of ``T`` consecutive grid frames with the same keys as
``ClipDataset`` but ``z [T, N, D]`` (float32) in place of ``frames``; with ``starts="grid"``
both datasets draw the same windows for the same (seed, epoch, index), so cached training
inputs equal encoding on the fly up to float16 rounding.

Like the rest of ``vjepa_ac.data`` this module imports no other subpackage: the job that runs
the encoder lives above ``data/`` and ``models/``, in ``vjepa_ac.encode``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vjepa_ac.atomic import atomic_open, atomic_write_json
from vjepa_ac.config import ConfigError
from vjepa_ac.data.clips import ClipConfig, WindowedEpisodes, epoch_and_index, grid_windows, item_rng
from vjepa_ac.data.episode import Episode
from vjepa_ac.data.index import validation_ids

CACHE_VERSION = 1
MANIFEST = "manifest.json"
EPISODES_DIR = "episodes"
# manifest keys that define the cached values: a resumed run must match them all
SETTING_KEYS = (
    "version",
    "encoder",
    "crop",
    "resolution",
    "antialias",
    "fps",
    "sampling",
    "max_time_error",
    "dtype",
    "storage_dtype",
    "tokens_per_frame",
    "width",
    "autocast",
)


# ----------------------------------------------------------------------------- writing


def episode_stem(ep: Episode) -> str:
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{ep.episode_id}__{ep.camera}")[:120]
    return f"{safe}-{hashlib.sha256(ep.key.encode()).hexdigest()[:8]}"

def write_features_file(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as f:
        np.lib.format.write_array(f, array)


def write_episode_meta(path: Path, ep: Episode, rows: np.ndarray, valid: np.ndarray) -> None:
    arrays = dict(
        rows=rows,
        valid=valid,
        states=ep.states[rows],
        timestamps=ep.timestamps[rows],
        episode_id=np.array(ep.episode_id),
        camera=np.array(ep.camera),
        source=np.array(ep.source),
        video_path=np.array(str(ep.video_path)),
        container_fps=np.array(ep.container_fps),
    )
    if ep.extrinsics is not None:
        arrays["extrinsics"] = ep.extrinsics[rows]
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def write_json(path: Path, obj: dict) -> None:
    atomic_write_json(path, obj)

def comparable_setting(key: str, value):
    """A setting as far as it decides the features: the encoder by its weights and architecture,
    not the path it was read from (a moved or copied work folder keeps its cache)."""
    if key == "encoder" and isinstance(value, dict):
        return {k: value.get(k) for k in ("config", "weights_sha256")}
    return value


def to_storage(z: torch.Tensor, dtype: str) -> np.ndarray:
    if dtype == "float16":
        return z.to(torch.float16).numpy()
    return z.to(torch.bfloat16).view(torch.int16).numpy()  # numpy has no bfloat16: keep its bits


def from_storage(a: np.ndarray, dtype: str) -> torch.Tensor:
    t = torch.from_numpy(np.array(a))  # a copy: memory maps are read-only
    return t if dtype == "float16" else t.view(torch.bfloat16)

# ----------------------------------------------------------------------------- reading


@dataclass
class CachedEpisode:
    episode: Episode  # arrays at the grid frames: states [K, 7], timestamps [K], extrinsics [K, 6]
    rows: np.ndarray  # [K] episode rows of the grid frames
    valid: np.ndarray  # [K] bool
    path: Path  # [K, N, D] .npy


class FeatureCache:
    """A finished cache folder: its manifest and episodes (in index order)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(
                f"no feature cache at {self.root} ({MANIFEST} missing); run vjepa-ac encode"
            )
        self.manifest = json.loads(path.read_text())
        if not self.manifest.get("complete"):
            raise ValueError(
                f"{path}: the cache is incomplete (interrupted?); run vjepa-ac encode again to finish it"
            )
        if self.manifest.get("version") != CACHE_VERSION:
            raise ValueError(
                f"{path}: cache version {self.manifest.get('version')}, this code reads {CACHE_VERSION}"
            )
        self.entries = [self._load(e["stem"]) for e in self.manifest["episodes"]]

    def _load(self, stem: str) -> CachedEpisode:
        with np.load(self.root / EPISODES_DIR / f"{stem}.meta.npz") as m:
            ep = Episode(
                episode_id=str(m["episode_id"]),
                camera=str(m["camera"]),
                source=str(m["source"]),
                video_path=Path(str(m["video_path"])),
                states=m["states"],
                timestamps=m["timestamps"],
                container_fps=float(m["container_fps"]),
                extrinsics=m["extrinsics"] if "extrinsics" in m else None,
            )
            return CachedEpisode(ep, m["rows"], m["valid"], self.root / EPISODES_DIR / f"{stem}.npy")

    @property
    def tokens_per_frame(self) -> int:
        return int(self.manifest["tokens_per_frame"])

    @property
    def width(self) -> int:
        return int(self.manifest["width"])

    def split(self, val_fraction: float, seed: int) -> tuple[list[CachedEpisode], list[CachedEpisode]]:
        """(train, val) entries, the same split as ``DatasetIndex.split`` of the source."""
        val_ids = validation_ids({c.episode.episode_id for c in self.entries}, val_fraction, seed)
        return (
            [c for c in self.entries if c.episode.episode_id not in val_ids],
            [c for c in self.entries if c.episode.episode_id in val_ids],
        )

    def features(
        self,
        entry: CachedEpisode,
        positions: np.ndarray | slice = slice(None),
        dtype: torch.dtype | None = torch.float32,
    ) -> torch.Tensor:
        """Grid frames ``positions`` of an episode, ``[len, N, D]`` (read through a memory map).

        dtype: float32 by default; None keeps the stored precision (float16 or bfloat16)."""
        arr = np.load(entry.path, mmap_mode="r")
        z = from_storage(arr[positions], self.manifest["dtype"])
        return z if dtype is None else z.to(dtype)


class FeatureClipDataset(WindowedEpisodes):
    """Clips of cached features. Items: ``z [T, N, D]`` float32 plus the ``ClipDataset`` keys
    (``states``, ``actions``, ``episode_id``, ``camera``, ``rows``, ``timestamps``, ``extrinsics``).

    ``cfg`` must describe the cached clips: ``starts="grid"`` and the cache's ``fps``, ``sampling``
    and ``max_time_error``; ``frames_per_clip`` is free. ``entries`` (default: all) selects episodes,
    e.g. one side of ``FeatureCache.split``. ``z_dtype=None`` returns ``z`` in the stored precision
    (float16 / bfloat16): half the bytes through DataLoader worker queues; cast on the device.
    """

    def __init__(
        self,
        cache: FeatureCache | str | Path,
        cfg: ClipConfig,
        entries: Sequence[CachedEpisode] | None = None,
        z_dtype: torch.dtype | None = torch.float32,
    ):
        self.cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
        self.z_dtype = z_dtype
        m = self.cache.manifest
        if cfg.starts != "grid":
            raise ConfigError("starts: the feature cache holds the fixed frame grid only; set starts=grid")
        for key in ("fps", "sampling", "max_time_error"):
            if getattr(cfg, key) != m[key]:
                raise ConfigError(
                    f"{key}: {getattr(cfg, key)!r} differs from the cache's {m[key]!r} "
                    f"({self.cache.root}); encode again with these settings"
                )
        self.entries = list(self.cache.entries if entries is None else entries)
        super().__init__([c.episode for c in self.entries], cfg)

    def windows(self, episode_number: int) -> np.ndarray:
        return grid_windows(self.entries[episode_number].valid, self.cfg.frames_per_clip)  # positions [W, T]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = epoch_and_index(key, self.epoch)
        e, positions = self.choose(item_rng(self.cfg.seed, epoch, index), index)
        entry = self.entries[e]
        item = self.targets(entry.episode, positions)
        item["rows"] = torch.from_numpy(entry.rows[positions].astype(np.int64))
        item["z"] = self.cache.features(entry, positions, self.z_dtype)  # [T, N, D]
        return item


# The encode job's public names were defined here until the job moved to ``vjepa_ac.encode``;
# code outside the project (user scripts, the field cases) still imports them from this module.
# They resolve on first access (PEP 562), so importing the cache format never loads the encoder
# and ``data/`` stays below ``models/`` (tests/test_layering.py holds this edge to this function).
MOVED_TO_ENCODE = ("EncodeConfig", "encode_dataset", "encode_frames", "load_cache_encoder", "weights_sha256")


def __getattr__(name: str):
    if name in MOVED_TO_ENCODE:
        from vjepa_ac import encode

        return getattr(encode, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
