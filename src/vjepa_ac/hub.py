"""The AC world model in the Hugging Face Hub layout: ``save_pretrained`` / ``from_pretrained`` /
``push_to_hub`` through ``huggingface_hub``'s ``PyTorchModelHubMixin`` (optional ``[hub]`` extra).

A Hub-layout folder (or Hub repository) holds::

    model.safetensors  encoder.<released encoder key> and predictor.<released predictor key>
                       tensors (the key names of ``vjepa2-ac-vitg.pt``'s two entries, prefixed)
    config.json        HUB_FORMAT, the public constructor arguments of both models, and the
                       planning facts: fps (actions / s), crop, image size, action layout,
                       pixel normalisation; the source, step, training config and eval table
    README.md          a generated model card (architecture, planning facts, training config,
                       eval table when there is one)

``HubWorldModel.from_pretrained(repo_id_or_folder)`` loads strictly (every key, every shape) and
refuses a folder whose action layout or normalisation is not the one this code plans with.
``vjepa_ac.load.load_world_model`` accepts such a folder or a Hub id; ``export_hub`` (``vjepa-ac
export-hub``) writes one from a release, a released-format file, a run folder or a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vjepa_ac import runs
from vjepa_ac.data.transforms import CROPS
from vjepa_ac.hub_layout import (
    ACTION_LAYOUT,
    CONFIG_NAME,
    HUB_FORMAT,
    LIBRARY_NAME,
    NORMALISATION,
    WEIGHTS_NAME,
    is_hub_folder,
    looks_like_hub_id,
    model_card,
    read_eval_results,
)
from vjepa_ac.models.encoder import VisionTransformer
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.official import (
    RELEASED,
    RELEASED_AC_FPS,
    CheckpointMismatchError,
    encoder_config,
    encoder_kwargs,
    load_released_ac,
    predictor_config,
    released_predictor_kwargs,
)

def _mixin() -> type:
    try:
        from huggingface_hub import PyTorchModelHubMixin
    except ImportError as e:  # the [hub] extra is optional
        raise ImportError("the Hugging Face Hub layout needs huggingface_hub: pip install 'vjepa-ac[hub]'") from e
    return PyTorchModelHubMixin


class HubWorldModel(nn.Module, _mixin(), library_name=LIBRARY_NAME, tags=["robotics", "world-model", "v-jepa-2-ac"],
                    repo_url="https://github.com/facebookresearch/vjepa2", license="mit"):
    """Frozen V-JEPA 2 encoder + AC predictor + the facts needed to plan with them.

    encoder_kwargs / predictor_kwargs: the public ``VisionTransformer`` /
    ``VisionTransformerPredictorAC`` constructor arguments (``official.encoder_kwargs`` /
    ``released_predictor_kwargs``)
    fps: control rate the predictor was trained for (actions per second), or None if unknown
    crop: named crop (``data.transforms.CROPS``) frames are planned with
    action_layout / normalisation: must equal ``ACTION_LAYOUT`` / ``NORMALISATION`` (ValueError)
    source, step, training_config, eval_results: provenance for the model card (not used to plan)

    Modules: ``encoder`` (``VisionTransformer``: clip ``[B, 3, T, H, W]`` -> ``[B, T/2*N, D]``)
    and ``predictor`` (``ACPredictor``: ``z [B, T*N, D]``, actions / states ``[B, T, 7]`` ->
    ``[B, T*N, D]``). Built with uninitialised weights: use ``from_pretrained`` or ``from_models``.
    """

    def __init__(self, encoder_kwargs: dict, predictor_kwargs: dict, fps: float | None = None, crop: str = "square",
                 action_layout: dict | None = None, normalisation: dict | None = None, source: str | None = None,
                 step: int | None = None, training_config: dict | None = None, eval_results: dict | None = None,
                 format: str = HUB_FORMAT):
        super().__init__()
        _check_facts(format, crop, action_layout, normalisation)
        enc = VisionTransformer(encoder_config(**encoder_kwargs), device="meta")
        pred = ACPredictor(predictor_config(**predictor_kwargs), device="meta")
        self.encoder = enc.to_empty(device="cpu").eval()  # overwritten by from_pretrained / from_models
        self.predictor = pred.to_empty(device="cpu").eval()
        self.fps = None if fps is None else float(fps)
        self.crop = crop
        self.source, self.step = source, step
        self.training_config, self.eval_results = training_config, eval_results

    @classmethod
    def from_models(cls, encoder: VisionTransformer, predictor: ACPredictor, **facts: Any) -> HubWorldModel:
        """Wrap loaded models (their tensors are shared, not copied); ``facts`` are the keyword
        arguments of ``__init__`` other than the two kwargs dicts."""
        facts = {"action_layout": ACTION_LAYOUT, "normalisation": NORMALISATION, **facts}
        _check_facts(HUB_FORMAT, facts.get("crop", "square"), facts["action_layout"], facts["normalisation"])
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._hub_mixin_config = {  # what the mixin writes as config.json
            "format": HUB_FORMAT, "encoder_kwargs": encoder_kwargs(encoder.cfg),
            "predictor_kwargs": released_predictor_kwargs(predictor.cfg), **_jsonable(facts)}
        self.encoder, self.predictor = encoder.eval(), predictor.eval()
        self.fps = None if facts.get("fps") is None else float(facts["fps"])
        self.crop = facts.get("crop", "square")
        self.source, self.step = facts.get("source"), facts.get("step")
        self.training_config, self.eval_results = facts.get("training_config"), facts.get("eval_results")
        return self

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None = None, cache_dir: str | Path | None = None,
                         force_download: bool = False, local_files_only: bool = False, token: str | bool | None = None,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs: Any) -> HubWorldModel:
        """The mixin's loading step, made strict and safetensors-only: every key of
        ``model.safetensors`` must fit the model built from ``config.json`` (``strict=False``
        is refused, no pickle fallback). A local folder is read in place; a Hub id goes through
        ``hf_hub_download`` (its cache; ``HF_HUB_OFFLINE=1`` never connects).

        Raises ``FileNotFoundError`` for a folder without ``model.safetensors`` / ``config.json``
        and ``official.CheckpointMismatchError`` naming the file and the keys that do not fit."""
        from safetensors.torch import load_file

        for name in ("proxies", "resume_download"):  # passed by older huggingface_hub versions
            model_kwargs.pop(name, None)
        if not strict:
            raise ValueError("HubWorldModel loads strictly (strict=False would leave weights uninitialised)")
        folder = Path(model_id)
        if folder.is_dir():
            for name in (CONFIG_NAME, WEIGHTS_NAME):
                if not (folder / name).is_file():
                    raise FileNotFoundError(f"{folder}: no {name} (not a Hub-layout folder written by save_pretrained)")
            file = folder / WEIGHTS_NAME
        else:
            from huggingface_hub import hf_hub_download

            file = Path(hf_hub_download(repo_id=model_id, filename=WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                                        force_download=force_download, token=token,
                                        local_files_only=local_files_only))
        model = cls(**model_kwargs)
        state = load_file(str(file), device=str(map_location))
        want = model.state_dict()
        missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
        shapes = sorted(k for k in set(want) & set(state) if want[k].shape != state[k].shape)
        if missing or unexpected or shapes:
            raise CheckpointMismatchError(f"{file}: does not fit its {CONFIG_NAME}: missing {missing[:8]}, "
                                          f"unexpected {unexpected[:8]}, other shapes {shapes[:8]}")
        model.load_state_dict(state, strict=True)
        return model.eval()

    @property
    def image_size(self) -> int:
        return self.encoder.cfg.img_size

    def generate_model_card(self, *args: Any, **kwargs: Any):
        """The README.md the mixin writes beside the weights (``model_card`` below)."""
        from huggingface_hub import ModelCard

        cfg = getattr(self, "_hub_mixin_config", None) or {}
        return ModelCard(model_card(cfg))


def _check_facts(format: str, crop: str, action_layout: dict | None, normalisation: dict | None) -> None:
    """Raise ``ValueError`` naming the ``config.json`` field whose value this code cannot plan with."""
    if format != HUB_FORMAT:
        raise ValueError(f"{CONFIG_NAME}: format {format!r}, expected {HUB_FORMAT!r}")
    if crop not in CROPS:
        raise ValueError(f"{CONFIG_NAME}: crop {crop!r} is not one of {CROPS}")
    for key, got, want in (("action_layout", action_layout, ACTION_LAYOUT), ("normalisation", normalisation,
                                                                               NORMALISATION)):
        if got is not None and got != want:
            raise ValueError(f"{CONFIG_NAME}: {key} {got} differs from the one this code plans with: {want}")


def _jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (tuples -> lists, paths -> str); raises TypeError otherwise."""
    return json.loads(json.dumps(obj, default=lambda o: str(o) if isinstance(o, Path) else _no_json(o)))


def _no_json(o: Any) -> Any:
    raise TypeError(f"not JSON-serialisable in the Hub config: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------
# converting what we have into the Hub layout


def hub_model_from_source(source: str | Path, *, crop: str | None = None, fps: float | None = None,
                          encoder_kwargs: Mapping[str, Any] | None = None,
                          predictor_kwargs: Mapping[str, Any] | None = None) -> HubWorldModel:
    """A ``HubWorldModel`` of ``source``: a release name (``vjepa2-ac-vitg``) or URL, a
    released-format ``.pt`` / ``.safetensors`` file (``encoder`` + ``predictor`` entries), a
    training run folder, the main job's folder, a training checkpoint ``step_*.pt``, a
    Hub-layout folder or a Hub id. ``crop`` / ``fps`` override what the source records (releases and
    released files: ``square`` and the paper's 4 actions/s). A LoRA run's adapters are merged.

    Raises ``FileNotFoundError`` naming a missing source and ``ValueError`` /
    ``official.CheckpointMismatchError`` for files that are not checkpoints of the architecture."""
    s = str(source)
    path = Path(s)
    if is_hub_folder(path) or looks_like_hub_id(s):
        model = HubWorldModel.from_pretrained(s)
        facts = dict(fps=model.fps if fps is None else fps, crop=crop or model.crop, source=model.source,
                     step=model.step, training_config=model.training_config, eval_results=model.eval_results)
        return HubWorldModel.from_models(model.encoder, model.predictor, **facts)
    is_run = path.is_dir() or (path.suffix == ".pt" and runs.is_checkpoint_name(path) and encoder_kwargs is None)
    if is_run:
        ckpt = runs.find_checkpoint(path) if path.is_dir() else path
        state = runs.load_checkpoint(ckpt)
        encoder = runs.encoder_from_checkpoint(state, ckpt)
        predictor = runs.predictor_from_state(state)
        config = state["config"]
        facts = dict(fps=fps if fps is not None else float(config["data"]["clips"]["fps"]),
                     crop=crop or runs.training_crop(state) or "square", source=str(ckpt), step=int(state["step"]),
                     training_config=config)
        return HubWorldModel.from_models(encoder, predictor, **facts)
    if s not in RELEASED and not s.startswith(("http://", "https://")) and not path.is_file():
        raise FileNotFoundError(f"export-hub source not found: {path} (a run folder, a checkpoint, a "
                                "released-format file, a release name or a Hub-layout folder)")
    rel = RELEASED.get(s)
    if rel is not None and not rel.has_predictor:
        raise ValueError(f"{s}: an encoder-only release has no predictor to export")
    encoder, predictor = load_released_ac(rel.url if rel else s, encoder_kwargs=encoder_kwargs,
                                          predictor_kwargs=predictor_kwargs)
    facts = dict(fps=RELEASED_AC_FPS if fps is None else fps, crop=crop or "square", source=s, step=None)
    return HubWorldModel.from_models(encoder, predictor, **facts)


def export_hub(source: str | Path, out_dir: str | Path, *, eval_results: str | Path | None = None,
               crop: str | None = None, fps: float | None = None, encoder_kwargs: Mapping[str, Any] | None = None,
               predictor_kwargs: Mapping[str, Any] | None = None) -> Path:
    """Write ``source`` (see ``hub_model_from_source``) as a Hub-layout folder ``out_dir``
    (``model.safetensors``, ``config.json``, ``README.md``); ``eval_results``: an ``eval sim``
    ``results.json`` whose summary goes into the config and the card. Returns ``out_dir``."""
    model = hub_model_from_source(source, crop=crop, fps=fps, encoder_kwargs=encoder_kwargs,
                                  predictor_kwargs=predictor_kwargs)
    if eval_results is not None:
        model.eval_results = read_eval_results(eval_results)
        model._hub_mixin_config["eval_results"] = _jsonable(model.eval_results)
    out = Path(out_dir)
    if (out / "README.md").exists():
        (out / "README.md").unlink()  # the mixin keeps an existing card; this one describes the new weights
    with torch.no_grad():
        model.save_pretrained(out)
    return out
