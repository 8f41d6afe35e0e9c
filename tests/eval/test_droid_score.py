"""jepa-wms' DROID action score: its arithmetic, a known optimum on the toy model, and
``vjepa-ac eval offline 'scores=[droid_score]'`` on tiny synthetic DROID data."""

import json

import pytest
import torch

from vjepa_ac.cli import main
from vjepa_ac.config import ConfigError, load_config
from vjepa_ac.data.synthetic_datasets import make_droid_dataset
from vjepa_ac.eval.droid_score import (
    DroidScoreConfig, displacement_error, draw_episodes, score_episode, score_from_error, summarize_droid,
)
from vjepa_ac.eval.offline import OfflineEvalConfig
from vjepa_ac.plan.config import cem_preset
from vjepa_ac.plan.toy import ToyWorldModel

BUDGET = ["droid_score.plan.num_samples=16", "droid_score.plan.iterations=2", "droid_score.plan.num_elites=4"]


def test_score_rescaling_and_displacement_error():
    assert score_from_error(0.0) == pytest.approx(80.0)
    assert score_from_error(0.1 - 42.9 / 800) == pytest.approx(42.9)  # V-JEPA 2-AC's published score
    assert score_from_error(0.25) == 0.0
    planned = torch.tensor([[0.01, 0.0, 0.0, 0.1, 0, 0, 0.5], [0.01, 0.0, 0.0, 0, 0, 0, 0]])
    recorded = torch.tensor([[0.0, 0.02, 0.0, 0.0, 0, 0, 0.0], [0.0, 0.0, 0.0, 0, 0, 0, 0.25]])
    err = displacement_error(planned, recorded)  # the path does not matter, only the sums
    assert err["xyz_error"] == pytest.approx(0.04) and err["orientation_error"] == pytest.approx(0.1)
    assert err["closure_error"] == pytest.approx(0.25) and err["error"] == pytest.approx(0.39)
    s = summarize_droid([dict(xyz_error=0.05, orientation_error=0, closure_error=0, error=0.05, energy=1),
                         dict(xyz_error=0.07, orientation_error=0, closure_error=0, error=0.07, energy=3)])
    assert s["episodes"] == 2 and s["score"] == pytest.approx(800 * 0.04) and s["energy"] == 2


def test_episode_draws_are_uniform_seeded_and_need_long_enough_clips():
    cfg = DroidScoreConfig(episodes=200, seed=1)
    draws = draw_episodes(5, 8, cfg)
    assert draws == draw_episodes(5, 8, cfg) and draws != draw_episodes(5, 8, DroidScoreConfig(episodes=200, seed=2))
    assert {c for c, _ in draws} == set(range(5)) and {f for _, f in draws} == set(range(5))  # 8 - 3 - 1 = 4
    with pytest.raises(ConfigError, match="clips.frames_per_clip"):
        draw_episodes(5, 3, cfg)


def test_a_perfect_model_scores_the_maximum():
    """On the toy model (whose goal rep is exactly the goal state's) the protocol's CEM recovers
    three recorded actions' total displacement to within a few mm: score close to 80."""
    toy = ToyWorldModel()
    start = torch.tensor([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    recorded = torch.tensor([[0.03, -0.02, 0.01, 0, 0, 0, 0], [0.04, 0.0, 0.02, 0, 0, 0, 0],
                             [0.02, 0.03, 0.0, 0, 0, 0, 0]])
    states = torch.stack([start, start + recorded[0], start + recorded[:2].sum(0), start + recorded.sum(0)])
    frames = torch.stack([toy.render(s) for s in states]).permute(0, 3, 1, 2)  # [4, 3, 8, 8] uint8
    rec = score_episode(toy, frames, states, recorded, cem_preset("jepa_wms_droid"), 3, torch.Generator().manual_seed(0))
    assert rec["xyz_error"] < 0.01 and len(rec["planned"]) == 3
    assert score_from_error(rec["xyz_error"]) > 72


def test_config_names_its_fields():
    cfg = load_config(OfflineEvalConfig, None, ["scores=[droid_score]", "droid_score.plan.energy=l1"])
    assert cfg.scores == ("droid_score",) and cfg.droid_score.planner_cfg().energy == "l1"
    assert cfg.droid_score.executed() == 3 and cfg.droid_score.planner_cfg().num_samples == 300
    with pytest.raises(ConfigError, match="droid_score.plan.horizon"):
        load_config(OfflineEvalConfig, None, ["droid_score.plan.horizon=2", "droid_score.actions_executed=3"])
    with pytest.raises(ConfigError, match=r"frobnicate.*droid_score\.plan"):
        load_config(OfflineEvalConfig, None, ["droid_score.plan.frobnicate=1"])
    with pytest.raises(ConfigError, match="scores"):
        load_config(OfflineEvalConfig, None, ["scores=[]"])
    assert load_config(OfflineEvalConfig, None, ["droid_score.planner=gradient",
                                                 "droid_score.plan.horizon=3"]).droid_score.executed() == 3


@pytest.fixture(scope="module")
def droid(tmp_path_factory):
    root = tmp_path_factory.mktemp("droid_score")
    make_droid_dataset(root, 4, length=30)
    return root


def test_eval_offline_droid_score_command(tiny_run, droid, tmp_path, capsys):
    out = tmp_path / "offline"
    args = ["eval", "offline", str(tiny_run), f"out_dir={out}", f"dataset.droid.root={droid}",
            "dataset.val_fraction=0.5", "scores=[droid_score]", "droid_score.episodes=3", *BUDGET]
    assert main(args) == 0, capsys.readouterr().err
    assert "DROID action score (jepa-wms protocol)" in capsys.readouterr().out
    res = json.loads((out / "offline.json").read_text())
    assert "prediction" not in res and "action_score" not in res
    d = res["droid_score"]
    assert d["episodes"] == len(res["droid_episodes"]) == 3 and d["executed"] == 3
    assert d["planner"]["num_samples"] == 16 and d["planner"]["energy"] == "l2"
    assert d["score"] == pytest.approx(max(0.0, 800 * (0.1 - d["xyz_error"])))
    for ep in res["droid_episodes"]:
        assert ep["first_frame"] == 0  # the tiny run's clips have 4 frames: one window each
        assert all(abs(x) <= 0.1 + 1e-6 for a in ep["planned"] for x in a[:6])
    assert "## DROID action score, jepa-wms protocol (3 episodes)" in (out / "offline.md").read_text()
