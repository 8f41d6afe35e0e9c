"""Load a planning world model from whatever a user has: a training run, a training checkpoint,
or the released V-JEPA 2-AC file.

    from vjepa_ac.load import load_world_model
    wm = load_world_model("runs/sim")              # latest checkpoint of a run folder
    wm = load_world_model("runs/sim/checkpoints/step_00003000.pt")
    wm = load_world_model("vjepa2-ac-vitg")        # the release (downloaded once)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vjepa_ac.config import from_dict, to_dict
from vjepa_ac.official import RELEASED, load_released_ac
from vjepa_ac.plan.world_model import LatentWorldModel
from vjepa_ac.train.build import build_encoder
from vjepa_ac.train.checkpoint import latest_checkpoint, load_checkpoint
from vjepa_ac.train.config import ModelConfig
from vjepa_ac.train.export import predictor_from_checkpoint


@dataclass
class LoadedWorldModel:
    """A planning world model and what it was loaded from (for logs, servers and results)."""

    world_model: LatentWorldModel
    source: str
    model_id: str  # short hash of source + step: identifies the weights in replies and results
    info: dict[str, Any] = field(default_factory=dict)  # image size, tokens per frame, step, ...


def _resolve(source: str | Path) -> Path | str:
    s = str(source)
    if s in RELEASED or s.startswith(("http://", "https://")):
        return s
    path = Path(s)
    if path.is_dir():
        ckpt = latest_checkpoint(path / "checkpoints") or latest_checkpoint(path)
        if ckpt is None:
            raise FileNotFoundError(f"{path}: no training checkpoint (checkpoints/step_*.pt) in this folder")
        return ckpt
    if not path.is_file():
        raise FileNotFoundError(f"world model source not found: {path} (a run folder, a checkpoint, or a release name)")
    return path


def load_world_model(source: str | Path, *, device: str | torch.device = "cpu", crop: str = "square",
                     max_batch: int | None = None) -> LoadedWorldModel:
    """Encoder + predictor of ``source`` as a ``LatentWorldModel`` on ``device``."""
    device = torch.device(device)
    resolved = _resolve(source)
    if isinstance(resolved, Path) and resolved.suffix == ".pt" and resolved.name.startswith("step_"):
        state = load_checkpoint(resolved)
        model_cfg = from_dict(ModelConfig, state["config"]["model"])
        encoder = build_encoder(model_cfg, device).vit
        predictor = predictor_from_checkpoint(resolved).to(device)
        info = dict(step=int(state["step"]), encoder_checkpoint=model_cfg.encoder_checkpoint,
                    fps=state["config"]["data"]["clips"]["fps"], config=to_dict(model_cfg))
        del state
    else:
        encoder, predictor = load_released_ac(resolved)
        encoder, predictor = encoder.to(device), predictor.to(device)
        info = dict(step=None, encoder_checkpoint=str(resolved), fps=4.0)
    info.update(image_size=encoder.cfg.img_size, tokens_per_frame=predictor.cfg.tokens_per_frame,
                embed_dim=predictor.cfg.embed_dim)
    model_id = hashlib.sha256(json.dumps([str(resolved), info["step"]]).encode()).hexdigest()[:12]
    wm = LatentWorldModel(encoder, predictor, crop=crop, max_batch=max_batch, device=device)
    return LoadedWorldModel(wm, str(resolved), model_id, info)
