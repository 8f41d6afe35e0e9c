"""The wire protocol of the planning server: body formats, images, requests and replies.

Bodies are JSON (``application/json``; image bytes as base64 strings) or msgpack
(``application/msgpack``; image bytes as msgpack binary). Both decode to the same mapping,
which is validated here into ``PlanRequest`` / ``GoalRequest``. Nothing is ever unpickled:
raw arrays travel as bytes + shape (dtype uint8 only). Every rejection is a ``ServeError``
with an HTTP status and the offending field (``docs/serve.md`` has the full schema).

An image on the wire::

    {"encoding": "png" | "jpeg", "data": <bytes>}                      # 8-bit RGB
    {"encoding": "raw", "data": <H*W*3 bytes>, "shape": [H, W, 3], "dtype": "uint8"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
from PIL import Image, UnidentifiedImageError

from vjepa_ac.config import ConfigError, deep_merge, to_dict
from vjepa_ac.plan.actions import ACTION_DIM
from vjepa_ac.plan.config import CEM_PRESETS, PLANNER_TYPES, PlannerSpec, SearchConfig, limits_exceeded

if TYPE_CHECKING:
    from vjepa_ac.serve.config import ServeConfig

PlannerConfig = SearchConfig  # CEMConfig, MPPIConfig, NeverGradConfig or GradientConfig
FLOAT32_MAX = float(np.finfo(np.float32).max)

JSON = "application/json"
MSGPACK = "application/msgpack"
_MSGPACK_ALIASES = (MSGPACK, "application/x-msgpack", "application/vnd.msgpack")

IMAGE_ENCODINGS = ("png", "jpeg", "raw")
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG"}
PLANNER_METHODS: dict[str, type] = dict(PLANNER_TYPES)  # cem, mppi, nevergrad, gradient
# planner fields a request may not set: the server sizes its own chunks (ServeConfig.max_batch)
SERVER_PLANNER_FIELDS = ("chunk_size",)

# Bounds of the real-valued planner settings a request (or ServeConfig.planner) may set, in the
# units of plan/config.py, [low, high] inclusive (the configs' own checks, e.g. > 0, apply too).
# They are far outside any useful setting (the paper's xyz_radius is 0.075 m) and keep every
# number the search computes finite in float32: a 1e30 m radius would reach the world model as
# a 1e30 m action and come back as NaN energies.
PLANNER_FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "xyz_radius": (0.0, 1.0),  # m per step
    "rot_limit": (0.0, math.pi),  # rad per step
    "gripper_limit": (0.0, 2.0),  # closure change per step (closure is 0..1)
    "init_std_xyz": (0.0, 1.0),  # m
    "init_std_rot": (0.0, math.pi),  # rad
    "init_std_gripper": (0.0, 2.0),
    "min_std": (0.0, 1.0),  # same units as the std it floors
    "momentum_mean": (0.0, 1.0),
    "momentum_std": (0.0, 1.0),
    "gripper_round": (0.0, 2.0),
    "temperature": (1e-6, 1e6),  # MPPI, in units of the energy scale
}
# |entry| bound of state and init_mean: far outside any arm's workspace (m, rad, closure), and
# small enough that the world model's float32 arithmetic on them stays finite
MAX_ABS_VECTOR = 1e3

PLAN_KEYS = ("image", "state", "goal_id", "goal_images", "planner", "init_mean", "seed", "timeout_s")
GOAL_KEYS = ("images",)


class ServeError(Exception):
    """What a caller gets instead of a reply: HTTP ``status`` (4xx: the request; 500: its plan
    failed; 503: busy; 504: out of time), a message, and the request field at fault (or None)."""

    MAX_MESSAGE = 600  # characters: a message quoting a huge request value is cut

    def __init__(self, status: int, message: str, field: str | None = None):
        if len(message) > self.MAX_MESSAGE:
            message = message[:self.MAX_MESSAGE] + "... (cut)"
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_wire(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field, "status": self.status}


# ---------------------------------------------------------------------------------------------
# bodies


def is_msgpack(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in _MSGPACK_ALIASES


def decode_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Request bytes -> mapping, by ``content_type`` (JSON when absent). Never unpickles."""
    kind = (content_type or JSON).split(";")[0].strip().lower()
    if kind in _MSGPACK_ALIASES:
        try:
            data = msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise ServeError(400, f"malformed msgpack body: {type(e).__name__}: {e}") from e
    elif kind == JSON or kind.endswith("+json"):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ServeError(400, f"malformed JSON body: {type(e).__name__}: {e}") from e
    else:
        raise ServeError(415, f"unsupported content type {content_type!r}; use {JSON} or {MSGPACK}")
    if not isinstance(data, dict):
        raise ServeError(422, f"the body must be a mapping, got {type(data).__name__}")
    return data


def encode_body(obj: Any, msgpack_format: bool) -> bytes:
    """Reply mapping -> bytes (msgpack or strict JSON: a NaN here is a server bug, not sent)."""
    if msgpack_format:
        return msgpack.packb(obj, use_bin_type=True)
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# images


def _image_bytes(data: Any, field: str) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ServeError(400, f"{field} is not valid base64: {e}", field) from e
    raise ServeError(422, f"{field} must be bytes (msgpack) or a base64 string (JSON), "
                            f"got {type(data).__name__}", field)


def _check_sides(h: int, w: int, cfg: ServeConfig, field: str) -> None:
    if h > cfg.max_image_side or w > cfg.max_image_side:
        raise ServeError(413, f"{field}: image of {h}x{w} px exceeds max_image_side={cfg.max_image_side}",
                         field)
    if h < cfg.min_image_side or w < cfg.min_image_side:
        raise ServeError(422, f"{field}: image of {h}x{w} px is below min_image_side={cfg.min_image_side}",
                         field)


def decode_image(obj: Any, cfg: ServeConfig, field: str = "image") -> np.ndarray:
    """A wire image -> uint8 ``[H, W, 3]`` (RGB), checked against the size limits of ``cfg``."""
    if not isinstance(obj, Mapping):
        raise ServeError(422, f"{field} must be a mapping with 'encoding' and 'data'", field)
    unknown = sorted(set(obj) - {"encoding", "data", "shape", "dtype"})
    if unknown:
        raise ServeError(422, f"{field} has unknown key(s) {unknown}", field)
    encoding = obj.get("encoding")
    if encoding not in IMAGE_ENCODINGS:
        raise ServeError(422, f"{field}.encoding must be one of {list(IMAGE_ENCODINGS)}, got {encoding!r}",
                           f"{field}.encoding")
    if "data" not in obj:
        raise ServeError(422, f"{field}.data is missing", f"{field}.data")
    data = _image_bytes(obj["data"], f"{field}.data")
    if encoding == "raw":
        return _decode_raw(data, obj.get("shape"), obj.get("dtype", "uint8"), cfg, field)
    if "shape" in obj or "dtype" in obj:
        raise ServeError(422, f"{field}: 'shape' and 'dtype' belong to raw images only", field)
    return _decode_encoded(data, encoding, cfg, field)


def _decode_raw(data: bytes, shape: Any, dtype: Any, cfg: ServeConfig, field: str) -> np.ndarray:
    if dtype != "uint8":
        raise ServeError(422, f"{field}.dtype must be 'uint8', got {dtype!r}", f"{field}.dtype")
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)):
        raise ServeError(422, f"{field}.shape must be [H, W, 3] integers, got {shape!r}", f"{field}.shape")
    h, w, c = shape
    if c != 3:
        raise ServeError(422, f"{field}.shape must be [H, W, 3] (RGB, channels last), got {shape}",
                           f"{field}.shape")
    _check_sides(h, w, cfg, field)
    if len(data) != h * w * c:
        raise ServeError(422, f"{field}.data holds {len(data)} bytes, shape {shape} needs {h * w * c}",
                           f"{field}.data")
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, c).copy()  # [H, W, 3], writable


def _decode_encoded(data: bytes, encoding: str, cfg: ServeConfig, field: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[encoding]]) as img:
            w, h = img.size  # read from the header: checked before any pixel is decoded
            _check_sides(h, w, cfg, field)
            if img.mode != "RGB":
                raise ServeError(422, f"{field}: image mode {img.mode!r} is not supported; send 8-bit RGB",
                                   field)
            arr = np.array(img.convert("RGB"))  # [H, W, 3] uint8, writable
    except ServeError:
        raise
    except Image.DecompressionBombError as e:
        raise ServeError(413, f"{field}: {e}", field) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ServeError(400, f"{field}: not a readable {encoding.upper()} image: {e}", field) from e
    return arr


# ---------------------------------------------------------------------------------------------
# numbers and planner settings


def _finite_array(value: Any, shape: tuple[int | None, ...], field: str,
                  max_abs: float = MAX_ABS_VECTOR) -> np.ndarray:
    """A nested list of numbers -> float64 array of ``shape`` (None: any length >= 1), every entry
    finite and within ``[-max_abs, max_abs]`` (so that it stays finite in float32 too)."""
    def bad(why: str) -> ServeError:
        dims = ", ".join("H" if s is None else str(s) for s in shape)
        return ServeError(422, f"{field} must be a [{dims}] list of finite numbers within "
                               f"+-{max_abs:g}; {why}", field)

    def check(v: Any, where: str, depth: int) -> None:
        if depth == len(shape):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(f"{where} is a {type(v).__name__}")
            if not abs(v) <= max_abs:  # NaN, infinity, or too large (an int of any size compares exactly)
                raise bad(f"{where} = {_show(v)}")
            return
        if not isinstance(v, list):
            raise bad(f"{where} is a {type(v).__name__}")
        if (shape[depth] is not None and len(v) != shape[depth]) or len(v) == 0:
            raise bad(f"{where} has length {len(v)}")
        for i, item in enumerate(v):
            check(item, f"{where}[{i}]", depth + 1)

    check(value, field, 0)
    return np.asarray(value, dtype=np.float64)


def _show(v: Any) -> str:
    """``repr(v)``, or a description of an integer too long to print (others are cut by ServeError)."""
    text = repr(v)
    if isinstance(v, int) and len(text) > 24:
        return f"an integer of {len(text.lstrip('-'))} digits"
    return text


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_planner_numbers(spec: Mapping[str, Any]) -> None:
    """Every number in request planner settings is finite in float32 (JSON's NaN / Infinity
    literals and msgpack floats reach here as Python floats, JSON's 1e400-digit integers as
    ints): 422 naming ``planner.<key>``."""
    for key, value in spec.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if _is_number(v) and not abs(v) <= FLOAT32_MAX:
                raise ServeError(422, f"planner.{key} must be a finite number within float32's range, got "
                                      f"{_show(v)}", f"planner.{key}")


def _check_planner_bounds(planner: PlannerConfig) -> None:
    """Every real-valued setting of the resolved planner within ``PLANNER_FLOAT_BOUNDS`` (any
    float field not listed there: finite in float32)."""
    for f in fields(planner):
        value = getattr(planner, f.name)
        if isinstance(value, bool) or not isinstance(value, float):
            continue
        low, high = PLANNER_FLOAT_BOUNDS.get(f.name, (-FLOAT32_MAX, FLOAT32_MAX))
        if not low <= value <= high:
            raise ServeError(422, f"planner.{f.name}={value!r} is outside the server's bounds [{low:g}, "
                                  f"{high:g}]", f"planner.{f.name}")


def resolve_planner(spec: Any, cfg: ServeConfig) -> PlannerConfig:
    """Request planner settings on top of the server's defaults, validated and bounded.

    ``spec``: ``{"method": "cem" | "mppi" | "nevergrad" | "gradient", "preset": "paper" | "notebook" |
    "jepa_wms_droid", <CEMConfig /
    MPPIConfig fields>}``, all optional. A request that keeps the server's method (and preset)
    starts from the server's defaults (``ServeConfig.method``, ``.preset``, ``.planner``);
    one that names another starts from that method's (preset's) own defaults.
    """
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ServeError(422, f"planner must be a mapping, got {type(spec).__name__}", "planner")
    spec = dict(spec)
    method = spec.pop("method", cfg.method)
    if not isinstance(method, str) or method not in PLANNER_METHODS:
        raise ServeError(422, f"planner.method must be one of {sorted(PLANNER_METHODS)}, got {method!r}",
                           "planner.method")
    preset = spec.pop("preset", None)
    if method == "cem":
        preset = cfg.preset if preset is None else preset
        if not isinstance(preset, str) or preset not in CEM_PRESETS:
            raise ServeError(422, f"planner.preset must be one of {sorted(CEM_PRESETS)}, got {preset!r}",
                               "planner.preset")
    elif preset is not None:
        raise ServeError(422, "planner.preset applies to method 'cem' only", "planner.preset")
    server_default = method == cfg.method and (method != "cem" or preset == cfg.preset)
    for name in SERVER_PLANNER_FIELDS:
        if name in spec:
            raise ServeError(422, f"planner.{name} is set by the server (ServeConfig.max_batch)",
                               f"planner.{name}")
    overrides = deep_merge(cfg.planner if server_default else {}, spec)
    _check_planner_numbers(overrides)
    try:
        planner = PlannerSpec(cfg.planner_kind(method, preset), overrides=overrides).resolve(
            where="", chunk_size=cfg.max_batch)
    except ConfigError as e:
        raise ServeError(422, f"planner: {e}", "planner") from e
    _check_planner_bounds(planner)
    for name, value, bound in limits_exceeded(planner, cfg.planner_limits()):
        raise ServeError(422, f"planner.{name}={value} exceeds the server's bound {bound}", f"planner.{name}")
    return planner


def planner_wire(planner: PlannerConfig) -> dict[str, Any]:
    """The resolved settings as sent back, with ``method``."""
    method = next(m for m, cls in PLANNER_METHODS.items() if type(planner) is cls)
    return {"method": method, **to_dict(planner)}


def config_id(planner: PlannerConfig) -> str:
    """A short content hash of the resolved planner settings."""
    text = json.dumps(planner_wire(planner), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# requests


@dataclass
class PlanRequest:
    """One ``POST /plan``.

    image: uint8 [H, W, 3] current camera frame; state: [7] end-effector state
    goal_id: a registered goal, or goal_images: uint8 [H, W, 3] frames (exactly one of the two)
    planner: resolved settings; init_mean: [H, 7] warm start (the last reply's warm_start) or None
    """

    image: np.ndarray
    state: np.ndarray
    goal_id: str | None
    goal_images: list[np.ndarray] | None
    planner: PlannerConfig
    init_mean: np.ndarray | None
    seed: int
    timeout_s: float


@dataclass
class GoalRequest:
    """One ``POST /goals``: images uint8 [H, W, 3] (intermediate goals, the last one at the horizon)."""

    images: list[np.ndarray]


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ServeError(422, f"unknown key(s) {unknown}; valid keys: {list(allowed)}", unknown[0])


def _image_list(value: Any, cfg: ServeConfig, field: str) -> list[np.ndarray]:
    if not isinstance(value, list) or not value:
        raise ServeError(422, f"{field} must be a non-empty list of images", field)
    if len(value) > cfg.max_goal_images:
        raise ServeError(413, f"{field} holds {len(value)} images, max_goal_images={cfg.max_goal_images}",
                           field)
    return [decode_image(v, cfg, f"{field}[{i}]") for i, v in enumerate(value)]


def parse_plan_request(data: Mapping[str, Any], cfg: ServeConfig) -> PlanRequest:
    """Validate a decoded ``POST /plan`` body (cheap checks first, images last)."""
    _check_keys(data, PLAN_KEYS)
    for key in ("image", "state"):
        if key not in data:
            raise ServeError(422, f"{key} is required", key)
    state = _finite_array(data["state"], (ACTION_DIM,), "state").astype(np.float32)  # [7]
    goal_id, goal_images = data.get("goal_id"), data.get("goal_images")
    if (goal_id is None) == (goal_images is None):
        raise ServeError(422, "give exactly one of goal_id and goal_images", "goal_id")
    if goal_id is not None and not isinstance(goal_id, str):
        raise ServeError(422, f"goal_id must be a string, got {type(goal_id).__name__}", "goal_id")
    planner = resolve_planner(data.get("planner"), cfg)
    init_mean = None
    if data.get("init_mean") is not None:
        if isinstance(data["init_mean"], list) and len(data["init_mean"]) > cfg.max_horizon:
            raise ServeError(422, f"init_mean has {len(data['init_mean'])} steps, more than max_horizon="
                                  f"{cfg.max_horizon}", "init_mean")
        init_mean = _finite_array(data["init_mean"], (None, ACTION_DIM), "init_mean").astype(np.float32)
        if init_mean.shape[0] != planner.horizon:
            raise ServeError(422, f"init_mean has {init_mean.shape[0]} steps, planner.horizon is "
                                    f"{planner.horizon}", "init_mean")
    seed = data.get("seed", cfg.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ServeError(422, f"seed must be an integer in [0, 2**63), got {_show(seed)}", "seed")
    timeout_s = data.get("timeout_s", cfg.timeout_s)
    if not _is_number(timeout_s) or not 0 < timeout_s <= cfg.timeout_s:  # NaN fails the comparison too
        raise ServeError(422, f"timeout_s must be in (0, {cfg.timeout_s}], got {_show(timeout_s)}",
                         "timeout_s")
    image = decode_image(data["image"], cfg, "image")
    images = None if goal_images is None else _image_list(goal_images, cfg, "goal_images")
    if images is not None and len(images) > planner.horizon:
        raise ServeError(422, f"{len(images)} goal images need planner.horizon >= {len(images)}, got "
                                f"{planner.horizon}", "planner.horizon")
    return PlanRequest(image=image, state=state, goal_id=goal_id, goal_images=images, planner=planner,
                       init_mean=init_mean, seed=seed, timeout_s=float(timeout_s))


def parse_goal_request(data: Mapping[str, Any], cfg: ServeConfig) -> GoalRequest:
    """Validate a decoded ``POST /goals`` body."""
    _check_keys(data, GOAL_KEYS)
    if "images" not in data:
        raise ServeError(422, "images is required", "images")
    return GoalRequest(images=_image_list(data["images"], cfg, "images"))
