"""The planning service without HTTP: plans, goals, failures, deadlines, the bounded queue."""

from __future__ import annotations

import time

import numpy as np
import pytest
from serve_helpers import FAST, START, TARGET, FailingModel, SlowModel, make_service, plan_body, toy_image

from vjepa_ac.plan.toy import ToyWorldModel
from vjepa_ac.serve.protocol import GoalRequest, ServeError, parse_plan_request


def _req(svc, **extra):
    return parse_plan_request(plan_body(**extra), svc.cfg)


def test_a_plan_moves_toward_the_goal_and_is_reproducible(service):
    out = service.plan(_req(service))
    step = out.action[:3]
    assert out.actions.shape == out.warm_start.shape == (1, 7) and out.action.shape == (7,)
    assert np.dot(step, (TARGET - START)[:3]) > 0 and np.abs(step).sum() <= 0.075 + 1e-6
    assert out.model_id == "toy-test" and out.planner["num_samples"] == FAST["num_samples"]
    assert out.plan_time_s > 0 and out.queue_time_s >= 0
    np.testing.assert_array_equal(service.plan(_req(service)).action, out.action)  # same seed, same plan
    assert not np.array_equal(service.plan(_req(service, seed=1)).action, out.action)


def test_registered_goals_plan_like_inline_ones_and_are_lru_bounded():
    svc = make_service(max_goals=2)
    try:
        entry = svc.register_goal(GoalRequest([toy_image(TARGET)]))
        inline = svc.plan(_req(svc))
        body = plan_body()
        del body["goal_images"]
        by_id = svc.plan(parse_plan_request({**body, "goal_id": entry.goal_id}, svc.cfg))
        np.testing.assert_array_equal(by_id.action, inline.action)
        others = [svc.register_goal(GoalRequest([toy_image(START)])) for _ in range(2)]
        with pytest.raises(ServeError) as e:  # the oldest of three was dropped
            svc.plan(parse_plan_request({**body, "goal_id": entry.goal_id}, svc.cfg))
        assert (e.value.status, e.value.field) == (404, "goal_id")
        svc.delete_goal(others[0].goal_id)
        with pytest.raises(ServeError, match="unknown goal_id"):
            svc.delete_goal(others[0].goal_id)
        assert svc.health()["goals"] == 1
    finally:
        svc.stop(5)


def test_intermediate_goals_need_a_long_enough_horizon(service):
    entry = service.register_goal(GoalRequest([toy_image(START), toy_image(TARGET)]))
    body = {k: v for k, v in plan_body().items() if k != "goal_images"}
    with pytest.raises(ServeError) as e:
        service.plan(parse_plan_request({**body, "goal_id": entry.goal_id}, service.cfg))
    assert (e.value.status, e.value.field) == (422, "planner.horizon")
    body["planner"] = {**FAST, "horizon": 2}
    out = service.plan(parse_plan_request({**body, "goal_id": entry.goal_id}, service.cfg))
    assert out.actions.shape == (2, 7)


def test_a_planning_error_fails_that_request_only():
    svc = make_service(FailingModel(ToyWorldModel()))
    try:
        bad = START.copy()
        bad[0] = 2.0
        with pytest.raises(ServeError) as e:
            svc.plan(_req(svc, state=bad))
        assert e.value.status == 500 and "RuntimeError: boom" in e.value.message
        assert svc.plan(_req(svc)).action.shape == (7,)
        assert svc.health()["failed"] == 1 and svc.health()["status"] == "ok"
    finally:
        svc.stop(5)


def test_a_plan_past_its_deadline_is_stopped_and_the_worker_goes_on():
    slow = SlowModel(ToyWorldModel(), delay=0.05)
    svc = make_service(slow)
    try:
        t = time.monotonic()
        with pytest.raises(ServeError) as e:  # 3 iterations x 0.05 s > 0.08 s
            svc.plan(_req(svc, timeout_s=0.08))
        assert e.value.status == 504 and time.monotonic() - t < 1.0
        assert svc.plan(_req(svc, timeout_s=5)).action.shape == (7,)
        assert svc.health()["timed_out"] >= 1
    finally:
        svc.stop(5)


def test_a_full_queue_answers_busy_instead_of_growing():
    slow = SlowModel(ToyWorldModel(), delay=0.1)
    svc = make_service(slow, queue_size=1)
    try:
        first = svc.submit_plan(_req(svc))  # the worker takes it
        assert slow.started.wait(5)
        second = svc.submit_plan(_req(svc))  # fills the queue
        with pytest.raises(ServeError) as e:
            svc.submit_plan(_req(svc))
        assert e.value.status == 503 and "busy" in e.value.message
        assert first.result(10).action.shape == second.result(10).action.shape == (7,)
        assert svc.health()["busy"] == 1
    finally:
        svc.stop(5)


def test_a_request_that_times_out_in_the_queue_is_skipped():
    slow = SlowModel(ToyWorldModel(), delay=0.1)
    svc = make_service(slow)
    try:
        first = svc.submit_plan(_req(svc))
        assert slow.started.wait(5)
        with pytest.raises(ServeError) as e:
            svc.plan(_req(svc, timeout_s=0.05))  # waits behind ~0.3 s of work
        assert e.value.status == 504
        first.result(10)
        svc.stop(5)
        assert svc.health()["planned"] == 1  # the timed-out one never ran
    finally:
        svc.stop(5)


def test_the_real_model_plans_from_images(tiny_model):
    from vjepa_ac.serve.config import ServeConfig
    from vjepa_ac.serve.service import PlanningService

    svc = PlanningService(tiny_model, ServeConfig(port=0)).start()
    try:
        rng = np.random.default_rng(0)
        body = plan_body()
        from serve_helpers import wire_image

        body["image"] = wire_image(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8), "png")
        body["goal_images"] = [wire_image(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "jpeg")]
        body["planner"] = {"preset": "notebook", "num_samples": 32, "iterations": 2, "num_elites": 4}
        out = svc.plan(parse_plan_request(body, svc.cfg))
        assert out.actions.shape == (2, 7) and np.all(out.actions[:, 3:6] == 0) and np.isfinite(out.energy)
        assert svc.metadata()["image_size"] == 64 and svc.metadata()["model_id"].startswith("tiny:")
    finally:
        svc.stop(5)
