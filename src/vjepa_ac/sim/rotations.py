"""Rotation helpers in DROID's convention: extrinsic "xyz" Euler angles == SciPy ``as_euler("xyz")``.

Plain numpy (SciPy's ``Rotation`` costs ~20 us per call, which adds up inside the IK loop);
``tests/sim/test_rotations.py`` checks these against SciPy.
"""

from __future__ import annotations

import numpy as np


def wrap_angle(x: np.ndarray | float) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(x, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi


def euler_to_mat(euler: np.ndarray) -> np.ndarray:
    """Extrinsic xyz Euler ``[3]`` (rad) -> rotation matrix ``[3,3]`` (``Rz @ Ry @ Rx``)."""
    a, b, c = euler
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    return np.array(
        [
            [cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa],
            [sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa],
            [-sb, cb * sa, cb * ca],
        ]
    )


def mat_to_euler(r: np.ndarray) -> np.ndarray:
    """Rotation matrix ``[3,3]`` -> extrinsic xyz Euler ``[3]`` (rad), pitch in [-pi/2, pi/2]."""
    pitch = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    roll = np.arctan2(r[2, 1], r[2, 2])
    yaw = np.arctan2(r[1, 0], r[0, 0])
    return np.array([roll, pitch, yaw])


def rotvec_between(r_target: np.ndarray, r: np.ndarray) -> np.ndarray:
    """World-frame rotation vector ``[3]`` of ``r_target @ r.T`` (the rotation taking ``r`` to ``r_target``)."""
    d = r_target @ r.T
    w = np.array([d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]])  # 2 sin(angle) * axis
    sin, cos = np.linalg.norm(w) / 2.0, (np.trace(d) - 1.0) / 2.0
    angle = np.arctan2(sin, cos)
    if angle < 1e-7:
        return 0.5 * w
    if cos > -0.9:
        return angle * w / (2.0 * sin)
    # near a half turn w vanishes: take the axis from the symmetric part, (1 - cos) axis axis^T
    b = (d + d.T) / 2.0 - cos * np.eye(3)
    axis = b[:, int(np.argmax(np.diag(b)))]
    axis = axis / np.linalg.norm(axis)
    return angle * (axis if axis @ w >= 0 else -axis)


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """MuJoCo quaternion ``[w,x,y,z]`` -> rotation matrix ``[3,3]``."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_quat(r: np.ndarray) -> np.ndarray:
    """Rotation matrix ``[3,3]`` -> MuJoCo quaternion ``[w,x,y,z]`` (w >= 0)."""
    t = np.trace(r)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = np.array([0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k])
        q = np.empty(4)
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def yaw_quat(yaw: float) -> np.ndarray:
    """MuJoCo quaternion ``[w,x,y,z]`` of a rotation by ``yaw`` (rad) about world z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def look_at_mat(pos: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Orientation ``[3,3]`` (columns = camera x, y, z axes) of a MuJoCo camera at ``pos`` looking at
    ``target``: MuJoCo cameras look along their -z axis with +y up in the image."""
    fwd = np.asarray(target, np.float64) - np.asarray(pos, np.float64)
    fwd /= np.linalg.norm(fwd)
    x = np.cross(fwd, np.asarray(up, np.float64))
    x /= np.linalg.norm(x)
    y = np.cross(x, fwd)
    return np.stack([x, y, -fwd], axis=1)
