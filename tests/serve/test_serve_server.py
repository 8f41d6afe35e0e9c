"""The server's connections on real loopback sockets: a 500 keeps its keep-alive connection, the
header deadline, the per-client connection cap, /health answering through all of it."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from serve_helpers import closed_by_peer, make_service, raw_request

from vjepa_ac.config import ConfigError
from vjepa_ac.serve.app import create_app
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.server import BackgroundServer


def _server(**cfg) -> BackgroundServer:
    """The toy model behind a real uvicorn on a free loopback port, with ``ServeConfig(**cfg)``."""
    service = make_service(**cfg)
    return BackgroundServer(create_app(service), service.cfg)


def _connect(url: str) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_500_leaves_its_keep_alive_connection_usable():
    """An unexpected exception and an unencodable reply each answer a JSON 500; the same
    connection then carries the next requests (uvicorn closes a connection whose app raised)."""
    service = make_service()
    server = BackgroundServer(create_app(service), service.cfg)
    svc = service
    replies = iter([RuntimeError("boom"), {"fps": float("nan")}])

    def metadata():
        r = next(replies)
        if isinstance(r, Exception):
            raise r
        return r

    svc.metadata = metadata
    with server as url, _connect(url) as sock:
        for expected in (b"RuntimeError: boom", b"could not be encoded"):
            status, body = raw_request(sock, "GET", "/metadata")
            assert status == 500 and expected in body, body
        for _ in range(10):
            assert raw_request(sock, "GET", "/health")[0] == 200


def test_a_client_trickling_headers_is_closed_after_header_timeout_s():
    with _server(header_timeout_s=0.5) as url:
        slow = _connect(url)
        silent = _connect(url)  # a connection that never sends a byte is closed too
        t0 = time.monotonic()
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(20):  # one header line every 0.1 s: never finishing
            try:
                slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            if closed_by_peer(slow, 0.1):
                closed = True
                break
        assert closed and time.monotonic() - t0 < 1.5
        assert closed_by_peer(silent, 1.0)
        slow.close()
        silent.close()
        # heads that arrive in time, in two sends, twice on one kept-alive connection: the
        # deadline runs from a request's first byte, not from the previous reply
        with _connect(url) as sock:
            for _ in range(2):
                assert raw_request(sock, "GET", "/health", pause_s=0.3)[0] == 200
                time.sleep(0.4)
        assert httpx.get(url + "/health", timeout=5).status_code == 200


def test_the_header_deadline_also_follows_an_early_reply(monkeypatch):
    """A reply sent before its request's body was read (here a 401): the body's end and the
    next head arrive together, and that head still has its deadline."""
    monkeypatch.setenv("VJEPA_AC_TEST_TOKEN", "t0ken-0123456789abcdef")
    with _server(header_timeout_s=0.5, token_env="VJEPA_AC_TEST_TOKEN") as url, _connect(url) as sock:
        sock.sendall(b"POST /plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
        sock.sendall(b"{}GET /health HTTP/1.1\r\n")  # the body's end + half of the next head
        assert closed_by_peer(sock, 2.0)


def test_slow_headers_cannot_hold_every_slot():
    """More trickling connections than max_connections: /health is refused while they are open
    (uvicorn's 503), then answers once the header deadline has closed them."""
    with _server(max_connections=4, header_timeout_s=0.5) as url:
        socks = [_connect(url) for _ in range(6)]
        for s in socks:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert httpx.get(url + "/health", timeout=5).status_code == 503
        assert all(closed_by_peer(s, 2.0) for s in socks)
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        for s in socks:
            s.close()


def test_a_host_trickling_headers_leaves_slots_for_others():
    """One address opens more trickling connections than its share; another address (127.0.0.2:
    the whole 127/8 is loopback) gets /health at once, not after the header deadline."""
    with _server(max_connections=8, max_connections_per_client=4, header_timeout_s=30) as url:
        host, port = url.split("//")[1].split(":")
        socks = [_connect(url) for _ in range(10)]
        for s in socks:
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass  # a refused one may already be half-closed
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=5)
        with other:
            assert other.get(url + "/health").status_code == 200
        assert sum(closed_by_peer(s, 0.5) for s in socks) == 6  # past the cap: 503 and closed
        for s in socks:
            s.close()


def test_one_client_address_holds_at_most_max_connections_per_client():
    with _server(max_connections_per_client=2, header_timeout_s=30) as url:
        held = [_connect(url) for _ in range(2)]
        for s in held:
            assert raw_request(s, "GET", "/health")[0] == 200  # served, and kept alive
        with _connect(url) as third:
            status, body = raw_request(third, "GET", "/health")
            assert status == 503 and b"max_connections_per_client=2" in body
            assert closed_by_peer(third, 2.0)
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the server sees the close a moment later
            with _connect(url) as again:
                try:
                    if raw_request(again, "GET", "/health")[0] == 200:
                        break
                except ConnectionError:
                    pass
            assert time.monotonic() < deadline, "a slot freed by a closed connection was not reused"
            time.sleep(0.05)
        for s in held:
            s.close()


def test_an_unfinished_request_head_over_16_kib_is_400():
    """h11_max_incomplete_event_size: an unfinished head stops growing at 16 KiB."""
    with _server() as url, _connect(url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nx-big: " + b"a" * 20_000)
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")


def test_connection_settings_are_validated():
    for kwargs, name in [({"header_timeout_s": 0}, "header_timeout_s"),
                         ({"header_timeout_s": float("inf")}, "header_timeout_s"),
                         ({"max_connections_per_client": 0}, "max_connections_per_client")]:
        with pytest.raises(ConfigError, match=name):
            ServeConfig(**kwargs)
    assert ServeConfig(max_connections_per_client=None).max_connections_per_client is None
