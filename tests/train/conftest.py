"""Tiny training configs for the train tests (seconds on one CPU core)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vjepa_ac.config import load_config
from vjepa_ac.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]

# 32 px frames, 2 x 2 tokens per frame, 4 frames per clip, 6 optimizer steps
TINY = [
    "model.encoder.img_size=32",
    "model.encoder.patch_size=16",
    "model.encoder.embed_dim=32",
    "model.encoder.depth=1",
    "model.encoder.num_heads=2",
    "model.encoder.mlp_ratio=2.0",
    "model.predictor.img_size=[32,32]",
    "model.predictor.patch_size=16",
    "model.predictor.embed_dim=32",
    "model.predictor.width=32",
    "model.predictor.depth=2",
    "model.predictor.num_heads=2",
    "data.source=synthetic",
    "data.num_workers=0",
    "data.synthetic.train_clips=16",
    "data.synthetic.val_clips=4",
    "data.clips.frames_per_clip=4",
    "data.clips.resolution=32",
    "data.synthetic.vary_with_epoch=true",
    "optim.warmup=2",
    "optim.constant=2",
    "optim.anneal=2",
    "optim.start_lr=1e-3",
    "optim.peak_lr=3e-3",
    "batch_size=4",
    "micro_batch_size=2",
    "rollout_steps=2",
    "val_every=0",
    "ckpt_every=3",
    "keep_last=5",
    "tensorboard=false",
    "progress_bar=false",
    "export=false",
    "device=cpu",
]


def tiny_overrides(run_dir: Path, *extra: str) -> list[str]:
    return [*TINY, f"run_dir={run_dir}", *extra]


def tiny_config(run_dir: Path, *extra: str) -> TrainConfig:
    return load_config(TrainConfig, None, tiny_overrides(run_dir, *extra))


@pytest.fixture
def tiny(tmp_path):
    """``tiny(*overrides, name="run")`` -> a TrainConfig writing into tmp_path/name."""

    def make(*extra: str, name: str = "run") -> TrainConfig:
        return tiny_config(tmp_path / name, *extra)

    return make


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    """tests/conftest.py's ``one_thread`` for every test here (and in modules that import this one)."""
    yield
