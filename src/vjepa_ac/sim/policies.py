"""Scripted, noisy and random behaviours driving ``FrankaSim`` (privileged: they read sim state).

A behaviour is a generator that yields 7-D actions and returns whether it succeeded, so scripts
compose with ``yield from``; ``run`` drives one to the end. The same scripts are the task experts
(``tasks.py``, no noise) and the data-collection behaviours (``collect.py``, with noise and
deliberate failures).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from vjepa_ac.sim.env import OBJECT_AREA, WORKSPACE_HIGH, WORKSPACE_LOW, FrankaSim, Observation
from vjepa_ac.sim.rotations import euler_to_mat, mat_to_euler, wrap_angle
from vjepa_ac.sim.scene import OBJECTS

Behaviour = Generator[np.ndarray, None, bool]
Policy = Callable[[Observation, "np.ndarray | None"], np.ndarray]  # policy(obs, goal_image) -> action [7]

DOWN = np.diag([1.0, -1.0, -1.0])  # gripper pointing down, fingers closing along world x
REACH_TOLERANCE = 0.04  # m, the paper's Reach success radius
LIFT_HEIGHT = 0.05  # m above rest that counts as lifted
PLACE_TOLERANCE = 0.05  # m, object centre from the place target (xy)


@dataclass
class Style:
    """How a script moves: speed, noise and sloppiness."""

    max_dpos: float = 0.08  # m per step (norm)
    max_drot: float = 0.4  # rad per step (norm)
    pos_noise: float = 0.0  # m, std of Gaussian noise added to each translation
    yaw_noise: float = 0.0  # rad, std of noise added to each yaw rotation
    tolerance: float = 0.012  # m, a waypoint counts as reached within this distance
    grasp_offset: float = 0.0  # m, error of the grasp point (a sloppy grasp may miss)


def finger_yaw(rot: np.ndarray) -> float:
    """World yaw (rad) of the axis the fingers close along (the end-effector x axis)."""
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def nearest_grasp_yaw(current: float, axis_yaw: float) -> float:
    """``axis_yaw`` plus a multiple of pi (the gripper is symmetric), closest to ``current``."""
    return current + float(wrap_angle(2.0 * (axis_yaw - current))) / 2.0


def servo(sim: FrankaSim, rng: np.random.Generator, style: Style, pos: np.ndarray, yaw: float,
          gripper: float) -> np.ndarray:
    """The action ``[7]`` moving the commanded pose towards ``pos``, pointing down at finger yaw ``yaw``."""
    cmd_pos, cmd_rot = sim.commanded_pose()
    dp = np.clip(pos, WORKSPACE_LOW, WORKSPACE_HIGH) - cmd_pos
    n = np.linalg.norm(dp)
    if n > style.max_dpos:
        dp *= style.max_dpos / n
    target_rot = euler_to_mat(np.array([0.0, 0.0, yaw])) @ DOWN
    drot = mat_to_euler(target_rot @ cmd_rot.T)
    n = np.linalg.norm(drot)
    if n > style.max_drot:
        drot *= style.max_drot / n
    if style.pos_noise:
        dp = dp + rng.normal(0.0, style.pos_noise, 3)
    if style.yaw_noise:
        drot[2] += rng.normal(0.0, style.yaw_noise)
    return np.concatenate([dp, drot, [gripper - sim.commanded_state()[6]]])


def move_to(sim: FrankaSim, rng: np.random.Generator, style: Style, target: Callable[[], np.ndarray],
            yaw: Callable[[], float], gripper: float, max_steps: int, tolerance: float | None = None) -> Behaviour:
    """Servo towards ``target()`` (re-evaluated each step) until within tolerance; True if reached."""
    tol = style.tolerance if tolerance is None else tolerance

    def reached() -> bool:
        return bool(np.linalg.norm(sim.ee_pose()[0] - np.clip(target(), WORKSPACE_LOW, WORKSPACE_HIGH)) < tol)

    for _ in range(max_steps):
        if reached():
            return True
        yield servo(sim, rng, style, target(), yaw(), gripper)
    return reached()


def hold(sim: FrankaSim, rng: np.random.Generator, style: Style, gripper: float, steps: int) -> Behaviour:
    """Stay at the commanded pose with the gripper commanded to ``gripper`` for ``steps`` steps."""
    pos, rot = sim.commanded_pose()
    yaw = finger_yaw(rot)
    for _ in range(steps):
        yield servo(sim, rng, style, pos, yaw, gripper)
    return True


def current_yaw(sim: FrankaSim) -> float:
    return finger_yaw(sim.commanded_pose()[1])


def object_grasp_yaw(sim: FrankaSim, name: str) -> float:
    """Finger yaw that closes across object ``name``, the one nearest the current yaw."""
    _, rot = sim.object_pose(name)
    axis = float(np.arctan2(rot[1, 0], rot[0, 0])) + OBJECTS[name].grasp_axis_yaw
    return nearest_grasp_yaw(current_yaw(sim), axis)


def is_lifted(sim: FrankaSim, name: str, height: float = LIFT_HEIGHT) -> bool:
    return bool(sim.object_pose(name)[0][2] > OBJECTS[name].half_height + height)


def is_held(sim: FrankaSim, name: str) -> bool:
    """Grasped and lifted."""
    return sim.is_grasped(name) and is_lifted(sim, name)


def close_gripper(sim: FrankaSim, rng: np.random.Generator, style: Style, max_steps: int = 6) -> Behaviour:
    """Close in place until the fingers stop (on an object) or shut (on nothing)."""
    pos, rot = sim.commanded_pose()
    for _ in range(max_steps):
        before = sim.gripper_state()
        yield servo(sim, rng, style, pos, finger_yaw(rot), 1.0)
        if sim.gripper_state() > 0.2 and abs(sim.gripper_state() - before) < 0.01:
            break
    return True


def grasp(sim: FrankaSim, rng: np.random.Generator, style: Style, name: str, lift_to: float = 0.2) -> Behaviour:
    """Approach ``name`` from above, align, descend, close and lift to height ``lift_to`` (m)."""
    spec = OBJECTS[name]
    offset = np.append(rng.normal(0.0, style.grasp_offset, 2), 0.0) if style.grasp_offset else np.zeros(3)
    yaw = object_grasp_yaw(sim, name)
    grasp_point = lambda: sim.object_pose(name)[0] + [0.0, 0.0, spec.grasp_height] + offset
    above = lambda: grasp_point() + [0.0, 0.0, 0.1]
    yield from move_to(sim, rng, style, above, lambda: yaw, 0.0, 12, tolerance=0.03)
    yield from move_to(sim, rng, style, grasp_point, lambda: yaw, 0.0, 6)
    yield from close_gripper(sim, rng, style)
    start = sim.ee_pose()[0]
    lift = np.array([start[0], start[1], lift_to])
    yield from move_to(sim, rng, style, lambda: lift, lambda: yaw, 1.0, 8, tolerance=0.02)
    return is_held(sim, name)


def carry_to(sim: FrankaSim, rng: np.random.Generator, style: Style, point: np.ndarray, max_steps: int = 20,
             tolerance: float | None = None) -> Behaviour:
    """Move to ``point`` keeping the gripper closed (holding whatever it holds)."""
    yaw = current_yaw(sim)
    return (yield from move_to(sim, rng, style, lambda: point, lambda: yaw, 1.0, max_steps, tolerance))


def place(sim: FrankaSim, rng: np.random.Generator, style: Style, name: str, xy: np.ndarray,
          max_steps: int = 30) -> Behaviour:
    """Carry held object ``name`` above ``xy``, lower it onto the table, release and retreat up."""
    spec = OBJECTS[name]
    yaw = current_yaw(sim)
    hold_offset = sim.ee_pose()[0] - sim.object_pose(name)[0]  # keeps the object where the gripper has it
    above = np.array([xy[0], xy[1], 0.15]) + [hold_offset[0], hold_offset[1], 0.0]
    down = np.array([above[0], above[1], spec.half_height + hold_offset[2] + 0.01])
    yield from move_to(sim, rng, style, lambda: above, lambda: yaw, 1.0, max_steps, tolerance=0.03)
    yield from move_to(sim, rng, style, lambda: down, lambda: yaw, 1.0, 6)
    yield from hold(sim, rng, style, 0.0, 3)
    up = sim.ee_pose()[0] + [0.0, 0.0, 0.08]
    yield from move_to(sim, rng, style, lambda: up, lambda: yaw, 0.0, 4, tolerance=0.02)
    return is_placed(sim, name, xy)


def is_placed(sim: FrankaSim, name: str, xy: np.ndarray, tolerance: float = PLACE_TOLERANCE) -> bool:
    """Object ``name`` rests on the table within ``tolerance`` of ``xy`` and is not held."""
    pos = sim.object_pose(name)[0]
    resting = pos[2] < OBJECTS[name].half_height + 0.01
    return bool(resting and np.linalg.norm(pos[:2] - xy) < tolerance and not sim.is_grasped(name))


def pick_and_place(sim: FrankaSim, rng: np.random.Generator, style: Style, name: str, xy: np.ndarray) -> Behaviour:
    if not (yield from grasp(sim, rng, style, name, lift_to=0.15)):
        return False
    return (yield from place(sim, rng, style, name, xy))


def reach(sim: FrankaSim, rng: np.random.Generator, style: Style, point: np.ndarray, yaw: float | None = None,
          gripper: float | None = None, max_steps: int = 20) -> Behaviour:
    """Move the end effector to ``point``; True when it ends within the Reach tolerance."""
    yaw = current_yaw(sim) if yaw is None else yaw
    g = sim.commanded_state()[6] if gripper is None else gripper
    yield from move_to(sim, rng, style, lambda: point, lambda: yaw, g, max_steps)
    return bool(np.linalg.norm(sim.ee_pose()[0] - point) < REACH_TOLERANCE)


def explore(sim: FrankaSim, rng: np.random.Generator, steps: int, scale: float = 0.05) -> Behaviour:
    """A smooth random walk of the end effector (translation, yaw, a little tilt) and the gripper."""
    velocity = np.zeros(6)
    for _ in range(steps):
        velocity = 0.6 * velocity + 0.4 * np.concatenate(
            [rng.uniform(-scale, scale, 3), rng.normal(0.0, 0.05, 2), rng.uniform(-0.3, 0.3, 1)]
        )
        action = np.append(velocity, 0.0)
        _, rot = sim.commanded_pose()
        level = mat_to_euler(euler_to_mat(np.array([0.0, 0.0, finger_yaw(rot)])) @ DOWN @ rot.T)
        action[3:5] += 0.3 * level[:2]  # drift back towards pointing down
        if rng.random() < 0.1:
            action[6] = rng.choice([-1.0, 1.0])
        yield action
    return True


def random_action(rng: np.random.Generator, max_dpos: float = 0.075, max_drot: float = 0.0) -> np.ndarray:
    """A uniformly random action: translation per axis in +-max_dpos, gripper delta in [-1, 1]."""
    return np.concatenate([rng.uniform(-max_dpos, max_dpos, 3), rng.uniform(-max_drot, max_drot, 3),
                           rng.uniform(-1.0, 1.0, 1)])


def random_point(rng: np.random.Generator, low_z: float = 0.05, high_z: float = 0.4) -> np.ndarray:
    (x0, y0), (x1, y1) = OBJECT_AREA
    return rng.uniform([x0 - 0.05, y0 - 0.05, low_z], [x1 + 0.05, y1 + 0.05, high_z])


def run(behaviour: Behaviour, sim: FrankaSim, on_step: Callable[[Observation], None] | None = None,
        render: bool = True) -> bool:
    """Drive ``behaviour`` to its end on ``sim``; ``on_step`` sees every observation. Returns its result."""
    while True:
        try:
            action = next(behaviour)
        except StopIteration as stop:
            return bool(stop.value)
        obs = sim.step(action, render=render)
        if on_step is not None:
            on_step(obs)
