"""Loading released-format checkpoints and Hugging Face weights, strictly."""

from dataclasses import replace

import pytest
import torch

from vjepa_ac.config import ConfigError
from vjepa_ac.models.encoder import EncoderConfig, VisionTransformer
from vjepa_ac.models.predictor import RELEASED_NORM_EPS, ACPredictor, PredictorConfig
from vjepa_ac.official import (
    RELEASED,
    CheckpointMismatchError,
    export_predictor,
    hf_encoder_state_dict,
    kwargs_norm_eps,
    load_encoder,
    load_hf_encoder,
    load_predictor,
    load_released_ac,
    load_released_encoder,
    read_checkpoint,
    released_predictor_kwargs,
    strip_prefixes,
)

ENC_KW = dict(img_size=64, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=48, depth=2, num_heads=2,
              mlp_ratio=4.0, qkv_bias=True, use_rope=True)
PRED_KW = dict(img_size=(64, 64), patch_size=16, num_frames=8, tubelet_size=2, embed_dim=48, predictor_embed_dim=64,
               depth=2, num_heads=2, mlp_ratio=4.0, use_extrinsics=False, action_embed_dim=7, use_rope=True,
               is_frame_causal=True)


def _small_models():
    """A tiny encoder and predictor as released (the predictor's LayerNorm eps is the release's)."""
    torch.manual_seed(0)
    enc = VisionTransformer(EncoderConfig(img_size=64, embed_dim=48, depth=2, num_heads=2))
    pred = ACPredictor(PredictorConfig(img_size=(64, 64), embed_dim=48, width=64, depth=2, num_heads=2,
                                       norm_eps=RELEASED_NORM_EPS))
    return enc.eval(), pred.eval()


def test_released_ac_format_round_trips(tmp_path):
    enc, pred = _small_models()
    # as released: DDP and backbone wrappers' prefixes, plus optimizer state beside the weights
    ckpt = {
        "encoder": {f"module.backbone.{k}": v for k, v in enc.state_dict().items()},
        "predictor": {f"module.{k}": v for k, v in export_predictor(pred).items()},
        "epoch": 10,
    }
    path = tmp_path / "vjepa2-ac-vitg.pt"
    torch.save(ckpt, path)
    enc2, pred2 = load_released_ac(path, encoder_kwargs=ENC_KW, predictor_kwargs=PRED_KW)
    clip = torch.randn(1, 3, 2, 64, 64)
    z = torch.randn(1, 2 * 16, 48)
    a, s = torch.randn(1, 2, 7), torch.randn(1, 2, 7)
    with torch.no_grad():
        torch.testing.assert_close(enc2(clip), enc(clip), atol=0, rtol=0)
        torch.testing.assert_close(pred2(z, a, s), pred(z, a, s), atol=0, rtol=0)


def test_released_encoder_file_uses_target_encoder(tmp_path):
    enc, _ = _small_models()
    sd = {f"module.backbone.{k}": v for k, v in enc.state_dict().items()}
    torch.save({"encoder": {k: v + 1 for k, v in sd.items()}, "target_encoder": sd}, tmp_path / "vitl.pt")
    loaded = load_released_encoder(tmp_path / "vitl.pt", encoder_kwargs=ENC_KW)
    clip = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), enc(clip), atol=0, rtol=0)


def test_mismatch_lists_offending_keys():
    _, pred = _small_models()
    sd = export_predictor(pred)
    sd.pop("predictor_norm.weight")
    sd["extra.weight"] = torch.zeros(1)
    sd["predictor_proj.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError) as e:
        load_predictor(sd, **PRED_KW)
    msg = str(e.value)
    assert "predictor_norm.weight" in msg and "extra.weight" in msg and "predictor_proj.weight" in msg


def test_unknown_and_unsupported_constructor_arguments_are_errors():
    _, pred = _small_models()
    with pytest.raises(TypeError, match="frobnicate"):
        load_predictor(export_predictor(pred), frobnicate=1, **PRED_KW)
    with pytest.raises(ValueError, match="use_silu"):
        load_predictor(export_predictor(pred), use_silu=True, **PRED_KW)


def test_released_kwargs_rebuild_the_config():
    _, pred = _small_models()
    again = load_predictor(export_predictor(pred), **released_predictor_kwargs(pred.cfg))
    assert again.cfg == pred.cfg


def test_pos_embed_of_released_encoders_is_ignored_but_other_extras_are_not():
    enc, _ = _small_models()
    sd = dict(enc.state_dict(), pos_embed=torch.zeros(1, 32, 48))
    load_encoder(sd, **ENC_KW)
    with pytest.raises(CheckpointMismatchError, match="mask_token"):
        load_encoder(dict(sd, mask_token=torch.zeros(1)), **ENC_KW)


def test_strip_prefixes():
    assert list(strip_prefixes({"module.backbone.norm.weight": 1, "backbone.blocks.0.x": 2})) == [
        "norm.weight",
        "blocks.0.x",
    ]


def test_release_table_names_public_urls():
    assert RELEASED["vjepa2-ac-vitg"].url == "https://dl.fbaipublicfiles.com/vjepa2/vjepa2-ac-vitg.pt"
    assert RELEASED["vitg-384"].img_size == 384


def test_read_checkpoint_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        read_checkpoint(tmp_path / "nope.pt")


def test_hf_key_mapping_matches_transformers_vjepa2(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.VJEPA2Config(
        hidden_size=48, num_hidden_layers=2, num_attention_heads=2, crop_size=64, frames_per_clip=4,
        pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=2, patch_size=16, tubelet_size=2,
    )
    torch.manual_seed(0)
    hf = transformers.VJEPA2Model(cfg).eval()
    ours = load_encoder(hf_encoder_state_dict(hf.state_dict()), img_size=64, patch_size=16, tubelet_size=2,
                        embed_dim=48, depth=2, num_heads=2, mlp_ratio=4.0)
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        ref = hf(pixel_values_videos=clip.transpose(1, 2), skip_predictor=True).last_hidden_state
        torch.testing.assert_close(ours(clip), ref, atol=1e-5, rtol=0)
    # the same through a saved folder, as snapshot_download leaves it
    hf.save_pretrained(tmp_path / "hf")
    with torch.no_grad():
        torch.testing.assert_close(load_hf_encoder(tmp_path / "hf")(clip), ref, atol=1e-5, rtol=0)


def test_saved_encoder_files_describe_their_architecture(tmp_path):
    from vjepa_ac.official import save_encoder

    enc, _ = _small_models()
    path = save_encoder(enc, tmp_path / "sim_encoder.pt")
    again = load_released_encoder(path)
    assert again.cfg == enc.cfg
    clip = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(clip), enc(clip), atol=0, rtol=0)
    with pytest.raises(ValueError, match="encoder_kwargs"):
        torch.save({"target_encoder": enc.state_dict()}, tmp_path / "plain.pt")
        load_released_encoder(tmp_path / "plain.pt")


def test_exported_kwargs_carry_what_the_public_constructor_needs():
    _, pred = _small_models()
    kw = released_predictor_kwargs(pred.cfg)
    # the public class sizes its block-causal mask from num_frames // tubelet_size (default 1 frame)
    assert kw["num_frames"] // kw["tubelet_size"] >= 64 and kw["norm_eps"] == pred.cfg.norm_eps == 1e-6
    import json

    assert json.loads(json.dumps(kw)) == kw  # JSON as written to predictor_kwargs.json
    again = load_predictor(export_predictor(pred), **kw)
    z, a, s = torch.randn(2, 3 * 16, 48), torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    with torch.no_grad():
        torch.testing.assert_close(again(z, a, s), pred(z, a, s), atol=0, rtol=0)
    no_eps = {k: v for k, v in kw.items() if k != "norm_eps"}
    assert load_predictor(export_predictor(pred), **no_eps).cfg.norm_eps == 1e-6  # released kwargs: the release's eps
    at_1e5 = load_predictor(export_predictor(pred), **{**kw, "norm_eps": 1e-5})
    assert at_1e5.predictor_blocks[0].norm1.eps == at_1e5.predictor_norm.eps == 1e-5
    for bad in (0.0, float("nan"), 2.0):
        with pytest.raises(ConfigError, match="norm_eps"):
            load_predictor(export_predictor(pred), **{**kw, "norm_eps": bad})


def test_new_predictors_default_to_the_public_class_layernorm_eps():
    """The bare public VisionTransformerPredictorAC builds nn.LayerNorm's default eps, so an export
    of a default predictor is rebuilt by it from the JSON kwargs alone; released weights keep 1e-6."""
    assert PredictorConfig().norm_eps == torch.nn.LayerNorm(4).eps == 1e-5
    assert kwargs_norm_eps({}) == RELEASED_NORM_EPS == 1e-6


def test_encoder_accepts_height_and_width():
    cfg = EncoderConfig(img_size=(48, 80), embed_dim=48, depth=1, num_heads=2)
    assert cfg.size_hw == (48, 80) and cfg.grid_hw == (3, 5) and cfg.tokens_per_frame == 15
    assert EncoderConfig(img_size=(64, 64)).img_size == 64  # a square stays a side
    with pytest.raises(ValueError, match="not square"):
        cfg.grid
    with pytest.raises(ValueError, match="img_size"):
        EncoderConfig(img_size=(48, 70))
    enc = load_encoder(VisionTransformer(cfg).state_dict(), img_size=(48, 80), patch_size=16, tubelet_size=2,
                       embed_dim=48, depth=1, num_heads=2)
    assert enc(torch.randn(1, 3, 2, 48, 80)).shape == (1, 15, 48)


def _public_src():
    import os
    from pathlib import Path

    src = os.environ.get("VJEPA2_PUBLIC_SRC")
    return src if src and (Path(src) / "src" / "models" / "ac_predictor.py").is_file() else None


@pytest.mark.skipif(_public_src() is None, reason="needs VJEPA2_PUBLIC_SRC (a facebookresearch/vjepa2 checkout)")
def test_public_constructor_rebuilds_the_exported_predictor(tmp_path, monkeypatch):
    """docs/train.md's call: the public class from predictor_kwargs, norm_layer from norm_eps."""
    import json
    import sys
    from functools import partial

    from vjepa_ac.train.export import export_predictor_files

    for sub in ("timm/models", "einops", "decord"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    (tmp_path / "timm/__init__.py").write_text("")
    (tmp_path / "timm/models/__init__.py").write_text("")
    (tmp_path / "timm/models/layers.py").write_text("def drop_path(x, drop_prob=0.0, training=False):\n    return x\n")
    (tmp_path / "einops/__init__.py").write_text("def rearrange(*a, **k):\n    raise NotImplementedError\n")
    (tmp_path / "decord/__init__.py").write_text("VideoReader = None\ncpu = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(_public_src())
    from src.models.ac_predictor import VisionTransformerPredictorAC

    _, pred = _small_models()
    with torch.no_grad():
        for p in pred.parameters():
            p.add_(0.02 * torch.randn_like(p))
    z, a, s = torch.randn(2, 3 * 16, 48), 0.05 * torch.randn(2, 3, 7), torch.randn(2, 3, 7)

    def public_diff(model, folder, **extra):
        export_predictor_files(model, folder)
        kwargs = json.loads((folder / "predictor_kwargs.json").read_text())
        public = VisionTransformerPredictorAC(**kwargs, **{k: f(kwargs) for k, f in extra.items()})
        public.load_state_dict(torch.load(folder / "predictor.pt", weights_only=True)["predictor"])
        with torch.no_grad():
            return (public.eval()(z, a, s) - model(z, a, s)).abs().max().item()

    # the release's eps (1e-6, what _small_models builds): docs/train.md passes norm_layer
    norm_layer = lambda kw: partial(torch.nn.LayerNorm, eps=kw["norm_eps"])  # noqa: E731
    assert public_diff(pred, tmp_path / "export", norm_layer=norm_layer) <= 1e-5
    # our default eps: the bare public class rebuilds it from the kwargs alone
    at_default = ACPredictor(replace(pred.cfg, norm_eps=PredictorConfig.norm_eps))
    at_default.load_state_dict(pred.state_dict())
    assert public_diff(at_default.eval(), tmp_path / "export_default") <= 1e-5
    assert public_diff(pred, tmp_path / "export_bare") > 1e-5  # what the eps decides (the bare class at 1e-6)
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        del sys.modules[name]
