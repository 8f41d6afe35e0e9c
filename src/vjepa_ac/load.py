"""The one loader: a planning world model from any model spec, and what it was loaded from.

    from vjepa_ac.load import load_world_model
    wm = load_world_model("runs/sim")              # the main job's folder (its run in train/)
    wm = load_world_model("runs/sim/train")        # latest checkpoint of a training run folder
    wm = load_world_model("runs/sim/train/checkpoints/step_00003000.pt")
    wm = load_world_model("vjepa2-ac-vitg")        # the release (downloaded once)
    wm = load_world_model("ac.pt", encoder_kwargs={...}, predictor_kwargs={...})  # released format
    wm = load_world_model("toy:width=8")           # analytic toy model (tests, benchmarks)
    wm = load_world_model("tiny:seed=1")           # random 64 px encoder + predictor (smoke tests)
    wm = load_world_model("me/my-vjepa-ac")        # a Hugging Face Hub id (vjepa_ac.hub layout)
    wm = load_world_model("exports/my-vjepa-ac")   # a local Hub-layout folder (save_pretrained)

Every spec gives one record, ``LoadedWorldModel``, and one identity rule (``model_id``). The
planning server (``vjepa-ac serve``), ``vjepa-ac plan``, ``eval sim``, ``eval offline`` and
``landscape`` all load through ``load_world_model``. Training checkpoints are read with
``vjepa_ac.runs`` (the checkpoint format), so loading needs no training code.

The crop: a training run records the named crop its clips were made with
(``data.clips.crop``); ``crop=None`` plans with that crop (``square`` for everything else). An
explicit ``crop`` that differs from the run's is used, with a warning.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vjepa_ac.official import RELEASED, RELEASED_AC_FPS, load_released_ac
from vjepa_ac.plan.interface import WorldModel
from vjepa_ac.plan.world_model import LatentWorldModel
from vjepa_ac.runs import (
    encoder_from_checkpoint,
    find_checkpoint,
    find_decoder,
    load_checkpoint,
    predictor_from_state,
    training_crop,
)

log = logging.getLogger(__name__)

DEFAULT_CROP = "square"  # planning crop of anything that records none (releases, tiny:, released files)
_ID_BYTES = 2**20  # a file's identity hashes its size and first MiB (cheap for 10 GB files)


@dataclass
class LoadedWorldModel:
    """A world model and what it was loaded from (``GET /metadata``, logs, results files).

    world_model: satisfies ``plan.interface.WorldModel`` (``encode``, ``rollout``)
    model_id: identity of the weights sent with every reply and stored in results (``model_id``)
    image_size: px side the encoder works at (frames of any size are cropped/resized to it), or None
    fps: control rate the model was trained for (actions per second), or None if unknown
    info: anything else worth reporting: ``source`` (what was loaded), step, crop, architecture
    """

    world_model: WorldModel
    model_id: str
    image_size: int | None = None
    fps: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """What was loaded: a checkpoint path, a release URL, a file, or the toy/tiny spec."""
        return str(self.info.get("source", self.model_id))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: cuda when available, else cpu; anything else as ``torch.device``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_id(source: str | Path, spec_kwargs: Mapping[str, Any] | None = None) -> str:
    """The one identity rule: ``toy:`` / ``tiny:`` specs by their full keyword list
    (``tiny:seed=0,img_size=64``), a release name or URL by itself, and a file by
    ``<stem>-<12 hex>``, a hash of its size and first MiB, so a moved or copied run keeps its id
    and two checkpoints (other step, other weights) get two."""
    s = str(source)
    if spec_kwargs is not None:
        return s + ",".join(f"{k}={v}" for k, v in spec_kwargs.items())
    if s in RELEASED or s.startswith(("http://", "https://")):
        return s
    path = Path(s)
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(_ID_BYTES))
    return f"{path.stem}-{h.hexdigest()[:12]}"


def file_id(path: Path) -> str:
    """``model_id`` of a file (kept for callers of the older name)."""
    return model_id(path)


def _spec_kwargs(spec: str, allowed: Mapping[str, type]) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` typed by ``allowed``; unknown keys are errors."""
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"bad model spec item {item!r}; expected key=value, key in {sorted(allowed)}")
        try:
            out[key] = allowed[key](value)
        except ValueError as e:
            raise ValueError(f"bad model spec item {item!r}: {e}") from e
    return out


def _plan_crop(recorded: str | None, crop: str | None, source: str) -> str:
    """The crop to plan with: ``crop`` if given (warned when it differs from the recorded one)."""
    if crop is None:
        return recorded or DEFAULT_CROP
    if recorded is not None and crop != recorded:
        log.warning("%s was trained with crop %r; planning with crop %r as asked (frames are seen "
                    "differently from training)", source, recorded, crop)
    return crop


def _toy(spec: str, device: torch.device) -> LoadedWorldModel:
    from vjepa_ac.plan.toy import ToyWorldModel

    kw = {"tokens": 4, "width": 16, "seed": 0, **_spec_kwargs(spec, {"tokens": int, "width": int, "seed": int})}
    return LoadedWorldModel(ToyWorldModel(**kw, device=device), model_id("toy:", kw), image_size=None, fps=None,
                            info={"source": "toy", **kw})


def _tiny(spec: str, device: torch.device, crop: str | None, max_batch: int | None) -> LoadedWorldModel:
    from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig

    kw = {"seed": 0, "img_size": 64, **_spec_kwargs(spec, {"seed": int, "img_size": int})}
    with torch.random.fork_rng(devices=[]):  # seeds these weights only, not the caller's generator
        torch.manual_seed(kw["seed"])
        enc = VisionTransformer(EncoderConfig(img_size=kw["img_size"], embed_dim=48, depth=2, num_heads=2))
        pred = ACPredictor(PredictorConfig(img_size=(kw["img_size"],) * 2, embed_dim=48, width=64, depth=2,
                                           num_heads=2))
    crop = _plan_crop(None, crop, "tiny:")
    wm = LatentWorldModel(enc.eval(), pred.eval(), crop=crop, max_batch=max_batch, device=device)
    return LoadedWorldModel(wm, model_id("tiny:", kw), image_size=kw["img_size"], fps=None,
                            info={"source": "tiny (random weights)", "crop": crop, **kw})


def _training_checkpoint(path: Path, device: torch.device, crop: str | None,
                         max_batch: int | None) -> LoadedWorldModel:
    state = load_checkpoint(path)
    encoder = encoder_from_checkpoint(state, path)
    predictor = predictor_from_state(state)
    model = state["config"]["model"]
    crop = _plan_crop(training_crop(state), crop, str(path))
    info = dict(source=str(path), step=int(state["step"]), encoder_checkpoint=model.get("encoder_checkpoint"),
                fps=state["config"]["data"]["clips"]["fps"], config=dict(model), crop=crop)
    mid = model_id(path)
    del state
    wm = LatentWorldModel(encoder, predictor, crop=crop, max_batch=max_batch, device=device)
    info.update(image_size=encoder.cfg.img_size, tokens_per_frame=predictor.cfg.tokens_per_frame,
                embed_dim=predictor.cfg.embed_dim)
    return LoadedWorldModel(wm, mid, image_size=encoder.cfg.img_size, fps=info["fps"], info=info)


def _released(source: str, device: torch.device, crop: str | None, max_batch: int | None,
              encoder_kwargs: Mapping[str, Any] | None, predictor_kwargs: Mapping[str, Any] | None
              ) -> LoadedWorldModel:
    """A released-format file (``encoder`` + ``predictor`` entries), a release name or a URL."""
    rel = RELEASED.get(source)
    if rel is not None and not rel.has_predictor:
        raise ValueError(f"{source}: an encoder-only release; a world model needs an AC release "
                         f"({sorted(k for k, r in RELEASED.items() if r.has_predictor)}) or a training run")
    where = rel.url if rel is not None else source
    encoder, predictor = load_released_ac(where, encoder_kwargs=encoder_kwargs, predictor_kwargs=predictor_kwargs)
    crop = _plan_crop(None, crop, source)
    wm = LatentWorldModel(encoder.eval(), predictor.eval(), crop=crop, max_batch=max_batch, device=device)
    info = {"source": str(where), "format": "released V-JEPA 2-AC", "crop": crop,
            "image_size": encoder.cfg.img_size, "tokens_per_frame": predictor.cfg.tokens_per_frame,
            "embed_dim": predictor.cfg.embed_dim, "encoder_width": encoder.cfg.embed_dim,
            "encoder_depth": encoder.cfg.depth, "predictor_width": predictor.cfg.width,
            "predictor_depth": predictor.cfg.depth, "step": None}
    return LoadedWorldModel(wm, model_id(source), image_size=encoder.cfg.img_size, fps=RELEASED_AC_FPS, info=info)


def _hub(source: str, device: torch.device, crop: str | None, max_batch: int | None) -> LoadedWorldModel:
    """A Hub-layout folder or a Hub id (``vjepa_ac.hub``; offline with ``HF_HUB_OFFLINE=1`` and a
    cached or local copy). The id of a folder hashes its weights; a Hub repository is its id."""
    from vjepa_ac.hub_layout import WEIGHTS_NAME

    path = Path(source)
    try:
        from vjepa_ac.hub import HubWorldModel

        hub = HubWorldModel.from_pretrained(source)
    except (ImportError, OSError, ValueError) as e:
        if path.is_dir():
            raise
        raise FileNotFoundError(f"world model source not found: {source} is no path here, and the Hub repository "
                                f"{source!r} could not be loaded ({type(e).__name__}: {str(e)[:300]})") from e
    crop = _plan_crop(hub.crop, crop, source)
    mid = model_id(path / WEIGHTS_NAME) if path.is_dir() else source
    info = {"source": source, "format": "hub", "step": hub.step, "crop": crop, "image_size": hub.image_size,
            "tokens_per_frame": hub.predictor.cfg.tokens_per_frame, "embed_dim": hub.predictor.cfg.embed_dim,
            "fps": hub.fps, "trained_from": hub.source}
    wm = LatentWorldModel(hub.encoder, hub.predictor, crop=crop, max_batch=max_batch, device=device)
    return LoadedWorldModel(wm, mid, image_size=hub.image_size, fps=hub.fps, info=info)


def load_world_model(source: str | Path, *, device: str | torch.device = "cpu", crop: str | None = None,
                     max_batch: int | None = None, encoder_kwargs: Mapping[str, Any] | None = None,
                     predictor_kwargs: Mapping[str, Any] | None = None) -> LoadedWorldModel:
    """The world model of ``source`` on ``device`` (``"auto"``: cuda when available).

    source: ``toy:[k=v,...]``, ``tiny:[k=v,...]``, a training run folder (its latest checkpoint),
    the main job's work_dir (its run in ``train/``), a Hub-layout folder or a Hugging Face Hub id
    ``owner/name`` (``vjepa_ac.hub``, needs the ``[hub]`` extra), a training checkpoint ``step_*.pt``, a
    release name (``vjepa2-ac-vitg``) or URL, or a released-format ``.pt`` / ``.safetensors``
    file (``encoder`` + ``predictor`` entries; its architecture from ``encoder_kwargs`` /
    ``predictor_kwargs``, default the released ViT-g AC at 256 px).
    crop: the planning crop of camera frames; None: the training run's, else ``square``.
    max_batch: candidate sequences per predictor call (None: all at once).

    Raises ``FileNotFoundError`` (naming the path) for a missing source, ``ValueError`` for a bad
    ``toy:`` / ``tiny:`` spec or a file that is not a checkpoint, and
    ``official.CheckpointMismatchError`` when a file's weights do not fit the given architecture.
    """
    dev = resolve_device(device)
    s = str(source)
    if s.startswith("toy:"):
        return _toy(s[len("toy:"):], dev)
    if s.startswith("tiny:"):
        return _tiny(s[len("tiny:"):], dev, crop, max_batch)
    if s in RELEASED or s.startswith(("http://", "https://")):
        return _released(s, dev, crop, max_batch, encoder_kwargs, predictor_kwargs)
    from vjepa_ac.hub_layout import is_hub_folder, looks_like_hub_id

    path = Path(s)
    if is_hub_folder(path) or looks_like_hub_id(s):
        return _hub(s, dev, crop, max_batch)
    if path.is_dir():
        return _training_checkpoint(find_checkpoint(path), dev, crop, max_batch)
    if not path.is_file():
        raise FileNotFoundError(f"world model source not found: {path} (a run folder, a checkpoint, a release "
                                "name, or toy: / tiny:)")
    if path.suffix == ".pt" and path.name.startswith("step_") and encoder_kwargs is None and predictor_kwargs is None:
        return _training_checkpoint(path, dev, crop, max_batch)
    return _released(s, dev, crop, max_batch, encoder_kwargs, predictor_kwargs)


def load_decoder_for(source: str | Path, loaded: LoadedWorldModel, decoder: str | Path | None = "auto"):
    """The frame decoder to picture ``loaded``'s predictions with (``models.decoder``), or None.

    decoder: ``"auto"`` the one beside the model (``runs.find_decoder``; None when there is none or
    it does not fit the model), a path (must fit: ``ValueError`` naming the file otherwise), or
    None / ``"none"`` for no pictures. Fitting means the same feature width, tokens per frame and
    image size as the model's encoder. Returns ``(FrameDecoder, meta)`` or None.
    """
    from vjepa_ac.models.decoder import load_decoder

    if decoder is None or str(decoder) == "none":
        return None
    path = find_decoder(source) if str(decoder) == "auto" else Path(decoder)
    if path is None:
        return None
    dec, meta = load_decoder(path, getattr(loaded.world_model, "device", "cpu"))
    wm = getattr(loaded.world_model, "model", None)
    predictor = getattr(wm, "predictor", None)
    problem = None
    if predictor is None:
        problem = "the model has no V-JEPA predictor to picture"
    elif (dec.cfg.embed_dim, dec.cfg.tokens_per_frame) != (predictor.cfg.embed_dim, predictor.cfg.tokens_per_frame):
        problem = (f"it reads [{dec.cfg.tokens_per_frame}, {dec.cfg.embed_dim}] features, the model's are "
                   f"[{predictor.cfg.tokens_per_frame}, {predictor.cfg.embed_dim}]")
    elif loaded.image_size is not None and dec.cfg.size_hw != (loaded.image_size, loaded.image_size):
        problem = f"it draws {dec.cfg.size_hw} px frames, the model sees {loaded.image_size} px"
    if problem is not None:
        if str(decoder) == "auto":
            log.warning("decoder %s not used: %s", path, problem)
            return None
        raise ValueError(f"decoder {path} does not fit {source}: {problem}")
    return dec, {**meta, "path": str(path)}
