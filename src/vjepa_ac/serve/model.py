"""What the server plans with: ``ServedModel`` and the one loader seam ``load_service_model``.

``load_service_model(checkpoint, device)`` turns the ``vjepa-ac serve CHECKPOINT`` argument
into a world model (anything satisfying ``plan.interface.WorldModel``) plus its identity:

- ``toy:`` or ``toy:tokens=4,width=16,seed=0``: the analytic ``plan.toy.ToyWorldModel``
  (tests, benchmarks; its "camera" is ``ToyWorldModel.render``).
- ``tiny:`` or ``tiny:seed=0,img_size=64``: an untrained encoder (130k parameters) + AC
  predictor (108k) at 64 px (random weights, for smoke tests and benchmarks of the serving path).
- anything ``vjepa_ac.load.load_world_model`` takes (the same as ``vjepa-ac plan``): a training
  run folder (its latest checkpoint), a training checkpoint ``step_*.pt``, a released-format
  V-JEPA 2-AC ``.pt`` (ViT-g at 256 px) or a release name (``vjepa2-ac-vitg``).
- with ``encoder_kwargs`` / ``predictor_kwargs``: a released-format ``.pt`` (``encoder`` and
  ``predictor`` entries) of another architecture, read by ``official.load_released_ac``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vjepa_ac.plan.interface import WorldModel

# The paper's stated control / frame rate of V-JEPA 2-AC (REFERENCE.md section 6 has the caveat
# that the released loader's clips really step ~1 s).
RELEASED_AC_FPS = 4.0


@dataclass
class ServedModel:
    """A world model and what ``GET /metadata`` says about it.

    world_model: satisfies ``plan.interface.WorldModel`` (``encode``, ``rollout``)
    model_id: stable identity sent with every reply (source + short content hash)
    image_size: px side the encoder works at (frames of any size are cropped/resized to it), or None
    fps: control rate the model was trained for (actions per second), or None if unknown
    info: anything else worth reporting (source path, architecture)
    """

    world_model: WorldModel
    model_id: str
    image_size: int | None = None
    fps: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _spec_kwargs(spec: str, allowed: Mapping[str, type]) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` typed by ``allowed``; unknown keys are errors."""
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"bad model spec item {item!r}; expected key=value, key in {sorted(allowed)}")
        out[key] = allowed[key](value)
    return out


def file_id(path: Path) -> str:
    """``<stem>-<12 hex>``: a hash of the size and the first MiB (cheap for 10 GB files)."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(2**20))
    return f"{path.stem}-{h.hexdigest()[:12]}"


def load_toy_model(spec: str, device: torch.device) -> ServedModel:
    from vjepa_ac.plan.toy import ToyWorldModel

    kw = _spec_kwargs(spec, {"tokens": int, "width": int, "seed": int})
    kw = {"tokens": 4, "width": 16, "seed": 0, **kw}
    model = ToyWorldModel(**kw, device=device)
    model_id = "toy:" + ",".join(f"{k}={v}" for k, v in kw.items())
    return ServedModel(model, model_id, image_size=None, fps=None, info={"source": "toy", **kw})


def load_tiny_model(spec: str, device: torch.device, crop: str = "square",
                    max_batch: int | None = None) -> ServedModel:
    from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
    from vjepa_ac.plan.world_model import LatentWorldModel

    kw = {"seed": 0, "img_size": 64, **_spec_kwargs(spec, {"seed": int, "img_size": int})}
    with torch.random.fork_rng(devices=[]):  # seeds these weights only, not the caller's generator
        torch.manual_seed(kw["seed"])
        enc = VisionTransformer(EncoderConfig(img_size=kw["img_size"], embed_dim=48, depth=2, num_heads=2))
        pred = ACPredictor(PredictorConfig(img_size=(kw["img_size"],) * 2, embed_dim=48, width=64, depth=2,
                                           num_heads=2))
    wm = LatentWorldModel(enc.eval(), pred.eval(), crop=crop, max_batch=max_batch, device=device)
    model_id = "tiny:" + ",".join(f"{k}={v}" for k, v in kw.items())
    return ServedModel(wm, model_id, image_size=kw["img_size"], fps=None,
                       info={"source": "tiny (random weights)", **kw})


def load_released_model(path: Path, device: torch.device, crop: str = "square", max_batch: int | None = None,
                        encoder_kwargs: Mapping[str, Any] | None = None,
                        predictor_kwargs: Mapping[str, Any] | None = None) -> ServedModel:
    from vjepa_ac.official import load_released_ac
    from vjepa_ac.plan.world_model import LatentWorldModel

    encoder, predictor = load_released_ac(path, encoder_kwargs=encoder_kwargs,
                                          predictor_kwargs=predictor_kwargs)
    wm = LatentWorldModel(encoder.eval(), predictor.eval(), crop=crop, max_batch=max_batch, device=device)
    return ServedModel(wm, file_id(path), image_size=encoder.cfg.img_size, fps=RELEASED_AC_FPS,
                       info={"source": str(path), "format": "released V-JEPA 2-AC",
                             "encoder_width": encoder.cfg.embed_dim, "encoder_depth": encoder.cfg.depth,
                             "predictor_width": predictor.cfg.width, "predictor_depth": predictor.cfg.depth})


def load_service_model(checkpoint: str, device: str | torch.device = "auto", crop: str = "square",
                       max_batch: int | None = None, encoder_kwargs: Mapping[str, Any] | None = None,
                       predictor_kwargs: Mapping[str, Any] | None = None) -> ServedModel:
    """The one place a ``CHECKPOINT`` argument becomes a ``ServedModel`` (see the module doc)."""
    dev = resolve_device(device)
    if checkpoint.startswith("toy:"):
        return load_toy_model(checkpoint[len("toy:"):], dev)
    if checkpoint.startswith("tiny:"):
        return load_tiny_model(checkpoint[len("tiny:"):], dev, crop, max_batch)
    if encoder_kwargs is not None or predictor_kwargs is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return load_released_model(path, dev, crop, max_batch, encoder_kwargs, predictor_kwargs)
    from vjepa_ac.load import load_world_model

    # a training run folder, a training checkpoint (step_*.pt), a released-format file or name
    loaded = load_world_model(checkpoint, device=dev, crop=crop, max_batch=max_batch)
    return ServedModel(loaded.world_model, loaded.model_id, image_size=loaded.info["image_size"],
                       fps=loaded.info.get("fps"), info={"source": loaded.source, **loaded.info})
