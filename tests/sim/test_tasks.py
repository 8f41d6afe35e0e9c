"""Tasks: goal images, schedule, the scripted expert succeeds, random actions fail, videos."""

import numpy as np
import pytest

from vjepa_ac.sim import policies as P
from vjepa_ac.sim.labs import EVAL_LABS
from vjepa_ac.sim.tasks import TASKS, TaskConfig, make_task

pytestmark = pytest.mark.sim


def _rates(name, seeds, obj="cup"):
    with make_task(name, lab=EVAL_LABS[1], image_size=64, object=obj) as task:
        expert = [task.rollout(task.expert_policy(), s)["success"] for s in seeds]
        rng = np.random.default_rng(0)
        rand = [task.rollout(lambda o, g: P.random_action(rng), s)["success"] for s in seeds]
    return np.mean(expert), np.mean(rand)


@pytest.mark.parametrize("name", TASKS)
def test_expert_succeeds_random_fails_fast(name):
    expert, rand = _rates(name, seeds=range(2))
    assert expert == 1.0 and rand == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("obj", ["cup", "box", "cube"])
@pytest.mark.parametrize("name", TASKS)
def test_expert_succeeds_random_fails(name, obj):
    expert, rand = _rates(name, seeds=range(100, 120), obj=obj)
    assert expert >= 0.9, f"{name}/{obj}: expert {expert:.0%}"
    assert rand <= 0.2, f"{name}/{obj}: random {rand:.0%}"


def test_episode_api_and_goal_schedule(tmp_path):
    task = make_task("pick_and_place", lab=EVAL_LABS[0], image_size=64, record_video=True, object="cube")
    obs = task.reset(seed=3)
    assert obs.image.shape == (64, 64, 3) and obs.state.shape == (7,)
    assert task.max_steps == 18 and task.goal_schedule == (4, 10, 4)
    assert len(task.goal_images) == 3 and all(g.shape == (64, 64, 3) for g in task.goal_images)
    assert not np.array_equal(task.goal_images[0], task.goal_images[2])
    seen = []
    policy = task.expert_policy()
    while not task.done():
        seen.append(task.goal_index)
        obs = task.step(policy(obs, task.goal_image))
    assert seen == [0] * 4 + [1] * 10 + [2] * 4
    assert task.success() and task.distance_to_goal() < 0.02
    for suffix in (".mp4", ".gif"):
        path = task.save_video(tmp_path / f"episode{suffix}")
        assert path.stat().st_size > 1000
    assert len(task.frames) == 19 and task.frames[0].shape == (64, 130, 3)  # frame | goal
    task.close()


def test_reset_is_reproducible():
    with make_task("reach", lab=EVAL_LABS[0], image_size=64) as task:
        a = task.reset(7)
        goal = task.goal_image.copy()
        b = task.reset(7)
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(goal, task.goal_image)
        c = task.reset(8)
        assert not np.array_equal(a.state, c.state)


def test_reach_with_object_starts_holding():
    with make_task("reach_with_object", lab=EVAL_LABS[0], image_size=64, object="box", seed=0) as task:
        assert P.is_held(task.sim, "box") and task.steps == 0 and not task.success()


def test_task_config_validation():
    with pytest.raises(ValueError, match="unknown task"):
        TaskConfig(name="fly")
    with pytest.raises(ValueError, match="goal_schedule"):
        TaskConfig(name="pick_and_place", goal_schedule=(4, 10))


def test_grasp_starts_above_the_object_and_its_goal_is_the_closed_grasp():
    with make_task("grasp", lab=EVAL_LABS[0], image_size=64, object="cup") as task:
        obs = task.reset(3)
        cup = task.sim.object_pose("cup")[0]
        # the open gripper hangs above the cup (6 cm above the grasp point), not at home
        assert np.linalg.norm(obs.state[:2] - cup[:2]) < 0.02 and obs.state[6] < 0.1
        goal = task.goals[-1]
        assert goal.state[6] > 0.2  # closed on the object ...
        assert goal.object_pos[2] < 0.05  # ... which still rests on the table
        # descending with the gripper left open touches nothing that holds: the lift test fails
        for _ in range(3):
            task.step(np.array([0.0, 0.0, -0.03, 0.0, 0.0, 0.0, 0.0]))
        assert not task.success()


def test_grasp_lift_test_leaves_the_simulator_as_it_was():
    with make_task("grasp", lab=EVAL_LABS[0], image_size=64, object="box") as task:
        task.rollout(task.expert_policy(), 1)
        before = task.sim.snapshot()
        image = task.sim.render()
        assert task.success() and task.success()  # the same answer twice
        after = task.sim.snapshot()
        np.testing.assert_array_equal(before.physics, after.physics)
        np.testing.assert_array_equal(image, task.sim.render())


_UNCLOSED = """
from vjepa_ac.sim.env import FrankaSim, SimConfig
from vjepa_ac.sim.tasks import make_task

tasks = [make_task(name, image_size=32, seed=0) for name in ("reach", "grasp")]  # goal images rendered
tasks[0].step([0.01, 0, 0, 0, 0, 0, 0])
sim = FrankaSim(SimConfig(image_size=32))
sim.reset(0)
sim.render()
with make_task("reach", image_size=32, seed=1) as closed:
    pass
print("built", len(tasks), closed.sim._renderer is None)
"""


def test_tasks_left_open_exit_quietly():
    """A script that renders with tasks and sims and never closes them exits without the
    'Exception ignored in: Renderer.__del__ ... EGLError' tracebacks of interpreter teardown."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _UNCLOSED], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "built 2 True"
    assert run.stderr == "", run.stderr


def test_close_releases_the_renderer_and_the_exit_hook_skips_it():
    from vjepa_ac.sim import env

    with make_task("reach", image_size=32, seed=0) as task:
        renderer = task.sim._renderer
        assert renderer is not None and renderer in env._OPEN_RENDERERS
    assert task.sim._renderer is None and renderer not in env._OPEN_RENDERERS
    task.close()  # idempotent
    task.sim.render()  # a closed sim renders again on demand, with a new context
    assert task.sim._renderer in env._OPEN_RENDERERS
    env.close_open_renderers()  # what runs at exit: closes what its owners left open
    assert len(env._OPEN_RENDERERS) == 0
    task.close()
