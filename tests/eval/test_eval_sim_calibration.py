"""`eval sim` with a turned camera and a calibration: the policy executes the planner's actions
turned into the robot's frame, and the results record both."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from vjepa_ac.cli import main
from vjepa_ac.eval.sim import PlannerPolicy
from vjepa_ac.plan.calibration import fit_calibration
from vjepa_ac.plan.config import CEMConfig, MPCConfig
from vjepa_ac.plan.mpc import Planner
from vjepa_ac.plan.toy import ToyWorldModel


def yaw_calibration(deg: float):
    m = np.random.default_rng(0).normal(size=(8, 3)) * 0.05
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return fit_calibration(m, m @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T, "yaw")


class Obs:
    def __init__(self, state):
        self.state = state
        self.image = ToyWorldModel().render(torch.as_tensor(state)).numpy()


def test_planner_policy_executes_the_calibrated_action():
    toy, cal = ToyWorldModel(), yaw_calibration(70.0)
    start = np.array([0.4, 0.0, 0.3, 0, 0, 0, 0.0])
    goal = Obs(start + np.array([0.03, 0.03, 0, 0, 0, 0, 0])).image
    cfg = CEMConfig(num_samples=64, iterations=3, num_elites=8)
    plain, turned = PlannerPolicy(Planner(toy, cfg, MPCConfig())), PlannerPolicy(Planner(toy, cfg, MPCConfig()), calibration=cal)
    for p in (plain, turned):
        p.reset(5)
    a, b = plain(Obs(start), goal), turned(Obs(start), goal)
    np.testing.assert_allclose(b, cal.to_robot(a))
    np.testing.assert_allclose(turned.planner.mpc.next_mean, plain.planner.mpc.next_mean)  # warm start: model frame


@pytest.mark.sim
@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="no [sim] extra")
def test_eval_sim_with_a_turned_camera_and_a_calibration(tiny_run, tmp_path, capsys):
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)

    path = yaw_calibration(30.0).save(tmp_path / "calibration.json")
    out = tmp_path / "eval"
    args = ["eval", "sim", str(tiny_run), f"out_dir={out}", "sim.tasks=[reach]", "sim.labs=[eval_kitchen]",
            "sim.episodes=1", "sim.image_size=64", "sim.progress=false", "sim.max_steps={reach: 2}",
            "sim.camera_azimuth=30", "plan.num_samples=16", "plan.iterations=2", "plan.num_elites=4",
            "baseline=false", "sim.video=none"]
    assert main([*args, "name=plain"]) == 0
    assert main([*args, "name=calibrated", f"calibration={path}"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["env"]["camera_azimuth"] == 30.0
    assert "calibration" not in res["policies"]["plain"]
    assert res["policies"]["calibrated"]["calibration"]["yaw_deg"] == pytest.approx(30.0, abs=0.01)
    assert sorted(e["policy"] for e in res["episodes"]) == ["calibrated", "plain"]
    table = (out / "results.md").read_text()
    assert "turned 30.0 deg" in table and "calibrated: yaw 30.0 deg" in table
    capsys.readouterr()
    # another camera angle in the same out_dir is refused (the env differs)
    assert main([*(a for a in args if "camera_azimuth" not in a), "sim.camera_azimuth=60", "name=plain"]) == 2
    assert "camera_azimuth" in capsys.readouterr().err
    assert main([*args, "name=x", f"calibration={tmp_path / 'missing.json'}"]) == 2
    assert "missing.json" in capsys.readouterr().err
