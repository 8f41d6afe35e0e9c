"""Export a trained predictor for use outside training.

``export_predictor_files(predictor, folder)`` writes::

    predictor.pt           {"predictor": state dict, "predictor_kwargs": {...}} (released key names,
                           the layout of vjepa2-ac-vitg.pt's "predictor" entry)
    predictor.safetensors  the same tensors; the kwargs as JSON in the file's metadata
    predictor_kwargs.json  the public VisionTransformerPredictorAC constructor arguments

and ``load_exported_predictor(path)`` reads either file back through the strict
``vjepa_ac.official.load_predictor``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vjepa_ac.atomic import atomic_path, atomic_write_json
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import export_predictor, load_predictor, read_checkpoint, released_predictor_kwargs
from vjepa_ac.runs import load_checkpoint, predictor_from_state
from vjepa_ac.train.checkpoint import atomic_torch_save

KWARGS_KEY = "predictor_kwargs"


def export_predictor_files(predictor: ACPredictor, folder: str | Path) -> dict[str, Path]:
    """Write the predictor as ``.pt`` (released format) and ``.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.float().contiguous() for k, v in export_predictor(predictor).items()}  # [released names]
    kwargs = released_predictor_kwargs(predictor.cfg)
    paths = {
        "pt": folder / "predictor.pt",
        "safetensors": folder / "predictor.safetensors",
        "kwargs": folder / "predictor_kwargs.json",
    }
    atomic_torch_save({"predictor": state, KWARGS_KEY: kwargs}, paths["pt"])
    with atomic_path(paths["safetensors"]) as tmp:
        save_file(state, str(tmp), metadata={KWARGS_KEY: json.dumps(kwargs)})
    atomic_write_json(paths["kwargs"], kwargs)
    return paths


def load_exported_predictor(path: str | Path) -> ACPredictor:
    """An exported predictor (``predictor.pt`` or ``predictor.safetensors``), in eval mode."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            kwargs = json.loads((f.metadata() or {})[KWARGS_KEY])
        return load_predictor(read_checkpoint(path), **kwargs)
    ckpt = read_checkpoint(path)
    return load_predictor(ckpt["predictor"], **ckpt[KWARGS_KEY])


def predictor_from_checkpoint(path: str | Path) -> ACPredictor:
    """The predictor of a training checkpoint, rebuilt from the config stored in it."""
    return predictor_from_state(load_checkpoint(path))


def export_checkpoint(path: str | Path, folder: str | Path) -> dict[str, Path]:
    """Export the predictor of a training checkpoint (e.g. an intermediate one)."""
    with torch.no_grad():
        return export_predictor_files(predictor_from_checkpoint(path), folder)
