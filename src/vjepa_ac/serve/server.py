"""Running the planning server: ``serve(checkpoint, cfg)`` (what ``vjepa-ac serve`` calls) and
``BackgroundServer`` (uvicorn in a thread on a free loopback port: tests, benchmarks, examples).

Connections are uvicorn's h11 protocol with two guards uvicorn lacks (``guarded_protocol``): a
deadline on each request's headers, and a cap on the connections one client address holds.
uvicorn's own settings do the rest: ``limit_concurrency`` (503 past ``max_connections``),
``timeout_keep_alive`` (idle keep-alive connections) and ``h11_max_incomplete_event_size``
(the size of a request head).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter

import h11
import torch
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from vjepa_ac.plan.calibration import load_calibration
from vjepa_ac.serve.app import RETRY_AFTER_S, create_app
from vjepa_ac.serve.auth import load_token
from vjepa_ac.serve.config import ServeConfig, is_loopback
from vjepa_ac.serve.model import ServedModel, load_service_model
from vjepa_ac.serve.service import PlanningService

log = logging.getLogger(__name__)
# bytes of an unfinished request head before a 400 (h11_max_incomplete_event_size; uvicorn's default)
MAX_HEAD_BYTES = 16 * 1024


def _busy_reply(message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 503 (JSON error, ``Retry-After``), written
    before any request is read."""
    body = json.dumps({"error": message, "field": None, "status": 503}).encode()
    return (f"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"retry-after: {RETRY_AFTER_S}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
            ).encode() + body


def guarded_protocol(header_timeout_s: float, max_per_client: int | None) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus:

    - a header deadline: a request's line and headers must arrive within ``header_timeout_s`` of
      its first byte (or of the connection's opening), else the connection is closed. A client
      trickling one header line a second holds a slot that long, no longer (uvicorn itself
      waits for ever: only idle keep-alive connections time out).
    - a per-client cap: a client address opening more than ``max_per_client`` connections at once
      gets 503 and the extra connection closed, so one host cannot take every slot of
      ``max_connections`` (None: no cap).

    The connection counts are shared by the connections of the returned class: one class per server.
    """
    per_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            self._counted: str | None = None
            self._refused = False
            self._arm_header_timer()  # also ends a refused connection the client keeps open
            host = self.client[0] if self.client else None
            if max_per_client is None or host is None:
                return
            if per_client[host] >= max_per_client:
                log.warning("refused a connection from %s: it holds max_connections_per_client=%d",
                            host, max_per_client)
                # the reply, then a half-close: closing outright with the request unread would
                # reset the connection, and the client might never read the 503
                self._refused = True
                self.connections.discard(self)  # takes none of uvicorn's max_connections slots
                transport.write(_busy_reply(f"too many connections from {host} "
                                            f"(max_connections_per_client={max_per_client})"))
                transport.write_eof()
                return
            per_client[host] += 1
            self._counted = host

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            if self._counted is not None:
                per_client[self._counted] -= 1
                if per_client[self._counted] <= 0:
                    del per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # read and dropped until the client closes (or the header deadline)
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # a request head is complete
                self._disarm_header_timer()
            elif self._header_timer is None:  # part of the next head is here (a kept-alive connection)
                self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._header_timeout)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            client = "%s:%d" % self.client if self.client else "a client"
            log.info("closed a connection from %s: no complete request head within header_timeout_s=%g",
                     client, header_timeout_s)
            self.transport.close()  # no reply: like nginx's client_header_timeout, just the close

    return GuardedH11Protocol


def uvicorn_config(app: FastAPI, cfg: ServeConfig, log_level: str = "info") -> uvicorn.Config:
    """uvicorn settings from ``cfg``: bind address, connection cap (503 beyond), keep-alive, the
    header deadline and the per-client connection cap (``guarded_protocol``)."""
    return uvicorn.Config(app, host=cfg.host, port=cfg.port, limit_concurrency=cfg.max_connections,
                          timeout_keep_alive=max(1, round(cfg.keep_alive_s)), log_level=log_level,
                          access_log=log_level == "debug", lifespan="on",
                          http=guarded_protocol(cfg.header_timeout_s, cfg.max_connections_per_client),
                          h11_max_incomplete_event_size=MAX_HEAD_BYTES)


def build_app(model: ServedModel, cfg: ServeConfig) -> FastAPI:
    return create_app(PlanningService(model, cfg))


def serve(checkpoint: str, cfg: ServeConfig) -> None:
    """Load ``checkpoint`` (see ``serve.model.load_service_model``) and serve it until interrupted."""
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    if not is_loopback(cfg.host) and cfg.token_file is None and cfg.token_env is None:
        log.warning("serving on %s without authentication (allow_unauthenticated): anyone who reaches "
                    "this address can use the server", cfg.host)
    load_token(cfg)  # a missing or unusable token stops here, before the model loads
    if cfg.calibration is not None:
        load_calibration(cfg.calibration)  # so does a bad calibration file
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
