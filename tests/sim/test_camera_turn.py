"""ext1 turned around the workspace (sim/camera_turn.py) and its use by the sim evaluation."""

import math

import numpy as np
import pytest

from vjepa_ac.sim.camera_turn import ext1_azimuth, turned_ext1
from vjepa_ac.sim.evaluate import SimEvalConfig
from vjepa_ac.sim.labs import EVAL_LABS, TRAIN_LABS, get_lab


@pytest.mark.parametrize("deg", [0.0, 30.0, 60.0, -45.0])
def test_turning_keeps_height_target_and_distance(deg):
    lab = get_lab(EVAL_LABS[0])
    turned = turned_ext1(lab, deg)
    assert turned["ext1_target"] == lab.ext1.target
    (x, y, z), (tx, ty, _) = turned["ext1_pos"], lab.ext1.target
    assert z == lab.ext1.pos[2]
    assert math.hypot(x - tx, y - ty) == pytest.approx(math.hypot(lab.ext1.pos[0] - tx, lab.ext1.pos[1] - ty), abs=1e-5)
    azimuth = math.degrees(math.atan2(y - ty, x - tx))
    assert azimuth == pytest.approx(ext1_azimuth(lab) + deg, abs=1e-3)


def test_training_cameras_stand_at_the_front_left():
    assert all(60 < ext1_azimuth(name) < 70 for name in TRAIN_LABS)


def test_camera_azimuth_is_validated():
    with pytest.raises(ValueError, match="camera_azimuth"):
        SimEvalConfig(camera_azimuth=200.0)
    assert SimEvalConfig(camera_azimuth=-30.0).camera_azimuth == -30.0


@pytest.mark.sim
def test_a_turned_camera_renders_another_view():
    pytest.importorskip("mujoco")
    from vjepa_ac.sim.env import FrankaSim, SimConfig

    images = []
    for kwargs in ({}, turned_ext1("eval_garage", 0.0), turned_ext1("eval_garage", 30.0)):
        with FrankaSim(SimConfig(lab="eval_garage", image_size=32, **kwargs)) as sim:
            images.append(sim.reset(0).image.astype(np.int16))
    assert np.array_equal(images[0], images[1])  # 0 degrees: the lab's own placement
    assert np.abs(images[2] - images[0]).mean() > 5
