"""`vjepa-ac calibrate` end to end (sim probe moves, recorded DROID / LeRobot episodes) and
`vjepa-ac plan --calibration` (the printed action is the plan turned into the robot's frame)."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from vjepa_ac.calibrate.probes import PROBE_MOVES
from vjepa_ac.cli import main
from vjepa_ac.data.images import write_image
from vjepa_ac.plan.calibration import fit_calibration, identity, load_calibration
from vjepa_ac.plan.toy import ToyWorldModel

TINY_INFER = ["infer.num_samples=24", "infer.iterations=2", "infer.num_elites=4"]
needs_sim = pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="no [sim] extra")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.sim
@needs_sim
def test_calibrate_command_on_sim_probe_moves(tmp_path, capsys):
    import vjepa_ac.sim  # noqa: F401  (MuJoCo's GL backend first)

    out = tmp_path / "setup" / "calibration.json"
    out.parent.mkdir()
    rc = main(["calibrate", "tiny:", "--out", str(out), "sim.lab=eval_garage", "sim.camera_azimuth=30",
               "sim.seeds=[3]", "sim.image_size=64", *TINY_INFER])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "inferred-move error before" in printed and str(out) in printed
    cal = load_calibration(out)
    assert cal.probes == len(PROBE_MOVES) and cal.camera == "ext1" and cal.model_id.startswith("tiny")
    assert cal.info["probes"] == {"source": "sim", "lab": "eval_garage", "camera_azimuth": 30.0, "image_size": 64,
                                  "camera_zoom": 1.0}
    report = json.loads((out.parent / "calibration.probes.json").read_text())
    assert report["config"]["sim"]["camera_azimuth"] == 30.0 and report["config"]["infer"]["num_samples"] == 24
    executed = np.array([p["executed"] for p in report["pairs"]])  # [K, 3] measured moves
    directions = np.array(PROBE_MOVES)
    cos = np.sum(executed * directions, axis=1) / np.linalg.norm(executed, axis=1)
    assert np.all(cos > 0.95) and np.all(np.linalg.norm(executed, axis=1) > 0.02)  # the sim did the probe moves
    np.testing.assert_allclose(np.array([p["calibrated"] for p in report["pairs"]]),
                               np.array([p["inferred"] for p in report["pairs"]]) @ cal.matrix, atol=2e-5)
    assert set(report["errors"]) >= {"before", "after"}


def test_calibrate_command_on_recorded_droid_and_lerobot_episodes(tmp_path, capsys):
    from vjepa_ac.data.synthetic_datasets import make_droid_dataset, make_lerobot_dataset

    make_droid_dataset(tmp_path / "droid", 2, length=30, size=(48, 64))
    loose = ["episodes.max_rot=3", "episodes.max_gripper=1", "episodes.max_pairs=6", *TINY_INFER]
    assert main(["calibrate", "tiny:", "--episode", str(tmp_path / "droid"), "--out", str(tmp_path / "d.json"),
                 "fit=rotation", *loose]) == 0
    cal = load_calibration(tmp_path / "d.json")
    assert cal.fit == "rotation" and 3 <= cal.probes <= 6 and cal.info["probes"]["source"] == "droid"
    assert cal.camera == "left_mp4_path" and cal.info["probes"]["fps"] == 4.0

    make_lerobot_dataset(tmp_path / "lerobot", 2, length=30)
    assert main(["calibrate", "tiny:", "--episode", str(tmp_path / "lerobot"), "--out", str(tmp_path / "l.json"),
                 "episodes.lerobot.state_indices=[0,1,2,3,4,5,6]", "fps=5", *loose]) == 0
    cal = load_calibration(tmp_path / "l.json")
    assert cal.info["probes"]["source"] == "lerobot" and cal.info["probes"]["episodes"] == 2
    capsys.readouterr()

    # nothing moves far enough: a clear error, exit status 2
    assert main(["calibrate", "tiny:", "--episode", str(tmp_path / "droid"), "--out", str(tmp_path / "x.json"),
                 "episodes.min_move_cm=50", *loose]) == 2
    assert "no frame pair of the episodes moves at least 50.0 cm" in capsys.readouterr().err


def test_calibrate_command_refuses_bad_settings(tmp_path, capsys):
    assert main(["calibrate", "tiny:", "fit=affine"]) == 2
    assert "fit" in capsys.readouterr().err
    assert main(["calibrate", "tiny:", "infer.frobnicate=1"]) == 2
    assert "frobnicate" in capsys.readouterr().err
    assert main(["calibrate", "tiny:", "--episode", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def _toy_png(path, state):
    write_image(path, ToyWorldModel().render(torch.as_tensor(state, dtype=torch.float64)).numpy())
    return str(path)


def test_plan_command_turns_the_action_with_a_calibration(tmp_path, capsys):
    start = np.array([0.4, 0.0, 0.3, 0, 0, 0, 0.0])
    goal = start + np.array([0.04, -0.02, 0.01, 0, 0, 0, 0])
    base = ["plan", "toy:", "--image", _toy_png(tmp_path / "now.png", start), "--state",
            " ".join(map(str, start)), "--goal", _toy_png(tmp_path / "goal.png", goal), "num_samples=64",
            "iterations=3"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "planned_action" not in plain
    rng = np.random.default_rng(0)
    m = rng.normal(size=(8, 3)) * 0.05
    c, s = np.cos(np.radians(50)), np.sin(np.radians(50))
    cal = fit_calibration(m, m @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T, "yaw")
    cal.save(tmp_path / "calibration.json")
    assert main(base + ["--calibration", str(tmp_path / "calibration.json")]) == 0
    turned = json.loads(capsys.readouterr().out)
    assert turned["planned_action"] == plain["action"]  # same seed, same plan
    np.testing.assert_allclose(turned["action"], cal.to_robot(np.array(plain["action"])), atol=2e-6)
    assert abs(np.linalg.norm(turned["action"][:3]) - np.linalg.norm(plain["action"][:3])) < 1e-5

    bad = identity().to_dict()
    bad["scale"] = -1
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(base + ["--calibration", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "'scale'" in err


def test_serve_refuses_a_bad_calibration_before_loading_the_model(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{}")
    assert main(["serve", "tiny:", "--calibration", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "'format'" in err
