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
