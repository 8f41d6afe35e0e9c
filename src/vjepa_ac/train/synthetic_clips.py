"""In-memory synthetic clips with the keys of the real clip datasets (tests, benchmarks, smoke runs).

A clip is a smooth random walk of the 7-D state ``[xyz, euler, gripper]``; each frame shows a
coloured blob whose position follows x/y, size follows z and colour follows the gripper, so the
frames depend on the states and a predictor can learn something. Items::

    frames      [T, 3, R, R] uint8   (or, with ``features=True``, z [T, N, D] float32 random features)
    states      [T, 7] float32
    actions     [T-1, 7] float32     data.poses.states_to_actions(states)
    episode_id  str

Every item is a pure function of (seed, split, epoch, index), like the real datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vjepa_ac.config import require, require_seed
from vjepa_ac.data.poses import states_to_actions

SPLITS = {"train": 0, "val": 1}


@dataclass
class SyntheticConfig:
    """Sizes of the synthetic datasets (frames per clip come from data.clips, resolution and feature
    sizes from the model config)."""

    train_clips: int = 64  # items in the training set
    val_clips: int = 16  # items in the held-out set (other episodes)
    episodes: int = 16  # distinct episode ids per split
    features: bool = False  # yield cached-feature items (z [T, N, D]) instead of frames
    seed: int = 0
    vary_with_epoch: bool = False  # draw new clips every epoch (like random windows of real episodes)

    def __post_init__(self) -> None:
        for key in ("train_clips", "val_clips", "episodes"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require_seed(self, "seed")


def random_walk_states(rng: np.random.Generator, frames: int) -> np.ndarray:
    """[T, 7] smooth states: xyz in [-0.5, 0.5] m, small rotations, gripper in [0, 1]."""
    start = np.concatenate([rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.2, 0.2, 3), rng.uniform(0, 1, 1)])
    velocity = np.concatenate([rng.normal(0, 0.05, 3), rng.normal(0, 0.03, 3), rng.normal(0, 0.2, 1)])
    steps = np.arange(frames)[:, None]
    states = start + velocity * steps  # [T, 7]
    states[:, :3] = np.clip(states[:, :3], -0.5, 0.5)
    states[:, 6] = np.clip(states[:, 6], 0.0, 1.0)
    return states.astype(np.float32)


def render_blob(states: np.ndarray, resolution: int) -> np.ndarray:
    """[T, 3, R, R] uint8 frames of a blob that follows the states."""
    grid = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution - 0.5  # [R] in [-0.5, 0.5]
    cy = states[:, 1, None, None]  # [T, 1, 1]
    cx = states[:, 0, None, None]
    radius = 0.08 + 0.1 * (states[:, 2, None, None] + 0.5)
    blob = np.exp(
        -((grid[None, :, None] - cy) ** 2 + (grid[None, None, :] - cx) ** 2) / (2 * radius**2)
    )  # [T, R, R]
    grip = states[:, 6, None, None]
    rgb = np.stack([blob * (1 - grip), blob * grip, 0.3 + 0.2 * blob], axis=1)  # [T, 3, R, R]
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


class SyntheticClips(Dataset):
    """``len = n_clips``; item ``i`` comes from generator (seed, split, epoch if varying, i)."""

    def __init__(
        self,
        cfg: SyntheticConfig,
        split: str,
        frames_per_clip: int,
        resolution: int,
        tokens_per_frame: int,
        feature_dim: int,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        self.cfg = cfg
        self.split = split
        self.frames_per_clip = frames_per_clip
        self.resolution = resolution
        self.tokens_per_frame = tokens_per_frame
        self.feature_dim = feature_dim
        self.n_clips = cfg.train_clips if split == "train" else cfg.val_clips
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_clips

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.n_clips:
            raise IndexError(f"index {index} out of range for {self.n_clips} clips")
        epoch = self.epoch if self.cfg.vary_with_epoch else 0
        rng = np.random.default_rng([self.cfg.seed, SPLITS[self.split], epoch, index])
        T = self.frames_per_clip
        states = random_walk_states(rng, T)  # [T, 7]
        item = {
            "states": torch.from_numpy(states),
            "actions": torch.from_numpy(states_to_actions(states).astype(np.float32)),  # [T-1, 7]
            "episode_id": f"synthetic-{self.split}-{index % self.cfg.episodes:04d}",
        }
        if self.cfg.features:
            z = rng.standard_normal((T, self.tokens_per_frame, self.feature_dim), dtype=np.float32)
            item["z"] = torch.from_numpy(z)  # [T, N, D]
        else:
            item["frames"] = torch.from_numpy(render_blob(states, self.resolution))  # [T, 3, R, R]
        return item
