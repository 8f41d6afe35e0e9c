"""The V-JEPA 2 video ViT and the per-frame encoding V-JEPA 2-AC uses.

Architecture (REFERENCE.md section 1): a 3D patch embedding ``Conv3d(3, D, (2,16,16), stride
(2,16,16))``, no absolute position embedding, 3D RoPE in every attention layer, pre-norm blocks
(LayerNorm eps 1e-6, qkv bias, GELU MLP) and a final LayerNorm. Parameter names match the
released checkpoints (``patch_embed.proj``, ``blocks.{i}...``, ``norm``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vjepa_ac.config import ConfigError, require
from vjepa_ac.models.blocks import Block, init_vit_weights
from vjepa_ac.models.patch_grid import PatchGrid
from vjepa_ac.models.rope import grid_positions, rope_table

# Named sizes: width, depth, heads, MLP ratio. ViT-L/H/g are the released V-JEPA 2 encoders.
ENCODER_PRESETS: dict[str, dict] = {
    "vit_tiny": dict(embed_dim=192, depth=12, num_heads=3, mlp_ratio=4.0),
    "vit_small": dict(embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0),
    "vit_base": dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0),
    "vit_large": dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0),
    "vit_huge": dict(embed_dim=1280, depth=32, num_heads=16, mlp_ratio=4.0),
    "vit_giant": dict(embed_dim=1408, depth=40, num_heads=22, mlp_ratio=48 / 11),
}


@dataclass
class EncoderConfig(PatchGrid):
    """V-JEPA 2 ViT. ``preset`` fills width/depth/heads/mlp_ratio; explicit fields must agree."""

    # px: the input size the encoder is used at, a square side or (height, width) like the public
    # VisionTransformer's img_size; a square (H, H) is stored as H. The forward pass takes any
    # size that tiles into patches (RoPE positions follow the input's grid).
    img_size: int | tuple[int, int] = 256
    patch_size: int = 16  # px
    tubelet_size: int = 2  # frames per temporal patch
    embed_dim: int = 1024  # D
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    rope_interleaved: bool = False  # False = the released "concatenated twice" RoPE tables
    activation_checkpointing: bool = False

    def __post_init__(self):
        self._normalize_img_size()
        for key in ("patch_size", "embed_dim", "depth", "num_heads", "tubelet_size"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require(self, "img_size", min(self.size_hw) >= 1, ">= 1 px")
        require(self, "mlp_ratio", 0 < self.mlp_ratio < 1e3, "in (0, 1000)")
        require(self, "norm_eps", 0 < self.norm_eps < 1, "in (0, 1)")
        self._require_whole_patches()
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}", key="embed_dim")

    @classmethod
    def preset(cls, name: str, **overrides) -> "EncoderConfig":
        if name not in ENCODER_PRESETS:
            raise ValueError(f"unknown encoder preset {name!r}; choose from {sorted(ENCODER_PRESETS)}")
        return cls(**{**ENCODER_PRESETS[name], **overrides})

    @property
    def grid(self) -> int:
        """Patches per side (16 at 256 px); square sizes only (use ``grid_hw`` otherwise)."""
        gh, gw = self.grid_hw
        if gh != gw:
            raise ValueError(f"img_size {self.img_size} is not square: use grid_hw {self.grid_hw}")
        return gh


class PatchEmbed3D(nn.Module):
    def __init__(self, dim: int, patch_size: int, tubelet_size: int, in_chans: int = 3):
        super().__init__()
        k = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=k, stride=k)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, T, H, W] -> [B, T/tubelet * H/p * W/p, D] in (t, h, w) raster order."""
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """V-JEPA 2 video encoder. ``forward(clip [B, C, T, H, W]) -> [B, T/2 * H/16 * W/16, D]``."""

    def __init__(self, cfg: EncoderConfig, device: torch.device | str | None = None):
        super().__init__()
        self.cfg = cfg
        self.embed_dim = cfg.embed_dim
        with torch.device(device or "cpu"):
            self.patch_embed = PatchEmbed3D(cfg.embed_dim, cfg.patch_size, cfg.tubelet_size)
            self.blocks = nn.ModuleList(
                Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.depth)
            )
            self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        if str(device) != "meta":
            init_vit_weights(self, self.blocks)
        self._rope_cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def token_grid(self, clip: Tensor) -> tuple[int, int, int]:
        """(t, h, w) token grid of ``clip [B, C, T, H, W]``; raises if the clip does not tile."""
        _, _, T, H, W = clip.shape
        p, tub = self.cfg.patch_size, self.cfg.tubelet_size
        if T % tub or H % p or W % p:
            raise ValueError(f"clip {tuple(clip.shape)} does not tile into tubelets {tub}x{p}x{p}")
        return T // tub, H // p, W // p

    def rope(self, t: int, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos/sin tables ``[t*h*w, head_dim]`` of a token grid in raster order (cached per shape)."""
        key = (t, h, w, device)
        if key not in self._rope_cache:
            frame, row, col = grid_positions(t, h, w, device)
            head_dim = self.cfg.embed_dim // self.cfg.num_heads
            self._rope_cache[key] = rope_table(head_dim, frame, row, col, self.cfg.rope_interleaved)
        return self._rope_cache[key]

    def forward(self, clip: Tensor) -> Tensor:
        """clip: [B, C, T, H, W] normalised pixels -> tokens [B, T/tubelet * H/p * W/p, D]."""
        grid = self.token_grid(clip)
        x = self.patch_embed(clip)  # [B, L, D]
        cos, sin = self.rope(*grid, x.device)
        for blk in self.blocks:
            if self.cfg.activation_checkpointing and self.training and torch.is_grad_enabled():
                x, _ = checkpoint(blk, x, cos, sin, use_reentrant=False)
            else:
                x, _ = blk(x, cos, sin)
        return self.norm(x)


def encode_per_frame(encoder: VisionTransformer, clip: Tensor, max_frames_per_batch: int | None = None) -> Tensor:
    """The V-JEPA 2-AC per-frame encoding. clip: [B, C, T, H, W] -> [B, T*N, D].

    Each frame is repeated along time to fill one tubelet and encoded on its own, so frame t's
    tokens never see other frames. ``max_frames_per_batch`` bounds memory for long clips.
    """
    B, C, T, H, W = clip.shape
    frames = clip.permute(0, 2, 1, 3, 4).flatten(0, 1)  # [B*T, C, H, W]
    tub = encoder.cfg.tubelet_size
    chunk = max_frames_per_batch or frames.shape[0]
    outs = []
    for i in range(0, frames.shape[0], chunk):
        f = frames[i : i + chunk].unsqueeze(2).expand(-1, -1, tub, -1, -1)  # [b, C, tubelet, H, W]
        outs.append(encoder(f))  # [b, N, D]
    tokens = torch.cat(outs, dim=0)  # [B*T, N, D]
    return tokens.reshape(B, T * tokens.shape[1], tokens.shape[2])  # [B, T*N, D]


class FrameEncoder(nn.Module):
    """Frozen AC encoder: eval mode, no gradients, per-frame encoding.

    ``forward(clip [B, C, T, H, W]) -> [B, T*N, D]`` raw encoder features (not layer-normed;
    the losses and the world model apply ``normalize_reps`` themselves).
    """

    def __init__(self, vit: VisionTransformer, max_frames_per_batch: int | None = 64):
        super().__init__()
        self.vit = vit.eval()
        self.vit.requires_grad_(False)
        self.max_frames_per_batch = max_frames_per_batch

    @property
    def cfg(self) -> EncoderConfig:
        return self.vit.cfg

    def train(self, mode: bool = True) -> "FrameEncoder":
        # frozen: stays in eval mode whatever the caller's mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, clip: Tensor) -> Tensor:
        return encode_per_frame(self.vit, clip, self.max_frames_per_batch)

    def encode_frames(self, frames: Tensor) -> Tensor:
        """frames: [B, T, C, H, W] (the clip datasets' layout) -> [B, T*N, D]."""
        return self(frames.transpose(1, 2))


def build_encoder(cfg: EncoderConfig, device: torch.device | str | None = None) -> VisionTransformer:
    return VisionTransformer(replace(cfg), device=device)
