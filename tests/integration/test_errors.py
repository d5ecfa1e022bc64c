"""Errors (protocol section 6 and 5): unexpected failures become 3001 naming the request id,
never a stack trace; `$default` and misrouted frames get 1001 or 1007; `ping` gets `pong`."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from parley import runtime

from tests.integration.conftest import Harness
from tests.integration.helpers import call, put_user, stored_messages, ws_raw
from tests.support import events

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

SECRET = "db password is hunter2"


class Exploding:
    """Any method call raises an unexpected error whose text must never reach a client."""

    def __getattr__(self, name: str) -> Any:
        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(SECRET)

        return explode


def assert_internal(payload: dict[str, Any], request_id: str) -> None:
    """A 3001 whose message names the request id and shows nothing of the failure."""
    assert payload["code"] == 3001
    assert request_id in payload["message"]
    for leak in (SECRET, "Traceback", "RuntimeError", 'File "', ".py"):
        assert leak not in payload["message"]


# ---- unexpected failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "service", "frame"),
    [
        (
            "send",
            "message_service",
            {
                "action": "send",
                "id": "q1",
                "to": "bob",
                "clientMsgId": "m1",
                "body": {"type": "text", "text": "hi"},
            },
        ),
        ("sync", "conversation_service", {"action": "sync", "id": "q1"}),
        ("$default", "live_service", {"action": "presence", "id": "q1", "userIds": ["bob"]}),
    ],
    ids=["send", "sync", "live"],
)
def test_an_unexpected_failure_in_a_frame_is_3001_naming_the_request_id(
    app: Harness, monkeypatch: pytest.MonkeyPatch, route: str, service: str, frame: Any
) -> None:
    # GIVEN the service behind the route fails in a way nobody planned for
    put_user(app, "alice")
    put_user(app, "bob")
    monkeypatch.setattr(runtime, service, lambda: Exploding())
    # WHEN alice sends a valid frame
    response = ws_raw(route, frame, user="alice", connection="a1", request_id="req-boom-1")
    # THEN the route still answers, with an error frame carrying her id and a 3001 that
    # names the request id and leaks nothing; nothing was stored
    assert response["statusCode"] == 200
    reply = json.loads(response["body"])
    assert reply["type"] == "error" and reply["id"] == "q1"
    assert_internal(reply, "req-boom-1")
    assert stored_messages(app) == []


def test_an_unexpected_failure_over_http_is_500_3001_naming_the_request_id(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice logged in, and the conversation service fails unexpectedly
    token = app.user("alice")
    monkeypatch.setattr(runtime, "conversation_service", lambda: Exploding())
    event = events.http_event("GET", "/conversations", token=token)
    event["requestContext"]["requestId"] = "http-boom-1"
    # WHEN she lists her conversations
    response = call("http_conversations", event)
    # THEN 500 with code 3001 naming the request id, and nothing of the failure
    assert response["statusCode"] == 500
    assert_internal(json.loads(response["body"]), "http-boom-1")


def test_an_unexpected_failure_in_an_auth_route_is_500_3001(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the account service fails unexpectedly
    monkeypatch.setattr(runtime, "auth_service", lambda: Exploding())
    event = events.http_event(
        "POST", "/auth/register", body={"userId": "alice", "password": "long enough"}
    )
    event["requestContext"]["requestId"] = "http-boom-2"
    # WHEN someone registers
    response = call("http_auth", event)
    # THEN 500 code 3001 naming the request id
    assert response["statusCode"] == 500
    assert_internal(json.loads(response["body"]), "http-boom-2")


# ---- $default and misrouted frames --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", 1001),
        ("{", 1001),
        ("", 1001),
        ("[]", 1001),
        ('"ping"', 1001),
        ("42", 1001),
        ("null", 1001),
        ("{}", 1007),
        ('{"action": "nope"}', 1007),
        ('{"action": 5}', 1007),
        ('{"action": null}', 1007),
        ('{"action": "PING"}', 1007),
    ],
    ids=[
        "not-json",
        "truncated",
        "empty",
        "array",
        "string",
        "number",
        "null",
        "no-action",
        "unknown-action",
        "action-number",
        "action-null",
        "action-wrong-case",
    ],
)
def test_default_route_answers_a_non_object_with_1001_and_no_action_with_1007(
    app: Harness, raw: str, code: int
) -> None:
    # WHEN a frame that is not a JSON object, or names no known action, reaches $default
    reply = app.frame("$default", raw=raw, user="alice", connection="a1")
    # THEN an error with that code and a message
    assert reply is not None
    assert reply["type"] == "error" and reply["code"] == code and reply["message"]


def test_an_unknown_action_error_carries_the_request_id(app: Harness) -> None:
    # WHEN a frame with an id names an unknown action
    reply = app.frame(
        "$default", raw='{"action": "nope", "id": "x1"}', user="alice", connection="a1"
    )
    # THEN the 1007 carries that id
    assert reply is not None
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "x1", 1007)


def test_a_frame_without_a_body_is_1001(app: Harness) -> None:
    # GIVEN a $default event with no body at all
    event = events.ws_event("$default", user="alice", connection="a1")
    event.pop("body", None)
    # WHEN it is handled
    response = call("ws_live", event)
    # THEN an error 1001
    assert json.loads(response["body"])["code"] == 1001


def test_ping_gets_pong_with_the_request_id(app: Harness) -> None:
    # WHEN alice pings with an id
    reply = app.frame("$default", {"action": "ping", "id": "p1"}, user="alice", connection="a1")
    # THEN she gets exactly a pong with that id
    assert reply == {"type": "pong", "id": "p1"}


def test_ping_without_id_gets_a_bare_pong(app: Harness) -> None:
    # WHEN alice pings without an id
    reply = app.frame("$default", {"action": "ping"}, user="alice", connection="a1")
    # THEN the pong has no id
    assert reply == {"type": "pong"}


@pytest.mark.parametrize(
    "frame",
    [
        {"action": "ping", "id": "p1", "extra": True},
        {"action": "ping", "id": ""},
        {"action": "ping", "id": "i" * 65},
        {"action": "ping", "id": 7},
    ],
    ids=["extra-field", "id-empty", "id-65-chars", "id-number"],
)
def test_a_malformed_ping_is_1001(app: Harness, frame: dict[str, Any]) -> None:
    # WHEN a ping carries an extra field or an id that is not 1-64 characters
    reply = app.frame("$default", frame, user="alice", connection="a1")
    # THEN 1001; the id is echoed only when it is a valid one
    assert reply is not None and reply["type"] == "error" and reply["code"] == 1001
    assert reply.get("id") == ("p1" if frame["id"] == "p1" else None)


def test_a_send_frame_on_the_live_route_is_1007(app: Harness) -> None:
    # WHEN a well-formed send frame arrives on the route of the live actions
    frame = {
        "action": "send",
        "id": "q1",
        "to": "bob",
        "clientMsgId": "m1",
        "body": {"type": "text", "text": "hi"},
    }
    reply = app.frame("$default", frame, user="alice", connection="a1")
    # THEN it is refused as an action that route does not serve, and nothing is stored
    assert reply is not None and (reply["type"], reply["id"], reply["code"]) == (
        "error",
        "q1",
        1007,
    )
    assert stored_messages(app) == []


@pytest.mark.parametrize("route", ["send", "sync"])
def test_another_action_on_the_send_or_sync_route_is_1007(app: Harness, route: str) -> None:
    # WHEN a ping arrives on the send or sync route
    reply = app.frame(route, {"action": "ping", "id": "p1"}, user="alice", connection="a1")
    # THEN 1007 with the id
    assert reply is not None and (reply["type"], reply["id"], reply["code"]) == (
        "error",
        "p1",
        1007,
    )


# ---- HTTP edges ---------------------------------------------------------------------------


def test_an_unknown_http_route_still_answers_with_a_code(app: Harness) -> None:
    # WHEN a route the function does not serve reaches it
    status, body = app.http("http_auth", "POST", "/auth/nope", body={})
    # THEN a 404 with a code, not a crash
    assert status == 404 and isinstance(body["code"], int)


def test_a_base64_body_that_is_not_utf8_is_400_1001(app: Harness) -> None:
    # GIVEN a base64-encoded body that is not UTF-8
    event = events.http_event("POST", "/auth/login")
    event["body"] = base64.b64encode(b"\xff\xfe\x00garbage").decode()
    event["isBase64Encoded"] = True
    # WHEN it is posted
    response = call("http_auth", event)
    # THEN 400 code 1001
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == 1001


def test_a_base64_json_body_is_accepted(app: Harness) -> None:
    # GIVEN a registration sent base64-encoded (as API Gateway may deliver it)
    event = events.http_event("POST", "/auth/register")
    body = json.dumps({"userId": "alice", "password": "long enough"}).encode()
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    # WHEN it is posted
    response = call("http_auth", event)
    # THEN the account is created
    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"userId": "alice"}


def test_an_unreadable_signing_secret_is_2001_not_3001(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice and bob, and a Secrets Manager that fails once the cached secret expired
    # (the send reads it for the repeated-text hash; the soak's degradation case)
    from aws_lambda_powertools.utilities import parameters

    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    parameters.clear_caches()

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise parameters.exceptions.GetParameterError("ThrottlingException")

    monkeypatch.setattr(parameters, "get_secret", failing)
    # WHEN alice sends a text
    reply = app.frame(
        "send",
        {
            "action": "send",
            "id": "r1",
            "to": "bob",
            "clientMsgId": "c1",
            "body": {"type": "text", "text": "hi"},
        },
        user="alice",
        connection="a1",
    )
    # THEN the error is 2001 (retry with the same clientMsgId), not 3001, and nothing stored
    assert reply is not None and reply["code"] == 2001
    assert stored_messages(app, "dm:alice:bob") == []


def test_secrets_are_read_with_parleys_timeouts(app: Harness) -> None:
    # GIVEN no secrets provider yet (a cold container)
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    saved = DEFAULT_PROVIDERS.pop("secrets", None)
    try:
        # WHEN a secret is read
        keys = runtime.signing_keys()
        # THEN it was, through a client with Parley's 5 s read timeout (botocore's default
        # 60 s outlasts the function's timeout: no quick 2001 when Secrets Manager hangs)
        assert keys.jwt
        provider = DEFAULT_PROVIDERS["secrets"]
        assert provider.client.meta.config.read_timeout == 5
    finally:
        if saved is not None:
            DEFAULT_PROVIDERS["secrets"] = saved
