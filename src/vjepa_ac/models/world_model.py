"""A small world-model facade over the frozen encoder and the AC predictor, for planners.

Three verbs: ``encode`` frames into layer-normed representations, ``step`` one action forward
with cached keys/values, and ``rollout`` a batch of candidate action sequences from a context.
All representations here are layer-normed over D (``normalize_reps``), as in training.

The pose arithmetic that advances the robot state by an action is injected
(``advance_state``, normally ``vjepa_ac.data.poses.apply_actions``) so that ``models/`` does not
depend on ``data/``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from vjepa_ac.models.encoder import VisionTransformer, encode_per_frame
from vjepa_ac.models.predictor import ACPredictor, KVCache, normalize_reps

AdvanceState = Callable[[Tensor, Tensor], Tensor]  # (states [S,7], actions [S,7]) -> [S,7]

# CPU rollouts: new tokens per predictor call when ``max_batch`` is None. Chunks of 50 candidates
# of the main job's predictor (18 tokens a step: 900) and of 12-25 with 66 tokens a step (800-1650)
# were the fastest, 15-30 % faster than unchunked 300 (notes/performance.md); larger calls spill
# the MLP's activations out of the cache.
CPU_CHUNK_TOKENS = 1024


class ACWorldModel(nn.Module):
    """The frozen encoder + AC predictor in model space: ``encode`` normalised frames
    ``[B, T, 3, H, W]``, ``step`` and ``rollout`` from representations and states.

    Planners do not call this directly: ``plan.world_model.LatentWorldModel`` wraps it into the
    planners' protocol (``plan.interface.WorldModel``: ``encode(uint8 images)``,
    ``rollout(Context, actions)``), which has other signatures.
    """

    def __init__(
        self,
        predictor: ACPredictor,
        advance_state: AdvanceState,
        encoder: VisionTransformer | None = None,
        max_batch: int | None = None,
    ):
        """``max_batch``: candidates per predictor call. None chooses (``auto_batch``): on a CPU
        chunks of about ``CPU_CHUNK_TOKENS`` new tokens, which keep the working set in cache and
        were measured fastest; elsewhere all candidates at once. Results do not depend on it
        beyond float rounding."""
        super().__init__()
        self.predictor = predictor.eval()
        self.encoder = None if encoder is None else encoder.eval()
        self.advance_state = advance_state
        self.max_batch = max_batch
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def tokens_per_frame(self) -> int:
        return self.predictor.cfg.tokens_per_frame

    @torch.no_grad()
    def encode(self, frames: Tensor) -> Tensor:
        """frames: [B, T, 3, H, W] normalised pixels -> layer-normed reps [B, T, N, D]."""
        if self.encoder is None:
            raise RuntimeError("this world model has no encoder; pass representations instead")
        B, T = frames.shape[:2]
        z = encode_per_frame(self.encoder, frames.transpose(1, 2))  # [B, T*N, D]
        return normalize_reps(z).view(B, T, -1, z.shape[-1])

    def step(self, z: Tensor, action: Tensor, state: Tensor, cache: KVCache | None = None,
             return_cache: bool = True) -> tuple[Tensor, KVCache | None]:
        """z: [B, N, D], action/state: [B, 7] -> (next-frame rep [B, N, D] layer-normed, cache).

        The weights are frozen, so autograd records this step only when an input requires grad
        (``rollout_differentiable``); ``rollout`` runs it under ``torch.no_grad``."""
        out, cache = self.predictor.step(z, action, state, cache, return_cache=return_cache)
        return normalize_reps(out), cache

    @torch.no_grad()
    def context_cache(self, z: Tensor, states: Tensor, past_actions: Tensor) -> KVCache | None:
        """Keys/values of all context steps but the last. z: [C, N, D], states: [C, 7],
        past_actions: [C-1, 7] -> batch-1 cache of C-1 steps (None when C == 1)."""
        C = z.shape[0]
        if past_actions.shape[0] != C - 1:
            raise ValueError(f"{C} context frames need {C - 1} past actions, got {past_actions.shape[0]}")
        if C == 1:
            return None
        _, cache = self.predictor(
            z[:-1].flatten(0, 1)[None], past_actions[None], states[:-1][None], return_cache=True
        )
        return cache

    @torch.no_grad()
    def rollout(self, z: Tensor, states: Tensor, actions: Tensor, past_actions: Tensor | None = None) -> Tensor:
        """Predict the reps after each of H actions for S candidate sequences.

        z: [C, N, D] context reps (C >= 1 frames, the last is the current one); states: [C, 7];
        actions: [S, H, 7] candidates; past_actions: [C-1, 7] between the context frames.
        Returns [S, H, N, D]. Costs H predictor steps of one frame each (cached keys/values).
        """
        return self.rollout_differentiable(z, states, actions, past_actions)

    def rollout_differentiable(self, z: Tensor, states: Tensor, actions: Tensor,
                               past_actions: Tensor | None = None) -> Tensor:
        """``rollout`` with autograd on: gradients flow from the reps ``[S, H, N, D]`` back to
        ``actions [S, H, 7]`` (through the predictor and the injected pose advance) when
        ``actions.requires_grad``. The context's keys/values are computed without gradients.
        Memory grows with the autograd graph (~all activations of H steps for S sequences)."""
        past = actions.new_zeros(0, actions.shape[-1]) if past_actions is None else past_actions
        cache = self.context_cache(z, states, past)
        S = actions.shape[0]
        step_states = self.step_states(states[-1], actions)
        chunk = self.auto_batch(S, z.device)
        outs = [self._rollout_chunk(z[-1], [s if s.shape[0] == 1 else s[i : i + chunk] for s in step_states],
                                    actions[i : i + chunk], cache)
                for i in range(0, S, chunk)]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)

    def auto_batch(self, S: int, device: torch.device) -> int:
        """Candidates per predictor call for S candidates (see ``max_batch``)."""
        if self.max_batch is not None:
            return self.max_batch
        if device.type != "cpu":
            return S
        cfg = self.predictor.cfg
        return max(1, CPU_CHUNK_TOKENS // (cfg.cond_tokens + cfg.tokens_per_frame))

    def step_states(self, s_now: Tensor, actions: Tensor) -> list[Tensor]:
        """The state before each of the H actions, for all S candidates at once: ``[s_now [1, 7],
        s_1 [S, 7], ..., s_{H-1} [S, 7]]`` (the pose advance runs once per step, not per chunk;
        the first state is shared by every candidate and stays batch 1)."""
        S, H, _ = actions.shape
        out = [s_now[None]]  # [1, 7]
        for h in range(H - 1):
            out.append(self.advance_state(out[-1].expand(S, -1), actions[:, h]))  # [S, 7]
        return out

    def _rollout_chunk(self, z_now: Tensor, states: list[Tensor], actions: Tensor, cache: KVCache | None) -> Tensor:
        """z_now: [N, D], states: H x [S or 1, 7], actions: [S, H, 7] -> [S, H, N, D]."""
        S, H, _ = actions.shape
        cache = None if cache is None else cache.expand(S)
        z = z_now[None]  # [1, N, D]: the predictor embeds it once and broadcasts it to the S candidates
        preds = []
        for h in range(H):
            last = h == H - 1
            # the last step's keys/values are never used: not keeping them bounds planner memory
            z, cache = self.step(z, actions[:, h], states[h], cache, return_cache=not last)
            preds.append(z)
        return torch.stack(preds, dim=1)  # [S, H, N, D]
