"""The Franka Panda with a Robotiq 2F-85 (DROID's gripper) or the Panda hand, as MJCF pieces.

Taken from robosuite 1.5.2's asset files, with the fixes they need outside robosuite
(``../shared/SIM_NOTES.md`` section 4): collision geoms hidden (group 3) so they do not z-fight
with the visual meshes, helper sites hidden (group 5), the duplicated Robotiq base mesh dropped,
joint damping/armature on the Robotiq linkage and no gravity compensation on it, and joint
position servos with gravity compensation on the arm (as a Franka's torque controller has).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vjepa_ac.sim.assets import robosuite_assets_dir
from vjepa_ac.sim.rotations import look_at_mat

Gripper = Literal["robotiq", "panda"]

# A comfortable "ready" posture with the gripper pointing down over the table (rad)
HOME_QPOS = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, np.pi / 4])
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
EE_SITE = "grip_site"  # between the finger pads: the end-effector point of the state
# Menagerie-like joint servo gains (N m / rad) and torque limits (N m)
ARM_KP = (4500, 4500, 3500, 3500, 2000, 2000, 2000)
ARM_FORCE = (87, 87, 87, 87, 12, 12, 12)
# knuckle angle (rad) at which the Robotiq's pads meet when it closes on nothing (measured in the
# scene with command 1; see tests/sim/test_env.py::test_gripper_state_range)
ROBOTIQ_EMPTY_CLOSE = 0.455


@dataclass
class GripperSpec:
    """How the gripper's command and state map to its joints.

    Command c in [0, 1] sets the servo targets ``open + c * (command_closed - open)``. State
    (DROID's ``gripper_position``, 0 open .. 1 closed) is the mean of the driven joints scaled so
    that 1 is where the fingers meet when closing on nothing (``state_closed``): an empty close
    reads 1.0, a grasp reads about the fraction of the stroke the object leaves.
    """

    joints: tuple[str, ...]  # driven joints
    open: np.ndarray  # joint positions when open
    command_closed: np.ndarray  # servo targets for command 1 (beyond contact, to squeeze)
    state_closed: np.ndarray  # joint positions where the empty gripper closes


@dataclass
class RobotParts:
    """MJCF pieces for the scene builder."""

    assets: list[ET.Element]  # <mesh>/<material> elements, file paths absolute
    base: ET.Element  # <body name="base"> with the arm, gripper and wrist camera
    actuators: str  # xml: 7 arm servos then the gripper servos
    tendons: str  # xml: gripper coupling (Robotiq), may be empty
    gripper: GripperSpec
    wrist_camera: str = "wrist"


def _abs_files(elem: ET.Element, base_dir) -> None:
    for e in elem.iter():
        if "file" in e.attrib:
            e.attrib["file"] = str((base_dir / e.attrib["file"]).resolve())


def _arm_actuators() -> str:
    lines = []
    for i, (kp, force) in enumerate(zip(ARM_KP, ARM_FORCE)):
        lines.append(
            f'<general name="arm{i + 1}" joint="joint{i + 1}" biastype="affine" gainprm="{kp}" '
            f'biasprm="0 -{kp} -{kp // 10}" forcerange="-{force} {force}"/>'
        )
    return "\n".join(lines)


def build_panda(gripper: Gripper = "robotiq") -> RobotParts:
    """Panda arm plus ``gripper`` from robosuite's files, fixed for standalone use."""
    root = robosuite_assets_dir()
    arm = ET.parse(root / "robots" / "panda" / "robot.xml").getroot()
    grip_file = {"robotiq": "robotiq_gripper_85.xml", "panda": "panda_gripper.xml"}[gripper]
    grip = ET.parse(root / "grippers" / grip_file).getroot()
    _abs_files(arm, root / "robots" / "panda")
    _abs_files(grip, root / "grippers")

    # robosuite's Robotiq file declares mesh "robotiq_arg2f_base_link" twice, the second time with
    # a file missing from the wheel: keep the first declaration of every name
    assets, seen = [], set()
    for e in list(arm.find("asset")) + list(grip.find("asset")):
        if e.get("name") not in seen:
            assets.append(e)
            seen.add(e.get("name"))

    base = arm.find("worldbody").find("body")
    for body in list(base.iter("body")):
        for cam in body.findall("camera"):
            body.remove(cam)  # robosuite's own cameras
    hand = next(b for b in base.iter("body") if b.get("name") == "right_hand")
    gbody = grip.find("worldbody").find("body")
    hand.append(gbody)

    # a wrist camera beside the gripper, looking down the approach axis (DROID has one)
    side = (-0.09, 0.0, 0.02) if gripper == "robotiq" else (0.0, -0.09, 0.02)
    axes = look_at_mat(np.array(side), np.array([0.0, 0.0, 0.25]), up=np.array([-side[0], -side[1], 0.0]))
    xyaxes = " ".join(f"{v:.4f}" for v in axes[:, :2].T.ravel())
    ET.SubElement(gbody, "camera", name="wrist", pos=" ".join(map(str, side)), xyaxes=xyaxes, fovy="75")

    for b in base.iter("body"):
        b.set("gravcomp", "1")  # ideal gravity compensation, as a Franka's controller provides
    for s in base.iter("site"):
        s.set("group", "5")  # robosuite's helper sites (e.g. a 10 m green line): hidden
    for g in base.iter("geom"):
        if g.get("group", "0") != "1":
            g.set("group", "3")  # collision geoms: hidden, else they z-fight with the visual meshes
        if g.get("name", "").endswith("pad_collision"):
            g.set("friction", "2 0.05 0.001")  # grippy pads so light objects do not slip
            g.set("condim", "4")
    for j in base.iter("joint"):
        if j.get("name") in ARM_JOINTS:
            j.set("armature", "0.1")
            j.set("damping", "1")

    actuators = _arm_actuators()
    if gripper == "panda":
        actuators += (
            '\n<position name="finger1" joint="finger_joint1" kp="1000" forcerange="-20 20" ctrlrange="0 0.04"/>'
            '\n<position name="finger2" joint="finger_joint2" kp="1000" forcerange="-20 20" ctrlrange="-0.04 0"/>'
        )
        spec = GripperSpec(
            joints=("finger_joint1", "finger_joint2"),
            open=np.array([0.04, -0.04]),
            command_closed=np.array([0.0, 0.0]),
            state_closed=np.array([0.0, 0.0]),
        )
        return RobotParts(assets, base, actuators, "", spec)

    # Robotiq 2F-85: two driven knuckles, the four-bar linkage approximated by coupling tendons.
    # Without joint damping and with gravcomp on its links it blows through its joint limits.
    for b in gbody.iter("body"):
        b.attrib.pop("gravcomp", None)
    for j in gbody.iter("joint"):
        j.set("damping", "0.1")
        j.set("armature", "0.001")
    tendons = ET.tostring(grip.find("tendon"), encoding="unicode")
    actuators += (
        '\n<position name="finger1" joint="finger_joint" kp="20" ctrlrange="0 0.8"/>'
        '\n<position name="finger2" joint="right_outer_knuckle_joint" kp="20" ctrlrange="0 0.8"/>'
    )
    spec = GripperSpec(
        joints=("finger_joint", "right_outer_knuckle_joint"),
        open=np.array([0.0, 0.0]),
        command_closed=np.array([0.8, 0.8]),
        state_closed=np.array([ROBOTIQ_EMPTY_CLOSE, ROBOTIQ_EMPTY_CLOSE]),
    )
    return RobotParts(assets, base, actuators, tendons, spec)
