"""Closed-loop evaluation: the scripted expert succeeds, random actions fail, records and statistics."""

import numpy as np
import pytest

from vjepa_ac.sim.evaluate import (
    ALL,
    EpisodeRecord,
    PolicyFactory,
    RandomPolicy,
    SimEvalConfig,
    evaluate_policy,
    summarize,
    summary_rows,
    wilson_interval,
)

SIZE = 64


def test_wilson_interval_known_values():
    # the interval is {p : |k/n - p| <= z sqrt(p (1 - p) / n)}; bounds found by root finding (scipy brentq)
    for (k, n), (lo, hi) in {
        (0, 10): (0.0, 0.277533),
        (5, 10): (0.236593, 0.763407),
        (10, 10): (0.722467, 1.0),
        (7, 10): (0.396778, 0.892209),
        (1, 20): (0.008881, 0.236131),
        (65, 100): (0.552544, 0.736358),
    }.items():
        got = wilson_interval(k, n)
        assert got == pytest.approx((lo, hi), abs=1e-5), (k, n)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def _record(policy, task, lab, seed, success, distance, times=(0.1, 0.2)):
    return EpisodeRecord(
        policy, task, "cup", lab, seed, success, distance, len(times), 0, list(times), 1.0, 1
    )


def test_reach_rows_name_no_object():
    """Reach is about no object (a cup only stands on the table): its row's object is None, its
    episodes pool whatever stood there; object tasks keep one row per object."""
    eps = [_record("p", "reach", "a", 0, True, 0.01), _record("p", "grasp", "a", 0, True, 0.02)]
    eps += [EpisodeRecord("p", t, "box", "a", 1, False, 0.05, 2, 0, [0.1, 0.2], 1.0, 1)
            for t in ("reach", "grasp")]
    rows = summary_rows(eps)
    assert [(r["task"], r["object"]) for r in rows] == [("reach", None), ("grasp", "cup"), ("grasp", "box"),
                                                        (ALL, ALL)]
    assert rows[0]["policies"]["p"]["episodes"] == 2 and rows[1]["policies"]["p"]["episodes"] == 1
    assert eps[0].to_dict()["object"] == "cup"  # the episode still records the scene it ran in


def test_summaries_pool_labs_and_tasks():
    eps = [
        _record("p", "reach", "a", 0, True, 0.01),
        _record("p", "reach", "b", 0, False, 0.03),
        _record("p", "grasp", "a", 0, True, 0.02, (0.3,)),
        _record("r", "reach", "a", 0, False, 0.2),
    ]
    s = summarize(eps[:2])
    assert s["episodes"] == 2 and s["successes"] == 1 and s["success_rate"] == 0.5
    assert s["ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert s["distance_mean"] == pytest.approx(0.02) and s["distance_std"] == pytest.approx(
        np.std([0.01, 0.03], ddof=1)
    )
    assert s["action_time_median"] == pytest.approx(0.15) and s["steps_mean"] == 2
    rows = summary_rows(eps)
    keys = [(r["task"], r["lab"]) for r in rows]
    assert keys == [
        ("reach", "a"),
        ("reach", "b"),
        ("reach", ALL),
        ("grasp", "a"),
        ("grasp", "b"),
        ("grasp", ALL),
        (ALL, "a"),
        (ALL, "b"),
        (ALL, ALL),
    ]
    overall = rows[-1]["policies"]
    assert overall["p"]["episodes"] == 3 and overall["r"]["episodes"] == 1
    assert "r" not in rows[1]["policies"]  # no random episode in lab b
    assert rows[4]["policies"] == {}


def test_random_policy_stays_in_the_planner_bounds():
    pol = RandomPolicy(seed=0, xyz_radius=0.075, gripper_limit=1.0)
    pol.reset(3)
    actions = np.stack([pol() for _ in range(2000)])
    assert np.abs(actions[:, :3]).sum(1).max() <= 0.075 + 1e-12 and np.all(actions[:, 3:6] == 0)
    assert np.abs(actions[:, 6]).max() <= 1.0
    # uniform in the L1 ball: |x|_1 / r has density 3 u^2, mean 3/4; signs balanced
    assert np.abs(actions[:, :3]).sum(1).mean() / 0.075 == pytest.approx(0.75, abs=0.02)
    assert np.abs(actions[:, :3].mean(0)).max() < 0.003
    pol.reset(3)
    assert np.array_equal(pol(), actions[0])  # reproducible per episode seed
    box = RandomPolicy(xyz_radius=0.05, xyz_bound="box", gripper_limit=0.0)
    a = np.stack([box() for _ in range(500)])
    assert np.abs(a[:, :3]).max() <= 0.05 and np.abs(a[:, :3]).sum(1).max() > 0.075 and np.all(a[:, 6] == 0)


@pytest.mark.sim
def test_expert_succeeds_random_fails_and_episodes_are_recorded(tmp_path):
    import vjepa_ac.sim  # noqa: F401

    cfg = SimEvalConfig(
        tasks=("reach", "pick_and_place"),
        labs=("eval_garage",),
        episodes=1,
        seed=5,
        image_size=SIZE,
        objects={"pick_and_place": ("cube",)},
        video="failures",
        video_dir=tmp_path / "videos",
        progress=False,
    )
    seen = []
    expert = evaluate_policy(
        PolicyFactory(lambda task: task.expert_policy()), cfg, name="expert", on_episode=seen.append
    )
    assert [e.key() for e in expert.episodes] == [
        ("expert", "reach", "cup", "eval_garage", 5005),
        ("expert", "pick_and_place", "cube", "eval_garage", 5005),
    ]
    assert seen == expert.episodes
    for e in expert.episodes:
        assert e.success and e.distance < 0.04 and e.video is None and len(e.action_time_s) == e.steps
    assert [e.steps for e in expert.episodes] == [10, 18]
    assert [e.goal_switches for e in expert.episodes] == [0, 2]  # pick-and-place: goals after 4, 10, 4 steps

    calls = []

    class Recording(RandomPolicy):
        def reset(self, seed):
            calls.append(seed)
            super().reset(seed)

        def episode_info(self):
            return {"calls": len(calls)}

    rand = evaluate_policy(
        Recording(0), cfg, name="random", skip={("random", "reach", "cup", "eval_garage", 5005)}
    )
    (e,) = rand.episodes  # reach was skipped
    assert e.task == "pick_and_place" and not e.success and e.distance > 0.05 and calls == [5005]
    assert e.info == {"calls": 1} and e.video.endswith("random/pick_and_place-cube-eval_garage-seed5005.mp4")
    assert (
        tmp_path / "videos" / "random" / "pick_and_place-cube-eval_garage-seed5005.mp4"
    ).stat().st_size > 1000
    assert EpisodeRecord.from_dict(e.to_dict()) == e


def test_config_is_validated():
    with pytest.raises(ValueError, match="tasks"):
        SimEvalConfig(tasks=("fly",))
    with pytest.raises(ValueError, match="lab"):
        SimEvalConfig(labs=("moon",))
    with pytest.raises(ValueError, match="objects"):
        SimEvalConfig(objects={"grasp": ("banana",)})
    cfg = SimEvalConfig(tasks=("reach", "grasp"), labs=("eval_kitchen",), episodes=2)
    assert len(cfg.episode_keys("p")) == 2 + 2 * 2  # grasp: cup and box
    labs = ("eval_kitchen", "eval_garage")
    distinct = SimEvalConfig(tasks=("reach",), labs=labs, episodes=2, seed=7)
    assert [k[4] for k in distinct.episode_keys("p")] == [4007, 4008, 5007, 5008]  # each lab: its own scenes
    shared = SimEvalConfig(tasks=("reach",), labs=labs[::-1], episodes=2, seed=7, lab_seeds="shared")
    assert [k[4] for k in shared.episode_keys("p")] == [7, 8, 7, 8]
    with pytest.raises(ValueError, match="episodes"):
        SimEvalConfig(episodes=1001)
    per_task = SimEvalConfig(tasks=("reach", "grasp"), labs=("eval_kitchen",), episodes=2,
                             task_episodes={"reach": 5})
    assert [k[1] for k in per_task.episode_keys("p")].count("reach") == 5
    assert len(per_task.episode_keys("p")) == 5 + 2 * 2
    with pytest.raises(ValueError, match=r"task_episodes\['grasp'\]"):
        SimEvalConfig(task_episodes={"grasp": 0})
