"""Running the planning server: ``serve(checkpoint, cfg)`` (what ``vjepa-ac serve`` calls) and
``BackgroundServer`` (uvicorn in a thread on a free loopback port: tests, benchmarks, examples)."""

from __future__ import annotations

import logging
import threading
import time

import torch
import uvicorn
from fastapi import FastAPI

from vjepa_ac.serve.app import create_app
from vjepa_ac.serve.config import ServeConfig, is_loopback
from vjepa_ac.serve.model import ServedModel, load_service_model
from vjepa_ac.serve.service import PlanningService

log = logging.getLogger(__name__)


def uvicorn_config(app: FastAPI, cfg: ServeConfig, log_level: str = "info") -> uvicorn.Config:
    """uvicorn settings from ``cfg``: bind address, connection cap (503 beyond), keep-alive."""
    return uvicorn.Config(app, host=cfg.host, port=cfg.port, limit_concurrency=cfg.max_connections,
                          timeout_keep_alive=round(cfg.keep_alive_s), log_level=log_level,
                          access_log=log_level == "debug", lifespan="on")


def build_app(model: ServedModel, cfg: ServeConfig) -> FastAPI:
    return create_app(PlanningService(model, cfg))


def serve(checkpoint: str, cfg: ServeConfig) -> None:
    """Load ``checkpoint`` (see ``serve.model.load_service_model``) and serve it until interrupted."""
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    if not is_loopback(cfg.host):
        log.warning("serving on %s: the planning server has no authentication; expose it only on a "
                    "trusted network", cfg.host)
    model = load_service_model(checkpoint, cfg.device, crop=cfg.crop, max_batch=cfg.max_batch,
                               encoder_kwargs=cfg.encoder_kwargs, predictor_kwargs=cfg.predictor_kwargs)
    log.info("serving %s on http://%s:%d", model.model_id, cfg.host, cfg.port)
    uvicorn.Server(uvicorn_config(build_app(model, cfg), cfg)).run()


class BackgroundServer:
    """uvicorn in a daemon thread; ``with BackgroundServer(app, cfg) as url:`` (port 0 = a free one)."""

    def __init__(self, app: FastAPI, cfg: ServeConfig | None = None, log_level: str = "warning",
                 start_timeout_s: float = 30.0):
        cfg = cfg or ServeConfig(port=0)
        self.server = uvicorn.Server(uvicorn_config(app, cfg, log_level))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.start_timeout_s = start_timeout_s
        self.url: str | None = None

    def start(self) -> str:
        self.thread.start()
        end = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
