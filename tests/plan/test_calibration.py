"""The action-frame calibration: its fit, its file, and the direction it turns planned actions.

A "turned camera" is simulated with the toy world model: the model sees the robot's positions
turned by a known R (model frame = R robot frame), so a move m of the robot is inferred as R m.
"""

import json
import math

import numpy as np
import pytest
import torch

from vjepa_ac.plan.calibration import (
    FORMAT, Calibration, CalibrationError, fit_calibration, identity, load_calibration, move_errors, yaw_of,
)
from vjepa_ac.plan.config import CEMConfig, MPCConfig
from vjepa_ac.plan.infer import infer_moves, infer_planner
from vjepa_ac.plan.mpc import Planner
from vjepa_ac.plan.toy import ToyWorldModel


def yaw(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def random_rotation(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))  # proper: det +1


def probe_moves(rng, k=20, length=0.05) -> np.ndarray:
    m = rng.normal(size=(k, 3))
    return length * m / np.linalg.norm(m, axis=1, keepdims=True)  # [K, 3]


@pytest.mark.parametrize("deg", [-60.0, 0.0, 30.0, 135.0])
def test_yaw_fit_recovers_the_angle_and_scale_from_noisy_moves(deg):
    rng = np.random.default_rng(0)
    m = probe_moves(rng)
    p = 0.8 * m @ yaw(deg).T + rng.normal(scale=0.002, size=m.shape)  # 2 mm noise
    cal = fit_calibration(m, p, "yaw", with_scale=True)
    assert cal.yaw_deg == pytest.approx(deg, abs=2.0) and cal.scale == pytest.approx(0.8, abs=0.05)
    assert cal.residual_m < 0.005 < cal.error_before_m or deg == 0.0
    assert abs(np.linalg.det(cal.matrix) - 1) < 1e-9
    unscaled = fit_calibration(m, p, "yaw")
    assert unscaled.scale == 1.0 and unscaled.scale_estimate == pytest.approx(0.8, abs=0.05)


def test_rotation_fit_recovers_a_3d_rotation_and_never_a_reflection():
    rng = np.random.default_rng(1)
    r = random_rotation(rng)
    m = probe_moves(rng)
    p = 1.2 * m @ r.T + rng.normal(scale=0.001, size=m.shape)
    cal = fit_calibration(m, p, "rotation", with_scale=True)
    assert np.abs(cal.matrix - r).max() < 0.05 and cal.scale == pytest.approx(1.2, abs=0.05)
    # mirrored moves: the best orthogonal map is a reflection; the fit returns a proper rotation
    mirrored = m * np.array([1.0, 1.0, -1.0])
    cal = fit_calibration(m, mirrored, "rotation")
    assert np.linalg.det(cal.matrix) == pytest.approx(1.0) and cal.residual_m > 0.01


def test_degenerate_moves_are_refused_with_the_reason():
    rng = np.random.default_rng(2)
    x = np.outer(rng.uniform(0.02, 0.05, 6), [1.0, 0.0, 0.0])  # all along x
    with pytest.raises(CalibrationError, match="non-parallel horizontal"):
        fit_calibration(x, x, "yaw")
    with pytest.raises(CalibrationError, match="three independent"):
        fit_calibration(np.r_[x, x[:, [1, 0, 2]]], np.r_[x, x[:, [1, 0, 2]]], "rotation")  # a plane only
    vertical = np.outer([0.05, -0.05, 0.04], [0, 0, 1.0])
    with pytest.raises(CalibrationError, match="horizontal"):
        fit_calibration(vertical, vertical, "yaw")
    m = probe_moves(rng)
    with pytest.raises(CalibrationError, match="does not see"):
        fit_calibration(m, np.zeros_like(m), "yaw")
    with pytest.raises(CalibrationError, match="too|usable"):
        fit_calibration(m * 0.001, m, "yaw")  # every executed move shorter than MIN_MOVE
    with pytest.raises(CalibrationError, match="not finite"):
        fit_calibration(m, np.full_like(m, np.nan), "yaw")
    with pytest.raises(CalibrationError, match=r"\[K, 3\]"):
        fit_calibration(m, m[:3], "yaw")
    with pytest.raises(CalibrationError, match="outside"):
        fit_calibration(m, 0.15 * m, "yaw", with_scale=True)  # a 7x shorter inferred move: not applied
    assert fit_calibration(m, 0.15 * m, "yaw").warnings  # without the scale: kept, with a warning


def test_to_robot_turns_planned_moves_into_the_moves_the_model_sees_as_planned():
    rng = np.random.default_rng(3)
    r = yaw(40.0)
    m = probe_moves(rng)
    cal = fit_calibration(m, 0.9 * m @ r.T, "yaw", with_scale=True)
    planned = np.array([0.03, -0.02, 0.01, 0.1, -0.2, 0.3, 0.5])  # model frame
    executed = cal.to_robot(planned)
    seen = 0.9 * r @ executed[:3]  # what the turned camera shows the model
    np.testing.assert_allclose(seen, planned[:3], atol=1e-9)
    np.testing.assert_array_equal(executed[3:], planned[3:])  # rotation and gripper pass unchanged
    np.testing.assert_allclose(cal.to_model(executed), planned, atol=1e-12)
    np.testing.assert_allclose(identity().to_robot(planned), planned)
    batch = cal.to_robot(np.tile(planned, (2, 3, 1)))  # [..., 7]
    np.testing.assert_allclose(batch[1, 2], executed)
    with pytest.raises(ValueError, match=r"\[\.\.\., 7\]"):
        cal.to_robot(np.zeros(3))


class TurnedCamera:
    """The toy world seen through a camera turned by ``r``: images show R xyz (model frame)."""

    def __init__(self, r: np.ndarray):
        self.r, self.toy = r, ToyWorldModel()

    def image(self, robot_state: np.ndarray) -> np.ndarray:
        s = np.array(robot_state, dtype=np.float64)
        s[:3] = self.r @ s[:3]
        return self.toy.render(torch.as_tensor(s)).numpy()

    def model_state(self, robot_state: np.ndarray) -> np.ndarray:
        s = np.array(robot_state, dtype=np.float64)
        s[:3] = self.r @ s[:3]
        return s


def test_probe_inference_fit_and_planning_reach_the_goal_only_when_calibrated():
    """Probe moves -> inferred by planning toward the next frame -> fitted R -> a plan in the
    model's frame, executed through ``to_robot``, moves the robot toward the goal."""
    camera = TurnedCamera(yaw(60.0))
    start = np.array([0.3, 0.1, 0.3, 0.0, 0.0, 0.0, 0.0])
    dirs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0.7, 0.7, 0], [0.7, -0.7, 0]])
    executed = 0.05 * dirs  # [K, 3]
    after = [start + np.r_[d, 0, 0, 0, 0] for d in executed]
    inferred = infer_moves(camera.toy, [camera.image(start)] * len(dirs),
                           np.stack([camera.model_state(start)] * len(dirs)), [camera.image(a) for a in after],
                           infer_planner({"num_samples": 200, "iterations": 6}))
    np.testing.assert_allclose(inferred[:, :3], executed @ camera.r.T, atol=0.004)  # the model sees R m
    assert np.all(inferred[:, 3:] == 0)
    cal = fit_calibration(executed, inferred[:, :3], "yaw")
    assert cal.yaw_deg == pytest.approx(60.0, abs=2.0)
    assert move_errors(executed, inferred[:, :3])["angle_deg"] > 50  # uncalibrated: 60 degrees off

    goal = start + np.array([0.04, -0.03, 0.0, 0, 0, 0, 0])
    planner = Planner(camera.toy, CEMConfig(num_samples=200, iterations=6, search=("xyz",)), MPCConfig())
    obs = {"image": camera.image(start), "state": camera.model_state(start)}
    planned = planner(obs, camera.image(goal))  # model frame
    moved_calibrated = start[:3] + cal.to_robot(planned)[:3]
    moved_raw = start[:3] + planned[:3]
    assert np.linalg.norm(moved_calibrated - goal[:3]) < 0.005
    assert np.linalg.norm(moved_raw - goal[:3]) > 0.03


def test_calibration_file_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    m = probe_moves(rng)
    cal = fit_calibration(m, m @ yaw(25.0).T, "yaw", camera="ext1", model_id="toy:", created="2026-11-30T00:00:00",
                          info={"probes": {"source": "sim"}})
    path = cal.save(tmp_path / "calibration.json")
    loaded = load_calibration(path)
    assert loaded == cal and loaded.summary()["yaw_deg"] == pytest.approx(25.0, abs=0.01)
    assert json.loads(path.read_text())["format"] == FORMAT
    assert yaw_of(loaded.matrix) == pytest.approx(25.0, abs=0.01)


@pytest.mark.parametrize("change, match", [
    (lambda d: d.pop("format"), "field 'format'"),
    (lambda d: d.pop("rotation"), "field 'rotation' is missing"),
    (lambda d: d.update(rotation=[[1, 0], [0, 1]]), "field 'rotation' must be a finite 3x3"),
    (lambda d: d.update(rotation=[[1, 0, 0], [0, 1, 0], [0, 0, "x"]]), "field 'rotation' must be a 3x3 matrix"),
    (lambda d: d.update(rotation=[[2, 0, 0], [0, 1, 0], [0, 0, 1]]), "not a proper rotation"),
    (lambda d: d.update(rotation=[[1, 0, 0], [0, 1, 0], [0, 0, -1]]), "not a proper rotation"),
    (lambda d: d.update(scale=0.0), "field 'scale'"),
    (lambda d: d.update(scale="1"), "field 'scale'"),
    (lambda d: d.update(fit="affine"), "field 'fit'"),
    (lambda d: d.update(rotaton=1), r"unknown calibration field\(s\) \['rotaton'\]"),
])
def test_bad_calibration_files_name_the_file_and_field(tmp_path, change, match):
    d = identity().to_dict()
    change(d)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match) as e:
        load_calibration(path)
    assert str(path) in str(e.value)


def test_unreadable_calibration_files(tmp_path):
    with pytest.raises(OSError):
        load_calibration(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a calibration file"):
        load_calibration(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json: field 'format'"):
        load_calibration(tmp_path / "list.json")


def test_calibration_is_a_frozen_record():
    with pytest.raises(AttributeError):
        identity().scale = 2.0  # type: ignore[misc]
    assert isinstance(identity(), Calibration)
