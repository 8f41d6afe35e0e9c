"""One optimizer step: micro-batches -> features -> losses -> backward -> clip -> AdamW.

Batches are the clip datasets' collated items::

    frames   [B, T, 3, H, W] uint8   (raw video: the frozen encoder runs here, no gradients)
    z        [B, T, N, D] float32    (feature cache: used as they are)
    states   [B, T, 7];  actions [B, T-1, 7];  extrinsics [B, T, 6] (optional)
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vjepa_ac.data.transforms import normalize
from vjepa_ac.models.encoder import FrameEncoder
from vjepa_ac.train.config import OptimConfig
from vjepa_ac.train.losses import world_model_losses
from vjepa_ac.train.optim import set_lr
from vjepa_ac.train.schedule import wsd_lr


class NonFiniteLossError(FloatingPointError):
    """A NaN/Inf loss, gradient norm, or updated weight / optimizer state at ``step``.

    ``what`` says which: ``"loss"`` and ``"gradient norm"`` are caught before any parameter
    changes; ``"update"`` right after ``optimizer.step()`` (e.g. a NaN weight decay), before
    anything is saved, so the checkpoint named ``last_checkpoint`` always holds finite values.
    ``clips`` names the clips of the failing batch (``"<episode_id> [<camera>] rows a..b"``),
    filled in by the training loop, so a bad episode can be found.
    """

    def __init__(
        self,
        step: int,
        terms: dict[str, float],
        last_checkpoint: str | None = None,
        *,
        what: str = "loss",
        clips: list[str] | None = None,
        bad_tensors: list[str] | None = None,
    ):
        self.step, self.terms, self.last_checkpoint = step, terms, last_checkpoint
        self.what, self.clips, self.bad_tensors = what, list(clips or []), list(bad_tensors or [])
        shown = ", ".join(f"{k}={v:.6g}" for k, v in terms.items())
        where = (
            f"; last good checkpoint: {last_checkpoint}" if last_checkpoint else "; no checkpoint written yet"
        )
        bad = f"; non-finite after the update: {', '.join(self.bad_tensors[:5])}" if self.bad_tensors else ""
        named = ""
        if self.clips:
            more = f" and {len(self.clips) - 10} more" if len(self.clips) > 10 else ""
            named = f"; clips of the failing batch: {'; '.join(self.clips[:10])}{more}"
        super().__init__(f"non-finite {what} at step {step} ({shown}){bad}{where}{named}")

    def with_context(self, last_checkpoint: str | None, clips: list[str]) -> "NonFiniteLossError":
        """The same error, naming the last good checkpoint and the clips of the failing batch."""
        return NonFiniteLossError(
            self.step,
            self.terms,
            last_checkpoint,
            what=self.what,
            clips=clips,
            bad_tensors=self.bad_tensors,
        )


def nonfinite_tensors(optimizer: torch.optim.Optimizer) -> list[str]:
    """Names of the parameters (``param[g.i]``) and optimizer-state entries (``state[g.i].key``)
    holding a NaN/Inf, for every parameter of ``optimizer``; [] when all are finite."""
    tensors, names = [], []
    for g, group in enumerate(optimizer.param_groups):
        for i, p in enumerate(group["params"]):
            tensors.append(p.detach())
            names.append(f"param[{g}.{i}]")
            for key, v in optimizer.state.get(p, {}).items():
                if torch.is_tensor(v) and v.is_floating_point():
                    tensors.append(v)
                    names.append(f"state[{g}.{i}].{key}")
    if not tensors:
        return []
    finite = torch.stack([t.isfinite().all() for t in tensors])  # [n] bool, one sync below
    if bool(finite.all()):
        return []
    return [n for n, ok in zip(names, finite.tolist()) if not ok]


@dataclass
class ClipBatch:
    """A micro-batch on the device, ready for ``world_model_losses``."""

    h_raw: Tensor  # [B, T*N, D] raw encoder features
    actions: Tensor  # [B, T-1, 7]
    states: Tensor  # [B, T, 7]
    extrinsics: Tensor | None  # [B, T, 6]

    @property
    def clips(self) -> int:
        return self.h_raw.shape[0]


def prepare_batch(
    batch: dict,
    encoder: FrameEncoder | None,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    use_extrinsics: bool = False,
) -> ClipBatch:
    """Move a collated micro-batch to ``device`` and turn frames into encoder features.

    ``z [B, T, N, D]`` items are flattened to ``[B, T*N, D]``; ``frames [B, T, 3, H, W]`` go
    through the frozen ``encoder`` (under autocast when ``amp_dtype`` is set).
    """
    if "z" in batch:
        z = batch["z"].to(device, non_blocking=True).float()  # [B, T, N, D]
        h_raw = z.flatten(1, 2)  # [B, T*N, D]
    elif "frames" in batch:
        if encoder is None:
            raise ValueError(
                "batch holds frames but no encoder was given (data.source=features needs 'z' items)"
            )
        frames = normalize(batch["frames"].to(device, non_blocking=True))  # [B, T, 3, H, W]
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            h_raw = encoder.encode_frames(frames).float()  # [B, T*N, D]
    else:
        raise KeyError(f"batch has neither 'frames' nor 'z'; keys: {sorted(batch)}")
    extrinsics = None
    if use_extrinsics:
        if "extrinsics" not in batch:
            raise KeyError("the predictor uses extrinsics but the batch has no 'extrinsics' [B, T, 6]")
        extrinsics = batch["extrinsics"].to(device, non_blocking=True).float()
    return ClipBatch(
        h_raw,
        batch["actions"].to(device, non_blocking=True).float(),
        batch["states"].to(device, non_blocking=True).float(),
        extrinsics,
    )


class WorldModelObjective(nn.Module):
    """The objective as one module: ``forward(batch) -> (teacher_forcing_loss, rollout_loss)``.

    DDP wraps this, not the bare predictor: the losses call the predictor several times per
    step (teacher forcing, then the rollout steps on its KV cache), and one DDP forward per
    micro-step keeps gradient synchronisation (and ``no_sync`` during accumulation) standard.
    """

    def __init__(self, predictor: nn.Module, rollout_steps: int, legacy_rollout: bool = False):
        super().__init__()
        self.predictor = predictor
        self.rollout_steps = rollout_steps
        self.legacy_rollout = legacy_rollout  # TrainConfig.rollout_objective == "pre_pr25"

    def forward(self, h_raw: Tensor, actions: Tensor, states: Tensor, extrinsics: Tensor | None = None):
        return world_model_losses(
            self.predictor,
            h_raw,
            actions,
            states,
            extrinsics,
            rollout_steps=self.rollout_steps,
            legacy_rollout=self.legacy_rollout,
        )


def _all_reduce_mean(values: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= dist.get_world_size()
    return values


def train_step(
    objective: nn.Module,
    micro_batches: list[dict],
    optimizer: torch.optim.Optimizer,
    *,
    step: int,
    optim: OptimConfig,
    encoder: FrameEncoder | None,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """One optimizer step over ``micro_batches`` (the accumulation micro-steps of this process).

    ``objective`` is a ``WorldModelObjective``, possibly DDP-wrapped: gradients are synchronised
    only on the last micro-step. Each micro-step's loss is divided by the number of micro-steps,
    so equal-sized micro-batches give the gradient of the mean loss over the global batch (DDP
    averages over processes). The lr of ``step`` (0-based) comes from ``wsd_lr``. Raises
    ``NonFiniteLossError`` (before any parameter changes) when the loss or the gradient norm is
    NaN/Inf, and (``what="update"``) when a weight or an AdamW moment is NaN/Inf after the update.

    With ``optim.on_nonfinite_grad="skip"`` a NaN/Inf gradient norm (finite loss) skips the
    update instead, as the public code's loss scaler does, and the step reports ``skipped=1``.

    Returns detached metrics: ``loss``, ``loss_tf``, ``loss_rollout`` (means over the global
    batch), ``lr``, ``grad_norm`` (before clipping), ``clipped`` (1.0 when clipped),
    ``skipped`` (1.0 when the update was skipped).
    """
    lr = wsd_lr(step, **optim.schedule())
    set_lr(optimizer, lr)
    ddp = hasattr(objective, "no_sync")
    use_ext = bool((objective.module if ddp else objective).predictor.cfg.use_extrinsics)
    n = len(micro_batches)
    sums = torch.zeros(2, device=device)  # [teacher forcing, rollout]
    for i, raw in enumerate(micro_batches):
        batch = prepare_batch(raw, encoder, device, amp_dtype, use_ext)
        sync = objective.no_sync() if ddp and i < n - 1 else contextlib.nullcontext()
        with sync:
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                tf, ro = objective(batch.h_raw, batch.actions, batch.states, batch.extrinsics)
            ((tf + ro) / n).backward()
        sums += torch.stack([tf.detach(), ro.detach()]).float()
    tf_mean, ro_mean = (_all_reduce_mean(sums / n)).tolist()
    terms = {"loss": tf_mean + ro_mean, "loss_tf": tf_mean, "loss_rollout": ro_mean, "lr": lr}
    if not math.isfinite(terms["loss"]):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(step, terms)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    max_norm = optim.grad_clip if optim.grad_clip > 0 else math.inf
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    if not math.isfinite(grad_norm):
        optimizer.zero_grad(set_to_none=True)
        if optim.on_nonfinite_grad == "skip":  # like the public GradScaler: no update, go on
            return {**terms, "grad_norm": grad_norm, "clipped": 0.0, "skipped": 1.0}
        raise NonFiniteLossError(step, {**terms, "grad_norm": grad_norm}, what="gradient norm")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    bad = nonfinite_tensors(optimizer)
    if bad:  # the update itself (lr, weight decay, eps) made weights or moments non-finite
        raise NonFiniteLossError(step, {**terms, "grad_norm": grad_norm}, what="update", bad_tensors=bad)
    return {**terms, "grad_norm": grad_norm, "clipped": float(grad_norm > max_norm), "skipped": 0.0}
