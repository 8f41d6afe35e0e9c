"""HTTP routes through FastAPI's TestClient: replies, wire formats and every kind of bad input."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (
    FAST,
    START,
    TARGET,
    FailingModel,
    SlowModel,
    make_service,
    plan_body,
    toy_image,
    wire_image,
)

from vjepa_ac.client import encode_image
from vjepa_ac.plan.toy import ToyWorldModel
from vjepa_ac.serve.app import create_app

MSGPACK = {"content-type": "application/msgpack"}


def _client(world_model=None, **cfg) -> TestClient:
    return TestClient(create_app(make_service(world_model, **cfg)), raise_server_exceptions=False)


@pytest.fixture
def http():
    with _client(max_body_bytes=64 * 1024) as c:
        yield c


def _assert_error(r, status: int, field=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["error"] and body["field"] == field, body


def test_health_and_metadata(http):
    h = http.get("/health").json()
    assert h["status"] == "ok" and h["model_id"] == "toy-test" and h["queued"] == 0
    m = http.get("/metadata").json()
    assert m["action_dim"] == 7 and m["action_layout"] == {"xyz": [0, 3], "rot": [3, 6], "gripper": [6, 7]}
    assert m["fps"] == 4.0 and m["planner_default"]["method"] == "cem"
    assert m["planner_default"]["num_samples"] == 800
    bounds = m["planner_bounds"]
    assert {k: bounds[k] for k in ("max_samples", "max_iterations", "max_horizon")} == {
        "max_samples": 4096, "max_iterations": 50, "max_horizon": 8}
    assert bounds["xyz_radius"] == [0.0, 1.0] and m["max_abs_state"] == 1000.0
    assert set(m["image_encodings"]) == {"raw", "png", "jpeg"}


def test_plan_json_with_an_inline_png_goal(http):
    body = plan_body()
    body["image"] = wire_image(toy_image(START), "png")
    r = http.post("/plan", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    reply = r.json()
    assert len(reply["action"]) == 7 and np.isfinite(reply["energy"]) and reply["model_id"] == "toy-test"
    assert set(reply) >= {"actions", "warm_start", "plan_time_s", "queue_time_s", "config_id", "planner"}
    assert np.dot(reply["action"][:3], (TARGET - START)[:3]) > 0


def test_plan_msgpack_with_a_registered_raw_goal(http):
    goal_body = msgpack.packb({"images": [encode_image(toy_image(TARGET))]})
    r = http.post("/goals", content=goal_body, headers=MSGPACK)
    assert r.status_code == 201 and r.headers["content-type"] == "application/msgpack"
    goal = msgpack.unpackb(r.content)
    assert goal["num_images"] == 1 and goal["tokens"] == 4
    body = {"image": encode_image(toy_image(START)), "state": list(START), "goal_id": goal["goal_id"],
            "planner": FAST}
    r = http.post("/plan", content=msgpack.packb(body), headers=MSGPACK)
    assert r.status_code == 200, r.text
    by_id = msgpack.unpackb(r.content)
    inline = http.post("/plan", json=plan_body()).json()
    assert by_id["action"] == inline["action"]
    assert http.delete(f"/goals/{goal['goal_id']}").json() == {"deleted": goal["goal_id"]}
    _assert_error(http.post("/plan", content=msgpack.packb(body), headers=MSGPACK), 404, "goal_id")
    _assert_error(http.delete(f"/goals/{goal['goal_id']}"), 404, "goal_id")


def test_jpeg_images_are_accepted(http):
    rng = np.random.default_rng(0)
    body = plan_body()
    body["goal_images"] = [wire_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "jpeg")]
    assert http.post("/plan", json=body).status_code == 200


def test_bad_inputs_get_clear_errors_and_the_server_keeps_serving(http):
    nan_state = list(START)
    nan_state[0] = float("nan")
    bad_shape = plan_body()
    bad_shape["image"] = {**bad_shape["image"], "shape": [8, 8, 4]}
    headers = {"content-type": "application/json"}
    _assert_error(http.post("/plan", content=b'{"image": ', headers=headers), 400)
    _assert_error(http.post("/plan", content=b"\x80\x81", headers=MSGPACK), 400)
    _assert_error(http.post("/plan", content=b"x", headers={"content-type": "text/plain"}), 415)
    nan_body = json.dumps({**plan_body(), "state": nan_state})  # NaN literal: valid for Python's json
    _assert_error(http.post("/plan", content=nan_body, headers=headers), 422, "state")
    _assert_error(http.post("/plan", json=bad_shape), 422, "image.shape")
    _assert_error(http.post("/plan", json=plan_body(planner={"num_samples": 10_000})), 422,
                  "planner.num_samples")
    unknown_goal = {"state": list(START), "goal_id": "nope", "image": wire_image(toy_image(START))}
    _assert_error(http.post("/plan", json=unknown_goal), 404, "goal_id")
    _assert_error(http.post("/goals", json={"images": "cat.png"}), 422, "images")
    _assert_error(http.get("/nowhere"), 404)
    _assert_error(http.put("/plan", json={}), 405)
    assert http.post("/plan", json=plan_body()).status_code == 200


def test_oversized_bodies_are_refused_before_parsing(http):
    big = b'{"pad": "' + b"x" * (65 * 1024) + b'"}'
    _assert_error(http.post("/plan", content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(70):
            yield b" " * 1024

    _assert_error(http.post("/plan", content=chunks(), headers={"content-type": "application/json"}), 413)
    assert http.get("/health").json()["status"] == "ok"


def test_a_planning_error_goes_to_its_caller_only():
    with _client(FailingModel(ToyWorldModel())) as http:
        bad = START.copy()
        bad[0] = 2.0
        _assert_error(http.post("/plan", json=plan_body(state=bad)), 500)
        assert http.post("/plan", json=plan_body()).status_code == 200
        assert http.get("/health").json()["failed"] == 1


def test_timeouts_are_504():
    with _client(SlowModel(ToyWorldModel(), delay=0.05)) as http:
        _assert_error(http.post("/plan", json=plan_body(timeout_s=0.05)), 504)
        assert http.post("/plan", json=plan_body(timeout_s=10)).status_code == 200


def test_nan_and_float32_overflow_are_422_naming_the_field(http):
    """JSON's NaN / Infinity literals (Python's json reads them) and numbers finite in float64 but
    not in float32 are the request's fault, never a 500; the server plans on afterwards."""
    cases = [
        ('"state": [0.4,', '"state": [1e300,', "state"),
        ('"state": [0.4,', '"state": [NaN,', "state"),
        ('"planner": {', '"init_mean": [[1e300, 0, 0, 0, 0, 0, 0]], "planner": {', "init_mean"),
        ('"planner": {', '"planner": {"min_std": NaN, ', "planner.min_std"),
        ('"planner": {', '"planner": {"xyz_radius": Infinity, ', "planner.xyz_radius"),
        ('"planner": {', '"planner": {"init_std_xyz": 1e300, ', "planner.init_std_xyz"),
        ('"planner": {', '"planner": {"gripper_round": NaN, ', "planner.gripper_round"),
        ('"planner": {', '"planner": {"method": "mppi", "temperature": Infinity, ', "planner.temperature"),
        ('"planner": {', '"planner": {"horizon": NaN, ', "planner.horizon"),
        ('"planner": {', '"timeout_s": Infinity, "planner": {', "timeout_s"),
    ]
    base = json.dumps(plan_body(state=np.array([0.4, 0, 0.3, 0, 0, 0, 0])))
    for old, new, field in cases:
        text = base.replace(old, new, 1)
        assert text != base, old
        r = http.post("/plan", content=text.encode(), headers={"content-type": "application/json"})
        _assert_error(r, 422, field)
    assert http.post("/plan", json=plan_body()).status_code == 200
    health = http.get("/health").json()
    assert (health["planned"], health["failed"]) == (1, 0)


def test_a_reply_that_cannot_be_encoded_is_a_json_500():
    with _client() as c:
        c.app.state.service.metadata = lambda: {"fps": float("nan")}
        _assert_error(c.get("/metadata"), 500)
        r = c.get("/metadata", headers={"accept": "application/msgpack"})
        assert r.status_code == 200 and msgpack.unpackb(r.content)["fps"] != 0  # msgpack carries NaN
        c.app.state.service.metadata = lambda: {"fps": np.float32(4.0)}  # a type msgpack lacks
        _assert_error(c.get("/metadata", headers={"accept": "application/msgpack"}), 500)
