"""Training checkpoints: atomic writes, keep-last-N, full state, ``weights_only`` loading.

A checkpoint is a dict (every value a tensor, number, string, list or dict, so
``torch.load(weights_only=True)`` reads it without running pickled code)::

    format            CHECKPOINT_FORMAT
    config            the resolved TrainConfig as a plain dict (rebuilds the model)
    predictor_kwargs  the public VisionTransformerPredictorAC arguments of the predictor
    model             predictor state dict (released key names)
    optimizer         AdamW state dict
    step              optimizer steps done (the next step to run)
    epoch             data epoch of the next step
    samples_in_epoch  clips of that epoch already consumed, over all processes
    rng               python / numpy / torch (/ cuda) generator states
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa_ac.atomic import atomic_open

CHECKPOINT_FORMAT = "vjepa_ac.train.checkpoint/1"
_NAME = re.compile(r"^step_(\d{8})\.pt$")


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step_{step:08d}.pt"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path`` through ``vjepa_ac.atomic.atomic_path``: ``path`` is
    either the old file or the complete new one (temporary file, fsync, ``os.replace``)."""
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def prune_checkpoints(folder: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints; returns the deleted paths."""
    old = list_checkpoints(folder)[:-keep_last] if keep_last > 0 else []
    for p in old:
        p.unlink()
    return old


def save_checkpoint(state: dict, folder: str | Path, keep_last: int) -> Path:
    """Write ``state`` as ``folder/step_XXXXXXXX.pt`` atomically, then keep the newest ``keep_last``."""
    path = checkpoint_path(folder, int(state["step"]))
    atomic_torch_save({"format": CHECKPOINT_FORMAT, **state}, path)
    prune_checkpoints(folder, keep_last)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint (``weights_only=True``, on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: not a vjepa_ac training checkpoint (format {state.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
            if isinstance(state, dict)
            else f"{path}: not a dict"
        )
    return state


# ---------------------------------------------------------------------------------------------
# random number generators, as weights_only-loadable values


def rng_state() -> dict:
    """The python, numpy, torch and (when present) CUDA generator states."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "mt": list(mt), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["mt"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
