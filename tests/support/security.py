"""Helpers for the security tests: forging tokens, calling handlers with full responses,
and freezing the runtime's clock so fixed rate-limit windows are deterministic."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import boto3
import jwt
import pytest
from parley import runtime, tokens

from tests.fakes.repos import FixedClock
from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import load


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def stack_keys(app: Harness) -> tokens.Keys:
    """Parley's real keys, derived as the code derives them from the secret in moto."""
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=app.stack.secret_arn)
    return tokens.Keys.from_secret(secret["SecretString"])


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT (unverified: the test made or received it)."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def hs256(claims: dict[str, Any], key: bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 JWT signed with any byte string (pyjwt refuses PEM keys as HMAC secrets,
    which is exactly what an algorithm-confusion attacker does not care about)."""
    head = b64url_json({"alg": "HS256", "typ": "JWT", **(header or {})})
    body = b64url_json(claims)
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` JWT (empty signature)."""
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(claims)}."


def authorize(token: str | None) -> dict[str, Any]:
    """Run the `$connect` authorizer (raises `Exception("Unauthorized")` when it refuses)."""
    return dict(load("authorizer").handler(events.authorizer_event(token), CONTEXT))


def me(app: Harness, token: str) -> tuple[int, Any]:
    return app.http("http_users", "GET", "/me", token=token)


def assert_refused(app: Harness, token: str) -> None:
    """The token opens neither a socket (authorizer: 401) nor an HTTP route (401 code 1003)."""
    with pytest.raises(Exception, match=r"^Unauthorized$") as refused:
        authorize(token)
    assert type(refused.value) is Exception
    status, body = me(app, token)
    assert (status, body["code"]) == (401, 1003), body


def assert_accepted(app: Harness, token: str, user: str) -> None:
    policy = authorize(token)
    assert policy["context"]["userId"] == user
    status, body = me(app, token)
    assert (status, body["userId"]) == (200, user), body


def http_raw(
    function: str, method: str, route: str, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    """Status, headers and decoded body of one HTTP call."""
    response = load(function).handler(events.http_event(method, route, **kwargs), CONTEXT)
    body = response.get("body")
    return response["statusCode"], response.get("headers", {}), json.loads(body) if body else None


def connect(
    token_exp: int,
    *,
    user: str,
    connection: str,
    session: str = "sess",
    source_ip: str = "203.0.113.10",
) -> dict[str, Any]:
    """Run the `$connect` route (after the authorizer) with a chosen authorizer context."""
    event = events.ws_event(
        "$connect", user=user, connection=connection, session=session, token_exp=token_exp
    )
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    return dict(load("ws_connect").handler(event, CONTEXT))


def connect_with(app: Harness, token: str, connection: str, **kwargs: Any) -> dict[str, Any]:
    """Authorize `token` and connect with the context the authorizer gave."""
    ctx = authorize(token)["context"]
    response = connect(
        int(ctx["tokenExp"]),
        user=ctx["userId"],
        connection=connection,
        session=ctx["sessionId"],
        **kwargs,
    )
    assert response["statusCode"] == 200, response
    return dict(ctx)


def frame(
    route: str,
    body: Any,
    *,
    user: str,
    connection: str,
    token_exp: int = 4102444800,
    session: str = "sess",
) -> dict[str, Any] | None:
    """One WebSocket frame with the authorizer context API Gateway keeps for the socket."""
    function = {"send": "ws_send", "sync": "ws_sync"}.get(route, "ws_live")
    event = events.ws_event(
        route, body, user=user, connection=connection, session=session, token_exp=token_exp
    )
    response = load(function).handler(event, CONTEXT)
    assert response["statusCode"] == 200
    return json.loads(response["body"]) if response.get("body") else None


def window_aligned_clock() -> FixedClock:
    """A clock standing at the start of the current minute: every fixed window Parley uses
    (1.5 s frames, 60 s sends, connects and logins) starts there, so a test's hits never
    straddle a window boundary."""
    now = time.time_ns() // 1_000_000
    return FixedClock(now - now % 60_000 + 1)


def rebuild_runtime(monkeypatch: pytest.MonkeyPatch, app: Harness, clock: FixedClock) -> None:
    """Rebuild every cached service after an environment change, on `clock`, keeping the
    harness's recording gateway (as the `gateway` fixture patches it)."""
    monkeypatch.setattr(runtime, "SYSTEM_CLOCK", clock)
    runtime.reset()
    monkeypatch.setattr(runtime, "gateway", lambda: app.gateway)
