"""End-effector pose math: states <-> actions, and poses in the camera frame.

A state is ``[x, y, z, roll, pitch, yaw, gripper]`` (7): position in metres, orientation as
extrinsic "xyz" Euler angles in radians (SciPy's ``Rotation.from_euler("xyz", ...)``), gripper
0 open .. 1 closed. An action between consecutive states is (REFERENCE.md section 6)::

    [xyz_{t+1} - xyz_t,  euler_xyz(R_{t+1} R_t^T),  g_{t+1} - g_t]

so the rotation part is the rotation that carries pose t onto pose t+1, expressed in the base
frame (applied on the left). ``apply_actions`` inverts it and clips the gripper to [0, 1].

Everything is computed in torch (float64 for numpy inputs); numpy in -> numpy out, torch in ->
torch out (same dtype and device), so planners can call ``apply_actions`` on ``[S, 7]`` batches.
Leading batch dimensions are allowed everywhere. Both functions reproduce
``../shared/golden/pose_math.pt`` to ~1e-15 in float64.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

# The 7-D state / action layout, named once (plan.actions re-exports it). Slices keep the
# trailing axis (``a[..., GRIPPER]`` is ``[..., 1]``); ``GRIPPER_DIM`` indexes the one dim.
XYZ = slice(0, 3)  # position (m)
ROT = slice(3, 6)  # extrinsic euler "xyz" (rad)
GRIPPER = slice(6, 7)  # 0 open .. 1 closed
GRIPPER_DIM = GRIPPER.start  # the gripper's dim as an index (6)
STATE_DIM = 7
ACTION_DIM = 7
EXTRINSICS_DIM = 6  # camera pose: xyz (m) + euler "xyz" (rad), in the robot base frame

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _to_torch(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def _like(out: torch.Tensor, ref: np.ndarray | torch.Tensor):
    return out if isinstance(ref, torch.Tensor) else out.numpy()


def euler_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """Extrinsic "xyz" Euler angles ``[..., 3]`` (rad) -> rotation matrices ``[..., 3, 3]``.

    Extrinsic x, then y, then z about the fixed axes: ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``.
    """
    a, b, c = euler.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    rows = (
        (cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa),
        (sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa),
        (-sb, cb * sa, cb * ca),
    )
    return torch.stack([torch.stack(r, -1) for r in rows], -2)  # [..., 3, 3]


def matrix_to_euler(rot: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` -> extrinsic "xyz" Euler angles ``[..., 3]`` (rad).

    Same ranges as SciPy's ``as_euler("xyz")``: roll and yaw in [-pi, pi], pitch in
    [-pi/2, pi/2]. At gimbal lock (|pitch| = pi/2) yaw is set to 0, as SciPy does.
    """
    r00, r10, r20 = rot[..., 0, 0], rot[..., 1, 0], rot[..., 2, 0]
    r21, r22 = rot[..., 2, 1], rot[..., 2, 2]
    cos_pitch = torch.sqrt(r00 * r00 + r10 * r10)
    pitch = torch.atan2(-r20, cos_pitch)
    roll = torch.atan2(r21, r22)
    yaw = torch.atan2(r10, r00)
    # gimbal lock: only roll - yaw (or roll + yaw) is defined; put it all in roll
    locked = cos_pitch < 1e-12
    if bool(locked.any()):
        r01, r11 = rot[..., 0, 1], rot[..., 1, 1]
        roll = torch.where(locked, torch.atan2(r01 * torch.sign(-r20), r11), roll)
        yaw = torch.where(locked, torch.zeros_like(yaw), yaw)
    return torch.stack([roll, pitch, yaw], -1)


def states_to_actions(states: ArrayT) -> ArrayT:
    """Actions between consecutive states.

    states: ``[..., T, 7]``. Returns ``[..., T-1, 7]``: xyz delta, Euler "xyz" of
    ``R_{t+1} R_t^T``, gripper delta.
    """
    s = _to_torch(states)
    if s.shape[-1] != STATE_DIM or s.ndim < 2:
        raise ValueError(f"states must be [..., T, {STATE_DIM}], got {tuple(s.shape)}")
    rot = euler_to_matrix(s[..., ROT])  # [..., T, 3, 3]
    delta_rot = rot[..., 1:, :, :] @ rot[..., :-1, :, :].transpose(-1, -2)  # [..., T-1, 3, 3]
    actions = torch.cat(
        [
            s[..., 1:, XYZ] - s[..., :-1, XYZ],
            matrix_to_euler(delta_rot),
            s[..., 1:, GRIPPER] - s[..., :-1, GRIPPER],
        ],
        dim=-1,
    )  # [..., T-1, 7]
    return _like(actions, states)


def apply_actions(states: ArrayT, actions: ArrayT) -> ArrayT:
    """Advance each state by its action (the inverse of ``states_to_actions``).

    states, actions: ``[..., 7]`` (same shape). Returns ``[..., 7]``: xyz + delta,
    Euler "xyz" of ``R(action) R(state)``, gripper + delta clipped to [0, 1].
    """
    s, a = _to_torch(states), _to_torch(actions)
    if s.shape != a.shape or s.shape[-1] != STATE_DIM:
        raise ValueError(
            f"states and actions must both be [..., {STATE_DIM}], got {tuple(s.shape)} and {tuple(a.shape)}"
        )
    a = a.to(s.dtype)
    rot = euler_to_matrix(a[..., ROT]) @ euler_to_matrix(s[..., ROT])  # [..., 3, 3]
    out = torch.cat(
        [
            s[..., XYZ] + a[..., XYZ],
            matrix_to_euler(rot),
            (s[..., GRIPPER] + a[..., GRIPPER]).clamp(0.0, 1.0),
        ],
        dim=-1,
    )  # [..., 7]
    return _like(out, states)


def _pose_to_transform(pose: torch.Tensor) -> torch.Tensor:
    """``[..., 6]`` xyz + euler -> homogeneous ``[..., 4, 4]``."""
    t = torch.zeros(*pose.shape[:-1], 4, 4, dtype=pose.dtype, device=pose.device)
    t[..., :3, :3] = euler_to_matrix(pose[..., 3:6])
    t[..., :3, 3] = pose[..., :3]
    t[..., 3, 3] = 1.0
    return t


def to_camera_frame(states: ArrayT, extrinsics: ArrayT) -> ArrayT:
    """Express end-effector poses in the camera frame: ``T_cam^-1 @ T_ee``; gripper unchanged.

    states: ``[..., 7]`` in the robot base frame; extrinsics: ``[..., 6]`` camera pose in the base
    frame (DROID ``observation/camera_extrinsics/<serial>_left``). Returns ``[..., 7]``.
    """
    s, e = _to_torch(states), _to_torch(extrinsics).to(_to_torch(states).dtype)
    if s.shape[-1] != STATE_DIM or e.shape[-1] != EXTRINSICS_DIM or s.shape[:-1] != e.shape[:-1]:
        raise ValueError(
            f"states [..., 7] and extrinsics [..., 6] must match, got {tuple(s.shape)}, {tuple(e.shape)}"
        )
    rel = torch.linalg.inv(_pose_to_transform(e)) @ _pose_to_transform(s[..., :6])  # [..., 4, 4]
    out = torch.cat([rel[..., :3, 3], matrix_to_euler(rel[..., :3, :3]), s[..., GRIPPER]], dim=-1)
    return _like(out, states)
