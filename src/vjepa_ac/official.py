"""Compatibility with the released V-JEPA 2 / V-JEPA 2-AC checkpoints and Hugging Face weights.

Stable public API (called by code outside the project):

- ``load_predictor(state_dict, **kwargs)``: an ``ACPredictor`` from a released-format state dict
  and the public ``VisionTransformerPredictorAC`` constructor arguments.
- ``load_encoder(state_dict, **kwargs)``: a ``VisionTransformer`` likewise for the public
  ``VisionTransformer``.

Loading is strict: prefixes (``module.``, ``backbone.``) are stripped, names mapped, and a key or
shape mismatch raises an error listing the offending keys. Files are read with
``torch.load(weights_only=True)`` or safetensors, so no pickled code ever runs.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from vjepa_ac.atomic import atomic_path
from vjepa_ac.models.encoder import ENCODER_PRESETS, EncoderConfig, VisionTransformer
from vjepa_ac.models.predictor import RELEASED_NORM_EPS, ACPredictor, PredictorConfig

RELEASE_BASE_URL = "https://dl.fbaipublicfiles.com/vjepa2"
STRIP_PREFIXES = ("module.", "backbone.")
# keys of released encoder files that a RoPE encoder has no use for
IGNORED_ENCODER_KEYS = ("pos_embed",)


@dataclass(frozen=True)
class ReleasedCheckpoint:
    """One file of the public release."""

    file: str
    encoder_preset: str
    img_size: int
    encoder_key: str  # which entry holds the encoder weights
    has_predictor: bool = False

    @property
    def url(self) -> str:
        return f"{RELEASE_BASE_URL}/{self.file}"


RELEASED: dict[str, ReleasedCheckpoint] = {
    "vitl": ReleasedCheckpoint("vitl.pt", "vit_large", 256, "target_encoder"),
    "vith": ReleasedCheckpoint("vith.pt", "vit_huge", 256, "target_encoder"),
    "vitg": ReleasedCheckpoint("vitg.pt", "vit_giant", 256, "target_encoder"),
    "vitg-384": ReleasedCheckpoint("vitg-384.pt", "vit_giant", 384, "target_encoder"),
    "vjepa2-ac-vitg": ReleasedCheckpoint("vjepa2-ac-vitg.pt", "vit_giant", 256, "encoder", has_predictor=True),
}

# transformers' VJEPA2Model repositories (encoder weights under other key names)
HF_ENCODERS: dict[str, str] = {
    "vitl": "facebook/vjepa2-vitl-fpc64-256",
    "vith": "facebook/vjepa2-vith-fpc64-256",
    "vitg": "facebook/vjepa2-vitg-fpc64-256",
    "vitg-384": "facebook/vjepa2-vitg-fpc64-384",
}

# The paper's stated control / frame rate of V-JEPA 2-AC, actions per second (REFERENCE.md section 6
# has the caveat that the released loader's clips really step ~1 s).
RELEASED_AC_FPS = 4.0

# The released AC predictor on ViT-g at 256 px.
RELEASED_AC_PREDICTOR_KWARGS: dict[str, Any] = dict(
    img_size=(256, 256), patch_size=16, num_frames=64, tubelet_size=2, embed_dim=1408,
    predictor_embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0, use_extrinsics=False,
    action_embed_dim=7, use_rope=True, is_frame_causal=True,
)


class CheckpointMismatchError(KeyError):
    """State dict keys or shapes differ from the model's; the message lists them."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


# ---------------------------------------------------------------------------------------------
# state dict helpers


def strip_prefixes(state_dict: Mapping[str, Tensor], prefixes: tuple[str, ...] = STRIP_PREFIXES) -> dict[str, Tensor]:
    """Remove DDP/backbone wrappers' prefixes (``module.backbone.blocks.0...`` -> ``blocks.0...``)."""
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if key.startswith(p):
                    key, changed = key[len(p) :], True
        if key in out:
            raise CheckpointMismatchError(f"two entries map to {key!r} after stripping {prefixes}")
        out[key] = value
    return out


def load_strict(module: nn.Module, state_dict: Mapping[str, Tensor], what: str, ignore: tuple[str, ...] = ()) -> None:
    """Copy ``state_dict`` into ``module`` (assigning tensors, so meta-built modules work),
    after checking that key sets and every shape agree."""
    expected = module.state_dict()
    given = {k: v for k, v in state_dict.items() if k not in ignore}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(given))
        if tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        lines = [f"{what}: state dict does not match the model"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {missing[:20]}{' ...' if len(missing) > 20 else ''}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}")
        if shapes:
            lines.append(f"  shape mismatches ({len(shapes)}): " + "; ".join(shapes[:20]))
        raise CheckpointMismatchError("\n".join(lines))
    dtype = next(iter(expected.values())).dtype
    module.load_state_dict({k: v.to(dtype) for k, v in given.items()}, strict=True, assign=True)


def _pop_kwargs(kwargs: dict, accepted: dict[str, Any], neutral: dict[str, Any], what: str) -> dict[str, Any]:
    """Split the public constructor's kwargs into the ones we map and ones with no effect at
    inference (accepted only at their neutral values); anything else is an error."""
    unknown = sorted(set(kwargs) - set(accepted) - set(neutral))
    if unknown:
        raise TypeError(f"{what}: unsupported argument(s) {unknown}")
    for k in set(kwargs) & set(neutral):
        if neutral[k] is not None and kwargs[k] != neutral[k]:
            raise ValueError(f"{what}: {k}={kwargs[k]!r} is not supported (only {neutral[k]!r})")
    return {k: kwargs.get(k, default) for k, default in accepted.items()}


def _square(img_size) -> tuple[int, int]:
    if isinstance(img_size, int):
        return img_size, img_size
    h, w = img_size
    return int(h), int(w)


# ---------------------------------------------------------------------------------------------
# public API


_PREDICTOR_NEUTRAL = dict(
    qkv_bias=True, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=None, norm_layer=None,
    init_std=None, uniform_power=None, use_silu=False, wide_silu=None, use_sdpa=None, use_activation_checkpointing=None,
    num_frames=None, tubelet_size=None,
)


def kwargs_norm_eps(kwargs: Mapping[str, Any]) -> float:
    """The predictor's LayerNorm eps in constructor kwargs: ``norm_eps`` (vjepa-ac's exports store
    it), else the release's 1e-6 (the public ``vit_ac_predictor`` factory's)."""
    return float(kwargs.get("norm_eps", RELEASED_NORM_EPS))


def predictor_config(**kwargs) -> PredictorConfig:
    """``PredictorConfig`` from the public ``VisionTransformerPredictorAC`` arguments.

    ``norm_eps`` as ``kwargs_norm_eps`` reads it: kwargs without it describe released weights."""
    a = _pop_kwargs(
        kwargs,
        dict(img_size=(224, 224), patch_size=16, embed_dim=768, predictor_embed_dim=1024, depth=24, num_heads=16,
             mlp_ratio=4.0, use_extrinsics=False, action_embed_dim=7, use_rope=True, is_frame_causal=True,
             norm_eps=kwargs_norm_eps(kwargs)),
        _PREDICTOR_NEUTRAL,
        "load_predictor",
    )
    if not a["use_rope"]:
        raise ValueError("load_predictor: use_rope=False predictors are not supported (V-JEPA 2-AC uses RoPE)")
    return PredictorConfig(
        img_size=_square(a["img_size"]), patch_size=a["patch_size"], embed_dim=a["embed_dim"],
        width=a["predictor_embed_dim"], depth=a["depth"], num_heads=a["num_heads"], mlp_ratio=float(a["mlp_ratio"]),
        action_dim=a["action_embed_dim"], use_extrinsics=bool(a["use_extrinsics"]), block_causal=bool(a["is_frame_causal"]),
        norm_eps=float(a["norm_eps"]),
    )


def load_predictor(state_dict: Mapping[str, Tensor], **kwargs) -> ACPredictor:
    """An ``ACPredictor`` whose ``forward(z, actions, states, extrinsics=None)`` returns what the
    public ``VisionTransformerPredictorAC(**kwargs)`` with ``state_dict`` and LayerNorm eps
    ``kwargs["norm_eps"]`` returns (1e-6 without it, as the release is built)."""
    cfg = predictor_config(**kwargs)
    model = ACPredictor(cfg, device="meta")
    load_strict(model, strip_prefixes(state_dict), "load_predictor")
    return model.eval()


_ENCODER_NEUTRAL = dict(
    in_chans=3, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=None, norm_layer=None, init_std=None,
    out_layers=None, uniform_power=None, use_silu=False, use_SiLU=False, wide_silu=None, wide_SiLU=None, use_sdpa=None,
    use_activation_checkpointing=None, handle_nonsquare_inputs=None, num_frames=None,
)


def encoder_config(**kwargs) -> EncoderConfig:
    """``EncoderConfig`` from the public ``VisionTransformer`` arguments."""
    a = _pop_kwargs(
        kwargs,
        dict(img_size=224, patch_size=16, tubelet_size=2, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0,
             qkv_bias=True, use_rope=True, norm_eps=1e-6),
        _ENCODER_NEUTRAL,
        "load_encoder",
    )
    if not a["use_rope"]:
        raise ValueError("load_encoder: use_rope=False encoders are not supported (V-JEPA 2 uses RoPE)")
    h, w = _square(a["img_size"])  # (H, W), like the public VisionTransformer
    return EncoderConfig(
        img_size=(h, w), patch_size=a["patch_size"], tubelet_size=a["tubelet_size"], embed_dim=a["embed_dim"],
        depth=a["depth"], num_heads=a["num_heads"], mlp_ratio=float(a["mlp_ratio"]), qkv_bias=bool(a["qkv_bias"]),
        norm_eps=float(a["norm_eps"]),
    )


def load_encoder(state_dict: Mapping[str, Tensor], **kwargs) -> VisionTransformer:
    """A ``VisionTransformer`` whose ``forward(clip [B, C, T, H, W])`` returns the public
    ``VisionTransformer(**kwargs)``'s tokens for ``state_dict``."""
    cfg = encoder_config(**kwargs)
    model = VisionTransformer(cfg, device="meta")
    load_strict(model, strip_prefixes(state_dict), "load_encoder", ignore=IGNORED_ENCODER_KEYS)
    return model.eval()


def export_predictor(predictor: ACPredictor) -> dict[str, Tensor]:
    """The predictor's weights under the released key names (ours are the same names)."""
    return {k: v.detach().clone() for k, v in predictor.state_dict().items()}


# The public predictor builds its block-causal mask once, for num_frames // tubelet_size steps
# (app/vjepa_droid: max_num_frames=512, tubelet_size=2 -> contexts of up to 256 frames).
PUBLIC_PREDICTOR_NUM_FRAMES = 512
PUBLIC_PREDICTOR_TUBELET = 2


def released_predictor_kwargs(cfg: PredictorConfig) -> dict[str, Any]:
    """The public ``VisionTransformerPredictorAC`` constructor arguments that rebuild ``cfg``
    (stored next to exports), JSON-serialisable.

    Includes ``num_frames``/``tubelet_size`` (the public mask covers ``num_frames //
    tubelet_size`` = 256 steps, as the public training code builds it) and ``norm_eps``, which
    ``load_predictor`` reads and the public class ignores (it takes a ``norm_layer`` callable,
    default ``nn.LayerNorm``, eps 1e-5): a predictor at ``norm_eps=1e-5`` is rebuilt exactly by
    ``VisionTransformerPredictorAC(**kwargs)``, one at the default (the release's 1e-6) also needs
    ``norm_layer=partial(nn.LayerNorm, eps=kwargs["norm_eps"])`` (docs/train.md).
    """
    return dict(
        img_size=list(cfg.img_size), patch_size=cfg.patch_size, embed_dim=cfg.embed_dim,
        predictor_embed_dim=cfg.width, depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
        use_extrinsics=cfg.use_extrinsics, action_embed_dim=cfg.action_dim, use_rope=True,
        is_frame_causal=cfg.block_causal, num_frames=PUBLIC_PREDICTOR_NUM_FRAMES,
        tubelet_size=PUBLIC_PREDICTOR_TUBELET, qkv_bias=True, norm_eps=cfg.norm_eps,
    )


# ---------------------------------------------------------------------------------------------
# files of the release


def default_cache_dir() -> Path:
    return Path(os.environ.get("VJEPA_AC_CACHE", Path(torch.hub.get_dir()) / "vjepa_ac"))


def read_checkpoint(path_or_url: str | Path, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Read a ``.pt`` (``weights_only=True``, memory-mapped) or ``.safetensors`` file, or download a
    URL once into ``cache_dir`` (default ``$VJEPA_AC_CACHE`` or torch hub's dir)."""
    s = str(path_or_url)
    if s.startswith(("http://", "https://")):
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        return torch.hub.load_state_dict_from_url(s, model_dir=str(cache), map_location="cpu", weights_only=True)
    path = Path(s)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        pass  # files written with the legacy (non-zip) serializer cannot be memory-mapped
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a readable weights file ({type(e).__name__}: {str(e)[:300]})") from e


def _entry(ckpt: Mapping[str, Any], key: str, source: str) -> Mapping[str, Tensor]:
    if key not in ckpt:
        raise CheckpointMismatchError(f"{source}: no entry {key!r}; entries: {sorted(ckpt)}")
    return ckpt[key]


ENCODER_KWARGS_KEY = "encoder_kwargs"  # our encoder files also store the constructor arguments
PREDICTOR_KWARGS_KEY = "predictor_kwargs"  # and exported predictors theirs (train/export.py)


def load_released_encoder(name_or_path: str | Path, key: str | None = None,
                          encoder_kwargs: Mapping[str, Any] | None = None,
                          cache_dir: str | Path | None = None) -> VisionTransformer:
    """An encoder of the public release by name (``vitl``, ``vith``, ``vitg``, ``vitg-384``,
    ``vjepa2-ac-vitg``: downloaded once), or from a local file in the same format.

    The architecture comes from ``encoder_kwargs`` (the public constructor's arguments) when
    given, else from the file's own ``encoder_kwargs`` entry (files written by ``save_encoder``),
    else from the release the file is named after. ``key`` defaults to the release's entry, or
    ``target_encoder`` (the weights the AC recipe uses).
    """
    s = str(name_or_path)
    rel = RELEASED.get(s) or RELEASED.get(Path(s).stem)
    source = rel.url if s in RELEASED else name_or_path
    ckpt = read_checkpoint(source, cache_dir)
    if encoder_kwargs is None:
        if ENCODER_KWARGS_KEY in ckpt:
            encoder_kwargs = dict(ckpt[ENCODER_KWARGS_KEY])
        elif rel is not None:
            encoder_kwargs = dict(img_size=rel.img_size, patch_size=16, tubelet_size=2,
                                  **ENCODER_PRESETS[rel.encoder_preset])
        else:
            raise ValueError(f"{name_or_path}: not a released file name and no stored encoder_kwargs; "
                             "pass encoder_kwargs")
    sd = _entry(ckpt, key or (rel.encoder_key if rel else "target_encoder"), str(source))
    return load_encoder(sd, **encoder_kwargs)


def encoder_kwargs(cfg: EncoderConfig) -> dict[str, Any]:
    """The public constructor arguments that rebuild ``cfg``."""
    img_size = cfg.img_size if isinstance(cfg.img_size, int) else list(cfg.img_size)
    return dict(img_size=img_size, patch_size=cfg.patch_size, tubelet_size=cfg.tubelet_size,
                embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias, norm_eps=cfg.norm_eps)


def save_encoder(encoder: VisionTransformer, path: str | Path) -> Path:
    """Write ``encoder`` in the released layout (``target_encoder``) plus its constructor
    arguments, atomically, so ``load_released_encoder(path)`` rebuilds it without other input."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"target_encoder": state, ENCODER_KWARGS_KEY: encoder_kwargs(encoder.cfg)}, tmp)
    return path


def load_released_ac(path_or_url: str | Path = RELEASED["vjepa2-ac-vitg"].url,
                     cache_dir: str | Path | None = None, encoder_kwargs: Mapping[str, Any] | None = None,
                     predictor_kwargs: Mapping[str, Any] | None = None) -> tuple[VisionTransformer, ACPredictor]:
    """The released V-JEPA 2-AC (``vjepa2-ac-vitg.pt``: ``encoder`` + ``predictor``), or a file
    in the same format of another architecture, described by ``encoder_kwargs`` /
    ``predictor_kwargs`` (the public constructors' arguments) or by the file's own
    ``encoder_kwargs`` / ``predictor_kwargs`` entries; without either, the released ViT-g AC's.

    Raises ``CheckpointMismatchError`` when the weights do not fit the architecture; its
    message says which arguments describe another one."""
    ckpt = read_checkpoint(path_or_url, cache_dir)
    source = str(path_or_url)
    enc_kw = encoder_kwargs if encoder_kwargs is not None else ckpt.get(ENCODER_KWARGS_KEY)
    pred_kw = predictor_kwargs if predictor_kwargs is not None else ckpt.get(PREDICTOR_KWARGS_KEY)
    described = enc_kw is not None and pred_kw is not None
    enc_kw = dict(enc_kw or dict(img_size=256, patch_size=16, tubelet_size=2, **ENCODER_PRESETS["vit_giant"]))
    pred_kw = dict(pred_kw or RELEASED_AC_PREDICTOR_KWARGS)
    try:
        encoder = load_encoder(_entry(ckpt, "encoder", source), **enc_kw)
        predictor = load_predictor(_entry(ckpt, "predictor", source), **pred_kw)
    except CheckpointMismatchError as e:
        if described:
            raise
        raise CheckpointMismatchError(
            f"{source}: its weights are not the released ViT-g AC's, and the file does not describe its "
            "architecture; pass encoder_kwargs and predictor_kwargs (the public VisionTransformer / "
            "VisionTransformerPredictorAC arguments: `vjepa-ac plan --encoder-kwargs JSON --predictor-kwargs "
            "JSON`, ServeConfig encoder_kwargs= / predictor_kwargs=). First mismatches: " + str(e)[:400]) from e
    return encoder, predictor


# ---------------------------------------------------------------------------------------------
# Hugging Face (transformers' VJEPA2Model names)


def hf_encoder_state_dict(hf_state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map ``VJEPA2Model`` encoder keys to the released names; predictor/pooler keys are dropped.

    ``attention.{query,key,value}`` are the released ``qkv`` split in three along the output dim.
    """
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, Tensor]] = {}
    for key, value in hf_state_dict.items():
        if not key.startswith("encoder."):
            continue  # predictor.*, pooler.*
        k = key[len("encoder.") :]
        if k.startswith("embeddings.patch_embeddings.proj."):
            out["patch_embed.proj." + k.rsplit(".", 1)[1]] = value
        elif k.startswith("layernorm."):
            out["norm." + k.rsplit(".", 1)[1]] = value
        elif k.startswith("layer."):
            _, i, rest = k.split(".", 2)
            if rest.startswith("attention.") and rest.split(".")[1] in ("query", "key", "value"):
                _, part, kind = rest.split(".")
                qkv.setdefault((int(i), kind), {})[part] = value
            elif rest.startswith("attention.proj."):
                out[f"blocks.{i}.attn.proj.{rest.rsplit('.', 1)[1]}"] = value
            else:
                out[f"blocks.{i}.{rest}"] = value  # norm1, norm2, mlp.fc1, mlp.fc2
        else:
            out[k] = value  # unknown: left for the strict check to report
    for (i, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise CheckpointMismatchError(f"layer {i}: attention.{kind} lacks {sorted({'query', 'key', 'value'} - set(parts))}")
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def encoder_config_from_hf(hf_config: Mapping[str, Any]) -> EncoderConfig:
    """``EncoderConfig`` from a ``VJEPA2Config`` (dict form, as in ``config.json``)."""
    return EncoderConfig(
        img_size=int(hf_config["crop_size"]), patch_size=int(hf_config["patch_size"]),
        tubelet_size=int(hf_config["tubelet_size"]), embed_dim=int(hf_config["hidden_size"]),
        depth=int(hf_config["num_hidden_layers"]), num_heads=int(hf_config["num_attention_heads"]),
        mlp_ratio=float(hf_config["mlp_ratio"]), qkv_bias=bool(hf_config.get("qkv_bias", True)),
        norm_eps=float(hf_config.get("layer_norm_eps", 1e-6)),
    )


def load_hf_encoder(repo_id_or_path: str | Path) -> VisionTransformer:
    """Encoder from a Hugging Face repository (``facebook/vjepa2-vitg-fpc64-256``, downloaded
    once by ``huggingface_hub``) or a local folder with ``config.json`` + ``model.safetensors``."""
    from safetensors.torch import load_file

    local = Path(str(repo_id_or_path))
    if local.is_dir():
        folder = local
    else:
        from huggingface_hub import snapshot_download  # the [hf] extra

        folder = Path(snapshot_download(str(repo_id_or_path), allow_patterns=["config.json", "*.safetensors"]))
    with open(folder / "config.json") as f:
        cfg = encoder_config_from_hf(json.load(f))
    sd: dict[str, Tensor] = {}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors weights")
    for file in files:
        sd.update(load_file(str(file)))
    model = VisionTransformer(cfg, device="meta")
    load_strict(model, hf_encoder_state_dict(sd), f"load_hf_encoder({repo_id_or_path})")
    return model.eval()
