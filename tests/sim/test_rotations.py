import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa_ac.sim.rotations import (
    euler_to_mat,
    look_at_mat,
    mat_to_euler,
    mat_to_quat,
    quat_to_mat,
    rotvec_between,
    wrap_angle,
)

pytestmark = pytest.mark.sim


def _random_eulers(n, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.uniform(-np.pi, np.pi, (n, 3))
    e[:, 1] /= 2  # pitch in (-pi/2, pi/2): the canonical range
    e[0] = (np.pi - 1e-3, 0.01, 1.0)  # gripper pointing down: roll near pi
    return e


def test_euler_matches_scipy_extrinsic_xyz():
    for e in _random_eulers(50):
        r = euler_to_mat(e)
        np.testing.assert_allclose(r, Rotation.from_euler("xyz", e).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(mat_to_euler(r), Rotation.from_matrix(r).as_euler("xyz"), atol=1e-9)


def test_quaternions_round_trip():
    for e in _random_eulers(20, seed=1):
        r = euler_to_mat(e)
        q = mat_to_quat(r)
        assert q[0] >= 0
        np.testing.assert_allclose(quat_to_mat(q), r, atol=1e-12)
        xyzw = Rotation.from_matrix(r).as_quat()
        np.testing.assert_allclose(np.abs(q), np.abs(np.r_[xyzw[3], xyzw[:3]]), atol=1e-9)


def test_rotvec_between_incl_half_turn():
    rng = np.random.default_rng(2)
    for angle in (1e-9, 0.3, 2.0, np.pi - 1e-6, np.pi):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        r = euler_to_mat(rng.uniform(-1, 1, 3))
        target = Rotation.from_rotvec(angle * axis).as_matrix() @ r
        v = rotvec_between(target, r)
        np.testing.assert_allclose(Rotation.from_rotvec(v).as_matrix() @ r, target, atol=1e-6)


def test_wrap_angle():
    np.testing.assert_allclose(wrap_angle([np.pi + 0.1, -np.pi - 0.1, 0.5]), [-np.pi + 0.1, np.pi - 0.1, 0.5])


def test_look_at_points_minus_z_at_target():
    pos, target = np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0])
    r = look_at_mat(pos, target)
    np.testing.assert_allclose(-r[:, 2], (target - pos) / np.linalg.norm(target - pos), atol=1e-12)
    assert r[2, 1] > 0  # image up points up in the world
