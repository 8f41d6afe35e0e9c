"""The client against a real uvicorn server on a free loopback port: API, closed loop, load."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from serve_helpers import FAST, START, TARGET, SlowModel, make_service, toy_image

from vjepa_ac.client import BusyError, PlanningClient, ServerError
from vjepa_ac.plan.toy import ToyWorldModel
from vjepa_ac.serve.app import create_app
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.loop import ToyReachTask, run_episode
from vjepa_ac.serve.server import BackgroundServer, uvicorn_config
from vjepa_ac.serve.service import PlanningService


@pytest.fixture(scope="module")
def toy_url():
    with BackgroundServer(create_app(make_service(max_body_bytes=2**20))) as url:
        yield url


@pytest.mark.parametrize("wire, encoding", [("msgpack", "raw"), ("json", "png")])
def test_client_api(toy_url, wire, encoding):
    with PlanningClient(toy_url, timeout=30, wire=wire, image_encoding=encoding) as client:
        assert client.health()["status"] == "ok"
        assert client.metadata()["action_dim"] == 7
        goal = client.register_goal(toy_image(TARGET))
        reply = client.plan(toy_image(START), START, goal_id=goal, **FAST)
        inline = client.plan(toy_image(START), START, goal_images=[toy_image(TARGET)], **FAST)
        np.testing.assert_allclose(reply.action, inline.action)
        assert reply.action.shape == (7,) and reply.model_id == "toy-test"
        assert reply.round_trip_s >= reply.plan_time_s
        warm = client.plan(toy_image(START), START, goal_id=goal, init_mean=reply.warm_start, seed=1, **FAST)
        assert warm.planner["num_samples"] == FAST["num_samples"]
        client.delete_goal(goal)
        with pytest.raises(ServerError) as e:
            client.plan(toy_image(START), START, goal_id=goal, **FAST)
        assert (e.value.status, e.value.field) == (404, "goal_id")
        with pytest.raises(ServerError) as e:
            client.plan(toy_image(START), START, goal_id=goal, horizon=99)
        assert (e.value.status, e.value.field) == (422, "planner.horizon")


def test_an_oversized_body_is_refused_over_the_network(toy_url):
    big = np.zeros((800, 800, 3), dtype=np.uint8)  # 1.9 MB raw > 1 MiB
    with PlanningClient(toy_url) as client:
        with pytest.raises(ServerError) as e:
            client.register_goal(big)
        assert e.value.status == 413
        assert client.health()["status"] == "ok"


def test_closed_loop_through_the_client_reaches_the_toy_goal(toy_url):
    with PlanningClient(toy_url) as client:
        result = run_episode(client, ToyReachTask(max_steps=8), seed=0, num_samples=200, iterations=5)
        assert result.success and result.distance < 0.02, result.distance
        assert result.steps == 8 and result.actions.shape == (8, 7)
        assert result.energies[-1] < result.energies[0]
        assert client.health()["goals"] == 0  # the episode's goals were deleted


def test_concurrent_clients_are_queued_or_told_busy_never_dropped():
    """8 clients x 3 plans on a slow model with a 2-deep queue: every request gets a plan or an
    explicit 503 (without retries), and with retries all get plans."""
    svc = make_service(SlowModel(ToyWorldModel(), delay=0.02), queue_size=2)
    results: dict[str, list] = {"ok": [], "busy": [], "other": []}
    lock = threading.Lock()

    def worker(i: int, retries: int) -> None:
        with PlanningClient(url, timeout=30, busy_retries=retries, busy_backoff_s=0.05) as client:
            for k in range(3):
                try:
                    r = client.plan(toy_image(START), START, goal_images=[toy_image(TARGET)],
                                    seed=i * 10 + k, **FAST)
                    outcome = "ok" if r.action.shape == (7,) else "other"
                except BusyError:
                    outcome = "busy"
                except Exception as e:  # noqa: BLE001  (anything else would be a dropped request)
                    outcome = "other"
                    print(repr(e))
                with lock:
                    results[outcome].append(i)

    ok_before = 0
    with BackgroundServer(create_app(svc)) as url:
        for retries in (0, 50):
            threads = [threading.Thread(target=worker, args=(i, retries)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            if retries:
                assert len(results["ok"]) - ok_before == 24 and not results["other"]
            else:
                assert len(results["ok"]) + len(results["busy"]) == 24 and not results["other"]
                assert results["busy"], "a 2-deep queue should have refused some of 8 concurrent clients"
                ok_before = len(results["ok"])
        health = PlanningClient(url).health()
    assert health["status"] == "ok" and health["failed"] == 0
    assert health["busy"] >= len(results["busy"])  # the server also counts the retried ones


def test_the_server_binds_loopback_unless_told_otherwise():
    svc = PlanningService(make_service().model, ServeConfig())
    app = create_app(svc)
    assert uvicorn_config(app, ServeConfig()).host == "127.0.0.1"
    assert uvicorn_config(app, ServeConfig(host="0.0.0.0", allow_unauthenticated=True)).host == "0.0.0.0"
    with BackgroundServer(app) as url:
        assert url.startswith("http://127.0.0.1:")
