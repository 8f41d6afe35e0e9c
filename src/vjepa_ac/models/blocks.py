"""Transformer pieces shared by the V-JEPA 2 encoder and the AC predictor (pre-norm ViT blocks).

Parameter names (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``)
match the released checkpoints, so their state dicts load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vjepa_ac.models.rope import apply_rope


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        # without autograd (planning) GELU overwrites fc1's output: one [.., hidden] buffer fewer in
        # cache, the same values; the backward needs the input, so training keeps the copy
        h = self.act(h) if h.requires_grad else torch.ops.aten.gelu_(h)
        return self.fc2(h)


def project_shared(linear: nn.Linear, x: Tensor, varying: Tensor) -> Tensor:
    """``linear(x)`` for x [B, L, C] whose tokens outside ``varying`` ([Lv] indices) are the same in
    every batch element: those are projected once (from element 0) and copied, the ``varying`` ones
    per element -> [B, L, out]. Planning's first step is such a batch: one current frame and state
    for every candidate action, so the first block projects the action token of each candidate
    and the other 17 tokens of a step once (the main job's predictor: 3.3 -> 0.5 ms per chunk of
    56 candidates; notes/performance.md, session 10). Differs from ``linear(x)`` at most by GEMM
    rounding across batch sizes (nothing at the main job's width)."""
    out = linear(x[:1]).expand(x.shape[0], -1, -1).clone()  # [B, L, out]
    return out.index_copy_(1, varying, linear(x.index_select(1, varying)))


class RoPEAttention(nn.Module):
    """Multi-head self-attention with rotary positions and an optional key/value prefix.

    Attention itself is ``F.scaled_dot_product_attention`` (or a FlexAttention block mask when
    one is given), so fused kernels are used where the device has them.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        attn_mask: Tensor | None = None,
        past_kv: tuple[Tensor, Tensor] | None = None,
        block_mask=None,
        queries: Tensor | None = None,
        varying: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: [B, L, C]; cos, sin: [L, head_dim]; attn_mask: [L, L_prev + L] bool (True = attend).

        past_kv: keys/values of earlier tokens, each [B, heads, L_prev, head_dim].
        queries: [Lq] indices into L of the tokens whose outputs are wanted (None: all); every
        token still gives its key and value. Not with ``block_mask``.
        varying: [Lv] indices into L of the only tokens that differ between batch elements (None:
        any may); the others are projected once (see ``project_shared``).
        Returns the output [B, Lq, C] and this layer's keys/values including the prefix.
        """
        B, L, C = x.shape
        qkv = self.qkv(x) if varying is None else project_shared(self.qkv, x, varying)
        qkv = qkv.unflatten(-1, (3, self.num_heads, self.head_dim))  # [B, L, 3, h, hd]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, h, L, hd]
        if queries is None:
            # queries and keys rotated in one call (one copy of both into [2, B, h, L, hd], fewer passes)
            q, k = apply_rope(torch.stack((q, k)), cos, sin).unbind(0)  # each [B, h, L, hd]
        else:
            if block_mask is not None:
                raise ValueError("queries= needs dense attention masks, not a FlexAttention block mask")
            k = apply_rope(k, cos, sin)
            q = apply_rope(q.index_select(2, queries), cos.index_select(-2, queries),
                           sin.index_select(-2, queries))  # [B, h, Lq, hd]
            attn_mask = None if attn_mask is None else attn_mask.index_select(0, queries)
        if past_kv is not None:
            k = torch.cat([past_kv[0], k], dim=2)  # [B, h, L_prev + L, hd]
            v = torch.cat([past_kv[1], v], dim=2)
        if block_mask is not None:
            from vjepa_ac.models.flex import flex_attention

            out = flex_attention(q, k, v, block_mask=block_mask)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [B, h, L, hd]
        out = out.transpose(1, 2).reshape(B, q.shape[2], C)  # [B, Lq, C]
        return self.proj(out), (k, v)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)); x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool = True, norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = RoPEAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        attn_mask: Tensor | None = None,
        past_kv: tuple[Tensor, Tensor] | None = None,
        block_mask=None,
        queries: Tensor | None = None,
        varying: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: [B, L, C] -> ([B, Lq, C], keys/values [B, h, L_prev + L, hd] each).

        ``queries`` ([Lq] indices into L, see ``RoPEAttention``) restricts the output to those
        tokens, so the attention output, the MLP and the residuals of the others are not computed
        (a last block whose other outputs are discarded). ``varying`` ([Lv] indices into L) says
        that only those tokens differ between batch elements; the query/key/value projection of
        the others is computed once."""
        a, kv = self.attn(self.norm1(x), cos, sin, attn_mask=attn_mask, past_kv=past_kv, block_mask=block_mask,
                          queries=queries, varying=varying)
        if queries is not None:
            x = x.index_select(1, queries)  # [B, Lq, C]
        x = x + a
        x = x + self.mlp(self.norm2(x))
        return x, kv


def init_vit_weights(module: nn.Module, blocks: nn.ModuleList, std: float = 0.02) -> None:
    """Truncated-normal Linear/Conv weights, zero biases, unit LayerNorms; then divide the
    attn.proj and mlp.fc2 weights of block i (1-based) by sqrt(2 i), as V-JEPA 2 does."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for i, blk in enumerate(blocks, start=1):
            blk.attn.proj.weight.div_((2.0 * i) ** 0.5)
            blk.mlp.fc2.weight.div_((2.0 * i) ** 0.5)
