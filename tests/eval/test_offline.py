"""`vjepa-ac eval offline` on synthetic DROID episodes with a model trained for a few steps."""

import json

import numpy as np
import pytest
import torch

from vjepa_ac.cli import main
from vjepa_ac.config import ConfigError
from vjepa_ac.data.synthetic_datasets import make_droid_dataset
from vjepa_ac.eval.offline import cosine, run_offline_eval, score_step, summarize_actions
from vjepa_ac.plan.config import CEMConfig
from vjepa_ac.plan.toy import ToyWorldModel

BUDGET = ["plan.num_samples=16", "plan.iterations=2", "plan.num_elites=4"]


@pytest.fixture(scope="module")
def droid(tmp_path_factory):
    root = tmp_path_factory.mktemp("droid")
    make_droid_dataset(root, 4, length=30)
    return root


def test_action_score_of_a_known_optimum():
    """On the toy model the planner recovers the recorded action; zero and random do worse."""
    model = ToyWorldModel()
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    true = torch.tensor([0.03, -0.02, 0.01, 0.0, 0.0, 0.0, 0.0])
    g = torch.Generator().manual_seed(0)
    rec = score_step(
        model,
        model.embed(start),
        start,
        model.embed(start + true),
        true,
        CEMConfig(num_samples=200, iterations=8),
        32,
        g,
    )
    assert rec["plan_l1"] < 0.01 and rec["plan_cos"] > 0.95 and rec["true_inside"]
    assert rec["zero_l1"] == pytest.approx(0.06) and rec["random_l1"] > rec["plan_l1"]
    assert rec["energy_true"] < 1e-5 and rec["energy_plan"] < rec["energy_zero"]
    s = summarize_actions([rec, {**rec, "plan_l1": 0.02}])
    assert s["steps"] == 2 and s["plan"]["xyz_l1"] == pytest.approx((rec["plan_l1"] + 0.02) / 2)
    assert np.isnan(s["zero"]["cosine"]) and s["plan_energy_le_true"] in (0.0, 0.5, 1.0)


def test_cosine_has_no_direction_at_zero():
    c = cosine(torch.tensor([[1.0, 0, 0], [0, 0, 0]]), torch.tensor([[2.0, 0, 0], [1, 0, 0]]))
    assert c[0] == pytest.approx(1.0) and torch.isnan(c[1])


def test_eval_offline_command(tiny_run, droid, tmp_path, capsys):
    out = tmp_path / "offline"
    rc = main(
        [
            "eval",
            "offline",
            str(tiny_run),
            f"out_dir={out}",
            f"dataset.droid.root={droid}",
            "dataset.val_fraction=0.5",
            "action_score.clips=2",
            "action_score.steps_per_clip=2",
            *BUDGET,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "teacher forcing L1" in capsys.readouterr().out
    res = json.loads((out / "offline.json").read_text())
    # clips come from the training run's data settings (4 frames at 32 px) unless overridden
    assert res["config"]["clips"]["frames_per_clip"] == 4 and res["config"]["clips"]["resolution"] == 32
    assert res["data"] == {"split": "val", "episodes": 2, "frames_per_clip": 4, "fps": 4.0}
    pred = res["prediction"]
    assert pred["clips"] == 2 and pred["tf_h1"] == pytest.approx(pred["rollout_h1"])
    assert all(np.isfinite(pred[f"{k}_h{h}"]) for k in ("tf", "rollout") for h in (1, 2, 3))
    act = res["action_score"]
    assert act["steps"] == len(res["steps"]) == 4 and res["planner"]["horizon"] == 1
    assert res["planner"]["num_samples"] == 16
    for s in res["steps"]:
        assert sum(abs(x) for x in s["plan_xyz"]) <= 0.075 + 1e-6  # the planner's L1 ball
    assert act["zero"]["xyz_l1"] == pytest.approx(act["true_xyz_l1"]) and act["zero"]["cosine"] is None
    md = (out / "offline.md").read_text()
    assert "| teacher forcing |" in md and "| planner (CEM, H=1) |" in md


def test_eval_offline_needs_held_out_episodes(tiny_run, droid, tmp_path):
    with pytest.raises(ConfigError, match="val_fraction"):
        run_offline_eval(
            str(tiny_run), None, [f"out_dir={tmp_path}", f"dataset.droid.root={droid}"], progress=False
        )
    with pytest.raises(ConfigError, match="resolution"):
        run_offline_eval(
            str(tiny_run),
            None,
            [f"dataset.droid.root={droid}", "clips.resolution=64", "split=all"],
            progress=False,
        )
    with pytest.raises(ConfigError, match="frobnicate"):
        run_offline_eval(str(tiny_run), None, ["plan.frobnicate=1"], progress=False)


def test_run_defaults_sit_between_the_dataclass_and_the_file(tiny_run, tmp_path):
    from vjepa_ac.config import load_config
    from vjepa_ac.eval.offline import OfflineEvalConfig, run_defaults
    from vjepa_ac.train.checkpoint import latest_checkpoint

    defaults = run_defaults(str(latest_checkpoint(tiny_run / "checkpoints")))
    assert defaults["clips"]["frames_per_clip"] == 4 and run_defaults("tiny:") == {}
    (tmp_path / "e.yaml").write_text("clips:\n  fps: 2.0\n")
    cfg = load_config(OfflineEvalConfig, tmp_path / "e.yaml", ["max_clips=3"], defaults=defaults)
    assert (cfg.clips.frames_per_clip, cfg.clips.resolution, cfg.clips.fps, cfg.max_clips) == (4, 32, 2.0, 3)
    with pytest.raises(ConfigError, match="frobnicate"):
        load_config(OfflineEvalConfig, None, [], defaults={"frobnicate": 1})
