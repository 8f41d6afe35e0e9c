"""Validation on held-out episodes: teacher-forcing and rollout L1 per horizon.

For clips of T frames, with h = LN(encoder features):

- ``tf_h{k}``       L1 of the teacher-forced prediction of frame k+1 (k = 1..T-1; always one step ahead)
- ``rollout_h{k}``  L1 of frame k+1 predicted k steps ahead, feeding the model its own predictions
                    (``rollout_h1`` equals ``tf_h1``)
- ``teacher_forcing``, ``rollout``  the training losses (rollout over ``rollout_steps`` frames)

Per-clip values are summed and averaged over all processes, so the numbers do not depend on
the batch size or the number of processes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.train.losses import rollout, teacher_forcing
from vjepa_ac.train.step import prepare_batch


def per_frame_l1(pred: Tensor, h: Tensor, tokens_per_frame: int) -> Tensor:
    """pred [B, K*N, D] predicting frames 2..K+1 of h [B, T*N, D] -> per-clip, per-frame L1 [B, K]."""
    B, KN, D = pred.shape
    target = h[:, tokens_per_frame : tokens_per_frame + KN]
    return (pred - target).abs().view(B, KN // tokens_per_frame, tokens_per_frame * D).mean(-1)  # [B, K]


@torch.no_grad()
def validate(
    predictor: nn.Module,
    batches: Iterable[dict],
    *,
    encoder: FrameEncoder | None,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    rollout_steps: int,
    horizons: int,
) -> dict[str, float]:
    """Mean validation metrics of the (bare) ``predictor`` over ``batches`` (this process's share).

    ``horizons`` = T - 1 for clips of T frames (a process may get no batch at all).
    """
    model = predictor
    was_training = model.training
    model.eval()
    use_ext = bool(model.cfg.use_extrinsics)
    tf_sum = torch.zeros(horizons, device=device)  # per-frame L1 summed over clips
    ro_sum = torch.zeros(horizons, device=device)
    clips = torch.zeros((), device=device)
    for raw in batches:
        b = prepare_batch(raw, encoder, device, amp_dtype, use_ext)
        T = b.states.shape[1]
        n = b.h_raw.shape[1] // T
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            h = normalize_reps(b.h_raw)
            z_tf, cache = teacher_forcing(model, h, b.actions, b.states, b.extrinsics)
            z_ar = rollout(model, z_tf[:, :n], cache, b.actions, b.states, T - 1, b.extrinsics)
        if T - 1 != horizons:
            raise ValueError(f"validation clips have {T} frames, expected {horizons + 1}")
        tf_sum += per_frame_l1(z_tf.float(), h.float(), n).sum(0)  # [T-1]
        ro_sum += per_frame_l1(z_ar.float(), h.float(), n).sum(0)  # [T-1]
        clips += b.clips
    model.train(was_training)
    totals = torch.cat([tf_sum, ro_sum, clips[None]])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(totals)
    if totals[-1] == 0:
        raise ValueError("validation got no clips: check the held-out split")
    k = horizons
    tf_mean, ro_mean = totals[:k] / totals[-1], totals[k : 2 * k] / totals[-1]
    out = {
        "teacher_forcing": tf_mean.mean().item(),
        "rollout": ro_mean[:rollout_steps].mean().item(),
        "clips": int(totals[-1].item()),
    }
    out.update({f"tf_h{i + 1}": v for i, v in enumerate(tf_mean.tolist())})
    out.update({f"rollout_h{i + 1}": v for i, v in enumerate(ro_mean.tolist())})
    return out
