"""A feed-forward frame decoder: frozen V-JEPA 2 features of one frame -> the frame's pixels.

The V-JEPA 2 paper (arXiv 2506.09985, App. B.3) trains such a decoder on frozen encoder features
to *look at* what the world model predicts: a ViT over the N tokens of a frame, trained with an
MSE loss on frames, AdamW and a cosine schedule. Here (``DecoderConfig``, ``FrameDecoder``)::

    z [B, N, D] --layer norm (no affine)--> Linear(D, width) --> depth x Block (2D RoPE over the
    token grid) --> LayerNorm --> Linear(width, p*p*3) --> unpatchify --> [B, 3, H, W] (0..1 px)

The input is layer-normed over D first (``normalize_reps``), so the decoder reads the cache's raw
encoder features, the world model's encoded frames and its predictions alike. It only looks: it
never feeds planning or the predictor's training. The decoder file (``save_decoder`` /
``load_decoder``) carries its config and how its frames were made (crop, resolution, the encoder's
config and weights hash), so a reader can check it belongs to a world model's encoder.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vjepa_ac.atomic import atomic_open
from vjepa_ac.config import ConfigError, require
from vjepa_ac.models.blocks import Block, init_vit_weights
from vjepa_ac.models.patch_grid import PatchGrid
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.models.rope import grid_positions, rope_table

DECODER_FORMAT = "vjepa_ac.decoder/1"


@dataclass
class DecoderConfig(PatchGrid):
    """The decoder's architecture; ``embed_dim``, ``img_size`` and ``patch_size`` are the encoder's."""

    embed_dim: int = 1024  # D of the features it reads (the encoder's width)
    img_size: int | tuple[int, int] = 256  # px of the encoder's input frames (side, or (height, width))
    patch_size: int = 16  # px per token side (the encoder's)
    width: int = 256  # the decoder's own width
    depth: int = 4  # transformer blocks
    num_heads: int = 4
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        self._normalize_img_size()
        for key in ("embed_dim", "patch_size", "width", "depth", "num_heads"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require(self, "mlp_ratio", 0 < self.mlp_ratio < 1e3, "in (0, 1000)")
        self._require_whole_patches()
        if self.width % self.num_heads:
            raise ConfigError(f"width {self.width} is not divisible by num_heads {self.num_heads}", key="width")

    @classmethod
    def for_encoder(cls, encoder_cfg: Any, **arch: Any) -> DecoderConfig:
        """The decoder of an ``EncoderConfig`` (its width, image size and patch size) with ``arch``
        (width, depth, num_heads, mlp_ratio) for the decoder itself."""
        return cls(embed_dim=encoder_cfg.embed_dim, img_size=encoder_cfg.img_size,
                   patch_size=encoder_cfg.patch_size, **arch)


class FrameDecoder(nn.Module):
    """``forward(z [B, N, D]) -> [B, 3, H, W]`` float pixels (trained toward 0..1, not clamped);
    ``decode(z)`` -> uint8 ``[B, 3, H, W]`` for pictures."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        p = cfg.patch_size
        self.embed = nn.Linear(cfg.embed_dim, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.head = nn.Linear(cfg.width, p * p * 3)
        init_vit_weights(self, self.blocks)
        nn.init.constant_(self.head.bias, 0.5)  # start from mid grey: the first MSE steps fit the mean colour
        gh, gw = cfg.grid_hw
        _, row, col = grid_positions(1, gh, gw)
        cos, sin = rope_table(cfg.width // cfg.num_heads, torch.zeros_like(row), row, col)  # [N, head_dim]
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        """z: [B, N, D] features of one frame each (raw or layer-normed) -> pixels [B, 3, H, W]."""
        B, N, D = z.shape
        if (N, D) != (self.cfg.tokens_per_frame, self.cfg.embed_dim):
            raise ValueError(f"decoder reads [B, {self.cfg.tokens_per_frame}, {self.cfg.embed_dim}] features, "
                             f"got {tuple(z.shape)}")
        x = self.embed(normalize_reps(z.float()))  # [B, N, width]
        for blk in self.blocks:
            x, _ = blk(x, self.rope_cos, self.rope_sin)
        x = self.head(self.norm(x))  # [B, N, p*p*3]
        return unpatchify(x, self.cfg.grid_hw, self.cfg.patch_size)

    @torch.no_grad()
    def decode(self, z: Tensor, batch: int = 64) -> Tensor:
        """z: [B, N, D] -> uint8 frames [B, 3, H, W] (clamped to 0..255), ``batch`` frames per call."""
        dev = next(self.parameters()).device
        outs = [self(c.to(dev)).clamp(0, 1).mul(255).round().to(torch.uint8).cpu() for c in z.split(batch)]
        return torch.cat(outs) if outs else torch.zeros(0, 3, *self.cfg.size_hw, dtype=torch.uint8)


def unpatchify(x: Tensor, grid_hw: tuple[int, int], patch_size: int) -> Tensor:
    """x: [B, gh*gw, p*p*3] in raster order (channels last within a patch) -> [B, 3, gh*p, gw*p]."""
    B = x.shape[0]
    gh, gw = grid_hw
    p = patch_size
    x = x.view(B, gh, gw, p, p, 3)  # [B, gh, gw, p, p, 3]
    return x.permute(0, 5, 1, 3, 2, 4).reshape(B, 3, gh * p, gw * p)  # [B, 3, H, W]


def patchify(frames: Tensor, patch_size: int) -> Tensor:
    """The inverse of ``unpatchify``: [B, 3, H, W] -> [B, (H/p)*(W/p), p*p*3]."""
    B, C, H, W = frames.shape
    p = patch_size
    x = frames.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)  # [B, gh, gw, p, p, 3]
    return x.reshape(B, (H // p) * (W // p), p * p * C)


# ------------------------------------------------------------------------------------ files


def save_decoder(decoder: FrameDecoder, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``{format, config, model, meta}`` atomically. ``meta``: how its frames were made
    (``crop``, ``resolution``, ``antialias``, ``encoder``: config + ``weights_sha256``) and its
    training summary; plain values only (read back with ``weights_only=True``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(format=DECODER_FORMAT, config=asdict(decoder.cfg),
                 model={k: v.detach().cpu() for k, v in decoder.state_dict().items()}, meta=meta)
    with atomic_open(path, "wb") as f:
        torch.save(state, f)
    return path


def load_decoder(path: str | Path, device: str | torch.device = "cpu") -> tuple[FrameDecoder, dict[str, Any]]:
    """A decoder file -> (``FrameDecoder`` in eval mode on ``device``, its ``meta``). Raises
    ``FileNotFoundError`` for a missing file, ``ValueError`` naming the file for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decoder not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a readable decoder file ({type(e).__name__}: {str(e)[:200]})") from e
    if not isinstance(state, dict) or state.get("format") != DECODER_FORMAT:
        raise ValueError(f"{path}: not a vjepa_ac decoder file (expected format {DECODER_FORMAT!r})")
    decoder = FrameDecoder(DecoderConfig(**state["config"]))
    decoder.load_state_dict(state["model"], strict=True)
    return decoder.eval().to(device), dict(state.get("meta") or {})
