"""Pose math: golden parity (public implementation), SciPy agreement, numpy/torch symmetry."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa_ac.data import poses


@pytest.fixture
def pose_math(golden):
    return golden("pose_math")


def test_states_to_actions_matches_golden(pose_math):
    got = poses.states_to_actions(pose_math["states"])
    assert got.dtype == torch.float64 and got.shape == (63, 7)
    torch.testing.assert_close(got, pose_math["actions"], rtol=0, atol=1e-10)
    got_np = poses.states_to_actions(pose_math["states"].numpy())
    assert isinstance(got_np, np.ndarray)
    np.testing.assert_allclose(got_np, pose_math["actions"].numpy(), rtol=0, atol=1e-10)


def test_apply_actions_matches_golden(pose_math):
    got = poses.apply_actions(pose_math["states"][:-1], pose_math["actions"])
    torch.testing.assert_close(got, pose_math["next_states"], rtol=0, atol=1e-10)
    got_np = poses.apply_actions(pose_math["states"][:-1].numpy(), pose_math["actions"].numpy())
    np.testing.assert_allclose(got_np, pose_math["next_states"].numpy(), rtol=0, atol=1e-10)


def test_apply_actions_batched_float32_and_gripper_clip():
    rng = np.random.default_rng(0)
    s = torch.from_numpy(rng.uniform(-1, 1, (5, 3, 7))).float()
    a = torch.from_numpy(rng.uniform(-2, 2, (5, 3, 7))).float()
    out = poses.apply_actions(s, a)
    assert out.shape == (5, 3, 7) and out.dtype == torch.float32
    assert float(out[..., 6].min()) >= 0.0 and float(out[..., 6].max()) <= 1.0
    ref = poses.apply_actions(s.double().numpy(), a.double().numpy())
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def test_round_trip_states_actions():
    rng = np.random.default_rng(1)
    states = np.concatenate(
        [
            rng.normal(size=(20, 3)),
            Rotation.random(20, random_state=2).as_euler("xyz"),
            rng.uniform(0, 1, (20, 1)),
        ],
        axis=1,
    )
    actions = poses.states_to_actions(states)
    np.testing.assert_allclose(poses.apply_actions(states[:-1], actions), states[1:], atol=1e-12)


def test_euler_conversions_match_scipy_including_gimbal_lock():
    eul = Rotation.random(200, random_state=3).as_euler("xyz")
    eul[:3, 1] = [np.pi / 2, -np.pi / 2, np.pi / 2]  # gimbal lock rows
    mats = Rotation.from_euler("xyz", eul).as_matrix()
    np.testing.assert_allclose(poses.euler_to_matrix(torch.from_numpy(eul)).numpy(), mats, atol=1e-14)
    with pytest.warns(UserWarning):
        ref = Rotation.from_matrix(mats).as_euler("xyz")
    got = poses.matrix_to_euler(torch.from_numpy(mats)).numpy()
    np.testing.assert_allclose(Rotation.from_euler("xyz", got).as_matrix(), mats, atol=1e-7)
    np.testing.assert_allclose(got[3:], ref[3:], atol=1e-9)


def test_to_camera_frame_matches_homogeneous_transforms():
    rng = np.random.default_rng(4)
    states = np.concatenate(
        [
            rng.normal(size=(6, 3)),
            Rotation.random(6, random_state=5).as_euler("xyz"),
            rng.uniform(0, 1, (6, 1)),
        ],
        axis=1,
    )
    ext = np.concatenate(
        [rng.normal(size=(6, 3)), Rotation.random(6, random_state=6).as_euler("xyz")], axis=1
    )
    got = poses.to_camera_frame(states, ext)
    for i in range(6):
        te, tp = np.eye(4), np.eye(4)
        te[:3, :3], te[:3, 3] = Rotation.from_euler("xyz", ext[i, 3:]).as_matrix(), ext[i, :3]
        tp[:3, :3], tp[:3, 3] = Rotation.from_euler("xyz", states[i, 3:6]).as_matrix(), states[i, :3]
        rel = np.linalg.inv(te) @ tp
        np.testing.assert_allclose(got[i, :3], rel[:3, 3], atol=1e-12)
        np.testing.assert_allclose(got[i, 3:6], Rotation.from_matrix(rel[:3, :3]).as_euler("xyz"), atol=1e-9)
    assert np.array_equal(got[:, 6], states[:, 6])
