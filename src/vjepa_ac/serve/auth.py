"""Bearer-token authentication of the planning server (RFC 6750's ``Authorization: Bearer``).

The token is read once, when the app is built, from a file (``ServeConfig.token_file``: its
content, surrounding whitespace stripped) or from an environment variable (``ServeConfig.
token_env``: the variable's name), never from the config itself, so configs and logs never hold
it. With a token, every request must carry ``Authorization: Bearer <token>`` (compared in
constant time, ``hmac.compare_digest``) or gets 401 before its body is read; ``GET /health``
stays open unless ``ServeConfig.health_needs_token``. A server bound to a non-loopback address
refuses to start without a token unless ``allow_unauthenticated`` says so (``ServeConfig``).

The token travels as plain text over HTTP: on an untrusted network put a TLS proxy in front of
the server, or tunnel to it (``docs/serve.md``).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vjepa_ac.config import ConfigError
from vjepa_ac.serve.protocol import JSON, ServeError, encode_body

if TYPE_CHECKING:
    from vjepa_ac.serve.config import ServeConfig

log = logging.getLogger(__name__)
MIN_TOKEN_CHARS = 16  # e.g. python -c "import secrets; print(secrets.token_urlsafe(32))" (43 chars)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token
OPEN_PATHS = ("/health",)  # paths that need no token unless ServeConfig.health_needs_token


def _check_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: the token has {len(token)} characters, at least {MIN_TOKEN_CHARS} are "
                          "needed (python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
    if not _TOKEN_CHARS.fullmatch(token):
        raise ConfigError(f"{where}: the token may hold only letters, digits and -._~+/ (then = padding)")
    return token


def load_token(cfg: ServeConfig) -> str | None:
    """The bearer token ``cfg`` points at (``token_file`` or ``token_env``), checked; None when
    neither is set. Raises ``ConfigError`` naming the field when the file or variable is missing,
    empty or holds an unusable token."""
    if cfg.token_file is not None:
        path = Path(cfg.token_file).expanduser()
        where = f"ServeConfig.token_file={cfg.token_file!r}"
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"{where}: cannot read the token: {e.strerror or e}") from e
        if path.stat().st_mode & 0o077:
            log.warning("the token file %s can be read by other users (chmod 600 it)", path)
        return _check_token(text.strip(), where)
    if cfg.token_env is not None:
        where = f"ServeConfig.token_env={cfg.token_env!r}"
        value = os.environ.get(cfg.token_env)
        if value is None:
            raise ConfigError(f"{where}: the environment variable {cfg.token_env} is not set")
        return _check_token(value.strip(), where)
    return None


def bearer_matches(header: bytes | None, token: bytes) -> bool:
    """True if ``header`` (an Authorization header value) is ``Bearer <token>``; the token is
    compared in constant time (``hmac.compare_digest``; only its length can leak)."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token)


class BearerAuth:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401 (with
    ``WWW-Authenticate: Bearer``) before any route runs; ``open_paths`` pass without it."""

    def __init__(self, app, token: str, open_paths: tuple[str, ...] = OPEN_PATHS):
        self.app = app
        self.token = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(given) == 1 and bearer_matches(given[0], self.token):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        log.info("401 for %s %s from %s: %s bearer token", scope["method"], scope["path"],
                 client[0] if client else "?", "no" if not given else "a wrong")
        challenge = b'Bearer realm="vjepa-ac"' + (b', error="invalid_token"' if given else b"")
        message = "this server needs 'Authorization: Bearer <token>'" + (": the token given is wrong"
                                                                          if given else "")
        body = encode_body(ServeError(401, message).to_wire(), False)
        headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode()),
                   (b"www-authenticate", challenge)]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
