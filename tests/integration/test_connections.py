"""The `$connect` authorizer, `$connect` and `$disconnect` (protocol section 5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from parley import runtime, tokens

from tests.integration.conftest import Harness
from tests.integration.helpers import call, connection_item, scan, user_item
from tests.support import events

pytestmark = [
    pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing"),
    # The HS384 forgery signs with the (32-byte) HS256 key on purpose.
    pytest.mark.filterwarnings("ignore:The HMAC key is"),
]

TWO_HOURS_TEN_MINUTES = 2 * 3600 + 600


def authorize(token: str | None) -> dict[str, Any]:
    return call("authorizer", events.authorizer_event(token))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def forge(
    app: Harness, *, key: bytes | None = None, algorithm: str = "HS256", **changes: Any
) -> str:
    """A token like alice's real one, with some claims changed (None removes a claim)."""
    claims = claims_of(app.tokens["alice"]["accessToken"])
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    signing_key = runtime.signing_keys().jwt if key is None else key
    return jwt.encode(claims, signing_key, algorithm=algorithm)


def _expired(app: Harness) -> str:
    now = int(time.time())
    return forge(app, iat=now - 3600, nbf=now - 3600, exp=now - 60)


BAD_TOKENS: dict[str, Callable[[Harness], str | None]] = {
    "absent": lambda app: None,
    "empty": lambda app: "",
    "garbage": lambda app: "not-a-token",
    "three-garbage-parts": lambda app: "a.b.c",
    "expired": _expired,
    "wrong-signature": lambda app: forge(app, key=tokens.Keys.from_secret("other").jwt),
    "alg-none": lambda app: forge(app, algorithm="none"),
    "alg-HS384": lambda app: forge(app, algorithm="HS384"),
    "wrong-audience": lambda app: forge(app, aud="someone-else"),
    "wrong-issuer": lambda app: forge(app, iss="evil"),
    "no-jti": lambda app: forge(app, jti=None),
    "no-exp": lambda app: forge(app, exp=None),
    "unknown-login": lambda app: forge(app, sid="AAAAAAAAAAAAAAAAAAAAAA"),
    "refresh-token": lambda app: str(app.tokens["alice"]["refreshToken"]),
}


def test_authorizer_allows_a_valid_token_and_passes_the_identity_on(app: Harness) -> None:
    # GIVEN alice logged in
    token = app.user("alice")
    claims = claims_of(token)
    event = events.authorizer_event(token)
    # WHEN the authorizer checks her token
    policy = call("authorizer", event)
    # THEN it allows invoking this API and hands userId, sessionId and tokenExp to the routes
    statement = policy["policyDocument"]["Statement"]
    assert policy["principalId"] == "alice"
    assert statement == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    ]
    assert policy["context"] == {
        "userId": "alice",
        "sessionId": claims["sid"],
        "tokenExp": claims["exp"],
    }


@pytest.mark.parametrize("make_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_authorizer_rejects_a_bad_token_with_unauthorized(
    app: Harness, make_token: Callable[[Harness], str | None]
) -> None:
    # GIVEN alice has a real login, and a token that is missing, malformed or not valid
    app.user("alice")
    token = make_token(app)
    # WHEN the authorizer checks it
    # THEN it raises exactly "Unauthorized" (API Gateway answers the handshake with 401)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(token)


def test_authorizer_rejects_an_event_without_query_parameters(app: Harness) -> None:
    # GIVEN a $connect without any query string
    event = events.authorizer_event(None)
    event["queryStringParameters"] = None
    # WHEN the authorizer runs
    # THEN the handshake is refused
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call("authorizer", event)


def test_connect_stores_the_connection_with_a_ttl_past_the_two_hour_limit(
    app: Harness,
) -> None:
    # GIVEN alice logged in
    app.user("alice")
    before = int(time.time() * 1000)
    # WHEN she connects
    policy = app.connect("alice", "a1")
    # THEN the connection is stored with who, which login, when, from where, and a TTL of
    # about now + 2 h 10 min
    after = int(time.time() * 1000)
    item = connection_item(app, "a1")
    assert item is not None
    assert item["userId"] == "alice"
    assert item["sessionId"] == policy["context"]["sessionId"]
    assert item["tokenExp"] == policy["context"]["tokenExp"]
    assert before <= item["connectedAt"] <= after
    assert item["sourceIp"] == "203.0.113.10"
    assert before // 1000 + TWO_HOURS_TEN_MINUTES <= item["ttl"]
    assert item["ttl"] <= after // 1000 + TWO_HOURS_TEN_MINUTES + 1


def test_connect_without_an_authorizer_identity_is_refused_and_stores_nothing(
    app: Harness,
) -> None:
    # GIVEN a $connect event that carries no authorizer context
    event = events.ws_event("$connect", connection="x1")
    event["requestContext"]["authorizer"] = {}
    # WHEN $connect runs
    response = call("ws_connect", event)
    # THEN it is refused and no connection is recorded
    assert response["statusCode"] == 401
    assert scan(app, "ConnectionsTable") == []


def test_disconnect_removes_the_connection_and_records_last_seen(app: Harness) -> None:
    # GIVEN alice is connected
    app.user("alice")
    app.connect("alice", "a1")
    before = int(time.time() * 1000)
    # WHEN the socket closes
    response = app.disconnect("alice", "a1")
    # THEN the connection is gone and alice's lastSeen is now
    assert response["statusCode"] == 200
    assert connection_item(app, "a1") is None
    last_seen = user_item(app, "alice")["lastSeen"]  # type: ignore[index]
    assert before <= last_seen <= int(time.time() * 1000)


def test_disconnect_removes_only_that_connection(app: Harness) -> None:
    # GIVEN alice is connected on two devices
    app.user("alice")
    app.connect("alice", "a1")
    app.connect("alice", "a2")
    # WHEN one of them disconnects
    app.disconnect("alice", "a1")
    # THEN the other is still recorded
    assert connection_item(app, "a1") is None
    assert connection_item(app, "a2") is not None


def test_disconnect_of_an_unknown_connection_is_harmless(app: Harness) -> None:
    # GIVEN alice registered but never connected
    app.user("alice")
    # WHEN a $disconnect arrives for a connection that is not recorded
    response = app.disconnect("alice", "ghost")
    # THEN it succeeds and changes nothing
    assert response["statusCode"] == 200
    assert "lastSeen" not in user_item(app, "alice")  # type: ignore[operator]
    assert scan(app, "ConnectionsTable") == []
