"""``ServeConfig``: where the planning server listens, what it accepts, and its planner bounds.

Load with ``load_config(ServeConfig, "configs/serve.yaml", ["port=9000", "max_samples=1024"])``.
Every limit here is enforced before any work is queued: a request over a limit gets a 4xx
reply naming the field (``docs/serve.md`` lists them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from vjepa_ac.config import ConfigError
from vjepa_ac.data.transforms import CROPS
from vjepa_ac.plan.config import CEM_PRESETS, PlannerSpec, limits_exceeded

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    """``vjepa-ac serve``: one model in memory, a bounded queue, per-request planner settings."""

    # -- network
    host: str = LOOPBACK  # bind address; anything but loopback needs a token (or allow_unauthenticated)
    port: int = 8765  # TCP port (0: any free port)
    max_connections: int = 64  # open connections before uvicorn answers 503
    keep_alive_s: float = 5.0  # s an idle keep-alive connection is held
    header_timeout_s: float = 5.0  # s from a request's first byte to the end of its headers (else closed)
    max_connections_per_client: int | None = 16  # open connections of one client address (None: no cap)
    # -- authentication (serve/auth.py): the token itself is never in the config
    token_file: str | None = None  # file holding the bearer token every request must carry
    token_env: str | None = None  # or: name of the environment variable holding it
    health_needs_token: bool = False  # GET /health needs the token too (False: open, for monitors)
    allow_unauthenticated: bool = False  # serve a non-loopback host without a token (logged as a warning)
    # -- model
    device: str = "auto"  # "auto": cuda if available, else cpu
    crop: str | None = None  # planning crop of incoming frames; None: the training run's (else square)
    max_batch: int | None = None  # candidate sequences per predictor call (None: CPU ~1024 tokens a call, GPU all)
    fps: float | None = None  # control rate reported by /metadata (None: the model's, if known)
    torch_threads: int | None = None  # torch.set_num_threads at start (None: leave torch's default)
    encoder_kwargs: dict[str, Any] | None = None  # architecture of a released-format file (None: ViT-g 256)
    predictor_kwargs: dict[str, Any] | None = None  # likewise for its predictor (None: the released AC)
    # (training runs and checkpoints carry their own architecture: vjepa_ac.load.load_world_model)
    # calibration.json of `vjepa-ac calibrate`: replies' action / actions are turned into the robot's
    # frame (plan/calibration.py; warm_start stays in the model's frame); None: as planned
    calibration: str | None = None
    # -- request limits
    max_body_bytes: int = 16 * 2**20  # bytes of one request body (checked before parsing)
    body_timeout_s: float = 10.0  # s to receive a whole request body
    max_image_side: int = 2048  # px, largest accepted height or width
    min_image_side: int = 8  # px, smallest accepted height or width
    max_goal_images: int = 8  # goal images in one request (intermediate goals, last one at the horizon)
    max_goals: int = 64  # registered goals kept (least recently used are dropped)
    queue_size: int = 16  # requests waiting for the worker; a full queue answers 503
    timeout_s: float = 60.0  # s from arrival to reply, default and upper bound of a request's timeout_s
    # -- planner: defaults and the bounds per-request settings must respect
    method: Literal["cem", "mppi", "nevergrad", "gradient"] = "cem"  # default planner
    preset: str = "paper"  # default CEM preset (plan.config.CEM_PRESETS); ignored by the other methods
    planner: dict[str, Any] = field(default_factory=dict)  # default planner field overrides
    seed: int = 0  # default seed of the planner's generator
    max_samples: int = 4096  # upper bound of num_samples
    max_iterations: int = 50  # upper bound of iterations
    max_horizon: int = 8  # upper bound of horizon

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"ServeConfig.port must be in [0, 65535], got {self.port}")
        positive = ("max_connections", "max_body_bytes", "max_image_side", "min_image_side",
                    "max_goal_images", "max_goals", "queue_size", "max_samples", "max_iterations",
                    "max_horizon")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"ServeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_connections_per_client is not None and self.max_connections_per_client < 1:
            raise ConfigError(f"ServeConfig.max_connections_per_client must be >= 1 or null, got "
                              f"{self.max_connections_per_client}")
        for name in ("keep_alive_s", "header_timeout_s", "body_timeout_s", "timeout_s"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ConfigError(f"ServeConfig.{name} must be > 0 s and finite, got {getattr(self, name)}")
        if self.token_file is not None and self.token_env is not None:
            raise ConfigError("ServeConfig.token_file and ServeConfig.token_env are both set; give one")
        if self.health_needs_token and self.token_file is None and self.token_env is None:
            raise ConfigError("ServeConfig.health_needs_token needs a token: set token_file or token_env")
        if (not is_loopback(self.host) and self.token_file is None and self.token_env is None
                and not self.allow_unauthenticated):
            raise ConfigError(f"ServeConfig.host={self.host!r} is not a loopback address: set token_file or "
                              "token_env so that clients must send a bearer token (docs/serve.md), or "
                              "allow_unauthenticated=true to serve without one")
        if self.min_image_side > self.max_image_side:
            raise ConfigError(f"ServeConfig.min_image_side={self.min_image_side} exceeds "
                              f"ServeConfig.max_image_side={self.max_image_side}")
        if self.max_batch is not None and self.max_batch < 1:
            raise ConfigError(f"ServeConfig.max_batch must be >= 1 or null, got {self.max_batch}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"ServeConfig.torch_threads must be >= 1 or null, got {self.torch_threads}")
        if self.fps is not None and not 0 < self.fps < float("inf"):  # /metadata reports it: finite
            raise ConfigError(f"ServeConfig.fps must be > 0 and finite, or null, got {self.fps}")
        if self.crop is not None and self.crop not in CROPS:
            raise ConfigError(f"ServeConfig.crop must be one of {list(CROPS)} or null, got {self.crop!r}")
        if self.preset not in CEM_PRESETS:
            raise ConfigError(f"ServeConfig.preset must be one of {sorted(CEM_PRESETS)}, got {self.preset!r}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"ServeConfig.seed must be in [0, 2**63), got {self.seed}")
        # the default planner must itself be a valid request (checked with the bounds above)
        if "chunk_size" in self.planner:
            raise ConfigError("ServeConfig.planner.chunk_size is set by the server (ServeConfig.max_batch)")
        try:
            planner = PlannerSpec(self.planner_kind(self.method, self.preset), overrides=self.planner).resolve(
                where="ServeConfig.planner", chunk_size=self.max_batch)
        except ConfigError as e:
            raise ConfigError(f"ServeConfig.planner / method / preset: {e}") from e
        for name, value, bound in limits_exceeded(planner, self.planner_limits()):
            raise ConfigError(f"ServeConfig.planner.{name}={value} exceeds the server's bound {bound} "
                              f"(ServeConfig.max_{name})")

    @staticmethod
    def planner_kind(method: str, preset: str) -> str:
        """The ``PlannerSpec.kind`` of a ``method`` + CEM ``preset`` pair (only ``cem`` has presets)."""
        return preset if method == "cem" else method

    def planner_limits(self) -> dict[str, int]:
        """Upper bounds of a request's planner settings, by field."""
        return {"num_samples": self.max_samples, "iterations": self.max_iterations, "horizon": self.max_horizon}
