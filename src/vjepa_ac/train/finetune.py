"""Fine-tuning a trained predictor: its start weights, frozen blocks, LoRA adapters, and the
plain predictor an adapted one exports as (docs/finetune.md, notes/finetune.md).

``start_point(source)`` reads a predictor state dict (released key names) and its LayerNorm eps
from a release, a released-format file, a Hub-layout folder / Hub id, or a training run;
``apply_finetune`` freezes the input embeddings and the first ``freeze_blocks`` blocks and/or injects ``peft``
LoRA adapters (``[finetune]`` extra) in place; ``plain_predictor`` merges adapters back
(``W + alpha/r * B A``) into an ``ACPredictor`` with the released keys, for export.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from vjepa_ac import runs
from vjepa_ac.hub_layout import hub_folder, is_hub_folder, looks_like_hub_id, read_hub_part
from vjepa_ac.models.lora import has_lora, lora_scaling, merge_lora_state
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import RELEASED, kwargs_norm_eps, read_checkpoint, strip_prefixes
from vjepa_ac.train.config import FinetuneConfig, LoraConfig

INPUT_EMBEDDINGS = ("predictor_embed", "action_encoder", "state_encoder", "extrinsics_encoder")
ADAPTER_NAME = "default"  # peft's adapter name: keys <module>.lora_A.default.weight


def start_point(source: str) -> tuple[dict[str, Tensor], float]:
    """``(state dict, LayerNorm eps)`` of the predictor that ``finetune.init = source`` names:
    the state dict under the released key names, and the eps its stored kwargs or run config give
    (the release's 1e-6 for released weights, files without kwargs and runs saved before the eps
    was recorded).

    Raises ``FileNotFoundError`` naming a missing source, ``KeyError`` for a file without a
    ``predictor`` entry, ``ValueError`` for an unreadable one."""
    path = Path(source)
    if is_hub_folder(path) or looks_like_hub_id(source):
        state, kwargs = read_hub_part(hub_folder(source), "predictor")
        return state, kwargs_norm_eps(kwargs)
    if path.is_dir() or (path.is_file() and runs.is_checkpoint_name(path)):
        ckpt = runs.load_checkpoint(runs.find_checkpoint(path) if path.is_dir() else path)
        stored = ((ckpt.get("config") or {}).get("model") or {}).get("predictor") or {}
        return runs.plain_predictor_state(ckpt), float(runs.stored_predictor_config(stored)["norm_eps"])
    rel = RELEASED.get(source)
    if rel is not None and not rel.has_predictor:
        raise ValueError(f"finetune.init={source}: an encoder-only release has no predictor")
    ckpt = read_checkpoint(rel.url if rel else source)
    if "predictor" not in ckpt:
        raise KeyError(f"finetune.init={source}: no 'predictor' entry (entries: {sorted(ckpt)[:10]})")
    return strip_prefixes(ckpt["predictor"]), kwargs_norm_eps(ckpt.get("predictor_kwargs") or {})


def start_weights(source: str) -> dict[str, Tensor]:
    """The predictor state dict (released key names) that ``finetune.init = source`` names
    (``start_point`` without the eps)."""
    return start_point(source)[0]


def freeze_first_blocks(predictor: ACPredictor, k: int) -> None:
    """No gradient for the input embeddings and blocks ``0..k-1`` (k = 0: nothing frozen)."""
    if k <= 0:
        return
    for name in INPUT_EMBEDDINGS:
        getattr(predictor, name).requires_grad_(False)
    for block in predictor.predictor_blocks[:k]:
        block.requires_grad_(False)


def lora_target_regex(cfg: LoraConfig, depth: int, skip_blocks: int) -> str:
    """peft ``target_modules`` regex: the ``cfg.targets`` layers of blocks ``skip_blocks..depth-1``."""
    blocks = "|".join(str(i) for i in range(skip_blocks, depth))
    layers = "|".join(re.escape({"qkv": "attn.qkv", "proj": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}[t])
                      for t in cfg.targets)
    return rf"predictor_blocks\.({blocks})\.({layers})"


def add_lora(predictor: ACPredictor, cfg: LoraConfig, skip_blocks: int = 0) -> ACPredictor:
    """Inject LoRA adapters (peft, in place) and freeze every other weight. B starts at zero, so
    the adapted predictor first computes exactly what the base does. Raises ``ImportError``
    naming the extra when ``peft`` is missing."""
    try:
        from peft import LoraConfig as PeftLoraConfig
        from peft import inject_adapter_in_model
    except ImportError as e:
        raise ImportError("finetune.lora needs the peft library: pip install 'vjepa-ac[finetune]'") from e
    peft_cfg = PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                              target_modules=lora_target_regex(cfg, predictor.cfg.depth, skip_blocks), bias="none")
    inject_adapter_in_model(peft_cfg, predictor, adapter_name=ADAPTER_NAME)
    for name, p in predictor.named_parameters():
        p.requires_grad_(".lora_" in name)
    return predictor


def apply_finetune(predictor: ACPredictor, cfg: FinetuneConfig) -> ACPredictor:
    """Freeze the first ``cfg.freeze_blocks`` blocks and/or add LoRA adapters (in place)."""
    freeze_first_blocks(predictor, cfg.freeze_blocks)
    if cfg.lora.rank > 0:
        add_lora(predictor, cfg.lora, skip_blocks=cfg.freeze_blocks)
    return predictor


def plain_predictor(predictor: ACPredictor, cfg: FinetuneConfig) -> ACPredictor:
    """``predictor`` itself, or, when it carries LoRA adapters, a new ``ACPredictor`` (eval mode)
    with the adapters merged into the released key names (the model is left untouched)."""
    state = predictor.state_dict()
    if not has_lora(state):
        return predictor
    merged = merge_lora_state(state, lora_scaling(cfg.lora.rank, cfg.lora.alpha))
    plain = ACPredictor(predictor.cfg, device="meta")
    plain.load_state_dict({k: v.detach().clone() for k, v in merged.items()}, strict=True, assign=True)
    return plain.eval()


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
