"""Training checkpoints, the writing side: atomic writes, keep-last-N, full state, RNG capture.

The format and its readers (``CHECKPOINT_FORMAT``, ``load_checkpoint``, ``latest_checkpoint``,
rebuilding a run's models) live in ``vjepa_ac.runs``, so that planning and serving read a run
without training code; they are re-exported here for the training loop.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa_ac.atomic import atomic_open
from vjepa_ac.runs import (  # noqa: F401  (re-exported for the training loop)
    CHECKPOINT_FORMAT,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)


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
