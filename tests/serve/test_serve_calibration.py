"""The server with a calibration: replies' action / actions are turned into the robot's frame,
warm_start stays in the model's frame, /metadata says so, and a bad file stops the start."""

import json

import numpy as np
import pytest
from serve_helpers import FAST, make_service, plan_body

from vjepa_ac.plan.calibration import fit_calibration, identity
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.protocol import parse_plan_request


def yaw_calibration(deg: float):
    m = np.random.default_rng(0).normal(size=(8, 3)) * 0.05
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return fit_calibration(m, m @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T, "yaw")


def _request(cfg: ServeConfig):
    return parse_plan_request(plan_body(planner=dict(FAST, horizon=2)), cfg)


def test_calibrated_service_turns_actions_but_not_the_warm_start(tmp_path):
    cal = yaw_calibration(-35.0)
    path = cal.save(tmp_path / "calibration.json")
    plain, turned = make_service(), make_service(calibration=str(path))
    try:
        a = plain.plan(_request(plain.cfg))
        b = turned.plan(_request(turned.cfg))
        np.testing.assert_allclose(b.actions, cal.to_robot(a.actions), atol=1e-9)  # [H, 7]
        np.testing.assert_allclose(b.action, b.actions[0])
        np.testing.assert_allclose(b.warm_start, a.warm_start)  # sent back as init_mean: the model's frame
        assert plain.metadata()["calibration"] is None
        meta = turned.metadata()["calibration"]
        assert meta["yaw_deg"] == pytest.approx(-35.0, abs=0.01) and meta["fit"] == "yaw"
    finally:
        plain.stop(5)
        turned.stop(5)


def test_bad_calibration_file_stops_the_service(tmp_path):
    d = identity().to_dict()
    d["rotation"] = [[1, 0, 0], [0, 1, 0]]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="bad.json: field 'rotation'"):
        make_service(calibration=str(tmp_path / "bad.json"))
    with pytest.raises(OSError):
        make_service(calibration=str(tmp_path / "missing.json"))
    assert ServeConfig(calibration="x.json").calibration == "x.json"  # read when the service starts
