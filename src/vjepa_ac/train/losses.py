"""The V-JEPA 2-AC objective (REFERENCE.md section 4): teacher forcing + rollout, both L1.

Public API: ``world_model_losses(predictor, h_raw, actions, states, extrinsics=None,
rollout_steps=2) -> (teacher_forcing_loss, rollout_loss)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vjepa_ac.models.predictor import normalize_reps


def l1_to_targets(pred: Tensor, h: Tensor, tokens_per_frame: int) -> Tensor:
    """Mean |pred - h| where pred [B, K*N, D] predicts frames 2..K+1 of h [B, T*N, D]."""
    target = h[:, tokens_per_frame : tokens_per_frame + pred.shape[1]]
    return (pred - target).abs().mean()


def teacher_forcing(predictor: nn.Module, h: Tensor, actions: Tensor, states: Tensor,
                    extrinsics: Tensor | None = None):
    """Predict frames 2..T from the real frames 1..T-1.

    h: [B, T*N, D] layer-normed targets; actions: [B, T-1, 7]; states: [B, T, 7].
    Returns the layer-normed predictions [B, (T-1)*N, D] and the predictor's key/value cache.
    """
    n = h.shape[1] // states.shape[1]
    ext = None if extrinsics is None else extrinsics[:, :-1]
    z, cache = predictor(h[:, :-n], actions, states[:, :-1], ext, return_cache=True)
    return normalize_reps(z), cache


def rollout(predictor: nn.Module, z_first_pred: Tensor, cache, actions: Tensor, states: Tensor,
            steps: int, extrinsics: Tensor | None = None) -> Tensor:
    """Feed the model its own predictions: from [h_1, pred_2] predict frames 3 .. steps+1.

    ``cache`` holds the keys/values of the teacher-forcing pass; its first step ([a_1, s_1, h_1])
    is exactly what the rollout starts from, so only the predicted steps are computed.
    z_first_pred: [B, N, D] (pred_2). Returns [B, steps*N, D]: [pred_2, pred_3, ...].
    """
    preds = [z_first_pred]
    cache = cache.truncate(1)
    for k in range(1, steps):
        ext = None if extrinsics is None else extrinsics[:, k]
        ext = None if ext is None else ext[:, None]
        z_next, cache = predictor(preds[-1], actions[:, k : k + 1], states[:, k : k + 1], ext, cache=cache, return_cache=True)
        preds.append(normalize_reps(z_next))
    return torch.cat(preds, dim=1)


def world_model_losses(predictor: nn.Module, h_raw: Tensor, actions: Tensor, states: Tensor,
                       extrinsics: Tensor | None = None, rollout_steps: int = 2, *,
                       legacy_rollout: bool = False) -> tuple[Tensor, Tensor]:
    """Teacher-forcing and rollout L1 losses of one clip batch.

    h_raw: [B, T*N, D] raw encoder features (layer-normed here); actions: [B, T-1, 7];
    states: [B, T, 7]; extrinsics: [B, T, 6] or None. ``rollout_steps`` predicted frames enter
    the rollout loss (2 in the paper); gradients flow through the recurrence.

    ``legacy_rollout=True`` is the public training code before facebookresearch/vjepa2 PR #25
    (commit 93366fe, June 2025), which the released checkpoint was likely trained with: the
    rollout starts from [h_1, pred_3] instead of [h_1, pred_2], where pred_3 is the
    teacher-forced prediction of frame 3 (from h_1, h_2); its first term compares pred_3 with
    h_2 and the next step predicts frame 3 from it. Needs T >= 3.
    """
    B, TN, _ = h_raw.shape
    T = states.shape[1]
    if actions.shape[1] != T - 1:
        raise ValueError(f"expected {T - 1} actions for {T} states, got {actions.shape[1]}")
    if not 1 <= rollout_steps <= T - 1:
        raise ValueError(f"rollout_steps must be in [1, {T - 1}] for clips of {T} frames, got {rollout_steps}")
    n = TN // T
    h = normalize_reps(h_raw)
    z_tf, cache = teacher_forcing(predictor, h, actions, states, extrinsics)
    tf_loss = l1_to_targets(z_tf, h, n)
    if legacy_rollout:
        if T < 3:
            raise ValueError(f"legacy_rollout needs clips of >= 3 frames (it starts from pred_3), got {T}")
        first = z_tf[:, n : 2 * n]  # [B, N, D] pred_3, fed as if it were frame 2 (pre-PR #25)
    else:
        first = z_tf[:, :n]  # [B, N, D] pred_2
    z_ar = rollout(predictor, first, cache, actions, states, rollout_steps, extrinsics)
    return tf_loss, l1_to_targets(z_ar, h, n)
