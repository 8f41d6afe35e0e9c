"""HTTP routes (FastAPI) over a ``PlanningService``.

    GET    /health          worker alive, queue length, counters (503 if the worker stopped)
    GET    /metadata        model id, image size, action layout, fps, planner defaults and bounds
    POST   /goals           register goal image(s) -> {"goal_id": ...} (201)
    DELETE /goals/{goal_id} forget a goal
    POST   /plan            image + state + goal -> action, energy, plan time, model/config id

With a token (``ServeConfig.token_file`` / ``token_env``, ``serve/auth.py``) every route but
/health (unless ``health_needs_token``) answers 401 without ``Authorization: Bearer <token>``.
Bodies are read by ``read_body`` (size checked from Content-Length and while streaming, and a
time limit) before anything parses them; parsing and image decoding run in a thread, the plan
on the service's worker. Errors are JSON ``{"error": ..., "field": ..., "status": ...}``;
replies to msgpack requests (or ``Accept: application/msgpack``) are msgpack.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vjepa_ac.serve.auth import OPEN_PATHS, BearerAuth, load_token
from vjepa_ac.serve.protocol import (
    JSON,
    MSGPACK,
    ServeError,
    decode_body,
    encode_body,
    is_msgpack,
    parse_goal_request,
    parse_plan_request,
)
from vjepa_ac.serve.service import PlanningService

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1  # Retry-After header of a 503
PARSE_SLOTS = 2  # requests decoded at once (image decoding is CPU work; the cores are few)


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The whole body, refused with 413 past ``max_bytes`` (before reading it when
    Content-Length says so) and with 408 if it takes longer than ``timeout_s``."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ServeError(400, f"bad Content-Length {length!r}")
        if int(length) > max_bytes:
            raise ServeError(413, f"body of {length} bytes exceeds max_body_bytes={max_bytes}")
    chunks: list[bytes] = []
    received = 0

    async def receive_all() -> None:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise ServeError(413, f"body exceeds max_body_bytes={max_bytes}")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive_all(), timeout_s)
    except asyncio.TimeoutError:
        raise ServeError(408, f"body not received within body_timeout_s={timeout_s}") from None
    return b"".join(chunks)


def _wants_msgpack(request: Request) -> bool:
    return is_msgpack(request.headers.get("content-type")) or MSGPACK in request.headers.get("accept", "")


def _reply(request: Request, obj: Any, status: int = 200) -> Response:
    """``obj`` in the request's format; a reply that cannot be encoded (a NaN for strict JSON, a
    type msgpack lacks: a server bug) becomes a 500 that can."""
    packed = _wants_msgpack(request)
    try:
        body = encode_body(obj, packed)
    except (ValueError, TypeError, OverflowError) as e:
        log.error("the reply to %s could not be encoded: %s: %s", request.url.path, type(e).__name__, e)
        return _error(ServeError(500, "internal error: the reply could not be encoded: "
                                      f"{type(e).__name__}: {e}"))
    return Response(body, status_code=status, media_type=MSGPACK if packed else JSON)


def _error(e: ServeError) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if e.status == 503 else None
    return Response(encode_body(e.to_wire(), False), status_code=e.status, media_type=JSON, headers=headers)


class CatchAll:
    """ASGI middleware: an unexpected exception becomes a JSON 500 reply, and the exception stops
    here. (Starlette's handler for ``Exception`` sends its reply and then re-raises, and uvicorn
    answers a re-raised exception by closing the connection: the client's next request on that
    keep-alive connection would meet a reset.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as e:
            log.exception("unexpected error on %s", scope.get("path"))
            if started:  # half a reply is out: only closing the connection can end it
                raise
            await _error(ServeError(500, f"internal error: {type(e).__name__}: {e}"))(scope, receive, send)


async def _await(future, timeout_s: float) -> Any:
    """Await a service future; past ``timeout_s`` it is cancelled (if still queued) -> 504."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except asyncio.TimeoutError:
        raise ServeError(504, f"request timed out after {timeout_s} s") from None


def create_app(service: PlanningService) -> FastAPI:
    """The FastAPI app; its lifespan starts and stops ``service``'s worker."""
    cfg = service.cfg

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop, 2 * cfg.timeout_s)

    parse_slots = asyncio.Semaphore(PARSE_SLOTS)

    async def parse(request: Request, parser):
        """Body -> validated request; refused early (503) while the queue is full, and decoded
        at most ``PARSE_SLOTS`` at a time (bounds the memory of decoded images)."""
        service.refuse_if_busy()
        body = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
        async with parse_slots:
            data = await run_in_threadpool(decode_body, body, request.headers.get("content-type"))
            return await run_in_threadpool(parser, data, cfg)

    app = FastAPI(title="vjepa-ac planning server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.service = service

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, e: ServeError) -> Response:
        return _error(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        return _error(ServeError(e.status_code, str(e.detail)))

    app.add_middleware(CatchAll)  # inside Starlette's ServerErrorMiddleware, outside the handlers above
    token = load_token(cfg)
    if token is not None:  # outermost: a request without the token reaches no route, no body is read
        app.add_middleware(BearerAuth, token=token, open_paths=() if cfg.health_needs_token else OPEN_PATHS)

    @app.get("/health")
    async def health(request: Request) -> Response:
        report = service.health()
        return _reply(request, report, 200 if service.alive else 503)

    @app.get("/metadata")
    async def metadata(request: Request) -> Response:
        return _reply(request, service.metadata())

    @app.post("/goals")
    async def register_goal(request: Request) -> Response:
        req = await parse(request, parse_goal_request)
        entry = await _await(service.submit_goal(req), cfg.timeout_s)
        return _reply(request, entry.to_wire(), 201)

    @app.delete("/goals/{goal_id}")
    async def delete_goal(request: Request, goal_id: str) -> Response:
        service.delete_goal(goal_id)
        return _reply(request, {"deleted": goal_id})

    @app.post("/plan")
    async def plan(request: Request) -> Response:
        req = await parse(request, parse_plan_request)
        outcome = await _await(service.submit_plan(req), req.timeout_s)
        return _reply(request, outcome.to_wire())

    return app
