"""benchmarks/bench_planners.py runs and counts the evaluations it reports (tiny budgets)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_bench_planners_emits_one_line_per_planner_and_budget(capsys):
    pytest.importorskip("nevergrad")
    from bench_planners import main

    assert main(["--budgets", "0.01", "0.02", "--repeats", "1", "--threads", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["planner"], r["budget"]) for r in lines] == [
        (p, b) for p in ("cem", "mppi", "nevergrad", "gradient") for b in (0.01, 0.02)]
    cem = lines[0]
    assert cem["num_samples"] == 10 and cem["evaluations"] == 10 * 10 + 1  # + the re-scored plan
    grad = lines[-1]  # 0.02 x 8000 / 3 Adam steps, 3 evaluations each, + the final scoring
    assert grad["iterations"] == 53 and grad["evaluations"] == 53 * 3 + 1 + 1
    assert all(r["s_per_action"] > 0 and r["energy"] >= 0 and "cpu" in r["device"] for r in lines)


def test_finetune_new_lab_refuses_collected_scenes_that_the_evaluation_uses():
    """The new-lab study fine-tunes on scenes the evaluation never resets (seeds checked, not hoped)."""
    if importlib.util.find_spec("mujoco") is None:  # not importorskip: mujoco must load after vjepa_ac.sim
        pytest.skip("mujoco is missing (the [sim] extra)")
    from finetune_new_lab import check_scene_seeds

    from vjepa_ac.sim.collect import CollectConfig, episode_start
    from vjepa_ac.sim.evaluate import LAB_SEED_STRIDE, SimEvalConfig
    from vjepa_ac.sim.labs import LABS

    collect = CollectConfig(episodes=3, labs=("eval_kitchen",), allow_eval_labs=True, seed=15)
    k = list(LABS).index("eval_kitchen")
    check_scene_seeds(collect, [SimEvalConfig(labs=("eval_kitchen",), episodes=20)])  # the study's seeds
    clash = episode_start(collect, 2)[2] - LAB_SEED_STRIDE * k - 4  # eval scene 5 = episode 2
    with pytest.raises(SystemExit, match=rf"scene seeds \[{episode_start(collect, 2)[2]}\]"):
        check_scene_seeds(collect, [SimEvalConfig(labs=("eval_kitchen",), episodes=5, seed=clash)])
