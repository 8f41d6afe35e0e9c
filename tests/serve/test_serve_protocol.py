"""Wire formats, image decoding and request validation (no HTTP)."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import msgpack
import numpy as np
import pytest
from PIL import Image
from serve_helpers import START, plan_body, wire_image

from vjepa_ac.client import encode_image
from vjepa_ac.config import ConfigError
from vjepa_ac.plan.config import CEMConfig, MPPIConfig, cem_preset
from vjepa_ac.serve.config import ServeConfig, is_loopback
from vjepa_ac.serve.protocol import (
    ServeError,
    config_id,
    decode_body,
    decode_image,
    parse_goal_request,
    parse_plan_request,
    planner_wire,
    resolve_planner,
)

CFG = ServeConfig()
RNG = np.random.default_rng(0)
IMG = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _err(fn, *args) -> ServeError:
    with pytest.raises(ServeError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_lossless_images_round_trip_as_bytes_and_base64(encoding):
    np.testing.assert_array_equal(decode_image(encode_image(IMG, encoding), CFG), IMG)
    np.testing.assert_array_equal(decode_image(wire_image(IMG, encoding), CFG), IMG)


def test_jpeg_decodes_to_the_same_shape():
    out = decode_image(encode_image(IMG, "jpeg"), CFG)
    assert out.shape == IMG.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - IMG).mean() < 60  # lossy, but the same picture


@pytest.mark.parametrize("change, status, field", [
    ({"shape": [24, 32, 4]}, 422, "image.shape"),
    ({"shape": [24, 32]}, 422, "image.shape"),
    ({"shape": [24, 31, 3]}, 422, "image.data"),
    ({"dtype": "float32"}, 422, "image.dtype"),
    ({"encoding": "bmp"}, 422, "image.encoding"),
    ({"data": "not base64!"}, 400, "image.data"),
    ({"extra": 1}, 422, "image"),
])
def test_bad_raw_images_name_the_field(change, status, field):
    e = _err(decode_image, {**wire_image(IMG), **change}, CFG)
    assert (e.status, e.field) == (status, field)


def test_image_sides_are_bounded_before_decoding():
    cfg = ServeConfig(max_image_side=16, min_image_side=8)
    assert _err(decode_image, encode_image(IMG, "png"), cfg).status == 413  # 24x32 > 16
    assert _err(decode_image, encode_image(IMG[:4, :4], "raw"), cfg).status == 422  # 4x4 < 8


def test_encoded_images_must_be_rgb_of_the_named_format():
    buf = io.BytesIO()
    Image.fromarray(IMG[..., 0], mode="L").save(buf, format="PNG")
    e = _err(decode_image, {"encoding": "png", "data": buf.getvalue()}, CFG)
    assert e.status == 422 and "mode" in e.message
    assert _err(decode_image, {**encode_image(IMG, "jpeg"), "encoding": "png"}, CFG).status == 400
    truncated = encode_image(IMG, "png")["data"][:60]
    assert _err(decode_image, {"encoding": "png", "data": truncated}, CFG).status == 400


def test_bodies_decode_by_content_type_and_malformed_ones_are_400():
    assert decode_body(b'{"a": 1}', "application/json") == {"a": 1}
    assert decode_body(msgpack.packb({"a": b"\x00"}), "application/msgpack") == {"a": b"\x00"}
    for body, ctype in [(b"{nope", "application/json"), (b"[" * 100_000, "application/json"),
                        (b"\xc1\xc1", "application/msgpack"), (b"\x92\x01", "application/msgpack")]:
        assert _err(decode_body, body, ctype).status == 400
    assert _err(decode_body, b"[1, 2]", "application/json").status == 422
    assert _err(decode_body, b"x", "application/python-pickle").status == 415


def test_planner_settings_resolve_on_the_server_defaults_within_bounds():
    assert resolve_planner(None, CFG) == cem_preset("paper")
    assert resolve_planner({"preset": "notebook", "horizon": 3}, CFG) == cem_preset("notebook", horizon=3)
    mppi = resolve_planner({"method": "mppi", "temperature": 0.5}, CFG)
    assert isinstance(mppi, MPPIConfig) and mppi.temperature == 0.5
    server = ServeConfig(planner={"num_samples": 100}, max_batch=32)
    assert resolve_planner({}, server) == CEMConfig(num_samples=100, chunk_size=32)
    assert resolve_planner({"preset": "notebook"}, server).num_samples == 400  # another preset: its own
    assert config_id(resolve_planner({}, CFG)) != config_id(resolve_planner({"horizon": 2}, CFG))


def test_nevergrad_gradient_and_the_droid_preset_are_served():
    from vjepa_ac.plan.config import GradientConfig, NeverGradConfig

    ng = resolve_planner({"method": "nevergrad", "num_samples": 64, "energy": "l2"}, CFG)
    assert isinstance(ng, NeverGradConfig) and ng.energy == "l2" and planner_wire(ng)["method"] == "nevergrad"
    gd = resolve_planner({"method": "gradient", "energy_tokens": "pooled"}, CFG)
    assert isinstance(gd, GradientConfig) and gd.energy_tokens == "pooled"
    assert resolve_planner({"preset": "jepa_wms_droid"}, CFG).num_samples == 300
    assert ServeConfig(method="gradient").method == "gradient"


@pytest.mark.parametrize("spec, field", [
    ({"num_samples": 5000}, "planner.num_samples"),
    ({"iterations": 51}, "planner.iterations"),
    ({"horizon": 9}, "planner.horizon"),
    ({"chunk_size": 8}, "planner.chunk_size"),
    ({"method": "gd"}, "planner.method"),
    ({"preset": "fast"}, "planner.preset"),
    ({"method": "mppi", "preset": "paper"}, "planner.preset"),
    ({"method": ["cem"]}, "planner.method"),  # unhashable: once a TypeError, a 500
    ({"preset": {"paper": 1}}, "planner.preset"),
    ({"num_samplez": 10}, "planner"),
    ({"num_samples": "many"}, "planner"),
    ({"num_elites": 1}, "planner"),
    ([1, 2], "planner"),
    # numbers: non-finite, or outside the bounds that keep the search finite in float32
    ({"min_std": float("nan")}, "planner.min_std"),
    ({"gripper_round": float("nan")}, "planner.gripper_round"),
    ({"xyz_radius": float("inf")}, "planner.xyz_radius"),
    ({"xyz_radius": 1e30}, "planner.xyz_radius"),
    ({"init_std_xyz": 1e300}, "planner.init_std_xyz"),
    ({"rot_limit": 4.0}, "planner.rot_limit"),
    ({"num_samples": float("nan")}, "planner.num_samples"),
    ({"horizon": float("-inf")}, "planner.horizon"),
    ({"search": ["xyz", float("nan")]}, "planner.search"),
    ({"method": "mppi", "temperature": float("inf")}, "planner.temperature"),
    ({"method": "mppi", "temperature": 1e-30}, "planner.temperature"),
])
def test_bad_planner_settings_are_422_with_the_field(spec, field):
    e = _err(resolve_planner, spec, CFG)
    assert (e.status, e.field) == (422, field)


def test_plan_request_parses_and_bad_fields_are_named():
    req = parse_plan_request(plan_body(seed=3, timeout_s=5, init_mean=[[0.0] * 7]), CFG)
    assert req.image.shape == (8, 8, 3) and req.state.dtype == np.float32 and len(req.goal_images) == 1
    assert (req.seed, req.timeout_s, req.init_mean.shape) == (3, 5.0, (1, 7))
    nan_state = list(START)
    nan_state[2] = float("nan")
    cases = [
        ({**plan_body(), "state": nan_state}, "state"),
        ({**plan_body(), "state": [0.0] * 6}, "state"),
        ({**plan_body(), "state": [True] * 7}, "state"),
        (plan_body(goal_id="abc"), "goal_id"),  # both goal_id and goal_images
        ({k: v for k, v in plan_body().items() if k != "goal_images"}, "goal_id"),  # neither
        (plan_body(init_mean=[[0.0] * 7] * 2), "init_mean"),
        (plan_body(init_mean=[[float("inf")] + [0.0] * 6]), "init_mean"),
        ({**plan_body(), "state": [1e300] + [0.0] * 6}, "state"),  # finite in float64, inf in float32
        ({**plan_body(), "state": [0.0] * 6 + [-1e4]}, "state"),  # past MAX_ABS_VECTOR
        (plan_body(init_mean=[[0.0] * 6 + [1e300]]), "init_mean"),
        (plan_body(timeout_s=float("nan")), "timeout_s"),
        (plan_body(seed=1e300), "seed"),
        (plan_body(timeout_s=1e9), "timeout_s"),
        (plan_body(seed=-1), "seed"),
        (plan_body(colour="red"), "colour"),
        ({"state": list(START)}, "image"),
        (plan_body(goal_images=[wire_image(IMG)] * 2), "planner.horizon"),  # 2 goals need horizon >= 2
    ]
    for body, field in cases:
        e = _err(parse_plan_request, json.loads(json.dumps(body)), CFG)
        assert (e.status, e.field) == (422, field), (body.keys(), e.message)
    e = _err(parse_plan_request, plan_body(goal_images=[wire_image(IMG)] * 9), CFG)
    assert (e.status, e.field) == (413, "goal_images")


def test_goal_request():
    assert len(parse_goal_request({"images": [wire_image(IMG)] * 2}, CFG).images) == 2
    assert _err(parse_goal_request, {"images": []}, CFG).field == "images"
    assert _err(parse_goal_request, {"image": wire_image(IMG)}, CFG).field == "image"


def test_serve_config_binds_loopback_by_default_and_names_bad_fields():
    assert ServeConfig().host == "127.0.0.1" and is_loopback(ServeConfig().host)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")
    for kwargs, name in [({"queue_size": 0}, "queue_size"), ({"timeout_s": 0}, "timeout_s"),
                         ({"min_image_side": 64, "max_image_side": 32}, "min_image_side"),
                         ({"preset": "fast"}, "preset"), ({"planner": {"num_samples": 10**6}}, "planner"),
                         ({"planner": {"min_std": float("nan")}}, "planner.min_std"),
                         ({"fps": float("inf")}, "fps"), ({"body_timeout_s": float("nan")}, "body_timeout_s")]:
        with pytest.raises(ConfigError, match=name):
            ServeConfig(**kwargs)


def test_a_bad_entry_is_named_by_its_index():
    e = _err(parse_plan_request, plan_body(init_mean=[[0.0] * 7, [0.0] * 3 + [1e300] + [0.0] * 3]),
             ServeConfig(planner={"horizon": 2}))
    assert e.field == "init_mean" and "init_mean[1][3] = 1e+300" in e.message


WEIRD_NUMBERS = [float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 1e39, 10**400, -(10**400), 2**64,
                 True, "1", None, [], {}, [1.0], -1, 0, 0.0, 1e-320]


def _numeric_paths(body: dict) -> list[tuple]:
    """Every number the /plan body can hold: state and init_mean entries, seed, timeout_s, each
    planner field of CEM and MPPI, the image's shape."""
    paths = [("state", i) for i in range(7)] + [("init_mean", 0, i) for i in range(7)]
    paths += [("seed",), ("timeout_s",), ("image", "shape", 0), ("image", "shape", 2)]
    for method, cls in (("cem", CEMConfig), ("mppi", MPPIConfig)):
        paths += [("planner", method, f.name) for f in dataclasses.fields(cls)
                  if f.name not in ("chunk_size", "search")]
    return paths


@pytest.mark.parametrize("value", WEIRD_NUMBERS, ids=repr)
def test_every_number_of_a_plan_request_is_validated(value):
    """Fuzz: any value in any numeric field is accepted or refused with a 4xx naming a field,
    never another exception (which the server would answer with 500)."""
    for path in _numeric_paths(plan_body()):
        body = plan_body(init_mean=[[0.0] * 7])
        if path[0] == "planner":
            body["planner"] = {"method": path[1], path[2]: value}
        else:
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        try:
            parse_plan_request(body, CFG)
        except ServeError as e:
            assert 400 <= e.status < 500 and e.field, (path, value, e.message)
            if path[0] == "planner" and isinstance(value, float) and not math.isfinite(value):
                assert e.field == f"planner.{path[2]}", (path, e.field)


def test_messages_quoting_huge_values_are_cut():
    e = _err(parse_plan_request, plan_body(seed=10**400), CFG)
    assert e.field == "seed" and "an integer of 401 digits" in e.message
    e = _err(resolve_planner, {"method": "x" * 100_000}, CFG)
    assert e.field == "planner.method" and len(e.message) < 1000 and e.message.endswith("(cut)")
