"""3D rotary position embeddings (RoPE) of V-JEPA 2, shared by the encoder and the AC predictor.

A head of ``head_dim`` channels is split from channel 0 into three segments of
``d = 2 * ((head_dim // 3) // 2)`` channels rotated by time, height and width positions; channels
beyond ``3 d`` are left as they are. Within a segment, adjacent pairs ``(x0, x1), (x2, x3), ...``
rotate as ``x * cos + rot(x) * sin`` with ``rot(x) = (-x1, x0, -x3, x2, ...)``.

The released weights were trained with a quirk that we reproduce by default: the ``d/2`` angles
are *concatenated twice* (``[a0..a_{d/2-1}, a0..a_{d/2-1}]``) instead of repeated per pair.
``interleaved=True`` gives the corrected form (each angle repeated for its pair) for new models.

Instead of rotating each segment separately, we build one ``cos``/``sin`` table over the whole
head (1 and 0 on unrotated channels), so applying RoPE is one multiply-add per tensor and the
table is computed once per sequence shape and shared by every layer. ``rotate_pairs`` reads each
pair ``(x0, x1)`` as the complex number ``x0 + i x1`` and multiplies it by ``i`` (a view, one
vectorised pass, exact: the products are with 0 and 1), where a ``flip`` or ``stack`` of the pairs
costs ~10x more on a CPU (notes/performance.md, session 9); dtypes without a complex counterpart
(bfloat16, float16) swap each pair with a ``flip`` and fold the sign into the (small) ``sin``
table. The attention applies it to queries and keys stacked, in one call.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROPE_BASE = 10000.0


def axis_dim(head_dim: int) -> int:
    """Channels rotated per axis (time, height, width): ``2 * ((head_dim // 3) // 2)``."""
    return 2 * ((head_dim // 3) // 2)


def axis_angles(pos: Tensor, d: int, interleaved: bool = False) -> Tensor:
    """Angles of one axis. pos: [L] float -> [L, d].

    ``omega_j = 1 / 10000^(j / (d/2))``; computed in float32 exactly as the released code does so
    that tables match it bit for bit.
    """
    omega = torch.arange(d // 2, dtype=torch.float32, device=pos.device)
    omega = omega / (d / 2.0)
    omega = 1.0 / ROPE_BASE**omega  # [d/2]
    angles = pos.to(torch.float32)[:, None] * omega[None, :]  # [L, d/2]
    if interleaved:
        return angles.repeat_interleave(2, dim=-1)  # [L, d]
    return torch.cat([angles, angles], dim=-1)  # [L, d], the released quirk


def rope_table(
    head_dim: int,
    time: Tensor,
    height: Tensor | None = None,
    width: Tensor | None = None,
    interleaved: bool = False,
) -> tuple[Tensor, Tensor]:
    """cos/sin tables over a whole head for L tokens. Positions: [L] each -> ([L, head_dim], [L, head_dim]).

    Tokens without a spatial position (action/state tokens) pass ``height=width=None``: only the
    time segment rotates, the rest of the head keeps cos=1, sin=0.
    """
    d = axis_dim(head_dim)
    length = time.shape[0]
    segments = [axis_angles(time, d, interleaved)]
    if height is not None and width is not None:
        segments += [axis_angles(height, d, interleaved), axis_angles(width, d, interleaved)]
    angles = torch.cat(segments, dim=-1)  # [L, k*d]
    cos, sin = angles.cos(), angles.sin()
    rest = head_dim - angles.shape[-1]
    if rest > 0:
        cos = torch.cat([cos, cos.new_ones(length, rest)], dim=-1)  # [L, head_dim]
        sin = torch.cat([sin, sin.new_zeros(length, rest)], dim=-1)
    return cos, sin


def complex_pairs(x: Tensor) -> Tensor | None:
    """x [..., 2k] as complex numbers ``x0 + i x1, ...`` [..., k] (a view), or None where a complex
    view is not possible or not wanted: dtypes without a complex counterpart (bfloat16, float16),
    odd strides, and under ``torch.compile`` (which fuses the plain form itself)."""
    if x.dtype not in (torch.float32, torch.float64) or torch.compiler.is_compiling():
        return None
    pairs = x.unflatten(-1, (-1, 2))
    if pairs.stride(-1) != 1 or pairs.storage_offset() % 2 or any(st % 2 for st in pairs.stride()[:-1]):
        return None
    return torch.view_as_complex(pairs)


def rotate_pairs(x: Tensor) -> Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...) along the last dim (even size).

    Where ``complex_pairs`` gives a view: each pair times ``i``, one vectorised pass and the same
    values (``-x1`` is ``0 * x0 - 1 * x1``); elsewhere unbind and stack."""
    z = complex_pairs(x)
    if z is not None:
        return _times_i(z)
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def _times_i(z: Tensor) -> Tensor:
    """Complex pairs [..., k] times i, back as real channels [..., 2k]."""
    return torch.view_as_real(z * 1j).flatten(-2)


def swap_pairs(x: Tensor) -> Tensor:
    """(x0, x1, x2, x3, ...) -> (x1, x0, x3, x2, ...) along the last dim (one copy)."""
    return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


def signed_sin(sin: Tensor) -> Tensor:
    """``sin`` with its even channels negated, so that ``rotate_pairs(x) * sin ==
    swap_pairs(x) * signed_sin(sin)`` exactly (a negation is exact in floating point)."""
    sign = torch.ones(2, dtype=sin.dtype, device=sin.device)
    sign[0] = -1.0
    return (sin.unflatten(-1, (-1, 2)) * sign).flatten(-2)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: [..., L, head_dim] (e.g. [B, heads, L, hd], or queries and keys stacked [2, B, heads, L, hd]);
    cos, sin: [L, head_dim] (or anything broadcasting to x) -> rotated x, same shape and dtype.

    ``x * cos + rotate_pairs(x) * sin`` (RoFormer, Su et al. 2021, eq. 34, with V-JEPA 2's tables).
    Without a complex view (bfloat16 under autocast, for one) it is computed as
    ``x * cos + swap_pairs(x) * signed_sin(sin)``: the same values, with the sign folded into the
    (small) table instead of a pass over x."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    z = complex_pairs(x)
    if z is None:
        return x * cos + swap_pairs(x) * signed_sin(sin)
    rotated = _times_i(z)
    if x.requires_grad:  # training: in-place ops on the view would add copy nodes to the backward
        return x * cos + rotated * sin
    # planning: in place on the fresh rotated copy, one temporary fewer, the same values (addition
    # commutes); 0.7x the time on a planning chunk (notes/performance.md, session 10)
    return rotated.mul_(sin).add_(x * cos)


def grid_positions(t: int, h: int, w: int, device: torch.device | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Positions of the tokens of a [t, h, w] grid in raster order -> three [t*h*w] float tensors."""
    ids = torch.arange(t * h * w, device=device)
    frame = ids // (h * w)
    row = (ids - frame * h * w) // w
    col = ids - frame * h * w - row * w
    return frame.float(), row.float(), col.float()
