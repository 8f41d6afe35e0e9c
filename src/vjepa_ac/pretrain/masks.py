"""Multi-block masks over a token grid (I-JEPA / V-JEPA ``MaskCollator``), as index tensors.

One ``MaskSpec`` gives, for each sample of a batch, a *target* set (the union of
``num_blocks`` rectangles of the ``h x w`` patch grid, the same rectangles in every tubelet, as
V-JEPA's temporal scale 1.0) and a *context* set (every other token). The block shape is drawn
once per batch, the positions per sample. Per-sample union sizes differ; on a 4x4 grid cutting
every sample to the batch minimum (I-JEPA) leaves ~2 targets, so the first sample fixes the
target count and the others are re-drawn / adjusted to it (``sample_masks``); a token dropped
from a target is in neither set.
Indices are in the encoder's raster order ``t * h * w + row * w + col``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class MaskSpec:
    """One kind of multi-block mask (V-JEPA uses a short-range and a long-range one)."""

    num_blocks: int = 4  # rectangles whose union is the target
    scale: tuple[float, float] = (0.15, 0.15)  # area of one rectangle, fraction of the h x w grid
    aspect: tuple[float, float] = (0.75, 1.5)  # rectangle height / width
    min_context: int = 2  # tokens per tubelet left visible at least (positions are re-drawn until so)

    def __post_init__(self):
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")
        if not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {self.scale}")
        if not 0.0 < self.aspect[0] <= self.aspect[1]:
            raise ValueError(f"aspect must satisfy 0 < lo <= hi, got {self.aspect}")
        if self.min_context < 1:
            raise ValueError(f"min_context must be >= 1, got {self.min_context}")


@dataclass
class Masks:
    """Token indices of one mask kind for a batch: ``context [B, Kc]``, ``target [B, Kt]`` (long)."""

    context: Tensor
    target: Tensor


def _uniform(lo: float, hi: float, g: torch.Generator) -> float:
    return lo + (hi - lo) * torch.rand((), generator=g).item()


def block_shape(spec: MaskSpec, h: int, w: int, g: torch.Generator) -> tuple[int, int]:
    """(rows, cols) of one rectangle: area ``scale * h * w`` and ratio ``aspect``, clipped to the grid."""
    area = _uniform(*spec.scale, g) * h * w
    ratio = math.exp(_uniform(math.log(spec.aspect[0]), math.log(spec.aspect[1]), g))
    rows = min(h, max(1, round(math.sqrt(area * ratio))))
    cols = min(w, max(1, round(math.sqrt(area / ratio))))
    return rows, cols


def block_union(h: int, w: int, rows: int, cols: int, num_blocks: int, g: torch.Generator) -> Tensor:
    """Bool ``[h, w]``: the union of ``num_blocks`` ``rows x cols`` rectangles at random positions."""
    masked = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(num_blocks):
        top = int(torch.randint(0, h - rows + 1, (), generator=g))
        left = int(torch.randint(0, w - cols + 1, (), generator=g))
        masked[top : top + rows, left : left + cols] = True
    return masked


def _draw_union(spec: MaskSpec, h: int, w: int, rows: int, cols: int, g: torch.Generator,
                max_tries: int, size: int | None = None) -> Tensor:
    """A block union leaving ``min_context`` visible; with ``size``, the draw closest to that size."""
    best = None
    for _ in range(max_tries):
        masked = block_union(h, w, rows, cols, spec.num_blocks, g)  # [h, w]
        if (~masked).sum() < spec.min_context:
            continue
        if size is None or int(masked.sum()) == size:
            return masked
        if best is None or abs(int(masked.sum()) - size) < abs(int(best.sum()) - size):
            best = masked
    if best is not None:
        return best
    masked = block_union(h, w, max(1, rows - 1), max(1, cols - 1), 1, g)  # blocks too large: one smaller
    if (~masked).sum() < spec.min_context:
        raise ValueError(f"cannot leave {spec.min_context} context tokens on a {h}x{w} grid")
    return masked


def sample_masks(spec: MaskSpec, batch: int, grid: tuple[int, int, int], g: torch.Generator,
                 max_tries: int = 20) -> Masks:
    """Context and target indices for ``batch`` samples on a ``(t, h, w)`` token grid.

    The first sample's union fixes the batch's target count k; each other sample re-draws its
    union until it has k tokens (``max_tries``), else takes the closest and drops random target
    tokens (they join neither set) or adds random context tokens to the target. The context is
    then cut to the batch's smallest count. The spatial mask repeats over the ``t`` tubelets.
    """
    t, h, w = grid
    if spec.min_context >= h * w:
        raise ValueError(f"min_context {spec.min_context} leaves nothing to mask on a {h}x{w} grid")
    rows, cols = block_shape(spec, h, w, g)
    targets, contexts = [], []
    k = None
    for _ in range(batch):
        masked = _draw_union(spec, h, w, rows, cols, g, max_tries, k).flatten()  # [h*w]
        tgt, ctx = masked.nonzero().flatten(), (~masked).nonzero().flatten()
        if k is None:
            k = len(tgt)
        if len(tgt) > k:  # drop random target tokens
            tgt = tgt[torch.randperm(len(tgt), generator=g)[:k].sort().values]
        elif len(tgt) < k:  # move random context tokens to the target
            perm, extra = torch.randperm(len(ctx), generator=g), k - len(tgt)
            tgt = torch.cat([tgt, ctx[perm[:extra]]]).sort().values
            ctx = ctx[perm[extra:]].sort().values
        targets.append(_over_time(tgt, t, h * w))
        contexts.append(_over_time(ctx, t, h * w))
    return Masks(context=_cut_to_min(contexts, g), target=torch.stack(targets))


def _over_time(idx: Tensor, t: int, per_frame: int) -> Tensor:
    """Spatial indices ``[K]`` -> the same positions in each of ``t`` tubelets ``[t*K]``."""
    return (idx[None, :] + per_frame * torch.arange(t)[:, None]).flatten()


def _cut_to_min(index_sets: list[Tensor], g: torch.Generator) -> Tensor:
    """Stack index sets into ``[B, K]`` with K the smallest size, keeping a random sorted subset."""
    k = min(len(s) for s in index_sets)
    out = []
    for s in index_sets:
        keep = torch.randperm(len(s), generator=g)[:k].sort().values
        out.append(s[keep])
    return torch.stack(out)  # [B, K]
