"""The MJCF scene: table, walls, lights, task objects, distractors, cameras and the robot.

Built as a string (no files written besides the cached decimated meshes) and compiled once per
lab; per-episode variation (object and distractor poses, colours, camera jitter, light) is then
applied to the compiled model's arrays by ``FrankaSim.reset``, which costs nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from vjepa_ac.sim.assets import decimate_visual_meshes, default_cache_dir, texture_file
from vjepa_ac.sim.labs import PROCEDURAL_TEXTURES, CameraPlacement, LabSpec
from vjepa_ac.sim.robot import Gripper, RobotParts, build_panda
from vjepa_ac.sim.rotations import look_at_mat, mat_to_quat

PHYSICS_DT = 0.002  # s, default physics step
FLOOR_Z = -0.75  # m, the table top is at z = 0
TABLE_CENTER = (0.45, 0.0)  # m
TABLE_HALF = (0.7, 0.6)  # m
EXTERIOR_CAMERAS = ("ext1", "ext2")
# the lab's large textured surfaces: name (= its material's) -> its geoms, and the texture repeat
SURFACES: dict[str, tuple[str, ...]] = {"table": ("table",), "floor": ("floor",), "wall": ("wall_back", "wall_side")}
_TEXREPEAT = {"table": "2 2", "floor": "4 4", "wall": "1.5 1.5"}


def pool_material(surface: str, texture: str) -> str:
    """Name of the material that puts pool texture ``texture`` on ``surface`` (``build_scene_xml``)."""
    return f"{surface}_pool_{texture}"


@dataclass(frozen=True)
class ObjectSpec:
    """A free task object. Its body frame is at its centre; it rests upright at z = half_height."""

    name: str
    half_height: float  # m
    grasp_half_width: float  # m, half the width the gripper closes across
    grasp_axis_yaw: float  # rad, object-frame yaw of the axis the fingers must close along
    grasp_height: float  # m, grasp point above the object centre


OBJECTS: dict[str, ObjectSpec] = {
    "cube": ObjectSpec("cube", 0.02, 0.02, 0.0, 0.0),
    "cup": ObjectSpec("cup", 0.045, 0.035, 0.0, 0.015),
    "box": ObjectSpec("box", 0.035, 0.03, np.pi / 2, 0.005),
}

# static distractor geometry: shape -> (geom xml without rgba, half height)
_DISTRACTOR_GEOMS = {
    "bottle": ('type="cylinder" size="0.035 0.1"', 0.1),
    "bowl": ('type="cylinder" size="0.07 0.025"', 0.025),
    "book": ('type="box" size="0.1 0.075 0.015"', 0.015),
    "ball": ('type="sphere" size="0.04"', 0.04),
    "can": ('type="cylinder" size="0.033 0.06"', 0.06),
    "block": ('type="box" size="0.04 0.04 0.04"', 0.04),
}


def distractor_half_height(shape: str) -> float:
    return _DISTRACTOR_GEOMS[shape][1]


def camera_pose(placement: CameraPlacement, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Position ``[3]``, MuJoCo quaternion ``[4]`` and fovy (deg) of a camera placement, jittered
    per axis when ``rng`` is given."""
    pos, target, fovy = np.array(placement.pos), np.array(placement.target), placement.fovy
    if rng is not None:
        pos = pos + rng.uniform(-placement.pos_jitter, placement.pos_jitter, 3)
        target = target + rng.uniform(-placement.target_jitter, placement.target_jitter, 3)
        fovy = fovy + rng.uniform(-placement.fovy_jitter, placement.fovy_jitter)
    return pos, mat_to_quat(look_at_mat(pos, target)), float(fovy)


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


def _objects_xml() -> str:
    cube = OBJECTS["cube"]
    cup = OBJECTS["cup"]
    box = OBJECTS["box"]
    contact = 'friction="1 0.01 0.001" condim="4"'
    r, h = cup.grasp_half_width, cup.half_height
    # a cube (50 g); a cup (100 g: cylinder, dark inside, visual handle); a box (80 g) grasped
    # across its 6 cm side (its y axis, hence grasp_axis_yaw = pi/2)
    return f"""
    <body name="cube" pos="0.5 0 {cube.half_height}">
      <freejoint name="cube"/>
      <geom name="cube" type="box" size="{_fmt([cube.half_height] * 3)}" mass="0.05" rgba="0.85 0.15 0.15 1" {contact}/>
    </body>
    <body name="cup" pos="0.5 0.2 {h}">
      <freejoint name="cup"/>
      <geom name="cup" type="cylinder" size="{r} {h}" mass="0.1" rgba="0.2 0.45 0.8 1" {contact}/>
      <geom name="cup_inside" type="cylinder" size="{r - 0.005:.4g} 0.001" pos="0 0 {h + 1e-4:.5g}" rgba="0.08 0.08 0.1 1"
            contype="0" conaffinity="0" mass="0"/>
      <geom name="cup_handle" type="box" size="0.012 0.005 0.025" pos="{r + 0.01:.4g} 0 0.005" rgba="0.2 0.45 0.8 1"
            contype="0" conaffinity="0" mass="0"/>
    </body>
    <body name="box" pos="0.5 -0.2 {box.half_height}">
      <freejoint name="box"/>
      <geom name="box" type="box" size="0.06 {box.grasp_half_width} {box.half_height}" mass="0.08"
            rgba="0.72 0.55 0.36 1" {contact}/>
    </body>"""


def _distractors_xml(lab: LabSpec) -> str:
    parts = []
    for i, d in enumerate(lab.distractors):
        geom, half_height = _DISTRACTOR_GEOMS[d.shape]
        parts.append(
            f'<body name="distractor{i}" pos="0.9 {0.4 - 0.3 * i:.3f} {half_height}">'
            f'<geom name="distractor{i}" {geom} rgba="{_fmt(d.rgba)}" friction="1 0.01 0.001"/></body>'
        )
    return "\n    ".join(parts)


def _texture_pool_xml(texture_pool: tuple[str, ...]) -> str:
    """A texture per pool entry and, per surface, a material using it (``pool_material``)."""
    parts = []
    for name in texture_pool:
        proc = PROCEDURAL_TEXTURES.get(name)
        if proc is None:
            parts.append(f'<texture name="pool_{name}" type="2d" file="{texture_file(name)}"/>')
        else:
            parts.append(f'<texture name="pool_{name}" type="2d" builtin="{proc.builtin}" rgb1="{_fmt(proc.rgb1)}" '
                         f'rgb2="{_fmt(proc.rgb2)}" mark="{proc.mark}" markrgb="{_fmt(proc.markrgb)}" '
                         f'random="{proc.random:g}" width="128" height="128"/>')
        parts += [f'<material name="{pool_material(s, name)}" texture="pool_{name}" texrepeat="{_TEXREPEAT[s]}" '
                  'texuniform="true"/>' for s in SURFACES]
    return "\n    ".join(parts)


def build_scene_xml(lab: LabSpec, robot: RobotParts, *, offscreen_size: int = 640,
                    physics_dt: float = PHYSICS_DT, texture_pool: tuple[str, ...] = ()) -> str:
    """MJCF text of the whole scene in lab ``lab`` (nominal camera poses; no per-episode jitter).

    ``texture_pool``: extra textures (robosuite names) the table, floor and walls can be switched to
    per episode without recompiling (``FrankaSim`` sets the surfaces' ``geom_matid``)."""
    asset_xml = "\n    ".join(ET.tostring(e, encoding="unicode") for e in robot.assets)
    base_xml = ET.tostring(robot.base, encoding="unicode")
    cams = []
    for name in EXTERIOR_CAMERAS:
        pos, quat, fovy = camera_pose(getattr(lab, name))
        cams.append(f'<camera name="{name}" pos="{_fmt(pos)}" quat="{_fmt(quat)}" fovy="{fovy:.4g}"/>')
    tx, ty = TABLE_CENTER
    hx, hy = TABLE_HALF
    leg_h = -FLOOR_Z / 2
    legs = "\n    ".join(
        f'<geom name="leg{i}" type="box" pos="{tx + sx * (hx - 0.05):.3f} {sy * (hy - 0.05):.3f} {FLOOR_Z + leg_h:.3f}" '
        f'size="0.03 0.03 {leg_h - 0.05:.3f}" rgba=".3 .3 .3 1" contype="0" conaffinity="0"/>'
        for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1)))
    )
    size = max(640, offscreen_size)
    return f"""
<mujoco model="droid_like_franka_{lab.name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{physics_dt}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{size}" offheight="{size}"/>
    <quality shadowsize="1024"/>
    <headlight ambient="{_fmt(lab.ambient)}" diffuse="0.35 0.35 0.35" specular="0.1 0.1 0.1"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="{_fmt(lab.sky[0])}" rgb2="{_fmt(lab.sky[1])}"
             width="64" height="64"/>
    <texture name="table" type="2d" file="{texture_file(lab.table_texture)}"/>
    <material name="table" texture="table" texrepeat="{_TEXREPEAT['table']}" texuniform="true"/>
    <texture name="floor" type="2d" file="{texture_file(lab.floor_texture)}"/>
    <material name="floor" texture="floor" texrepeat="{_TEXREPEAT['floor']}" texuniform="true"/>
    <texture name="wall" type="2d" file="{texture_file(lab.wall_texture)}"/>
    <material name="wall" texture="wall" texrepeat="{_TEXREPEAT['wall']}" texuniform="true" rgba="{_fmt(lab.wall_rgba)}"/>
    {_texture_pool_xml(texture_pool)}
    {asset_xml}
  </asset>
  <worldbody>
    <light name="main" directional="true" pos="0 0 3" dir="{_fmt(lab.light_dir)}" diffuse="{_fmt(lab.light_diffuse)}"
           specular="0.2 0.2 0.2" castshadow="true"/>
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 {FLOOR_Z}" material="floor"/>
    <geom name="wall_back" type="box" size="0.02 2.5 1.5" pos="-1.0 0 0.0" material="wall" contype="0" conaffinity="0"/>
    <geom name="wall_side" type="box" size="2.5 0.02 1.5" pos="0.5 -1.5 0.0" material="wall" contype="0" conaffinity="0"/>
    <geom name="table" type="box" pos="{tx} {ty} -0.025" size="{hx} {hy} 0.025" material="table"
          friction="1 0.005 0.0001"/>
    {legs}
    {chr(10).join(cams)}
    {_objects_xml()}
    {_distractors_xml(lab)}
    {base_xml}
  </worldbody>
  {robot.tendons}
  <actuator>
    {robot.actuators}
  </actuator>
</mujoco>
"""


def compile_scene(lab: LabSpec, gripper: Gripper = "robotiq", *, decimate: float = 0.1,
                  cache_dir: str | Path | None = None, offscreen_size: int = 640,
                  physics_dt: float = PHYSICS_DT, texture_pool: tuple[str, ...] = ()) -> tuple[mujoco.MjModel, RobotParts]:
    """Compile the scene of ``lab``; ``decimate`` is the fraction of visual mesh faces kept (1 = full);
    ``texture_pool`` as in ``build_scene_xml``."""
    robot = build_panda(gripper)
    xml = build_scene_xml(lab, robot, offscreen_size=offscreen_size, physics_dt=physics_dt,
                          texture_pool=texture_pool)
    if decimate < 1.0:
        root = ET.fromstring(xml)
        decimate_visual_meshes(root, decimate, Path(cache_dir) if cache_dir else default_cache_dir())
        xml = ET.tostring(root, encoding="unicode")
    return mujoco.MjModel.from_xml_string(xml), robot
