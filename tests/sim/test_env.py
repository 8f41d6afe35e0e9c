"""FrankaSim: DROID's state/action conventions, reproducibility, gripper, cameras."""

import os
from dataclasses import replace

import numpy as np
import pytest

from vjepa_ac.sim.env import FrankaSim, SimConfig
from vjepa_ac.sim.labs import get_lab
from vjepa_ac.sim.rotations import euler_to_mat, mat_to_euler, wrap_angle

pytestmark = pytest.mark.sim


def test_gl_backend_chosen_before_mujoco():
    assert os.environ["MUJOCO_GL"] in ("egl", "osmesa")


def test_observation_layout(sim):
    obs = sim.reset(0)
    assert obs.image.shape == (64, 64, 3) and obs.image.dtype == np.uint8
    assert obs.state.shape == (7,) and obs.step == 0
    assert obs.image.std() > 5  # rendered something
    assert 0.0 <= obs.state[6] <= 0.05  # starts open


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_translation_action_moves_end_effector_along_its_axis(sim, axis):
    s0 = sim.reset(1, render=False).state
    action = np.zeros(7)
    action[axis] = 0.05 if axis < 2 else -0.05
    for _ in range(3):
        s = sim.step(action, render=False).state
    moved = s[:3] - s0[:3]
    assert abs(moved[axis]) > 0.12 and np.sign(moved[axis]) == np.sign(action[axis])
    others = np.delete(moved, axis)
    assert np.all(np.abs(others) < 0.01)
    np.testing.assert_allclose(wrap_angle(s[3:6] - s0[3:6]), 0.0, atol=0.02)


def test_rotation_action_composes_like_state_difference_actions(sim):
    """drot is the Euler xyz of R_{t+1} R_t^T (V-JEPA 2-AC's action), applied on the left."""
    s0 = sim.reset(2, render=False).state
    drot = np.array([0.0, 0.0, 0.3])
    for _ in range(2):
        s = sim.step(np.r_[0, 0, 0, drot, 0], render=False).state
    s = sim.step(np.zeros(7), render=False).state  # let the servos settle
    expected = euler_to_mat(drot) @ euler_to_mat(drot) @ euler_to_mat(s0[3:6])
    measured = euler_to_mat(s[3:6])
    assert np.degrees(np.arccos(np.clip((np.trace(expected.T @ measured) - 1) / 2, -1, 1))) < 2.0
    # the gripper points down, so roll sits near +-pi; its difference must be taken wrapped
    assert abs(abs(s0[3]) - np.pi) < 0.2
    assert abs(wrap_angle(s[5] - s0[5]) - 0.6) < 0.03


def test_same_seed_same_episode_other_seed_differs(sim):
    def rollout(seed):
        obs = sim.reset(seed)
        rng = np.random.default_rng(seed)
        states, images = [obs.state], [obs.image]
        for _ in range(4):
            obs = sim.step(np.r_[rng.uniform(-0.05, 0.05, 3), 0, 0, rng.uniform(-0.2, 0.2), rng.uniform(-1, 1)])
            states.append(obs.state)
            images.append(obs.image)
        return np.array(states), np.array(images)

    s1, i1 = rollout(5)
    s2, i2 = rollout(5)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1, i2)
    s3, _ = rollout(6)
    assert not np.allclose(s1, s3)


def test_gripper_state_range(sim):
    """Command 1 on nothing reads 1 (closed), command 0 reads 0 (open)."""
    sim.reset(3, render=False)
    for _ in range(6):
        s = sim.step(np.r_[np.zeros(6), 1.0], render=False).state
    assert s[6] > 0.97
    assert sim.commanded_state()[6] == 1.0
    for _ in range(4):
        s = sim.step(np.r_[np.zeros(6), -1.0], render=False).state
    assert s[6] < 0.03


def test_workspace_and_action_limits(sim):
    sim.reset(4, render=False)
    for _ in range(12):
        sim.step(np.r_[0, 0, -1.0, 0, 0, 0, 0], render=False)  # clipped to max_dpos, floored above the table
    pos, _ = sim.ee_pose()
    assert pos[2] > 0.0
    with pytest.raises(ValueError, match="finite"):
        sim.step(np.r_[np.nan, np.zeros(6)])


def test_camera_extrinsics_look_at_the_workspace(sim):
    sim.reset(0, render=False)
    ext = sim.camera_extrinsics("ext1")
    assert ext.shape == (6,)
    assert ext[1] > 0.5  # ext1 stands on the robot's left (+y), DROID's "left" camera
    z_axis = euler_to_mat(ext[3:6])[:, 2]  # OpenCV: +z looks forward
    to_workspace = np.array([0.45, 0.0, 0.15]) - ext[:3]
    cos = z_axis @ to_workspace / np.linalg.norm(to_workspace)
    assert cos > 0.95
    assert euler_to_mat(ext[3:6])[2, 1] < 0  # OpenCV +y is image down


def test_camera_jitter_per_episode(sim):
    sim.reset(0, render=False)
    a = sim.camera_extrinsics("ext1")
    sim.reset(1, render=False)
    b = sim.camera_extrinsics("ext1")
    assert 0 < np.abs(a[:3] - b[:3]).max() < 0.07


def test_panda_hand_option_and_wrist_camera():
    with FrankaSim(SimConfig(image_size=64, gripper="panda", cameras=("ext1", "wrist"))) as sim:
        obs = sim.reset(0)
        assert set(obs.images) == {"ext1", "wrist"}
        assert not np.array_equal(obs.images["ext1"], obs.images["wrist"])
        for _ in range(2):
            s = sim.step(np.r_[np.zeros(6), 1.0], render=False).state
        assert s[6] > 0.9


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        SimConfig(image_size=63)
    with pytest.raises(ValueError, match="cameras"):
        SimConfig(cameras=("top",))
    with pytest.raises(ValueError, match="substeps"):
        SimConfig(control_hz=3.0, physics_dt=0.007)
    with pytest.raises(KeyError, match="unknown lab"):
        SimConfig(lab="nowhere")


def test_state_euler_is_scipy_convention(sim):
    from scipy.spatial.transform import Rotation

    sim.reset(0, render=False)
    _, rot = sim.ee_pose()
    np.testing.assert_allclose(sim.state()[3:6], Rotation.from_matrix(rot).as_euler("xyz"), atol=1e-9)
    np.testing.assert_allclose(mat_to_euler(rot), sim.state()[3:6])


def test_ext1_pose_is_configurable():
    cfg = SimConfig(image_size=64, randomize=False, ext1_pos=(0.9, 0.9, 0.9), ext1_target=(0.4, 0.0, 0.1))
    with FrankaSim(cfg) as sim:
        sim.reset(0, render=False)
        np.testing.assert_allclose(sim.camera_extrinsics("ext1")[:3], (0.9, 0.9, 0.9), atol=1e-9)


def test_tint_jitter_varies_lab_colours_and_keeps_other_draws():
    from vjepa_ac.sim.env import FrankaSim, SimConfig

    plain = FrankaSim(SimConfig(lab="train_office", image_size=64))
    tinted = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3))
    try:
        a, b = plain.sample_layout(np.random.default_rng(4)), tinted.sample_layout(np.random.default_rng(4))
        assert not a.material_tints and set(b.material_tints) == {"table", "floor", "wall"}
        np.testing.assert_array_equal(a.arm_qpos, b.arm_qpos)  # drawn before the tints
        assert a.object_colours == b.object_colours
        i0 = tinted.reset(layout=b).image
        i1 = tinted.reset(layout=a).image  # no tints: the lab's own colours again
        np.testing.assert_array_equal(i1, plain.reset(layout=a).image)
        assert np.abs(i0.astype(int) - i1.astype(int)).mean() > 1.0
    finally:
        plain.close()
        tinted.close()


def test_texture_swap_puts_pool_textures_on_the_surfaces_and_keeps_other_draws():
    from vjepa_ac.sim.labs import RANDOMIZATION_TEXTURES

    plain = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3))
    swapped = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3, texture_swap=1.0))
    try:
        a, b = plain.sample_layout(np.random.default_rng(5)), swapped.sample_layout(np.random.default_rng(5))
        assert not a.surface_textures and set(b.surface_textures) == {"table", "floor", "wall"}
        assert set(b.surface_textures.values()) <= set(RANDOMIZATION_TEXTURES)
        np.testing.assert_array_equal(a.arm_qpos, b.arm_qpos)  # drawn before the textures
        for k in a.material_tints:
            np.testing.assert_array_equal(a.material_tints[k], b.material_tints[k])
        i0 = swapped.reset(layout=b).image
        table = swapped.model.geom("table").id
        assert swapped.model.geom_matid[table] != swapped.model.material("table").id
        i1 = swapped.reset(layout=a).image  # no swaps: the lab's own textures again
        assert swapped.model.geom_matid[table] == swapped.model.material("table").id
        np.testing.assert_array_equal(i1, plain.reset(layout=a).image)
        assert np.abs(i0.astype(int) - i1.astype(int)).mean() > 5.0
        with pytest.raises(ValueError, match="no texture pool"):
            plain.reset(layout=b)
    finally:
        plain.close()
        swapped.close()


def test_texture_swap_is_validated():
    with pytest.raises(ValueError, match="texture_swap"):
        SimConfig(texture_swap=1.5)


def test_brightness_jitter_scales_each_surface_as_a_whole_and_keeps_other_draws():
    plain = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3, texture_swap=0.5))
    shaded = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3, texture_swap=0.5,
                                 brightness_jitter=0.6))
    try:
        darker = 0
        for seed in range(6):
            a, b = plain.sample_layout(np.random.default_rng(seed)), shaded.sample_layout(np.random.default_rng(seed))
            np.testing.assert_array_equal(a.arm_qpos, b.arm_qpos)
            assert a.surface_textures == b.surface_textures  # drawn before the brightness
            for k, tint in a.material_tints.items():
                ratio = b.material_tints[k] / tint  # one factor for the three channels
                np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
                assert 0.4 <= ratio[0] <= 1.6
                darker += ratio[0] < 0.8
            if seed == 0:
                i0, i1 = shaded.reset(layout=b).image, plain.reset(layout=a).image
                assert np.abs(i0.astype(int) - i1.astype(int)).mean() > 1.0
        assert darker > 0
        with pytest.raises(ValueError, match="brightness_jitter"):
            SimConfig(brightness_jitter=1.0)
    finally:
        plain.close()
        shaded.close()


def test_snapshot_restore_replays_the_same_steps(sim):
    sim.reset(seed=4, render=False)
    action = np.array([0.03, -0.02, -0.04, 0.0, 0.0, 0.1, 0.5])
    snap = sim.snapshot()
    first = [sim.step(action).image for _ in range(2)]
    state = sim.state()
    sim.restore(snap)
    assert sim.steps == snap.steps
    second = [sim.step(action).image for _ in range(2)]
    np.testing.assert_array_equal(sim.state(), state)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_ext1_zoom_scales_the_field_of_view():
    with FrankaSim(SimConfig(lab="eval_garage", image_size=64, ext1_zoom=0.5, randomize=False)) as zoomed:
        assert zoomed.lab.ext1.fovy == pytest.approx(0.5 * get_lab("eval_garage").ext1.fovy)
    with pytest.raises(ValueError, match="ext1_zoom"):
        SimConfig(ext1_zoom=0.0)


def test_light_dir_swap_draws_any_azimuth_and_keeps_other_draws():
    plain = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3))
    lit = FrankaSim(SimConfig(lab="train_office", image_size=64, tint_jitter=0.3, light_dir_swap=1.0))
    try:
        quadrants = set()
        for seed in range(12):
            a, b = plain.sample_layout(np.random.default_rng(seed)), lit.sample_layout(np.random.default_rng(seed))
            np.testing.assert_array_equal(a.arm_qpos, b.arm_qpos)
            for k in a.material_tints:  # drawn before the light
                np.testing.assert_array_equal(a.material_tints[k], b.material_tints[k])
            assert b.light_dir[2] == -1.0 and 0.1 <= np.hypot(*b.light_dir[:2]) <= 0.6
            quadrants.add((b.light_dir[0] > 0, b.light_dir[1] > 0))
        assert len(quadrants) == 4  # the office's own light falls from one quadrant only
        b = lit.sample_layout(np.random.default_rng(0))
        lit.reset(layout=b, render=False)
        np.testing.assert_allclose(lit.model.light_dir[lit.model.light("main").id], b.light_dir / np.linalg.norm(b.light_dir))
        with pytest.raises(ValueError, match="light_dir_swap"):
            SimConfig(light_dir_swap=1.5)
    finally:
        plain.close()
        lit.close()


def test_procedural_textures_join_the_swap_pool_and_render():
    from vjepa_ac.sim.labs import PROCEDURAL_TEXTURES, RANDOMIZATION_TEXTURES

    with pytest.raises(ValueError, match="procedural_textures"):
        SimConfig(procedural_textures=len(PROCEDURAL_TEXTURES) + 1)
    with FrankaSim(SimConfig(lab="train_office", image_size=64, texture_swap=1.0, procedural_textures=3)) as sim:
        assert sim._texture_pool == RANDOMIZATION_TEXTURES + ("proc-00", "proc-01", "proc-02")
        layout = sim.sample_layout(np.random.default_rng(0))
        own = sim.reset(layout=replace(layout, surface_textures={})).image
        checker = sim.reset(layout=replace(layout, surface_textures={"table": "proc-00"})).image
        assert sim.model.geom_matid[sim.model.geom("table").id] == sim.model.material("table_pool_proc-00").id
        assert np.abs(checker.astype(int) - own.astype(int)).mean() > 5.0
