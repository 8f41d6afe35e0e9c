"""Training runs on disk, read without training code: the checkpoint format and its readers.

A training run folder (``TrainConfig.run_dir``) holds ``config.yaml`` and
``checkpoints/step_XXXXXXXX.pt``; the main job's folder (``vjepa-ac pipeline``'s ``work_dir``,
e.g. ``runs/sim``) holds its training run in ``train/``. A checkpoint is a dict (every value a
tensor, number, string, list or dict, so ``torch.load(weights_only=True)`` reads it without
running pickled code)::

    format            CHECKPOINT_FORMAT
    config            the resolved TrainConfig as a plain dict (rebuilds the model)
    predictor_kwargs  the public VisionTransformerPredictorAC arguments of the predictor
    model             predictor state dict (released key names)
    optimizer         AdamW state dict
    step              optimizer steps done (the next step to run)
    epoch             data epoch of the next step
    samples_in_epoch  clips of that epoch already consumed, over all processes
    rng               python / numpy / torch (/ cuda) generator states

Writing checkpoints (atomic saves, keep-last-N, RNG capture) is training's job
(``train/checkpoint.py``); this module is what planning, serving and evaluation need to read
one back: find a run's latest checkpoint, rebuild its frozen encoder and its predictor from the
stored config, and read the crop the run trained with.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vjepa_ac.config import from_dict
from vjepa_ac.hub_layout import is_hub_folder, looks_like_hub_id
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.models.lora import has_lora, lora_scaling, merge_lora_state
from vjepa_ac.models.predictor import RELEASED_NORM_EPS, ACPredictor, PredictorConfig
from vjepa_ac.official import RELEASED, encoder_kwargs, load_encoder, load_released_encoder

CHECKPOINT_FORMAT = "vjepa_ac.train.checkpoint/1"
CHECKPOINTS_DIR = "checkpoints"
MAIN_JOB_RUN = "train"  # the main job's training run, inside its work_dir (pipeline.resolve)
_NAME = re.compile(r"^step_(\d{8})\.pt$")


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step_{step:08d}.pt"


def is_checkpoint_name(path: str | Path) -> bool:
    """True for ``step_XXXXXXXX.pt`` (eight digits), the names training writes."""
    return _NAME.match(Path(path).name) is not None


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


def find_checkpoint(folder: str | Path) -> Path:
    """The latest checkpoint of a run folder: ``folder/checkpoints``, ``folder`` itself, or the
    main job's run ``folder/train/checkpoints``. Raises ``FileNotFoundError`` naming the places."""
    folder = Path(folder)
    places = [folder / CHECKPOINTS_DIR, folder, folder / MAIN_JOB_RUN / CHECKPOINTS_DIR]
    for place in places:
        found = latest_checkpoint(place)
        if found is not None:
            return found
    raise FileNotFoundError(
        f"{folder}: no training checkpoint (step_*.pt) in {', '.join(str(p) for p in places)}; give a "
        "training run folder, the main job's work_dir, or a checkpoint file"
    )


DECODER_DIR, DECODER_FILE = "decoder", "decoder.pt"  # <run or work_dir>/decoder/decoder.pt (vjepa-ac decoder train)


def find_decoder(source: str | Path) -> Path | None:
    """The frame decoder beside a model, or None: ``<folder>/decoder/decoder.pt`` of a run folder or
    the main job's work_dir, or of the folder above a run (the main job's ``train/`` run); a
    checkpoint ``step_*.pt`` looks from its run folder. Anything else (a release, ``tiny:``) has none."""
    path = Path(str(source))
    if path.is_file():
        if not is_checkpoint_name(path):
            return None
        path = run_dir_of(path)
    if not path.is_dir():
        return None
    for folder in (path, path.parent):
        if (folder / DECODER_DIR / DECODER_FILE).is_file():
            return folder / DECODER_DIR / DECODER_FILE
    return None


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint (``weights_only=True``, on the CPU). Raises ``FileNotFoundError``
    for a missing file and ``ValueError`` naming the file for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:300]})") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: not a vjepa_ac training checkpoint (format {state.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
            if isinstance(state, dict)
            else f"{path}: not a dict"
        )
    return state


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run folder of ``checkpoint`` (``<run>/checkpoints/step_*.pt`` -> ``<run>``)."""
    parent = Path(checkpoint).parent
    return parent.parent if parent.name == CHECKPOINTS_DIR else parent


def locate(stored: str | Path, run_dir: str | Path) -> Path:
    """A file a run's config names, found wherever the run is now.

    ``stored`` itself when it is an absolute path that exists; else its trailing path components
    (longest first) next to the run folder or one of its parents, nearest first; else ``stored``
    relative to the working directory. A relative path was written relative to the directory the
    run was started in, which is usually a parent of the run folder, so a run folder loads from
    any working directory, and after its work folder was moved or copied. Raises
    ``FileNotFoundError`` naming where it looked."""
    stored, run_dir = Path(stored), Path(run_dir).resolve()
    if stored.is_absolute() and stored.is_file():
        return stored
    tails = [Path(*stored.parts[i:]) for i in range(len(stored.parts)) if not Path(stored.parts[i]).anchor]
    for base in (run_dir, *run_dir.parents):
        for tail in tails:
            if (base / tail).is_file():
                return base / tail
    if stored.is_file():
        return stored
    raise FileNotFoundError(
        f"checkpoint not found: {stored} (named by the run {run_dir}; also looked for "
        f"{stored.name} beside the run folder and its parents)"
    )


# ---------------------------------------------------------------------------------------------
# rebuilding a run's models


def frozen_encoder(cfg: EncoderConfig, checkpoint: str, key: str | None = None, init_seed: int = 0) -> VisionTransformer:
    """The frozen encoder a run's ``model`` section describes: ``checkpoint="random"`` is a
    ``VisionTransformer(cfg)`` seeded with ``init_seed`` (the caller's RNG untouched); anything
    else is a Hub-layout folder or Hub id (its ``encoder.*`` tensors), or a released-format file,
    release name or URL read with ``cfg``'s architecture (``official.load_released_encoder``;
    raises ``FileNotFoundError`` / ``CheckpointMismatchError``)."""
    if checkpoint == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            return VisionTransformer(cfg)
    if is_hub_folder(checkpoint) or looks_like_hub_id(checkpoint):
        from vjepa_ac.hub_layout import hub_folder, read_hub_part

        state, _ = read_hub_part(hub_folder(checkpoint), "encoder")
        return load_encoder(state, **encoder_kwargs(cfg))
    return load_released_encoder(checkpoint, key=key, encoder_kwargs=encoder_kwargs(cfg))


def model_section(state: Mapping[str, Any]) -> dict:
    return dict(state["config"]["model"])


def encoder_from_checkpoint(state: Mapping[str, Any], path: str | Path) -> VisionTransformer:
    """The frozen encoder of the run that wrote ``state`` (read from ``path``); a relative or
    moved encoder file is found with ``locate``."""
    m = model_section(state)
    cfg = from_dict(EncoderConfig, m["encoder"], "model.encoder")
    checkpoint = str(m.get("encoder_checkpoint", "random"))
    if (checkpoint != "random" and checkpoint not in RELEASED and not checkpoint.startswith(("http://", "https://"))
            and not is_hub_folder(checkpoint) and not looks_like_hub_id(checkpoint)):
        checkpoint = str(locate(checkpoint, run_dir_of(path)))
    return frozen_encoder(cfg, checkpoint, m.get("encoder_key"), int(m.get("init_seed", 0))).eval()


def plain_predictor_state(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The checkpoint's predictor weights under the released key names: a LoRA run's adapters
    (``finetune.lora``) merged into their base weights (``models.lora``), anything else as stored."""
    weights = state["model"]
    if not has_lora(weights):
        return dict(weights)
    lora = state["config"].get("finetune", {}).get("lora", {})
    if not lora.get("rank"):
        raise ValueError("checkpoint holds LoRA adapters but its config has no finetune.lora.rank")
    return merge_lora_state(weights, lora_scaling(lora["rank"], lora["alpha"]))


def stored_predictor_config(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A run's saved ``model.predictor`` config; runs saved before ``norm_eps`` was a field were
    trained with the release's LayerNorm eps (1e-6), not today's default."""
    return {"norm_eps": RELEASED_NORM_EPS, **stored}


def predictor_from_state(state: Mapping[str, Any]) -> ACPredictor:
    """The predictor of a training checkpoint, rebuilt from the config stored in it (eval mode);
    LoRA adapters are merged (``plain_predictor_state``)."""
    cfg = PredictorConfig(**stored_predictor_config(state["config"]["model"]["predictor"]))
    model = ACPredictor(cfg, device="meta")
    model.load_state_dict(plain_predictor_state(state), strict=True, assign=True)
    return model.eval()


def training_crop(state: Mapping[str, Any]) -> str | None:
    """The named crop the run's clips were made with (``data.clips.crop``), or None if unrecorded."""
    try:
        return str(state["config"]["data"]["clips"]["crop"])
    except (KeyError, TypeError):
        return None
