"""Training configs: validation messages name the fields; the shipped YAML files load."""

import pytest

from vjepa_ac.config import ConfigError, load_config
from vjepa_ac.train.config import TrainConfig

from .conftest import ROOT


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="bogus_key"):
        load_config(TrainConfig, None, ["bogus_key=1"])
    with pytest.raises(ConfigError, match="optim.*warmup_stepz|warmup_stepz"):
        load_config(TrainConfig, None, ["optim.warmup_stepz=1"])
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  predictor:\n    widht: 3\n")
    with pytest.raises(ConfigError, match="widht") as err:
        load_config(TrainConfig, path)
    assert str(path) in str(err.value)


def test_inconsistent_values_name_the_fields():
    with pytest.raises(ConfigError, match="micro_batch_size"):
        load_config(TrainConfig, None, ["batch_size=10", "micro_batch_size=4"])
    with pytest.raises(ConfigError, match="rollout_steps"):
        load_config(TrainConfig, None, ["rollout_steps=8", "data.clips.frames_per_clip=8"])
    with pytest.raises(ConfigError, match="embed_dim"):
        load_config(TrainConfig, None, ["model.predictor.embed_dim=64"])
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(TrainConfig, None, ["batch_size=ten"])


def test_defaults_are_the_paper_recipe():
    cfg = TrainConfig()
    assert cfg.total_steps == 94_500 and cfg.batch_size == 256 and cfg.rollout_steps == 2
    assert cfg.optim.weight_decay == 0.04 and cfg.optim.grad_clip == 1.01
    assert cfg.model.encoder.embed_dim == 1408 and cfg.model.predictor.width == 1024


TRAIN_CONFIGS = ["cpu_small.yaml", "droid_vitg_8f.yaml", "droid_vitg_16f.yaml", "sim.yaml"]


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_shipped_configs_load(name: str):
    cfg = load_config(TrainConfig, ROOT / "configs" / name)
    assert cfg.batch_size % cfg.micro_batch_size == 0


def test_exponent_without_dot_reads_as_float(tmp_path):
    # YAML 1.1 reads "3e-4" as a string; numbers written like that must still work
    cfg = load_config(TrainConfig, None, ["optim.peak_lr=3e-4"])
    assert cfg.optim.peak_lr == 3e-4
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  start_lr: 1e-5\n")
    assert load_config(TrainConfig, path).optim.start_lr == 1e-5
    with pytest.raises(ConfigError, match="peak_lr"):
        load_config(TrainConfig, None, ["optim.peak_lr=fast"])


def _numeric_fields(cls, prefix=""):
    """Dotted keys of every int / float field in the dataclass tree of ``cls``."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            out += _numeric_fields(tp, key + ".")
        elif typing.get_origin(tp) is tuple:
            continue  # lists of numbers: optim.betas, img_size (tested below)
        elif float in (tp, *typing.get_args(tp)):
            out.append((key, float))
        elif int in (tp, *typing.get_args(tp)) and tp is not bool:
            out.append((key, int))
    return out


FLOAT_KEYS = [k for k, t in _numeric_fields(TrainConfig) if t is float]


def test_every_float_field_is_found():
    with pytest.raises(ConfigError, match=r"optim.betas\[0\]: expected a finite number"):
        load_config(TrainConfig, None, ["optim.betas=[.nan, 0.999]"])
    assert {"optim.peak_lr", "optim.grad_clip", "model.predictor.mlp_ratio", "data.clips.fps"} <= set(FLOAT_KEYS)


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
def test_every_float_field_refuses_nan_and_inf(key, bad, tmp_path):
    with pytest.raises(ConfigError, match=rf"{key}\b.*finite"):
        load_config(TrainConfig, None, [f"{key}={bad}"])
    # the same value written in a YAML file
    tree: dict = {}
    node = tree
    *parents, leaf = key.split(".")
    for k in parents:
        node = node.setdefault(k, {})
    node[leaf] = float(bad.replace(".", ""))
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match=rf"{key}\b.*finite") as err:
        load_config(TrainConfig, path)
    assert str(path) in str(err.value)


OUT_OF_RANGE = [
    ("optim.peak_lr", "-1e-3"),
    ("optim.start_lr", "-1"),
    ("optim.weight_decay", "-0.1"),
    ("optim.eps", "0"),
    ("optim.grad_clip", "-1"),
    ("optim.betas", "[0.9, 1.0]"),
    ("optim.warmup", "-1"),
    ("model.predictor.depth", "0"),
    ("model.predictor.depth", "-1"),
    ("model.predictor.num_heads", "0"),
    ("model.predictor.mlp_ratio", "0"),
    ("model.encoder.depth", "0"),
    ("model.encoder.mlp_ratio", "-2"),
    ("model.encoder.norm_eps", "0"),
    ("model.init_seed", "-1"),
    ("model.encoder_frames_per_call", "0"),
    ("seed", "-1"),
    ("seed", "4294967296"),
    ("data.clips.seed", "-3"),
    ("data.clips.fps", "0"),
    ("data.clips.frames_per_clip", "1"),
    ("data.clips.max_time_error", "0"),
    ("data.dataset.val_fraction", "1.0"),
    ("data.dataset.split_seed", "-1"),
    ("data.synthetic.seed", "-1"),
    ("data.num_workers", "-1"),
    ("batch_size", "0"),
    ("val_every", "-1"),
    ("keep_last", "0"),
]


@pytest.mark.parametrize("key,value", OUT_OF_RANGE)
def test_out_of_range_values_name_the_dotted_key(key, value):
    with pytest.raises(ConfigError, match=rf"(^|[ :]){key} must be"):
        load_config(TrainConfig, None, [f"{key}={value}"])


def test_in_range_edges_are_accepted():
    cfg = load_config(
        TrainConfig, None, ["optim.grad_clip=0", "seed=4294967295", "optim.weight_decay=0", "val_every=0"]
    )
    assert cfg.optim.grad_clip == 0 and cfg.seed == 2**32 - 1


def test_duplicate_yaml_keys_are_errors_naming_them(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  peak_lr: 1.0e-4\nbatch_size: 8\noptim:\n  warmup: 3\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'optim' \(lines 1 and 4\)") as err:
        load_config(TrainConfig, path)
    assert str(path) in str(err.value)
    path.write_text("optim:\n  peak_lr: 1.0e-4\n  peak_lr: 2.0e-4\n")
    with pytest.raises(ConfigError, match="duplicate key 'peak_lr'"):
        load_config(TrainConfig, path)


def test_paper_and_released_configs_state_their_switches():
    """docs/faithfulness.md: the 16-frame config has the paper's 4 s filter; the 8-frame "as
    released" config says the public code never clips and names the pre-PR #25 objective."""
    paper = load_config(TrainConfig, ROOT / "configs" / "droid_vitg_16f.yaml")
    released_path = ROOT / "configs" / "droid_vitg_8f.yaml"
    released = load_config(TrainConfig, released_path)
    assert paper.data.dataset.min_episode_seconds == 4.0 and released.data.dataset.min_episode_seconds == 0
    text = released_path.read_text()
    assert "never clips" in text and "pre_pr25" in text and "on_nonfinite_grad" in text
    assert released.optim.grad_clip == 1.01 and released.rollout_objective == "fixed"
    docs = (ROOT / "docs" / "faithfulness.md").read_text()
    for switch in ("optim.grad_clip", "data.dataset.val_fraction", "data.dataset.min_episode_seconds",
                   "rollout_objective", "optim.on_nonfinite_grad", "data.clips.crop"):
        assert switch in docs, switch


def test_rollout_objective_needs_three_frames():
    with pytest.raises(ConfigError, match="rollout_objective"):
        load_config(TrainConfig, None, ["rollout_objective=pre_pr25", "data.clips.frames_per_clip=2",
                                        "rollout_steps=1"])


INT_KEYS = [k for k, t in _numeric_fields(TrainConfig) if t is int]


@pytest.mark.parametrize("key", INT_KEYS)
def test_every_integer_field_refuses_negative_values_naming_the_key(key):
    with pytest.raises(ConfigError, match=rf"(^|[ :]){key}( must be|: | \(-1\) must be)"):
        load_config(TrainConfig, None, [f"{key}=-1"])


def test_feature_cache_encoder_check_accepts_the_same_file_by_another_path(tmp_path, monkeypatch, caplog):
    """The main job records the encoder relative to its folder, training names it absolute: no warning."""
    import logging
    from types import SimpleNamespace

    from vjepa_ac.train.datasets import check_cache

    (tmp_path / "encoder.pt").write_bytes(b"weights")
    (tmp_path / "other.pt").write_bytes(b"other weights")
    monkeypatch.chdir(tmp_path)
    pred = TrainConfig().model.predictor
    cfg = load_config(TrainConfig, None, [f"model.encoder_checkpoint={tmp_path / 'encoder.pt'}"])

    def cache(checkpoint):
        return SimpleNamespace(root=tmp_path / "features", width=pred.embed_dim, tokens_per_frame=pred.tokens_per_frame,
                               manifest={"encoder": {"checkpoint": checkpoint}})

    with caplog.at_level(logging.WARNING, logger="vjepa_ac.train"):
        check_cache(cache("encoder.pt"), cfg)
        assert not caplog.records
        check_cache(cache("other.pt"), cfg)
        assert "was encoded with 'other.pt'" in caplog.text
