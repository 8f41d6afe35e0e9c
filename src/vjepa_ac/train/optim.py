"""AdamW with weight decay on matrices only (REFERENCE.md section 5)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from vjepa_ac.train.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float, exempt: Iterable[nn.Parameter] = ()) -> list[dict]:
    """Two groups of the trainable parameters: weights with ndim >= 2 decay, biases and
    norm weights (ndim < 2) and the ``exempt`` ones (e.g. learned tokens) do not. Frozen
    parameters are left out; each group keeps the model's parameter order."""
    skip = {id(p) for p in exempt}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and id(p) not in skip else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters; the lr is set every step from ``wsd_lr``."""
    fused = all(p.is_cuda for p in model.parameters())
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.start_lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        fused=fused or None,
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
