"""FlexAttention path for the block-causal predictor (keeps fused kernels on CUDA).

The block mask is described by a rule (query step >= key step), so nothing dense is
materialised; ``torch.compile`` turns ``flex_attention`` into a fused kernel.
"""

from __future__ import annotations

import torch
from torch.nn.attention.flex_attention import create_block_mask
from torch.nn.attention.flex_attention import flex_attention as _flex_attention

_compiled = None


def flex_attention(q, k, v, block_mask):
    """q, k, v: [B, heads, L, hd] -> [B, heads, L, hd] under ``block_mask``."""
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(_flex_attention, dynamic=False)
    return _compiled(q, k, v, block_mask=block_mask)


def block_causal_block_mask(steps: int, tokens_per_step: int, device: torch.device):
    """BlockMask where a query of step i attends to keys of steps <= i."""

    def mask_mod(b, h, q_idx, kv_idx):
        return q_idx // tokens_per_step >= kv_idx // tokens_per_step

    length = steps * tokens_per_step
    return create_block_mask(mask_mod, B=None, H=None, Q_LEN=length, KV_LEN=length, device=device)
