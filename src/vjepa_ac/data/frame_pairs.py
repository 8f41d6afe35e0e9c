"""Pairs of (cached encoder features, the frame they encode): the frame decoder's training data.

A feature cache (``data/features.py``) holds ``z [K, N, D]`` for each episode's grid frames and
the episode rows they came from; the frames are in the episode's video. ``read_pairs`` decodes
those rows from the dataset the cache was made from (``DataConfig``: the same episodes
``vjepa-ac encode`` read, matched by ``features.episode_stem``) and applies the cache's own crop
and resize, so ``frames[i]`` is exactly the encoder's input for ``z[i]``. Everything is held in
memory (a 64 px frame is 12 KiB): subsample with ``every`` and ``max_episodes`` for large caches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from vjepa_ac.data.clips import ClipConfig
from vjepa_ac.data.episode import Episode
from vjepa_ac.data.features import CachedEpisode, FeatureCache, episode_stem
from vjepa_ac.data.index import DataConfig, build_index
from vjepa_ac.data.transforms import crop_and_resize
from vjepa_ac.data.video import VideoDecodeError

log = logging.getLogger(__name__)


@dataclass
class FramePairs:
    """z: [M, N, D] float16 cached features; frames: [M, 3, R, R] uint8 (the encoder's inputs);
    episode: [M] index into ``episode_ids``; position: [M] grid position within the episode."""

    z: torch.Tensor
    frames: torch.Tensor
    episode: torch.Tensor
    position: torch.Tensor
    episode_ids: list[str]

    def __len__(self) -> int:
        return self.z.shape[0]


def cache_clip_config(cache: FeatureCache) -> ClipConfig:
    """The clip settings the cache was made with (rate, sampling, crop, resolution, antialias)."""
    m = cache.manifest
    return ClipConfig(frames_per_clip=2, fps=m["fps"], sampling=m["sampling"], max_time_error=m["max_time_error"],
                      starts="grid", crop=m["crop"], resolution=m["resolution"], antialias=m["antialias"])


def source_episodes(cache: FeatureCache, data: DataConfig) -> dict[str, Episode]:
    """The dataset's episodes by cache stem (``episode_stem``); the cache's must all be found."""
    index = build_index(data, cache_clip_config(cache))
    found = {episode_stem(ep): ep for ep in index.episodes}
    missing = [c.path.stem for c in cache.entries if c.path.stem not in found]
    if missing:
        raise ValueError(f"{cache.root}: {len(missing)} cached episodes are not in the dataset {data.describe()} "
                         f"(first: {missing[0]}); give the dataset the cache was encoded from")
    return found


def read_pairs(cache: FeatureCache, data: DataConfig, entries: Sequence[CachedEpisode] | None = None, *,
               every: int = 1, max_episodes: int = 0) -> FramePairs:
    """Features and frames of every ``every``-th valid grid frame of ``entries`` (default: all;
    at most ``max_episodes`` of them, 0: no limit). An episode whose video cannot be decoded is
    skipped with a warning naming it. Raises ``ValueError`` when nothing is left."""
    if every < 1 or max_episodes < 0:
        raise ValueError(f"read_pairs: every >= 1 and max_episodes >= 0, got {every}, {max_episodes}")
    entries = list(cache.entries if entries is None else entries)
    if max_episodes:
        entries = entries[:max_episodes]
    clips = cache_clip_config(cache)
    episodes = source_episodes(cache, data)
    zs, frames, ep_index, positions, ids = [], [], [], [], []
    for entry in entries:
        positions_e = np.flatnonzero(entry.valid)[::every]
        if positions_e.size == 0:
            continue
        try:
            raw = episodes[entry.path.stem].read_frames(entry.rows[positions_e])
        except VideoDecodeError as e:
            log.warning("frames not read, episode skipped: %s", e)
            continue
        frames.append(crop_and_resize(raw, clips.crop, clips.resolution, clips.antialias))  # [k, 3, R, R]
        zs.append(cache.features(entry, positions_e, dtype=torch.float16))  # [k, N, D]
        ep_index.append(torch.full((positions_e.size,), len(ids), dtype=torch.int64))
        positions.append(torch.from_numpy(positions_e.astype(np.int64)))
        ids.append(entry.episode.episode_id)
    if not zs:
        raise ValueError(f"{cache.root}: no frames read for the decoder (no valid grid frames, or no readable video)")
    return FramePairs(torch.cat(zs), torch.cat(frames), torch.cat(ep_index), torch.cat(positions), ids)
