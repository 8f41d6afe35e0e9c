"""Client of the planning server (``vjepa-ac serve``), for a robot's control loop.

    from vjepa_ac.client import PlanningClient

    with PlanningClient("http://127.0.0.1:8765") as client:
        goal = client.register_goal(goal_image)               # uint8 [H, W, 3] (or a list)
        reply = client.plan(image, state, goal_id=goal, num_samples=400)
        robot.apply(reply.action)                             # [7]: dxyz, drot (euler xyz), dgripper

Needs only numpy, httpx, msgpack and Pillow (no torch), so it runs on the robot's computer.
Wire format: msgpack with raw image bytes by default (``wire="json"`` sends base64 in JSON);
images go raw (lossless) unless ``image_encoding`` is "png" or "jpeg". ``docs/serve.md`` has the
protocol. A server with a token needs ``PlanningClient(url, token=read_token(path))``. A 503
(queue full) is retried ``busy_retries`` times after the server's Retry-After; any other refusal
raises ``ServerError`` with the server's message and field.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgpack
import numpy as np

DEFAULT_URL = "http://127.0.0.1:8765"
_JSON = "application/json"
_MSGPACK = "application/msgpack"


class ServerError(Exception):
    """The server refused a request: HTTP ``status``, its message, and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(f"{status}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.message, self.field = status, message, field


class BusyError(ServerError):
    """503: the server's queue stayed full through every retry."""


@dataclass
class PlanReply:
    """action: [7] to execute now; actions: [H, 7] the whole plan; warm_start: [H, 7] (pass as the
    next plan's ``init_mean``); times in seconds (``round_trip_s`` measured here)."""

    action: np.ndarray
    energy: float
    actions: np.ndarray
    warm_start: np.ndarray
    plan_time_s: float
    queue_time_s: float
    round_trip_s: float
    model_id: str
    config_id: str
    planner: dict[str, Any] = field(repr=False)


def encode_image(image: np.ndarray, encoding: str = "raw", quality: int = 95) -> dict[str, Any]:
    """uint8 ``[H, W, 3]`` RGB -> a wire image (``data`` as bytes)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a uint8 RGB image [H, W, 3], got {image.dtype} {image.shape}")
    if encoding == "raw":
        return {"encoding": "raw", "data": np.ascontiguousarray(image).tobytes(), "shape": list(image.shape),
                "dtype": "uint8"}
    from PIL import Image

    formats = {"png": "PNG", "jpeg": "JPEG"}
    if encoding not in formats:
        raise ValueError(f"image_encoding must be 'raw', 'png' or 'jpeg', got {encoding!r}")
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format=formats[encoding], **({"quality": quality}
                                                                             if encoding == "jpeg" else {}))
    return {"encoding": encoding, "data": buf.getvalue()}


def read_token(path: str) -> str:
    """A bearer token from a file (its content, surrounding whitespace stripped), as the server
    reads ``ServeConfig.token_file``."""
    with open(os.path.expanduser(path), encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"{path}: the token file is empty")
    return token


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _as_list(array: Any) -> list:
    return np.asarray(array, dtype=np.float64).tolist()


class PlanningClient:
    """Synchronous client of one planning server (keeps one HTTP connection alive).

    url: the server; timeout: s for any one HTTP exchange; wire: "msgpack" | "json";
    image_encoding: "raw" | "png" | "jpeg"; busy_retries: retries of a 503 before ``BusyError``;
    token: the server's bearer token (``ServeConfig.token_file`` / ``token_env``), sent with every
    request as ``Authorization: Bearer <token>`` (None: none sent; a server that needs one
    answers 401, raised as ``ServerError``). ``read_token(path)`` reads one from a file.
    """

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 120.0, wire: str = "msgpack",
                 image_encoding: str = "raw", busy_retries: int = 3, busy_backoff_s: float = 0.5,
                 token: str | None = None):
        if wire not in ("msgpack", "json"):
            raise ValueError(f"wire must be 'msgpack' or 'json', got {wire!r}")
        if token is not None and (not token or token != token.strip()):
            raise ValueError("token must be a non-empty string without surrounding whitespace")
        self.url = url.rstrip("/")
        self.wire, self.image_encoding = wire, image_encoding
        self.busy_retries, self.busy_backoff_s = busy_retries, busy_backoff_s
        headers = {"authorization": f"Bearer {token}"} if token is not None else None
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlanningClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _encode(self, body: dict[str, Any]) -> tuple[bytes, str]:
        if self.wire == "msgpack":
            return msgpack.packb(body, use_bin_type=True), _MSGPACK
        return json.dumps(_json_safe(body)).encode(), _JSON

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.headers.get("content-type", "").startswith(_MSGPACK):
            return msgpack.unpackb(response.content, raw=False)
        return response.json()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, retry: bool = True) -> Any:
        content, ctype = self._encode(body) if body is not None else (None, None)
        headers = {"accept": _MSGPACK if self.wire == "msgpack" else _JSON}
        if ctype:
            headers["content-type"] = ctype
        retries = self.busy_retries if retry else 0
        for attempt in range(retries + 1):
            response = self._http.request(method, path, content=content, headers=headers)
            if response.status_code != 503 or attempt == retries:
                break
            wait = float(response.headers.get("retry-after", self.busy_backoff_s))
            time.sleep(wait * (0.5 + attempt * 0.5))
        if response.is_success:
            return self._decode(response)
        try:
            err = response.json()
            message, fld = err.get("error", response.text), err.get("field")
        except ValueError:  # e.g. uvicorn's plain-text 503 past its connection cap
            message, fld = response.text or response.reason_phrase, None
        cls = BusyError if response.status_code == 503 else ServerError
        raise cls(response.status_code, message, fld)

    # ------------------------------------------------------------------ API
    def health(self) -> dict[str, Any]:
        """Worker state, queue length, counters; raises ``BusyError`` (503) if the worker stopped."""
        return self._request("GET", "/health", retry=False)

    def metadata(self) -> dict[str, Any]:
        """Model id, image size, action layout, fps, planner defaults and bounds, limits."""
        return self._request("GET", "/metadata")

    def register_goal(self, images: np.ndarray | Sequence[np.ndarray]) -> str:
        """Register goal image(s) uint8 ``[H, W, 3]`` (several: intermediate goals, the last at the
        horizon); returns the id to plan toward. The server caches their encodings."""
        images = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
        wire = [encode_image(i, self.image_encoding) for i in images]
        reply = self._request("POST", "/goals", {"images": wire})
        return reply["goal_id"]

    def delete_goal(self, goal_id: str) -> None:
        self._request("DELETE", f"/goals/{goal_id}")

    def plan(self, image: np.ndarray, state: Sequence[float], goal_id: str | None = None,
             goal_images: np.ndarray | Sequence[np.ndarray] | None = None, *,
             init_mean: np.ndarray | None = None, seed: int | None = None, timeout_s: float | None = None,
             **planner: Any) -> PlanReply:
        """Plan from ``image`` (uint8 ``[H, W, 3]``) and ``state`` ([7]) toward a registered
        ``goal_id`` or inline ``goal_images``. ``planner``: method="cem"|"mppi"|"nevergrad"|"gradient", preset=...,
        and CEMConfig / MPPIConfig fields (num_samples, iterations, horizon, ...)."""
        body: dict[str, Any] = {"image": encode_image(image, self.image_encoding), "state": _as_list(state)}
        if goal_id is not None:
            body["goal_id"] = goal_id
        if goal_images is not None:
            one = isinstance(goal_images, np.ndarray) and goal_images.ndim == 3
            goals = [goal_images] if one else goal_images
            body["goal_images"] = [encode_image(g, self.image_encoding) for g in goals]
        if planner:
            body["planner"] = planner
        if init_mean is not None:
            body["init_mean"] = _as_list(init_mean)
        if seed is not None:
            body["seed"] = seed
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        t0 = time.perf_counter()
        r = self._request("POST", "/plan", body)
        return PlanReply(action=np.asarray(r["action"]), energy=float(r["energy"]),
                         actions=np.asarray(r["actions"]), warm_start=np.asarray(r["warm_start"]),
                         plan_time_s=r["plan_time_s"], queue_time_s=r["queue_time_s"],
                         round_trip_s=time.perf_counter() - t0, model_id=r["model_id"],
                         config_id=r["config_id"], planner=r["planner"])
