"""Datasets and the order clips are consumed in, identical for any number of processes.

``build_datasets(cfg) -> (train, val)`` picks the source by ``cfg.data.source``. One epoch is a
seeded permutation of the training set (seed, epoch), cut to whole global batches; position p of
it goes to process ``p % world_size``. So optimizer step s always consumes positions
``[s * batch, (s + 1) * batch)`` of its epoch, whatever the number of processes or accumulation
steps, and a resumed run skips exactly the clips already consumed (``samples_in_epoch``).
"""

from __future__ import annotations

import filecmp
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from vjepa_ac.config import ConfigError
from vjepa_ac.data.clips import ClipDataset
from vjepa_ac.data.features import FeatureCache, FeatureClipDataset
from vjepa_ac.data.index import DatasetIndex, build_index
from vjepa_ac.train.config import TrainConfig
from vjepa_ac.train.synthetic_clips import SyntheticClips

log = logging.getLogger("vjepa_ac.train")


def build_datasets(cfg: TrainConfig, report_dir: Path | None = None) -> tuple[Dataset, Dataset | None]:
    """(train, held-out) clip datasets of ``cfg.data``; held-out is None without validation episodes.

    ``video``: index the raw episodes (writing ``index_report.json`` into ``report_dir``), split
    by episode, ``ClipDataset`` (frames; the encoder runs in the loop). ``features``: the cache's
    episodes, split the same way, ``FeatureClipDataset`` (``z`` kept in its stored precision on
    the way to the device). ``synthetic``: ``SyntheticClips``.
    """
    data = cfg.data
    if data.source == "synthetic":
        enc, pred = cfg.model.encoder, cfg.model.predictor
        args = (data.frames_per_clip, enc.img_size, pred.tokens_per_frame, pred.embed_dim)
        return SyntheticClips(data.synthetic, "train", *args), SyntheticClips(data.synthetic, "val", *args)
    split = (data.dataset.val_fraction, data.dataset.split_seed)
    if data.source == "video":
        index = index_once(data)
        if report_dir is not None:
            index.write_report(report_dir / "index_report.json")
        train, val = index.split(*split)
        return ClipDataset(train.episodes, data.clips), ClipDataset(
            val.episodes, data.clips
        ) if val.episodes else None
    cache = FeatureCache(data.feature_cache)
    check_cache(cache, cfg)
    train_entries, val_entries = cache.split(*split)
    train_set = FeatureClipDataset(cache, data.clips, train_entries, z_dtype=None)
    return train_set, FeatureClipDataset(
        cache, data.clips, val_entries, z_dtype=None
    ) if val_entries else None


def index_once(data) -> DatasetIndex:
    """``build_index`` on rank 0 only (reading every episode's arrays once, not once per GPU),
    sent to the other processes."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return build_index(data.dataset, data.clips)
    box = [build_index(data.dataset, data.clips) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_cache(cache: FeatureCache, cfg: TrainConfig) -> None:
    """The cache's features fit the predictor (width D and tokens per frame N)."""
    pred = cfg.model.predictor
    if (cache.width, cache.tokens_per_frame) != (pred.embed_dim, pred.tokens_per_frame):
        raise ConfigError(
            f"{cache.root}: features of width {cache.width} with {cache.tokens_per_frame} tokens per "
            f"frame, but model.predictor expects embed_dim {pred.embed_dim} and "
            f"{pred.tokens_per_frame} tokens per frame (img_size {tuple(pred.img_size)})"
        )
    encoder = cache.manifest.get("encoder", {})
    if not _same_file(encoder.get("checkpoint"), cfg.model.encoder_checkpoint):
        log.warning(
            "feature cache %s was encoded with %r, the config names %r",
            cache.root,
            encoder.get("checkpoint"),
            cfg.model.encoder_checkpoint,
        )


def _same_file(a: str | None, b: str | None) -> bool:
    """Whether two checkpoint paths name the same file (one may be relative, as the main job's
    encode stage records it, the other absolute), or equal ones."""
    if a == b:
        return True
    if not a or not b:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve() or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


class EpochShardSampler(Sampler[int]):
    """This process's indices of one epoch from global position ``start`` on (see module doc)."""

    def __init__(self, n_items: int, *, global_batch: int, rank: int, world_size: int, seed: int):
        if n_items < global_batch:
            raise ValueError(
                f"the training set has {n_items} clips, fewer than one global batch ({global_batch})"
            )
        self.n_items, self.global_batch = n_items, global_batch
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0
        self.start = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.n_items // self.global_batch

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        if start % self.world_size:
            raise ValueError(f"start {start} is not a multiple of the world size {self.world_size}")
        self.epoch, self.start = int(epoch), int(start)

    def order(self) -> np.ndarray:
        """All positions of the epoch: a permutation cut to whole global batches."""
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n_items)
        return perm[: self.steps_per_epoch * self.global_batch]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start + self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return (self.steps_per_epoch * self.global_batch - self.start) // self.world_size


@dataclass
class DataPosition:
    epoch: int = 0
    samples_in_epoch: int = 0  # clips of the epoch consumed by all processes together


class BatchStream:
    """Endless micro-batches of this process, epoch after epoch; ``position`` is what a checkpoint stores."""

    def __init__(
        self,
        dataset: Dataset,
        sampler: EpochShardSampler,
        *,
        micro_batch: int,
        accumulation: int,
        num_workers: int,
        prefetch_factor: int,
        pin_memory: bool,
        position: DataPosition,
    ):
        self.dataset, self.sampler = dataset, sampler
        self.micro_batch, self.accumulation = micro_batch, accumulation
        self.loader_kwargs = dict(
            num_workers=num_workers,
            pin_memory=pin_memory,
            prefetch_factor=prefetch_factor if num_workers else None,
        )
        self.position = DataPosition(position.epoch, position.samples_in_epoch)
        self._it: Iterator | None = None

    def _open_epoch(self) -> None:
        epoch, start = self.position.epoch, self.position.samples_in_epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)  # fresh (non-persistent) workers copy the dataset per epoch
        self.sampler.set_epoch(epoch, start)
        loader = DataLoader(
            self.dataset,
            batch_size=self.micro_batch,
            sampler=self.sampler,
            drop_last=True,
            generator=torch.Generator().manual_seed(self.sampler.seed * 1_000_003 + epoch),
            **self.loader_kwargs,
        )
        self._it = iter(loader)

    def next_step(self) -> list[dict]:
        """The ``accumulation`` micro-batches of the next optimizer step."""
        global_batch = self.sampler.global_batch
        if self.position.samples_in_epoch >= self.sampler.steps_per_epoch * global_batch:
            self.position = DataPosition(self.position.epoch + 1, 0)
            self._it = None
        if self._it is None:
            self._open_epoch()
        batches = [next(self._it) for _ in range(self.accumulation)]
        self.position.samples_in_epoch += global_batch
        return batches


def val_batches(
    dataset: Dataset, *, max_clips: int, micro_batch: int, rank: int, world_size: int, num_workers: int = 0
) -> DataLoader:
    """This process's share (every world_size-th clip) of the first ``max_clips`` held-out clips."""
    indices = list(range(min(len(dataset), max_clips)))[rank::world_size]
    return DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=micro_batch,
        shuffle=False,
        num_workers=num_workers,
    )
