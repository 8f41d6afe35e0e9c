"""Helpers of the planning-server tests: toy images, wire bodies, misbehaving world models."""

from __future__ import annotations

import base64
import threading
import time

import numpy as np
import torch

from vjepa_ac.client import encode_image
from vjepa_ac.plan.toy import ToyWorldModel
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.model import ServedModel
from vjepa_ac.serve.service import PlanningService

START = np.array([0.4, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
TARGET = START + np.array([0.05, -0.03, 0.02, 0.0, 0.0, 0.0, 0.0])
# a small search, fast enough for many requests per test
FAST = {"num_samples": 64, "iterations": 3, "num_elites": 8}


def toy_image(state: np.ndarray) -> np.ndarray:
    """The toy camera: the state written into an 8x8 uint8 image."""
    return ToyWorldModel().render(torch.as_tensor(state)).numpy()


def wire_image(image: np.ndarray, encoding: str = "raw") -> dict:
    """A JSON wire image (bytes as base64)."""
    d = encode_image(image, encoding)
    return {**d, "data": base64.b64encode(d["data"]).decode()}


def plan_body(state=START, target=TARGET, **extra) -> dict:
    """A JSON ``POST /plan`` body for the toy model with an inline goal."""
    body = {"image": wire_image(toy_image(state)), "state": list(map(float, state)),
            "goal_images": [wire_image(toy_image(target))], "planner": dict(FAST)}
    body.update(extra)
    return body


class SlowModel:
    """A world model whose rollout sleeps ``delay`` s first (timeouts, queueing)."""

    def __init__(self, model, delay: float):
        self.model, self.delay = model, delay
        self.started = threading.Event()

    def encode(self, images):
        return self.model.encode(images)

    def rollout(self, context, actions):
        self.started.set()
        time.sleep(self.delay)
        return self.model.rollout(context, actions)


class FailingModel:
    """Raises in rollout when the context state's x is above 1.5 (a planning error on demand)."""

    def __init__(self, model):
        self.model = model

    def encode(self, images):
        return self.model.encode(images)

    def rollout(self, context, actions):
        if float(context.states[-1, 0]) > 1.5:
            raise RuntimeError("boom")
        return self.model.rollout(context, actions)


def make_service(world_model=None, **cfg) -> PlanningService:
    model = ServedModel(world_model or ToyWorldModel(), "toy-test", image_size=None, fps=4.0)
    return PlanningService(model, ServeConfig(port=0, **cfg)).start()


def raw_request(sock, method: str, path: str, headers: dict | None = None,
                pause_s: float = 0.0) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on an open socket (``pause_s`` between its request line and its
    headers) and read its reply (status, body); the socket's own timeout bounds every read."""
    lines = ["host: test", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    sock.sendall(f"{method} {path} HTTP/1.1\r\n".encode())
    time.sleep(pause_s)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return status, body


def closed_by_peer(sock, within_s: float) -> bool:
    """True once the peer closes ``sock`` (recv returns b'' or the connection resets) within
    ``within_s`` seconds; any bytes it sends first are read and dropped."""
    end = time.monotonic() + within_s
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False
