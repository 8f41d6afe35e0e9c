"""`vjepa-ac eval sim`: planner + random baseline on the sim, results files, resuming."""

import importlib.util
import json

import pytest

from vjepa_ac.cli import main
from vjepa_ac.config import ConfigError, load_config

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="no [sim] extra"),
]

TINY_BUDGET = ["plan.num_samples=16", "plan.iterations=2", "plan.num_elites=4"]


def _args(model, out, *extra):
    return [
        "eval",
        "sim",
        str(model),
        f"out_dir={out}",
        "sim.tasks=[reach,pick_and_place]",
        "sim.labs=[eval_kitchen]",
        "sim.episodes=1",
        "sim.image_size=64",
        "sim.objects={pick_and_place: [cube]}",
        "sim.progress=false",
        *TINY_BUDGET,
        *extra,
    ]


def test_eval_sim_command_writes_results_and_resumes(tiny_run, tmp_path, capsys, monkeypatch):
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)
    from vjepa_ac.eval import sim as eval_sim
    from vjepa_ac.eval.sim import EvalSimConfig, run_sim_eval

    out = tmp_path / "eval"
    assert main(_args(tiny_run, out)) == 0
    printed = capsys.readouterr().out
    assert "planner: " in printed and "random: " in printed
    res = json.loads((out / "results.json").read_text())
    keys = sorted((e["policy"], e["task"]) for e in res["episodes"])
    assert keys == [
        ("planner", "pick_and_place"),
        ("planner", "reach"),
        ("random", "pick_and_place"),
        ("random", "reach"),
    ]
    planner = res["policies"]["planner"]
    assert planner["planner_config"]["num_samples"] == 16 and planner["model_id"] == res["model"]["model_id"]
    assert res["policies"]["random"]["xyz_radius"] == planner["planner_config"]["xyz_radius"]
    assert res["env"] == {"image_size": 64, "camera_zoom": 1.0, "max_steps": {}}
    for e in res["episodes"]:
        assert e["steps"] == {"reach": 10, "pick_and_place": 18}[e["task"]]
        assert len(e["action_time_s"]) == e["steps"] and e["seed"] == 4000  # eval_kitchen: LABS index 4
        assert (e["policy"] == "planner") == ("energies" in e["info"])
        if not e["success"]:
            assert (out / "videos" / e["policy"]).is_dir() and e["video"].endswith(".mp4")
    pnp = next(e for e in res["episodes"] if e["task"] == "pick_and_place")
    assert pnp["goal_switches"] == 2
    md = (out / "results.md").read_text()
    assert "| reach | - | eval_kitchen |" in md and "| pick_and_place | cube | eval_kitchen |" in md
    assert "reach | cup" not in md and "planner success [95% CI]" in md  # reach is about no object
    rows = [(r["task"], r["object"]) for r in res["summary"]]
    assert rows[:2] == [("reach", None), ("pick_and_place", "cube")]
    assert "random success [95% CI]" in md and "| **all** | all | **eval_kitchen** |" in md

    # a rerun skips every stored episode; a second seed only runs the new ones
    ran = []
    real = eval_sim.evaluate_policy
    monkeypatch.setattr(
        eval_sim,
        "evaluate_policy",
        lambda policy, cfg, **kw: (
            ran.append([k for k in cfg.episode_keys(kw["name"]) if k not in kw["skip"]])
            or real(policy, cfg, **kw)
        ),
    )
    assert main(_args(tiny_run, out)) == 0
    assert ran == [[], []]
    assert json.loads((out / "results.json").read_text())["episodes"] == res["episodes"]
    ran.clear()
    assert main(_args(tiny_run, out, "sim.tasks=[reach]", "sim.episodes=2")) == 0
    assert ran == [
        [("planner", "reach", "cup", "eval_kitchen", 4001)],
        [("random", "reach", "cup", "eval_kitchen", 4001)],
    ]
    assert len(json.loads((out / "results.json").read_text())["episodes"]) == 6

    # another planner setting under the same name is refused; under another name it is added
    capsys.readouterr()
    assert main(_args(tiny_run, out, "plan.num_samples=32", "sim.tasks=[reach]")) == 2
    assert "policy 'planner' planner_config.num_samples: stored 16, now 32" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="env.image_size: stored 64, now 32"):
        run_sim_eval(
            str(tiny_run), load_config(EvalSimConfig, None, _args(tiny_run, out, "sim.image_size=32")[3:])
        )
    ran.clear()
    assert (
        main(
            _args(
                tiny_run,
                out,
                "plan.num_samples=32",
                "sim.tasks=[reach]",
                "name=cem32",
                "baseline=false",
                "sim.video=none",
            )
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert set(res["policies"]) == {"planner", "random", "cem32"} and len(res["episodes"]) == 7
    assert "cem32 success" in (out / "results.md").read_text()


def test_eval_sim_config_errors(tmp_path, capsys):
    assert main(["eval", "sim", "tiny:", "plan.frobnicate=3"]) == 2
    assert "frobnicate" in capsys.readouterr().err
    assert main(["eval", "sim", "tiny:", "sim.tasks=[fly]"]) == 2
    assert main(["eval", "sim", "tiny:", "name=random"]) == 2


def test_a_main_job_model_is_evaluated_with_its_collection_camera(tmp_path):
    """eval sim frames the scene as the main job's training data was (zoom, px), read from
    pipeline.yaml, whether MODEL is the work_dir or its train run; other models get {}."""
    from vjepa_ac.eval.sim import main_job_camera

    work = tmp_path / "runs" / "sim"
    (work / "train").mkdir(parents=True)
    (work / "pipeline.yaml").write_text("collect:\n  sim: {image_size: 128, ext1_zoom: 0.8, tint_jitter: 0.35}\n")
    expected = {"image_size": 128, "ext1_zoom": 0.8}
    assert main_job_camera(work) == expected and main_job_camera(str(work / "train")) == expected
    assert main_job_camera(tmp_path) == {} and main_job_camera("tiny:") == {}


def test_task_plan_gives_one_task_its_own_planner_settings(tiny_run, tmp_path, monkeypatch):
    """``task_plan.reach.horizon=2``: Reach is planned at horizon 2, the other tasks with ``plan``
    alone; the results file records the per-task setting and refuses another one under the name."""
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)
    from vjepa_ac.eval import sim as eval_sim

    horizons = []

    class RecordingPlanner(eval_sim.Planner):  # the real planner; notes the horizon of each plan
        def __call__(self, obs, goal):
            horizons.append(self.mpc.planner_cfg.horizon)
            return super().__call__(obs, goal)

    monkeypatch.setattr(eval_sim, "Planner", RecordingPlanner)
    out = tmp_path / "eval"
    assert main(_args(tiny_run, out, "task_plan.reach.horizon=2", "baseline=false", "sim.video=none")) == 0
    assert sorted(horizons) == [1] * 18 + [2] * 10  # pick_and_place: 18 steps at H = 1; reach: 10 at H = 2
    planner = json.loads((out / "results.json").read_text())["policies"]["planner"]
    assert planner["planner_config"]["horizon"] == 1
    assert planner["task_planner_config"]["reach"]["horizon"] == 2
    assert planner["task_planner_config"]["reach"]["num_samples"] == 16  # `plan` below task_plan
    assert main(_args(tiny_run, out, "task_plan.reach.horizon=3", "baseline=false", "sim.tasks=[reach]")) == 2


def test_task_plan_errors_name_the_key(capsys):
    assert main(["eval", "sim", "tiny:", "task_plan.fly.horizon=2"]) == 2
    assert "task_plan.fly: not a task" in capsys.readouterr().err
    assert main(["eval", "sim", "tiny:", "task_plan.reach.horizon=0"]) == 2
    assert "task_plan.reach" in capsys.readouterr().err


def test_a_run_trained_on_sim_collect_data_is_evaluated_with_its_collection_camera(tmp_path):
    """A training run outside a main job (e.g. fine-tuned on new `sim collect` episodes) gets the
    camera its episodes were collected with, from the DROID root's summary.json (before: the
    default zoom 1.0 and the model's input size, a different view than training's)."""
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)
    from vjepa_ac.config import save_config
    from vjepa_ac.eval.sim import main_job_camera
    from vjepa_ac.train.config import TrainConfig

    episodes = tmp_path / "episodes"
    assert main(["sim", "collect", f"out_dir={episodes}", "episodes=1", "workers=1", "sim.image_size=48",
                 "sim.ext1_zoom=0.7", "min_seconds=0.5", "max_seconds=0.5", "progress=false"]) == 0
    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config(TrainConfig, None, [f"data.dataset.droid.root={episodes}"]), run / "config.yaml")
    assert main_job_camera(run) == {"image_size": 48, "ext1_zoom": 0.7}
    (episodes / "summary.json").unlink()  # not sim-collected data: no camera to copy
    assert main_job_camera(run) == {}
