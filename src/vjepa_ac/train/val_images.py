"""TensorBoard pictures at validation time: decoded teacher-forcing and rollout predictions.

With ``TrainConfig.decoder`` set (a ``decoder.pt`` of the run's encoder, ``vjepa-ac decoder
train``), each validation also logs one held-out clip as an image ``val/predictions``: row
"target" decodes the real frames 2..T (what the decoder makes of the encoder's own features),
row "teacher forcing" the one-step predictions of frames 2..T, row "rollout" the predictions fed
back from frame 1 (``validate``'s ``rollout_h{k}``). One clip, one predictor pass and ~3 T
decoder calls: cheap next to the validation itself. It reads the clip through the same
``prepare_batch``, so it works with cached features and with frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vjepa_ac.models.decoder import FrameDecoder
from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.models.predictor import normalize_reps
from vjepa_ac.pictures import labelled_grid
from vjepa_ac.train.losses import rollout, teacher_forcing
from vjepa_ac.train.step import prepare_batch


@torch.no_grad()
def prediction_picture(predictor: nn.Module, batch: dict, decoder: FrameDecoder, *,
                       encoder: FrameEncoder | None, device: torch.device) -> np.ndarray:
    """The first clip of ``batch`` -> an ``[H, W, 3]`` uint8 grid of decoded targets, teacher-forced
    and rollout predictions of frames 2..T (``predictor`` in eval mode for the call)."""
    was_training = predictor.training
    predictor.eval()
    b = prepare_batch({k: v[:1] if isinstance(v, torch.Tensor) else v for k, v in batch.items()}, encoder,
                      device, None, bool(predictor.cfg.use_extrinsics))
    T = b.states.shape[1]
    n = b.h_raw.shape[1] // T
    h = normalize_reps(b.h_raw)  # [1, T*N, D]
    z_tf, cache = teacher_forcing(predictor, h, b.actions, b.states, b.extrinsics)  # [1, (T-1)*N, D]
    z_ar = rollout(predictor, z_tf[:, :n], cache, b.actions, b.states, T - 1, b.extrinsics)  # [1, (T-1)*N, D]
    predictor.train(was_training)
    D = h.shape[-1]
    frames = decoder.decode(torch.cat([h[0, n:], z_tf[0], z_ar[0]]).view(-1, n, D))  # [3 (T-1), 3, H, W]
    k = T - 1
    rows = [("target", list(frames[:k])), ("teacher f.", list(frames[k : 2 * k])), ("rollout", list(frames[2 * k :]))]
    return labelled_grid(rows, header=[f"t={t}" for t in range(2, T + 1)])
