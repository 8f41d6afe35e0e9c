"""End-effector pose control of the Panda: damped-least-squares IK onto joint position servos.

Each control step the commanded end-effector pose is turned into a joint target by DLS IK on a
scratch ``MjData`` (kinematics only, so the simulation is untouched); the joint servos then track
a linear ramp from the previous target to the new one over the step's physics substeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vjepa_ac.sim.rotations import rotvec_between


@dataclass(frozen=True)
class IKConfig:
    damping: float = 0.05  # DLS damping (m-equivalent)
    iterations: int = 60  # at most; converges in ~4 for a 0.25 s step
    tolerance: float = 1e-4  # stop when |[position error, 0.5 * rotation error]| is below (m)
    max_joint_step: float = 0.3  # rad, per iteration (norm)
    null_space_gain: float = 0.1  # one pull of the posture towards home per solve
    joint_margin: float = 0.02  # rad kept away from each joint limit
    rotation_weight: float = 0.5  # m per rad when mixing position and rotation errors


class DLSIK:
    """Inverse kinematics of site ``site`` over the arm joints ``joints`` of ``model``."""

    def __init__(self, model: mujoco.MjModel, site: str, joints: tuple[str, ...], home: np.ndarray,
                 cfg: IKConfig = IKConfig()):
        self.model, self.cfg = model, cfg
        self.data = mujoco.MjData(model)  # scratch: kinematics only
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in joints]
        self.qadr = np.array([model.jnt_qposadr[j] for j in ids])
        self.dadr = np.array([model.jnt_dofadr[j] for j in ids])
        self.low = model.jnt_range[ids, 0] + cfg.joint_margin
        self.high = model.jnt_range[ids, 1] - cfg.joint_margin
        self.home = np.asarray(home, np.float64)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_pose(self, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site position ``[3]`` and rotation ``[3,3]`` at full configuration ``qpos``."""
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site].copy(), self.data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, pos: np.ndarray, rot: np.ndarray, q_init: np.ndarray, qpos: np.ndarray) -> np.ndarray:
        """Arm joint angles ``[7]`` putting the site at ``pos [3]`` with orientation ``rot [3,3]``,
        starting from ``q_init [7]``; the other joints are taken from ``qpos [nq]``."""
        cfg, k = self.cfg, self.data
        k.qpos[:] = qpos
        q = np.clip(np.asarray(q_init, np.float64).copy(), self.low, self.high)
        w = cfg.rotation_weight
        for it in range(cfg.iterations):
            k.qpos[self.qadr] = q
            mujoco.mj_kinematics(self.model, k)
            mujoco.mj_comPos(self.model, k)
            p, r = k.site_xpos[self.site], k.site_xmat[self.site].reshape(3, 3)
            err = np.concatenate([pos - p, w * rotvec_between(rot, r)])  # [6]
            if np.linalg.norm(err) < cfg.tolerance:
                break
            mujoco.mj_jacSite(self.model, k, self._jacp, self._jacr, self.site)
            jac = np.vstack([self._jacp, w * self._jacr])[:, self.dadr]  # [6,7]
            jjt = jac @ jac.T + cfg.damping**2 * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, err)
            if it == 0:
                # one null-space pull towards home, then plain DLS (repeating it stalls convergence)
                pinv = jac.T @ np.linalg.inv(jjt)
                dq += (np.eye(len(q)) - pinv @ jac) @ (cfg.null_space_gain * (self.home - q))
            n = np.linalg.norm(dq)
            if n > cfg.max_joint_step:
                dq *= cfg.max_joint_step / n
            q = np.clip(q + dq, self.low, self.high)
        return q
