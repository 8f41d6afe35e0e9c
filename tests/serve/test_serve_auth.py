"""Bearer-token authentication: where the token comes from, what a request without it gets, and
the client that sends it (a real loopback server)."""

from __future__ import annotations

import logging
import os

import pytest
from fastapi.testclient import TestClient
from serve_helpers import START, TARGET, make_service, plan_body, toy_image

from vjepa_ac.client import PlanningClient, ServerError, read_token
from vjepa_ac.config import ConfigError
from vjepa_ac.serve import auth
from vjepa_ac.serve.app import create_app
from vjepa_ac.serve.auth import bearer_matches, load_token
from vjepa_ac.serve.config import ServeConfig
from vjepa_ac.serve.server import BackgroundServer, serve

TOKEN = "s3cret-token_0123456789abcdef"


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return str(path)


def test_a_non_loopback_host_needs_a_token_or_an_explicit_opt_out(token_file):
    with pytest.raises(ConfigError, match="host='0.0.0.0'.*token_file or token_env"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", token_file=token_file).token_file == token_file
    assert ServeConfig(host="0.0.0.0", token_env="VJEPA_AC_TOKEN").token_env == "VJEPA_AC_TOKEN"
    assert ServeConfig(host="192.168.1.5", allow_unauthenticated=True).allow_unauthenticated
    with pytest.raises(ConfigError, match="token_file and ServeConfig.token_env"):
        ServeConfig(token_file=token_file, token_env="X")
    with pytest.raises(ConfigError, match="health_needs_token"):
        ServeConfig(health_needs_token=True)


def test_the_token_is_read_from_a_file_or_an_environment_variable(token_file, tmp_path, monkeypatch, caplog):
    assert load_token(ServeConfig()) is None
    assert load_token(ServeConfig(token_file=token_file)) == TOKEN  # the newline is stripped
    monkeypatch.setenv("VJEPA_AC_TEST_TOKEN", TOKEN)
    assert load_token(ServeConfig(token_env="VJEPA_AC_TEST_TOKEN")) == TOKEN
    short, spaced, loose = tmp_path / "short", tmp_path / "spaced", tmp_path / "loose"
    short.write_text("abc")
    spaced.write_text("a token with spaces in it")
    loose.write_text(TOKEN)
    loose.chmod(0o644)
    for cfg, match in [(ServeConfig(token_file=str(tmp_path / "none")), "token_file=.*cannot read"),
                       (ServeConfig(token_file=str(short)), "at least 16"),
                       (ServeConfig(token_file=str(spaced)), "only letters"),
                       (ServeConfig(token_env="VJEPA_AC_TEST_UNSET"), "VJEPA_AC_TEST_UNSET is not set")]:
        with pytest.raises(ConfigError, match=match):
            load_token(cfg)
    with caplog.at_level(logging.WARNING, logger="vjepa_ac.serve.auth"):
        assert load_token(ServeConfig(token_file=str(loose))) == TOKEN
    assert "can be read by other users" in caplog.text


def test_bearer_header_matching(monkeypatch):
    token = TOKEN.encode()
    assert bearer_matches(b"Bearer " + token, token) and bearer_matches(b"bearer  " + token, token)
    for header in (None, b"", b"Bearer", b"Bearer " + token[:-1], b"Bearer " + token + b"x",
                   b"Basic " + token, token):
        assert not bearer_matches(header, token), header
    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    bearer_matches(b"Bearer guess", token)
    assert calls == [(b"guess", token)]  # the comparison is hmac's constant-time one


def test_without_the_token_every_route_but_health_is_401(monkeypatch):
    monkeypatch.setenv("VJEPA_AC_TEST_TOKEN", TOKEN)
    app = create_app(make_service(token_env="VJEPA_AC_TEST_TOKEN"))
    with TestClient(app, raise_server_exceptions=False) as http:
        good = {"authorization": f"Bearer {TOKEN}"}
        wrong = "Bearer wrong-token-0123456789"
        for headers, challenge in [({}, 'Bearer realm="vjepa-ac"'),
                                   ({"authorization": wrong}, 'error="invalid_token"'),
                                   ({"authorization": f"Basic {TOKEN}"}, 'error="invalid_token"')]:
            for method, path, kw in [("GET", "/metadata", {}), ("POST", "/plan", {"json": plan_body()}),
                                     ("POST", "/goals", {"json": {}}), ("DELETE", "/goals/x", {}),
                                     ("GET", "/nowhere", {})]:
                r = http.request(method, path, headers=headers, **kw)
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["status"] == 401 and challenge in r.headers["www-authenticate"]
        assert http.get("/health").status_code == 200  # open by default: monitors, load balancers
        assert http.get("/metadata", headers=good).status_code == 200
        assert http.post("/plan", json=plan_body(), headers=good).status_code == 200
        assert http.get("/nowhere", headers=good).status_code == 404
    app = create_app(make_service(token_env="VJEPA_AC_TEST_TOKEN", health_needs_token=True))
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.get("/health").status_code == 401
        assert http.get("/health", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_client_sends_its_token(token_file):
    service = make_service(token_file=token_file)
    with BackgroundServer(create_app(service), service.cfg) as url:
        with PlanningClient(url) as anonymous:
            assert anonymous.health()["status"] == "ok"
            with pytest.raises(ServerError) as e:
                anonymous.metadata()
            assert e.value.status == 401
        with PlanningClient(url, token=read_token(token_file), wire="json") as client:
            goal = client.register_goal(toy_image(TARGET))
            reply = client.plan(toy_image(START), START, goal_id=goal, num_samples=64, iterations=3)
            assert reply.action.shape == (7,)
        with PlanningClient(url, token="wrong-token-0123456789") as intruder, pytest.raises(ServerError) as e:
            intruder.plan(toy_image(START), START, goal_id=goal)
        assert e.value.status == 401
    with pytest.raises(ValueError, match="whitespace"):
        PlanningClient(token=TOKEN + "\n")


def test_token_files_may_start_with_a_tilde(token_file, monkeypatch):
    home, name = os.path.split(token_file)
    monkeypatch.setenv("HOME", home)
    assert read_token(f"~/{name}") == TOKEN
    assert load_token(ServeConfig(token_file=f"~/{name}")) == TOKEN


def test_serve_stops_on_a_missing_token_before_loading_the_model(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the token"):
        serve("no-such-checkpoint.pt", ServeConfig(host="0.0.0.0", token_file=str(tmp_path / "absent")))
    assert "VJEPA_AC_TEST_UNSET" not in os.environ
