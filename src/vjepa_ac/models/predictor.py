"""The V-JEPA 2-AC action-conditioned predictor (REFERENCE.md section 3).

Each time step t contributes ``[action_t, state_t, (extrinsics_t), N patch tokens of frame t]``
to one sequence. Attention is block-causal: every token of step t sees all tokens of steps
<= t and none later, so the output at step t (the patch tokens only) predicts frame t+1.

Block-causality makes incremental decoding exact: the keys/values of earlier steps never change
when later steps are appended. ``forward`` builds the mask the current length needs (nothing
is allocated for a maximum length), and ``step`` predicts one more step from cached
keys/values, which planners use so that a horizon-H rollout costs H steps.

Parameter names match the released ``VisionTransformerPredictorAC``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vjepa_ac.config import require
from vjepa_ac.models.blocks import Block, init_vit_weights
from vjepa_ac.models.rope import grid_positions, rope_table

ACTION_DIM = 7  # [dxyz, droll/dpitch/dyaw, dgripper]
STATE_DIM = 7  # [xyz, euler xyz, gripper]
EXTRINSICS_DIM = 6  # camera pose [xyz, euler xyz]

PREDICTOR_PRESETS: dict[str, dict] = {
    "paper": dict(width=1024, depth=24, num_heads=16, mlp_ratio=4.0),  # ~300M
    "small": dict(width=384, depth=6, num_heads=6, mlp_ratio=4.0),
    "tiny": dict(width=192, depth=4, num_heads=3, mlp_ratio=4.0),
}


# LayerNorm eps of the released predictor, built by the public vit_ac_predictor factory: released
# weights, and runs saved before the eps was recorded, load at it.
RELEASED_NORM_EPS = 1e-6
# Default eps of new predictors: the public VisionTransformerPredictorAC class's own (nn.LayerNorm's
# 1e-5). It takes the eps only as a norm_layer callable, so an export is rebuilt by the bare class
# from its JSON kwargs only at this eps (docs/train.md). On the main job it trains as 1e-6 does
# (run Q, notes/performance.md: validation losses equal, held-out success within noise).
NORM_EPS = 1e-5


@dataclass
class PredictorConfig:
    """AC predictor. Defaults are the paper's predictor on ViT-g features at 256 px."""

    img_size: tuple[int, int] = (256, 256)  # px (height, width) of the encoded frames
    patch_size: int = 16  # px
    embed_dim: int = 1408  # D, encoder width (input and output)
    width: int = 1024  # predictor width
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    action_dim: int = ACTION_DIM  # also the state dimension, as released
    use_extrinsics: bool = False  # add one camera-pose token per step
    block_causal: bool = True  # False: every token sees every step (is_frame_causal=False)
    rope_interleaved: bool = False  # False = the released "concatenated twice" tables
    activation_checkpointing: bool = False
    attention: str = "sdpa"  # "sdpa" | "flex" (FlexAttention block mask; CUDA)
    # LayerNorm eps (1e-5: exports the bare public class rebuilds; the release's is 1e-6)
    norm_eps: float = NORM_EPS

    def __post_init__(self):
        self.img_size = tuple(self.img_size)
        for key in ("patch_size", "embed_dim", "width", "depth", "num_heads", "action_dim"):
            require(self, key, getattr(self, key) >= 1, ">= 1")
        require(self, "mlp_ratio", 0 < self.mlp_ratio < 1e3, "in (0, 1000)")
        require(self, "norm_eps", 0 < self.norm_eps < 1, "in (0, 1)")
        require(self, "img_size", len(self.img_size) == 2 and min(self.img_size) >= 1, "(height, width) >= 1 px")
        if any(s % self.patch_size for s in self.img_size):
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.width % self.num_heads:
            raise ValueError(f"width {self.width} is not divisible by num_heads {self.num_heads}")
        if self.attention not in ("sdpa", "flex"):
            raise ValueError(f"attention must be 'sdpa' or 'flex', got {self.attention!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "PredictorConfig":
        if name not in PREDICTOR_PRESETS:
            raise ValueError(f"unknown predictor preset {name!r}; choose from {sorted(PREDICTOR_PRESETS)}")
        return cls(**{**PREDICTOR_PRESETS[name], **overrides})

    @property
    def grid(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        """N, patch tokens per frame."""
        return self.grid[0] * self.grid[1]

    @property
    def cond_tokens(self) -> int:
        """Action, state (and extrinsics) tokens per step."""
        return 3 if self.use_extrinsics else 2


@dataclass
class KVCache:
    """Keys/values of the steps seen so far: per layer ``[B, heads, steps * tokens_per_step, hd]``."""

    keys: list[Tensor]
    values: list[Tensor]
    steps: int

    def expand(self, batch: int) -> "KVCache":
        """Repeat a batch-1 cache for ``batch`` candidates (views, no copy)."""
        if self.keys[0].shape[0] != 1:
            raise ValueError(f"can only expand a batch-1 cache, this one has batch {self.keys[0].shape[0]}")
        return KVCache(
            [k.expand(batch, -1, -1, -1) for k in self.keys], [v.expand(batch, -1, -1, -1) for v in self.values], self.steps
        )

    def truncate(self, steps: int) -> "KVCache":
        """The cache of the first ``steps`` steps (views)."""
        if steps > self.steps:
            raise ValueError(f"cache holds {self.steps} steps, asked for {steps}")
        n = self.keys[0].shape[2] // max(self.steps, 1) * steps
        return KVCache([k[:, :, :n] for k in self.keys], [v[:, :, :n] for v in self.values], steps)


def block_causal_mask(steps: int, tokens_per_step: int, device: torch.device | None = None) -> Tensor:
    """[L, L] bool with L = steps * tokens_per_step; True where query step >= key step."""
    step = torch.arange(steps * tokens_per_step, device=device) // tokens_per_step
    return step[:, None] >= step[None, :]


class ACPredictor(nn.Module):
    """Action-conditioned predictor.

    ``forward(z [B, T*N, D], actions [B, T, 7], states [B, T, 7], extrinsics [B, T, 6] | None)
    -> [B, T*N, D]``, the output for step t predicting frame t+1.
    """

    def __init__(self, cfg: PredictorConfig, device: torch.device | str | None = None):
        super().__init__()
        self.cfg = cfg
        with torch.device(device or "cpu"):
            self.predictor_embed = nn.Linear(cfg.embed_dim, cfg.width)
            self.action_encoder = nn.Linear(cfg.action_dim, cfg.width)
            self.state_encoder = nn.Linear(cfg.action_dim, cfg.width)
            # present in released state dicts whether used or not
            self.extrinsics_encoder = nn.Linear(EXTRINSICS_DIM, cfg.width)
            self.predictor_blocks = nn.ModuleList(
                Block(cfg.width, cfg.num_heads, cfg.mlp_ratio, qkv_bias=True, norm_eps=cfg.norm_eps) for _ in range(cfg.depth)
            )
            self.predictor_norm = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
            self.predictor_proj = nn.Linear(cfg.width, cfg.embed_dim)
        if str(device) != "meta":
            init_vit_weights(self, self.predictor_blocks)
        self._rope_cache: dict[tuple, tuple[Tensor, Tensor]] = {}
        self._mask_cache: dict[tuple, object] = {}
        self._patch_cache: dict[tuple, Tensor] = {}

    # ----------------------------------------------------------------------------------------
    # positions and masks, cached per shape

    def _rope(self, t0: int, steps: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """cos/sin [steps * tokens_per_step, head_dim] for steps t0 .. t0+steps-1."""
        key = (t0, steps, device)
        if key not in self._rope_cache:
            cfg = self.cfg
            gh, gw = cfg.grid
            frame, row, col = grid_positions(steps, gh, gw, device)
            # the released predictor rescales positions to its grid height: width by gh / gw
            col = col * (gh / gw)
            head_dim = cfg.width // cfg.num_heads
            cos_p, sin_p = rope_table(head_dim, frame + t0, row, col, cfg.rope_interleaved)
            t = torch.arange(t0, t0 + steps, device=device, dtype=torch.float32)
            cos_c, sin_c = rope_table(head_dim, t, interleaved=cfg.rope_interleaved)  # [steps, hd]
            n, c = cfg.tokens_per_frame, cfg.cond_tokens
            cos = torch.cat([cos_c[:, None].expand(-1, c, -1), cos_p.view(steps, n, -1)], dim=1)  # [steps, c+N, hd]
            sin = torch.cat([sin_c[:, None].expand(-1, c, -1), sin_p.view(steps, n, -1)], dim=1)
            if len(self._rope_cache) > 64:
                self._rope_cache.clear()
            self._rope_cache[key] = (cos.reshape(steps * (c + n), -1), sin.reshape(steps * (c + n), -1))
        return self._rope_cache[key]

    def _mask(self, steps: int, device: torch.device):
        """Block-causal mask for ``steps`` steps: a dense bool [L, L] for SDPA or a FlexAttention
        BlockMask; None when attention is not causal."""
        if not self.cfg.block_causal:
            return None
        key = (steps, device, self.cfg.attention)
        if key not in self._mask_cache:
            tps = self.cfg.cond_tokens + self.cfg.tokens_per_frame
            if self.cfg.attention == "flex":
                from vjepa_ac.models.flex import block_causal_block_mask

                self._mask_cache[key] = block_causal_block_mask(steps, tps, device)
            else:
                self._mask_cache[key] = block_causal_mask(steps, tps, device)
            if len(self._mask_cache) > 16:
                self._mask_cache.pop(next(iter(self._mask_cache)))
        return self._mask_cache[key]

    # ----------------------------------------------------------------------------------------

    def _tokens(self, z: Tensor, actions: Tensor, states: Tensor, extrinsics: Tensor | None) -> Tensor:
        """Interleave per-step tokens. z: [B, T*N, D], actions/states: [B, T, 7] -> [B, T*(c+N), W].

        z (and states) may have batch 1 for B > 1 candidates (planning: one current frame for every
        candidate action); they are embedded once and broadcast."""
        cfg = self.cfg
        TN = z.shape[1]
        B = actions.shape[0]
        n = cfg.tokens_per_frame
        if TN % n:
            raise ValueError(f"z has {TN} tokens, not a multiple of {n} tokens per frame")
        T = TN // n
        if (actions.shape[:2] != (B, T) or states.shape[1] != T or z.shape[0] not in (1, B)
                or states.shape[0] not in (1, B)):
            raise ValueError(
                f"expected actions and states of shape [{z.shape[0]}, {T}, {cfg.action_dim}] for {T} frames, "
                f"got {tuple(actions.shape)} and {tuple(states.shape)}"
            )
        x = self.predictor_embed(z).view(-1, T, n, cfg.width).expand(B, -1, -1, -1)  # [B, T, N, W]
        cond = [self.action_encoder(actions), self.state_encoder(states).expand(B, -1, -1)]  # each [B, T, W]
        if cfg.use_extrinsics:
            if extrinsics is None:
                raise ValueError("this predictor uses extrinsics: pass extrinsics [B, T, 6]")
            cond.append(self.extrinsics_encoder(extrinsics).expand(B, -1, -1))
        x = torch.cat([*(c[:, :, None] for c in cond), x], dim=2)  # [B, T, c+N, W], one copy
        return x.flatten(1, 2)  # [B, T*(c+N), W]

    def _patch_tokens(self, steps: int, device: torch.device) -> Tensor:
        """[steps * N] long: positions of the patch tokens in a sequence of ``steps`` steps."""
        key = (steps, device)
        if key not in self._patch_cache:
            c, n = self.cfg.cond_tokens, self.cfg.tokens_per_frame
            start = torch.arange(steps, device=device)[:, None] * (c + n) + c
            if len(self._patch_cache) > 64:
                self._patch_cache.clear()
            self._patch_cache[key] = (start + torch.arange(n, device=device)).flatten()
        return self._patch_cache[key]

    def _head(self, x: Tensor) -> Tensor:
        """Project the patch tokens back. x: [B, steps*N, W] -> [B, steps*N, D]."""
        return self.predictor_proj(self.predictor_norm(x))

    def _run(self, x: Tensor, t0: int, steps: int, cache: KVCache | None, mask,
             keep_cache: bool = True, varying: Tensor | None = None) -> tuple[Tensor, KVCache | None]:
        """Run the blocks on x [B, steps*(c+N), W] -> patch tokens [B, steps*N, W] (and the cache).

        The last block computes its attention output and MLP for the patch tokens only (the
        action/state tokens' outputs would be discarded; ~2 % of the FLOPs at 16 patch tokens),
        except with a FlexAttention block mask, where it runs whole and the patch tokens are
        taken after. ``keep_cache=False`` frees each layer's keys/values as soon as it is done.
        ``varying`` ([Lv] indices): the only tokens of x that differ between batch elements; the
        first block projects the others once (after it, every token depends on them)."""
        cos, sin = self._rope(t0, steps, x.device)
        block_mask = mask if (mask is not None and not isinstance(mask, Tensor)) else None
        dense = mask if isinstance(mask, Tensor) else None
        patches = self._patch_tokens(steps, x.device)
        keys, values = [], []
        last = len(self.predictor_blocks) - 1
        for i, blk in enumerate(self.predictor_blocks):
            past = None if cache is None else (cache.keys[i], cache.values[i])
            queries = patches if (i == last and block_mask is None) else None
            if self.cfg.activation_checkpointing and self.training and torch.is_grad_enabled():
                x, (k, v) = checkpoint(blk, x, cos, sin, dense, past, block_mask, queries, use_reentrant=False)
            else:
                x, (k, v) = blk(x, cos, sin, attn_mask=dense, past_kv=past, block_mask=block_mask, queries=queries,
                                varying=varying if i == 0 else None)
            if keep_cache:
                keys.append(k)
                values.append(v)
        if block_mask is not None:
            x = x.index_select(1, patches)  # [B, steps*N, W]
        if not keep_cache:
            return x, None
        return x, KVCache(keys, values, (cache.steps if cache else 0) + steps)

    def forward(
        self,
        z: Tensor,
        actions: Tensor,
        states: Tensor,
        extrinsics: Tensor | None = None,
        cache: KVCache | None = None,
        return_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """z: [B, T*N, D], actions/states: [B, T, 7], extrinsics: [B, T, 6] -> [B, T*N, D].

        With ``cache`` (keys/values of earlier steps), the T given steps follow the cached ones
        and only they are computed; the result equals the last T steps of a full forward.
        ``return_cache=True`` also returns the keys/values of all steps seen, for ``step``.
        ``z`` and ``states`` may have batch 1 with B actions (one frame for B candidates): they are
        embedded once and broadcast.
        Everything goes through ``forward`` so that DDP-wrapped predictors work in every mode.
        """
        x = self._tokens(z, actions, states, extrinsics)
        steps = actions.shape[1]
        t0 = 0 if cache is None else cache.steps
        mask = self._mask(steps, x.device) if steps > 1 else None
        if mask is not None and cache is not None:
            mask = self._prefix_mask(mask, cache, x.device)
        varying = None
        if x.shape[0] > 1 and all(t is None or t.shape[0] == 1 for t in (z, states, extrinsics)):
            # one frame and state for every candidate action: only the action tokens differ
            varying = torch.arange(steps, device=x.device) * (self.cfg.cond_tokens + self.cfg.tokens_per_frame)
        x, new_cache = self._run(x, t0, steps, cache, mask, keep_cache=return_cache, varying=varying)
        out = self._head(x)
        return (out, new_cache) if return_cache else out

    def _prefix_mask(self, mask, cache: KVCache, device: torch.device) -> Tensor:
        """Prepend the always-visible cached keys to a block-causal mask: [L, L_cache + L]."""
        if not isinstance(mask, Tensor):
            raise NotImplementedError("multi-step forward after a cache needs attention='sdpa'")
        prefix = torch.ones(mask.shape[0], cache.keys[0].shape[2], dtype=torch.bool, device=device)
        return torch.cat([prefix, mask], dim=1)

    def step(
        self,
        z: Tensor,
        action: Tensor,
        state: Tensor,
        cache: KVCache | None = None,
        extrinsics: Tensor | None = None,
        return_cache: bool = True,
    ) -> tuple[Tensor, KVCache | None]:
        """Append one step to cached steps and predict the next frame.

        z: [B, N, D] frame of the new step, action/state: [B, 7], extrinsics: [B, 6].
        Returns the prediction of the following frame [B, N, D] and the extended cache (None
        with ``return_cache=False``, e.g. on a rollout's last step). Equal to the last step of
        ``forward`` over all steps, without recomputing the prefix.
        """
        ext = None if extrinsics is None else extrinsics[:, None]
        out = self(z, action[:, None], state[:, None], ext, cache=cache, return_cache=return_cache)
        return out if return_cache else (out, None)


def normalize_reps(z: Tensor) -> Tensor:
    """Layer norm over the feature dim without affine weights (V-JEPA 2's ``normalize_reps``)."""
    return F.layer_norm(z, (z.shape[-1],))
