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
