"""The V-JEPA objective around the project's ``VisionTransformer``.

- ``encode_tokens(vit, clip, keep)``: the encoder's own modules (``patch_embed``, ``blocks``,
  ``norm``, its cached ``rope`` tables) run on the tokens ``keep`` selects, each with its RoPE
  position; with ``keep=None`` it equals ``vit(clip)`` exactly (tested).
- ``JEPAPredictor``: a narrow transformer (``models.blocks.Block`` + the shared 3D RoPE) that
  takes the context tokens and one learned mask token per target position and predicts the
  target features there.
- ``JEPA``: online encoder + EMA target encoder + predictor; ``loss(clip, masks)`` is the L1
  distance between predictions and the layer-normed target features at the masked positions,
  averaged over the mask kinds (V-JEPA: ``mean(|z - h|)``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vjepa_ac.models.blocks import Block, init_vit_weights
from vjepa_ac.models.encoder import VisionTransformer
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.models.rope import grid_positions, rope_table
from vjepa_ac.pretrain.masks import Masks


def grid_rope(head_dim: int, grid: tuple[int, int, int], interleaved: bool, device) -> tuple[Tensor, Tensor]:
    """cos/sin tables of a whole ``(t, h, w)`` grid in raster order: ``[L, head_dim]`` each."""
    frame, row, col = grid_positions(*grid, device=device)
    return rope_table(head_dim, frame, row, col, interleaved)


def gather_tokens(x: Tensor, idx: Tensor) -> Tensor:
    """x: [B, L, D], idx: [B, K] -> [B, K, D]."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def gather_rope(table: Tensor, idx: Tensor) -> Tensor:
    """table: [L, hd], idx: [B, K] -> [B, 1, K, hd] (broadcasts over heads in ``apply_rope``)."""
    return table[idx].unsqueeze(1)


def encode_tokens(vit: VisionTransformer, clip: Tensor, keep: Tensor | None = None) -> Tensor:
    """The encoder on a subset of its tokens. clip: [B, C, T, H, W]; keep: [B, K] token indices
    (raster order) or None for all -> [B, K, D] (after the final norm, like ``vit(clip)``)."""
    grid = vit.token_grid(clip)
    x = vit.patch_embed(clip)  # [B, L, D]
    cos, sin = vit.rope(*grid, x.device)  # [L, hd] each, the encoder's cached tables
    if keep is not None:
        x = gather_tokens(x, keep)  # [B, K, D]
        cos, sin = gather_rope(cos, keep), gather_rope(sin, keep)  # [B, 1, K, hd]
    for blk in vit.blocks:
        x, _ = blk(x, cos, sin)
    return vit.norm(x)


@dataclass
class JEPAPredictorConfig:
    """The narrow predictor of the pretraining objective (thrown away after pretraining)."""

    embed_dim: int = 192  # D of the encoder (input and output width)
    width: int = 96  # predictor width
    depth: int = 4
    num_heads: int = 3
    mlp_ratio: float = 4.0
    num_mask_kinds: int = 2  # one learned mask token per mask kind (V-JEPA)
    rope_interleaved: bool = False  # same RoPE tables as the encoder's default

    def __post_init__(self):
        if self.width % self.num_heads:
            raise ValueError(f"width {self.width} is not divisible by num_heads {self.num_heads}")
        if self.depth < 1 or self.num_mask_kinds < 1:
            raise ValueError("depth and num_mask_kinds must be >= 1")


class JEPAPredictor(nn.Module):
    """``forward(ctx [B, Kc, D], ctx_idx [B, Kc], tgt_idx [B, Kt], grid, kind) -> [B, Kt, D]``."""

    def __init__(self, cfg: JEPAPredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.embed_dim, cfg.width)
        self.mask_tokens = nn.Parameter(torch.zeros(cfg.num_mask_kinds, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.proj = nn.Linear(cfg.width, cfg.embed_dim)
        init_vit_weights(self, self.blocks)
        nn.init.trunc_normal_(self.mask_tokens, std=0.02)

    def forward(self, ctx: Tensor, ctx_idx: Tensor, tgt_idx: Tensor, grid: tuple[int, int, int],
                kind: int = 0) -> Tensor:
        B, Kc, _ = ctx.shape
        Kt = tgt_idx.shape[1]
        x = self.embed(ctx)  # [B, Kc, W]
        m = self.mask_tokens[kind].expand(B, Kt, -1)  # [B, Kt, W]
        x = torch.cat([x, m], dim=1)  # [B, Kc + Kt, W]
        idx = torch.cat([ctx_idx, tgt_idx], dim=1)  # [B, Kc + Kt]
        cos, sin = grid_rope(self.cfg.width // self.cfg.num_heads, grid, self.cfg.rope_interleaved, x.device)
        cos, sin = gather_rope(cos, idx), gather_rope(sin, idx)  # [B, 1, Kc + Kt, hd]
        for blk in self.blocks:
            x, _ = blk(x, cos, sin)
        return self.proj(self.norm(x[:, Kc:]))  # [B, Kt, D]


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, parameter by parameter."""
    t_params, o_params = list(target.parameters()), list(online.parameters())
    torch._foreach_mul_(t_params, momentum)
    torch._foreach_add_(t_params, o_params, alpha=1.0 - momentum)


class JEPA(nn.Module):
    """Online encoder (trained), target encoder (EMA of it, no gradients) and predictor."""

    def __init__(self, encoder: VisionTransformer, predictor: JEPAPredictor):
        super().__init__()
        if predictor.cfg.embed_dim != encoder.cfg.embed_dim:
            raise ValueError(f"predictor embed_dim {predictor.cfg.embed_dim} != encoder {encoder.cfg.embed_dim}")
        self.encoder = encoder
        self.predictor = predictor
        self.target = copy.deepcopy(encoder).requires_grad_(False).eval()

    @torch.no_grad()
    def target_features(self, clip: Tensor) -> Tensor:
        """Layer-normed (no affine) target-encoder tokens of ``clip``: [B, L, D]."""
        return normalize_reps(self.target(clip))  # [B, L, D]

    def loss(self, clip: Tensor, masks: list[Masks]) -> tuple[Tensor, dict[str, float]]:
        """clip: [B, C, T, H, W]; one ``Masks`` per mask kind -> (mean L1 loss, detached stats)."""
        grid = self.encoder.token_grid(clip)
        h = self.target_features(clip)  # [B, L, D]
        losses = []
        stats: dict[str, float] = {}
        for kind, m in enumerate(masks):
            z = encode_tokens(self.encoder, clip, m.context)  # [B, Kc, D]
            pred = self.predictor(z, m.context, m.target, grid, kind)  # [B, Kt, D]
            tgt = gather_tokens(h, m.target)  # [B, Kt, D]
            losses.append((pred - tgt).abs().mean())
            stats[f"loss_{kind}"] = losses[-1].item()
            stats[f"context_{kind}"] = m.context.shape[1]
            stats[f"target_{kind}"] = m.target.shape[1]
        # collapse check: std over the batch of each token's target features (0 = collapsed)
        stats["target_std"] = h.std(0).mean().item()
        loss = torch.stack(losses).mean()
        stats["loss"] = loss.item()
        return loss, stats
