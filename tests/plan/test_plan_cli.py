"""`vjepa-ac plan` from image files, on a model trained for a few steps."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import tiny_config
from vjepa_ac.cli import main
from vjepa_ac.config import ConfigError
from vjepa_ac.data.images import write_image
from vjepa_ac.plan.config import CEMConfig, MPPIConfig, load_planner_config
from vjepa_ac.train.loop import train

ROOT = Path(__file__).resolve().parents[2]


def test_load_planner_config_presets_files_and_overrides(tmp_path):
    cfg = load_planner_config("notebook", None, ["num_samples=64"])
    assert isinstance(cfg, CEMConfig) and cfg.horizon == 2 and cfg.num_samples == 64 and cfg.momentum_mean == 0.15
    (tmp_path / "p.yaml").write_text("temperature: 0.5\n")
    assert load_planner_config("mppi", tmp_path / "p.yaml").temperature == 0.5
    assert isinstance(load_planner_config("mppi"), MPPIConfig)
    with pytest.raises(ConfigError, match="frobnicate"):
        load_planner_config("cem", None, ["frobnicate=1"])
    with pytest.raises(ValueError, match="unknown planner"):
        load_planner_config("gd")


def test_plan_command_prints_action_and_energy(tmp_path, capsys):
    train(tiny_config(tmp_path / "run"))
    rng = np.random.default_rng(0)
    write_image(tmp_path / "now.png", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    write_image(tmp_path / "goal.png", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    base = ["plan", str(tmp_path / "run"), "--image", str(tmp_path / "now.png"), "--state",
            "0.5,0,0.3,3.1,0,0,0", "--goal", str(tmp_path / "goal.png")]
    for extra in (["num_samples=32", "iterations=2"],
                  ["--planner", "gradient", "iterations=3", "energy=l2", "energy_tokens=pooled"],
                  ["--planner", "nevergrad", "--planner-config", str(ROOT / "configs/plan/nevergrad.yaml"),
                   "num_samples=8", "iterations=2"]):
        if "nevergrad" in extra:
            pytest.importorskip("nevergrad")
        rc = main(base + extra)
        assert rc == 0, extra
        out = json.loads(capsys.readouterr().out)
        assert len(out["action"]) == 7 and out["action"][3:6] == [0.0, 0.0, 0.0]
        assert sum(abs(a) for a in out["action"][:3]) <= 0.075 + 1e-6 and np.isfinite(out["energy"])


def test_plan_command_rejects_a_bad_state(tmp_path, capsys):
    rc = main(["plan", str(tmp_path), "--image", "x.png", "--state", "1,2,nan", "--goal", "g.png"])
    assert rc == 2 and "7 finite numbers" in capsys.readouterr().err
