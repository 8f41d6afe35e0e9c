"""Merging LoRA adapters into plain weights (Hu et al. 2021, "LoRA", eq. 3: W' = W + (alpha/r) B A).

A predictor fine-tuned with ``peft`` adapters (``train/finetune.py``) has, for each adapted
``nn.Linear`` named ``<m>``, the keys ``<m>.base_layer.weight`` / ``.bias`` (the frozen W, b),
``<m>.lora_A.<adapter>.weight`` (A: ``[r, in]``) and ``<m>.lora_B.<adapter>.weight`` (B:
``[out, r]``). ``merge_lora_state`` turns such a state dict back into the plain (released) key
names with ``W' = W + scaling * B @ A``, so readers of checkpoints and exports need no ``peft``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

BASE = ".base_layer."
LORA_A, LORA_B = ".lora_A.", ".lora_B."


def has_lora(state_dict: Mapping[str, Tensor]) -> bool:
    """True when ``state_dict`` holds ``peft`` LoRA keys."""
    return any(LORA_A in k for k in state_dict)


def merge_lora_state(state_dict: Mapping[str, Tensor], scaling: float) -> dict[str, Tensor]:
    """Plain-named weights with the adapters merged; ``scaling`` is ``alpha / rank``.

    Merging runs in float32 and returns each weight in its base dtype. Raises ``KeyError``
    naming the module when an adapter's A, B or base weight is missing."""
    out: dict[str, Tensor] = {}
    pairs: dict[str, dict[str, Tensor]] = {}
    for k, v in state_dict.items():
        if LORA_A in k or LORA_B in k:
            module, part = (k.split(LORA_A)[0], "A") if LORA_A in k else (k.split(LORA_B)[0], "B")
            if k.endswith(".weight"):
                pairs.setdefault(module, {})[part] = v
            continue
        out[k.replace(BASE, ".")] = v
    for module, ab in pairs.items():
        key = module + ".weight"
        if set(ab) != {"A", "B"} or key not in out:
            raise KeyError(f"LoRA adapter of {module}: needs lora_A, lora_B and base_layer weights, has "
                           f"{sorted(ab)}{' and the base' if key in out else ''}")
        w = out[key]
        delta = ab["B"].float() @ ab["A"].float()  # [out, r] @ [r, in] -> [out, in]
        out[key] = (w.float() + scaling * delta).to(w.dtype)
    return out


def lora_scaling(rank: int, alpha: float) -> float:
    """``alpha / rank``, peft's default LoRA scaling (no rsLoRA)."""
    return float(alpha) / float(rank)
