"""``FrankaSim``: the DROID-like Franka environment (reset / step / render).

Conventions (as DROID's ``trajectory.h5``):
- state ``[7]`` = end-effector position xyz (m, robot base frame), orientation as extrinsic xyz
  Euler angles (rad, SciPy ``as_euler("xyz")``), gripper closure (0 open .. 1 closed). With the
  gripper pointing down the roll sits near +-pi: wrap angle differences.
- action ``[7]`` = [dxyz (m), drot (rad), dgripper] applied to the *commanded* pose at the
  control rate: ``p <- p + dxyz``, ``R <- R_xyz(drot) @ R`` (the Euler angles of R_{t+1} R_t^T,
  as V-JEPA 2-AC's state-difference actions), ``g <- clip(g + dgripper, 0, 1)``.
- one ``step`` = 1 / control_hz seconds of physics (default 4 Hz: 125 substeps of 2 ms).
"""

from __future__ import annotations

import atexit
import dataclasses
import weakref
from dataclasses import dataclass, field

import mujoco
import numpy as np

from vjepa_ac.sim.controller import DLSIK, IKConfig
from vjepa_ac.sim.labs import PROCEDURAL_TEXTURES, RANDOMIZATION_TEXTURES, LabSpec, get_lab
from vjepa_ac.sim.robot import ARM_JOINTS, EE_SITE, HOME_QPOS, Gripper
from vjepa_ac.sim.rotations import euler_to_mat, mat_to_euler, yaw_quat
from vjepa_ac.sim.scene import (
    EXTERIOR_CAMERAS,
    FLOOR_Z,
    OBJECTS,
    SURFACES,
    camera_pose,
    compile_scene,
    distractor_half_height,
    pool_material,
)

CAMERAS = (*EXTERIOR_CAMERAS, "wrist")
# where the end effector may be commanded (m, base frame): over the table, above its top
WORKSPACE_LOW = np.array([0.15, -0.55, 0.01])
WORKSPACE_HIGH = np.array([0.85, 0.55, 0.6])
# area where task objects are placed (x, y, m) and their minimum spacing (m)
OBJECT_AREA = ((0.35, -0.28), (0.68, 0.28))
OBJECT_SPACING = 0.13
_PARK_Y = 2.2  # m: unused objects wait on the floor behind the ext1 camera, out of view
_SETTLE_STEPS = 50  # physics steps after a reset so that objects come to rest


@dataclass
class SimConfig:
    lab: str = "train_office"  # a name from labs.LABS
    gripper: Gripper = "robotiq"  # "robotiq" (DROID's 2F-85) or "panda" (Franka hand)
    image_size: int = 128  # px, square frames
    cameras: tuple[str, ...] = ("ext1",)  # rendered each step, first = Observation.image; ext1, ext2, wrist
    control_hz: float = 4.0  # Hz: actions, states and frames
    physics_dt: float = 0.002  # s per physics substep
    decimate: float = 0.1  # fraction of visual-mesh faces kept (1.0 = full meshes, slow on a CPU)
    shadows: bool = True  # ~2.4x render cost on llvmpipe
    randomize: bool = True  # per-episode camera jitter, object colours, light
    # relative per-channel jitter of the table / floor / wall colours per episode (0: the lab's own);
    # widens the appearance of training labs so features generalise to unseen ones
    tint_jitter: float = 0.0
    # probability, per surface (table, floor, walls) and episode, of swapping the lab's texture for
    # one drawn from labs.RANDOMIZATION_TEXTURES (never a held-out lab's) and the procedural ones
    # below; 0: the lab's own
    texture_swap: float = 0.0
    # how many of labs.PROCEDURAL_TEXTURES (random colours and patterns) join that pool (0-24)
    procedural_textures: int = 0
    # relative jitter of each surface's brightness per episode (one factor for all three channels,
    # on top of tint_jitter): darker and lighter tables, floors and walls than any training lab's
    brightness_jitter: float = 0.0
    # probability per episode of drawing the main light's direction anew (domain randomisation): any
    # azimuth, the horizontal part 0.1-0.6 of the vertical one (the labs': 0.36-0.51). The light's
    # direction decides where the arm's shadow falls, a large part of each frame; 0: the lab's own
    light_dir_swap: float = 0.0
    ext1_pos: tuple[float, float, float] | None = None  # m, overrides the lab's ext1 camera position
    ext1_target: tuple[float, float, float] | None = None  # m, overrides the point ext1 looks at
    ext1_fovy: float | None = None  # deg, overrides ext1's vertical field of view
    # scales ext1's field of view in every lab (after ext1_fovy): < 1 zooms in, so the workspace
    # fills more of the frame (the public maintainers' advice: crop so gripper and object fill it)
    ext1_zoom: float = 1.0
    max_dpos: float = 0.1  # m, per-axis clip of an action's translation
    max_drot: float = 0.5  # rad, per-axis clip of an action's rotation
    max_tilt: float = 1.0  # rad, largest angle of the approach axis from straight down
    max_lead: float = 0.1  # m, how far the commanded position may run ahead of the measured one
    mesh_cache_dir: str = ""  # decimated meshes; "" = $VJEPA_AC_CACHE/meshes or ~/.cache/vjepa_ac/meshes

    def __post_init__(self):
        get_lab(self.lab)
        if self.image_size <= 0 or self.image_size % 2:
            raise ValueError(f"image_size must be a positive even number (H.264), got {self.image_size}")
        unknown = [c for c in self.cameras if c not in CAMERAS]
        if unknown or not self.cameras:
            raise ValueError(f"cameras must be a non-empty subset of {CAMERAS}, got {self.cameras}")
        substeps = 1.0 / (self.control_hz * self.physics_dt)
        if self.control_hz <= 0 or abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(f"1 / (control_hz * physics_dt) must be a whole number of substeps, "
                             f"got control_hz={self.control_hz}, physics_dt={self.physics_dt}")
        if not 0.0 < self.decimate <= 1.0:
            raise ValueError(f"decimate must be in (0, 1], got {self.decimate}")
        if not 0.0 <= self.tint_jitter < 1.0:
            raise ValueError(f"tint_jitter must be in [0, 1), got {self.tint_jitter}")
        if not 0.0 <= self.texture_swap <= 1.0:
            raise ValueError(f"texture_swap must be in [0, 1], got {self.texture_swap}")
        if not 0 <= self.procedural_textures <= len(PROCEDURAL_TEXTURES):
            raise ValueError(f"procedural_textures must be in [0, {len(PROCEDURAL_TEXTURES)}], "
                             f"got {self.procedural_textures}")
        if not 0.0 <= self.brightness_jitter < 1.0:
            raise ValueError(f"brightness_jitter must be in [0, 1), got {self.brightness_jitter}")
        if not 0.0 <= self.light_dir_swap <= 1.0:
            raise ValueError(f"light_dir_swap must be in [0, 1], got {self.light_dir_swap}")
        if not 0.2 <= self.ext1_zoom <= 2.0:
            raise ValueError(f"ext1_zoom must be in [0.2, 2], got {self.ext1_zoom}")

    @property
    def substeps(self) -> int:
        return round(1.0 / (self.control_hz * self.physics_dt))


@dataclass
class Observation:
    """What a policy sees after a reset or step."""

    image: np.ndarray | None  # [H,W,3] uint8, the first configured camera (None when not rendered)
    state: np.ndarray  # [7] xyz, euler xyz, gripper (see module doc)
    images: dict[str, np.ndarray]  # camera name -> [H,W,3] uint8
    step: int  # control steps since the sim's reset


@dataclass(frozen=True)
class SimSnapshot:
    """``FrankaSim.snapshot()``: MuJoCo's integration state plus the controller's targets."""

    physics: np.ndarray  # mjSTATE_INTEGRATION vector
    q_target: np.ndarray  # [7] arm joint target, rad
    cmd_pos: np.ndarray  # [3] commanded end-effector position, m
    cmd_rot: np.ndarray  # [3, 3] commanded end-effector rotation
    cmd_grip: float  # commanded closure, 0 open .. 1 closed
    steps: int  # control steps since reset


@dataclass
class Layout:
    """Everything random about an episode's start; ``FrankaSim.reset(layout=...)`` is deterministic."""

    arm_qpos: np.ndarray  # [7] rad
    objects: dict[str, tuple[float, float, float]]  # on the table: name -> (x m, y m, yaw rad); others parked
    object_colours: dict[str, str] = field(default_factory=dict)  # name -> key of OBJECT_COLOURS; absent: XML colour
    distractors: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, yaw) per lab distractor
    cameras: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(default_factory=dict)  # pos, quat, fovy
    light_dir: np.ndarray | None = None  # [3]
    light_diffuse: np.ndarray | None = None  # [3]
    material_tints: dict[str, np.ndarray] = field(default_factory=dict)  # surface -> rgb factors; absent: lab's
    surface_textures: dict[str, str] = field(default_factory=dict)  # surface -> pool texture; absent: lab's


_TINTED_MATERIALS = tuple(SURFACES)  # each surface's own material has the surface's name

# colours task objects are painted in, per episode (names go into the episode's task text)
OBJECT_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.15, 1), "blue": (0.2, 0.45, 0.8, 1), "brown": (0.72, 0.55, 0.36, 1),
    "green": (0.15, 0.65, 0.3, 1), "yellow": (0.9, 0.75, 0.1, 1), "purple": (0.55, 0.25, 0.7, 1),
    "orange": (0.95, 0.5, 0.1, 1), "white": (0.9, 0.9, 0.88, 1),
}


def _place(rng: np.random.Generator, n: int, low, high, spacing: float, avoid=()) -> list[np.ndarray]:
    """``n`` points uniform in the box ``low..high``, at least ``spacing`` apart (and from ``avoid``)."""
    out: list[np.ndarray] = []
    for _ in range(200 * max(n, 1)):
        if len(out) == n:
            break
        p = rng.uniform(low, high)
        if all(np.linalg.norm(p - q) >= spacing for q in [*out, *avoid]):
            out.append(p)
    if len(out) < n:
        raise RuntimeError(f"could not place {n} points {spacing} m apart in {low}..{high}")
    return out


# Renderers not closed by their owner. MuJoCo's EGL backend registers eglTerminate with atexit
# when it makes its first context; a renderer left to its __del__ at interpreter teardown then
# frees its context on a terminated display and prints "Exception ignored in: Renderer.__del__
# ... EGLError". close_open_renderers is registered with atexit after the first renderer exists,
# so it runs before eglTerminate (atexit runs the last registered first) and closes them quietly.
_OPEN_RENDERERS: weakref.WeakSet[mujoco.Renderer] = weakref.WeakSet()
_exit_hook_registered = False


def open_renderer(model: mujoco.MjModel, size: int) -> mujoco.Renderer:
    """A ``size`` x ``size`` offscreen renderer that is closed at interpreter exit if its owner
    has not closed it (see ``close_open_renderers``)."""
    global _exit_hook_registered
    renderer = mujoco.Renderer(model, size, size)  # the first one initialises the GL backend
    _OPEN_RENDERERS.add(renderer)
    if not _exit_hook_registered:
        atexit.register(close_open_renderers)
        _exit_hook_registered = True
    return renderer


def close_open_renderers() -> None:
    """Close every renderer of ``open_renderer`` still open (idempotent; runs at exit)."""
    for renderer in list(_OPEN_RENDERERS):
        renderer.close()
    _OPEN_RENDERERS.clear()


class FrankaSim:
    """A Franka Panda + gripper on a table in one lab, controlled by end-effector deltas.

    Holds an offscreen GL context once it has rendered: ``close()`` it (or use ``with``) when
    done; one still open at interpreter exit is closed then (``close_open_renderers``)."""

    def __init__(self, cfg: SimConfig | None = None):
        cfg = cfg or SimConfig()
        self.cfg = cfg
        self.lab: LabSpec = _with_camera_overrides(get_lab(cfg.lab), cfg)
        # textures the surfaces can be switched to per episode (compiled in only when swaps are on)
        self._texture_pool = (RANDOMIZATION_TEXTURES + tuple(PROCEDURAL_TEXTURES)[: cfg.procedural_textures]
                              if cfg.texture_swap > 0 else ())
        self.model, robot = compile_scene(
            self.lab, cfg.gripper, decimate=cfg.decimate, cache_dir=cfg.mesh_cache_dir or None,
            offscreen_size=cfg.image_size, physics_dt=cfg.physics_dt,
            texture_pool=self._texture_pool,
        )
        m = self.model
        self.data = mujoco.MjData(m)
        self.gripper = robot.gripper
        self.ik = DLSIK(m, EE_SITE, ARM_JOINTS, HOME_QPOS, IKConfig())
        self._site = self.ik.site
        self._arm_qadr = self.ik.qadr
        jid = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)
        bid = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)
        self._grip_qadr = np.array([m.jnt_qposadr[jid(n)] for n in self.gripper.joints])
        self._n_arm = len(ARM_JOINTS)
        self._obj_qadr = {n: m.jnt_qposadr[jid(n)] for n in OBJECTS}
        self._obj_body = {n: bid(n) for n in OBJECTS}
        self._obj_geom = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in OBJECTS}
        self._cup_handle = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "cup_handle")
        self._distractor_body = [bid(f"distractor{i}") for i in range(len(self.lab.distractors))]
        self._cam = {c: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, c) for c in CAMERAS}
        self._light = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_LIGHT, "main")
        self._materials = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, n) for n in _TINTED_MATERIALS}
        self._material_rgba = {n: m.mat_rgba[i].copy() for n, i in self._materials.items()}
        self._surface_geoms = {s: [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, g) for g in geoms]
                               for s, geoms in SURFACES.items()}
        self._pool_materials = {(s, t): mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, pool_material(s, t))
                                for s in SURFACES for t in self._texture_pool}
        self._finger_geoms = self._side_geoms()
        self._renderer: mujoco.Renderer | None = None
        self.layout: Layout | None = None
        self._steps = 0
        self._q_target = HOME_QPOS.copy()
        self._cmd_pos = np.zeros(3)
        self._cmd_rot = np.eye(3)
        self._cmd_grip = 0.0

    # ---------------------------------------------------------------- scene sampling / reset
    def sample_layout(self, rng: np.random.Generator, objects: tuple[str, ...] = tuple(OBJECTS),
                      positions: dict[str, tuple[float, float]] | None = None) -> Layout:
        """A random episode start with ``objects`` on the table (``positions`` pins some x, y)."""
        positions = positions or {}
        free = [o for o in objects if o not in positions]
        pinned = [np.array(p) for p in positions.values()]
        placed = dict(zip(free, _place(rng, len(free), *OBJECT_AREA, OBJECT_SPACING, avoid=pinned)))
        placed.update({o: np.array(p) for o, p in positions.items()})
        layout = Layout(
            arm_qpos=HOME_QPOS + rng.normal(0.0, 0.03, self._n_arm),
            objects={o: (float(placed[o][0]), float(placed[o][1]), float(rng.uniform(-np.pi, np.pi)))
                     for o in objects},
        )
        # distractors sit around the workspace, behind it or beside it, never between it and ext1
        for _ in self._distractor_body:
            if rng.random() < 0.5:
                xy = (rng.uniform(0.82, 1.05), rng.uniform(-0.5, 0.3))
            else:  # the far side as seen from ext1 (ext1 stands at +y)
                xy = (rng.uniform(0.2, 0.9), rng.uniform(-0.55, -0.42))
            layout.distractors.append((float(xy[0]), float(xy[1]), float(rng.uniform(-np.pi, np.pi))))
        if self.cfg.randomize:
            colours = rng.permutation(list(OBJECT_COLOURS))
            layout.object_colours = {o: str(c) for o, c in zip(OBJECTS, colours)}
            for c in EXTERIOR_CAMERAS:
                layout.cameras[c] = camera_pose(getattr(self.lab, c), rng)
            j = self.lab.light_jitter
            layout.light_dir = np.array(self.lab.light_dir) + rng.uniform(-j, j, 3)
            layout.light_diffuse = np.array(self.lab.light_diffuse) * (1.0 + rng.uniform(-j, j))
        if self.cfg.randomize and self.cfg.tint_jitter > 0:  # drawn last: other draws stay as without it
            t = self.cfg.tint_jitter
            layout.material_tints = {name: 1.0 + rng.uniform(-t, t, 3) for name in _TINTED_MATERIALS}
        if self.cfg.randomize and self.cfg.texture_swap > 0:  # drawn after the tints, for the same reason
            for surface in SURFACES:
                if rng.random() < self.cfg.texture_swap:
                    layout.surface_textures[surface] = str(self._texture_pool[rng.integers(len(self._texture_pool))])
        if self.cfg.randomize and self.cfg.brightness_jitter > 0:  # drawn last, for the same reason
            b = self.cfg.brightness_jitter
            for name in _TINTED_MATERIALS:
                tint = layout.material_tints.get(name, np.ones(3))
                layout.material_tints[name] = tint * (1.0 + rng.uniform(-b, b))
        if self.cfg.randomize and self.cfg.light_dir_swap > 0:  # drawn last, for the same reason
            if rng.random() < self.cfg.light_dir_swap:
                azimuth, horizontal = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.1, 0.6)
                layout.light_dir = np.array([horizontal * np.cos(azimuth), horizontal * np.sin(azimuth), -1.0])
        return layout

    def reset(self, seed: int | None = None, layout: Layout | None = None, render: bool = True) -> Observation:
        """Start an episode from ``layout`` (or one sampled from ``seed``); same input, same episode."""
        if layout is None:
            layout = self.sample_layout(np.random.default_rng(seed))
        m, d = self.model, self.data
        self.layout = layout
        self._apply_visuals(layout)
        mujoco.mj_resetData(m, d)
        d.qpos[self._arm_qadr] = layout.arm_qpos
        d.qpos[self._grip_qadr] = self.gripper.open
        for k, name in enumerate(OBJECTS):
            adr, half = self._obj_qadr[name], OBJECTS[name].half_height
            if name in layout.objects:
                x, y, yaw = layout.objects[name]
                d.qpos[adr : adr + 3] = (x, y, half + 1e-4)
            else:
                d.qpos[adr : adr + 3] = (0.4 + 0.3 * k, _PARK_Y, FLOOR_Z + half + 1e-4)
                yaw = 0.0
            d.qpos[adr + 3 : adr + 7] = yaw_quat(yaw)
        d.ctrl[: self._n_arm] = layout.arm_qpos
        self._set_gripper_ctrl(0.0)
        mujoco.mj_forward(m, d)
        for _ in range(_SETTLE_STEPS):
            mujoco.mj_step(m, d)
        self._q_target = np.array(layout.arm_qpos, np.float64)
        self._cmd_pos, self._cmd_rot = self.ee_pose()
        self._cmd_grip = 0.0
        self._steps = 0
        return self.observe(render)

    def _apply_visuals(self, layout: Layout) -> None:
        """Per-episode model changes: colours, distractor poses, cameras, light (nominal if absent)."""
        m = self.model
        for name, colour in layout.object_colours.items():
            m.geom_rgba[self._obj_geom[name]] = OBJECT_COLOURS[colour]
            if name == "cup":  # the handle shares the cup's colour
                m.geom_rgba[self._cup_handle] = OBJECT_COLOURS[colour]
        for body, (x, y, yaw), dist in zip(self._distractor_body, layout.distractors, self.lab.distractors):
            m.body_pos[body] = (x, y, distractor_half_height(dist.shape))
            m.body_quat[body] = yaw_quat(yaw)
        for c in EXTERIOR_CAMERAS:
            pos, quat, fovy = layout.cameras.get(c) or camera_pose(getattr(self.lab, c))
            m.cam_pos[self._cam[c]], m.cam_quat[self._cam[c]], m.cam_fovy[self._cam[c]] = pos, quat, fovy
        for name, own in self._materials.items():
            mat, base = own, self._material_rgba[name]
            texture = layout.surface_textures.get(name)
            if texture is not None:
                if (name, texture) not in self._pool_materials:
                    raise ValueError(f"layout puts texture {texture!r} on the {name}, but this sim has no texture pool "
                                     f"with it (SimConfig.texture_swap={self.cfg.texture_swap}; pool: labs.RANDOMIZATION_TEXTURES)")
                mat, base = self._pool_materials[(name, texture)], np.ones(4)
            for g in self._surface_geoms[name]:
                m.geom_matid[g] = mat
            tint = layout.material_tints.get(name)
            m.mat_rgba[mat, :3] = base[:3] if tint is None else np.clip(base[:3] * tint, 0.0, 1.0)
        ld = layout.light_dir if layout.light_dir is not None else np.array(self.lab.light_dir)
        m.light_dir[self._light] = ld / np.linalg.norm(ld)
        diffuse = layout.light_diffuse if layout.light_diffuse is not None else self.lab.light_diffuse
        m.light_diffuse[self._light] = np.clip(diffuse, 0.0, 1.0)

    # ---------------------------------------------------------------- control
    def step(self, action: np.ndarray, render: bool = True) -> Observation:
        """Apply one 7-D end-effector delta ``action`` (see module doc) for 1 / control_hz s.

        ``render=False`` skips the cameras (``Observation.images`` is empty, ``image`` None)."""
        cfg, m, d = self.cfg, self.model, self.data
        a = np.asarray(action, np.float64).reshape(7)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {a}")
        dpos = np.clip(a[:3], -cfg.max_dpos, cfg.max_dpos)
        drot = np.clip(a[3:6], -cfg.max_drot, cfg.max_drot)
        pos, _ = self.ee_pose()
        # a blocked arm must not wind the command up without bound
        lead = np.clip(self._cmd_pos - pos, -cfg.max_lead, cfg.max_lead)
        self._cmd_pos = np.clip(pos + lead + dpos, WORKSPACE_LOW, WORKSPACE_HIGH)
        self._cmd_rot = _limit_tilt(euler_to_mat(drot) @ self._cmd_rot, cfg.max_tilt)
        self._cmd_grip = float(np.clip(self._cmd_grip + np.clip(a[6], -1.0, 1.0), 0.0, 1.0))

        q_old = self._q_target
        q_new = self.ik.solve(self._cmd_pos, self._cmd_rot, q_old, d.qpos)
        self._set_gripper_ctrl(self._cmd_grip)
        n = cfg.substeps
        ramp = max(1, int(0.8 * n))  # reach the new target before the step ends
        for i in range(n):
            d.ctrl[: self._n_arm] = q_old + min(1.0, (i + 1) / ramp) * (q_new - q_old)
            mujoco.mj_step(m, d)
        self._q_target = q_new
        self._steps += 1
        return self.observe(render)

    def _set_gripper_ctrl(self, command: float) -> None:
        g = self.gripper
        self.data.ctrl[self._n_arm : self._n_arm + len(g.joints)] = g.open + command * (g.command_closed - g.open)

    # ---------------------------------------------------------------- state
    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured end-effector position ``[3]`` and rotation ``[3,3]``."""
        return self.data.site_xpos[self._site].copy(), self.data.site_xmat[self._site].reshape(3, 3).copy()

    def gripper_state(self) -> float:
        """Measured closure, 0 open .. 1 closed on nothing."""
        g = self.gripper
        q = self.data.qpos[self._grip_qadr]
        return float(np.clip(np.mean((q - g.open) / (g.state_closed - g.open)), 0.0, 1.0))

    def state(self) -> np.ndarray:
        """DROID state ``[7]``: xyz (m), extrinsic xyz Euler (rad), gripper (0 open .. 1 closed)."""
        pos, rot = self.ee_pose()
        return np.concatenate([pos, mat_to_euler(rot), [self.gripper_state()]])

    def commanded_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Commanded end-effector position ``[3]`` and rotation ``[3,3]``."""
        return self._cmd_pos.copy(), self._cmd_rot.copy()

    def commanded_state(self) -> np.ndarray:
        """The commanded target ``[7]`` in the state's layout (DROID's ``action/*``)."""
        return np.concatenate([self._cmd_pos, mat_to_euler(self._cmd_rot), [self._cmd_grip]])

    @property
    def steps(self) -> int:
        return self._steps

    # ---------------------------------------------------------------- snapshots
    def snapshot(self) -> SimSnapshot:
        """The full physics and controller state, for ``restore`` (what-if simulation: the oracle
        planner and the grasp lift test). Appearance (layout) is not included: it does not change
        within an episode."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, state, spec)
        return SimSnapshot(state, self._q_target.copy(), self._cmd_pos.copy(), self._cmd_rot.copy(),
                           self._cmd_grip, self._steps)

    def restore(self, snap: SimSnapshot) -> None:
        """Return to ``snap`` exactly: stepping afterwards repeats what followed the snapshot."""
        mujoco.mj_setState(self.model, self.data, snap.physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)
        self._q_target, self._cmd_pos, self._cmd_rot = snap.q_target.copy(), snap.cmd_pos.copy(), snap.cmd_rot.copy()
        self._cmd_grip, self._steps = snap.cmd_grip, snap.steps

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Position ``[3]`` (m) and rotation ``[3,3]`` of task object ``name``."""
        b = self._obj_body[name]
        return self.data.xpos[b].copy(), self.data.xmat[b].reshape(3, 3).copy()

    def object_on_table(self, name: str) -> bool:
        return self.layout is not None and name in self.layout.objects

    def is_grasped(self, name: str) -> bool:
        """Both fingers touch object ``name``."""
        d, obj = self.data, self._obj_geom[name]
        touching = [False, False]
        for i in range(d.ncon):
            c = d.contact[i]
            other = c.geom2 if c.geom1 == obj else c.geom1 if c.geom2 == obj else -1
            for side in (0, 1):
                if other in self._finger_geoms[side]:
                    touching[side] = True
        return all(touching)

    def _side_geoms(self) -> tuple[set[int], set[int]]:
        """Collision geoms of the left and right finger (each finger body and its children)."""
        m = self.model
        roots = {"robotiq": (("left_outer_knuckle", "left_inner_knuckle"), ("right_outer_knuckle", "right_inner_knuckle")),
                 "panda": (("leftfinger",), ("rightfinger",))}[self.cfg.gripper]
        sides = []
        for names in roots:
            ids = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in names}
            bodies = {b for b in range(m.nbody) if _has_ancestor(m, b, ids)}
            sides.append({g for g in range(m.ngeom) if m.geom_bodyid[g] in bodies and m.geom_contype[g] | m.geom_conaffinity[g]})
        return sides[0], sides[1]

    def camera_extrinsics(self, camera: str) -> np.ndarray:
        """Camera pose ``[6]`` in the base frame, DROID-style: xyz (m) and extrinsic xyz Euler (rad)
        of the OpenCV camera frame (x right, y down, z forward)."""
        c = self._cam[camera]
        rot = self.data.cam_xmat[c].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])  # MuJoCo looks along -z, y up
        return np.concatenate([self.data.cam_xpos[c], mat_to_euler(rot)])

    # ---------------------------------------------------------------- rendering
    def render(self, camera: str | None = None) -> np.ndarray:
        """Frame ``[H,W,3] uint8`` of ``camera`` (default: the first configured one)."""
        if self._renderer is None:
            size = self.cfg.image_size
            self._renderer = open_renderer(self.model, size)
            flags = self._renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0  # costly on a software rasteriser, invisible here
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(self.cfg.shadows)
        self._renderer.update_scene(self.data, camera=camera or self.cfg.cameras[0])
        return self._renderer.render()

    def observe(self, render: bool = True) -> Observation:
        images = {c: self.render(c) for c in self.cfg.cameras} if render else {}
        return Observation(image=images.get(self.cfg.cameras[0]), state=self.state(), images=images, step=self._steps)

    def close(self) -> None:
        """Free the GL context (a renderer freed at interpreter exit prints EGL errors)."""
        if self._renderer is not None:
            _OPEN_RENDERERS.discard(self._renderer)
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> FrankaSim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _with_camera_overrides(lab: LabSpec, cfg: SimConfig) -> LabSpec:
    """``lab`` with the ext1 placement fields that ``cfg`` sets replaced."""
    ext1 = lab.ext1
    if cfg.ext1_pos is not None:
        ext1 = dataclasses.replace(ext1, pos=tuple(cfg.ext1_pos))
    if cfg.ext1_target is not None:
        ext1 = dataclasses.replace(ext1, target=tuple(cfg.ext1_target))
    if cfg.ext1_fovy is not None:
        ext1 = dataclasses.replace(ext1, fovy=float(cfg.ext1_fovy))
    if cfg.ext1_zoom != 1.0:
        ext1 = dataclasses.replace(ext1, fovy=ext1.fovy * cfg.ext1_zoom, fovy_jitter=ext1.fovy_jitter * cfg.ext1_zoom)
    return dataclasses.replace(lab, ext1=ext1)


def _has_ancestor(m: mujoco.MjModel, body: int, ancestors: set[int]) -> bool:
    while body > 0:
        if body in ancestors:
            return True
        body = m.body_parentid[body]
    return False


def _limit_tilt(rot: np.ndarray, max_tilt: float) -> np.ndarray:
    """Rotate ``rot`` back so that its approach (z) axis is within ``max_tilt`` rad of straight down."""
    z = rot[:, 2]
    tilt = np.arccos(np.clip(-z[2], -1.0, 1.0))
    if tilt <= max_tilt:
        return rot
    axis = np.cross(z, [0.0, 0.0, -1.0])
    n = np.linalg.norm(axis)
    axis = axis / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])
    angle = tilt - max_tilt
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    fix = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)  # Rodrigues
    return fix @ rot
