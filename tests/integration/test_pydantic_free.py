"""No function imports pydantic, not even the ones that validate frames and bodies.

Importing pydantic would cost a cold start about a quarter of boto3's own: the functions
validate with :mod:`parley.validation`, and pydantic only generates the published schema
(`parley_schema`, outside the layer). Each function is imported in a fresh interpreter, as
Lambda does, and serves one real request against moto (the validating ones, a request with
a body or frame to validate); pydantic must not be in `sys.modules` afterwards. A module
that starts importing pydantic (directly or through a service or repository) fails here
with its import chain easy to find (`python -X importtime`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs in the fresh interpreter. argv: the function to serve one request with.
_CHILD = r"""
import json, os, sys, time

function = sys.argv[1]
from moto import mock_aws

from tests.support import events
from tests.support.handlers import load
from tests.support.stack import create_stack


class Context:
    function_name = "parley-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parley-test"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self):
        return 10_000


# One request per validating function: a frame or a body that goes through validation.
FRAMES = {
    "ws_send": {"action": "send", "id": "r1", "to": "bob", "clientMsgId": "m1",
                "body": {"type": "text", "text": "hi"}},
    "ws_sync": {"action": "sync", "id": "r2", "limit": 10},
    "ws_live": {"action": "presence", "id": "r3", "userIds": ["bob"]},
}
HTTP = {
    "http_auth": ("POST", "/auth/register", {"userId": "carol", "password": "p" * 8}),
    "http_groups": ("POST", "/groups", {"name": "team", "members": ["bob"]}),
    "http_users": ("GET", "/me", None),
    "http_conversations": ("GET", "/conversations", None),
    "http_rtc": ("GET", "/rtc/ice-servers", None),
    "http_admin": ("GET", "/admin/flags", None),
    "http_attachments": ("POST", "/attachments", {"conversationId": "dm:alice:bob",
                         "name": "a.txt", "size": 5, "contentType": "text/plain"}),
    "http_devices": ("POST", "/devices", {"platform": "webpush", "subscription": {
        "endpoint": "https://push.example.com/s/1",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}}),
}

with mock_aws():
    os.environ.update(create_stack().env())
    from parley import passwords, runtime

    # A user with a login, and for the routes that need one, an open connection.
    now = int(time.time() * 1000)
    runtime.users().create("alice", passwords.hash_password("correct horse"), "Alice", now)
    runtime.users().create("bob", passwords.hash_password("correct horse"), "Bob", now)
    pair = runtime.auth_service().login("alice", "correct horse", "198.51.100.7")
    principal = runtime.auth_service().authenticate(pair["accessToken"])
    if function in ("ws_disconnect", "fanout"):
        runtime.connection_service().connect(
            "conn-1", "alice", principal.session_id, principal.expires_at, "198.51.100.7"
        )
    before = "pydantic" in sys.modules

    handler = load(function).handler
    token = pair["accessToken"]
    if function == "authorizer":
        policy = handler(events.authorizer_event(pair["accessToken"]), Context())
        outcome = policy["policyDocument"]["Statement"][0]["Effect"]
    elif function in ("ws_connect", "ws_disconnect"):
        route = "$connect" if function == "ws_connect" else "$disconnect"
        event = events.ws_event(
            route,
            user="alice",
            connection="conn-1",
            session=principal.session_id,
            token_exp=principal.expires_at,
        )
        outcome = handler(event, Context())["statusCode"]
    elif function in FRAMES:
        event = events.ws_event(
            FRAMES[function]["action"],
            FRAMES[function],
            user="alice",
            session=principal.session_id,
            token_exp=principal.expires_at,
        )
        outcome = json.loads(handler(event, Context())["body"])["type"]
    elif function in HTTP:
        method, route, body = HTTP[function]
        event = events.http_event(method, route, body=body, token=token)
        outcome = handler(event, Context())["statusCode"]
    elif function == "health":
        outcome = handler(events.http_event("GET", "/health"), Context())["statusCode"]
    elif function == "erase":
        # A deleted file message's attachment: its record erased, its object still stored.
        from parley import ids
        from parley.services.attachments import object_key

        attachment_id = ids.new_ulid(now)
        runtime.attachments().create({
            "attachmentId": attachment_id, "conversationId": "dm:alice:bob",
            "uploaderId": "alice", "size": 2, "createdAt": now, "state": "erased",
            "erasedAt": now,
        })
        runtime.objects().client.put_object(
            Bucket=os.environ["PARLEY_ATTACHMENTS_BUCKET"], Key=object_key(attachment_id),
            Body=b"hi",
        )
        event = events.sqs_event([{"attachmentId": attachment_id}])
        outcome = handler(event, Context())["batchItemFailures"]
    elif function == "account_jobs":
        # An erasure for an account that was never deleted: read, nothing done.
        event = events.sqs_event([{"kind": "erase", "userId": "alice"}])
        outcome = handler(event, Context())["batchItemFailures"]
    elif function == "notifier":
        # A notify work item for a user without devices: the message is read, nothing sent.
        runtime.messages().put_if_absent({
            "conversationId": "dm:alice:bob", "seq": 1, "messageId": "01J00000000000000000000001",
            "senderId": "bob", "clientMsgId": "m1", "ts": now,
            "body": {"type": "text", "text": "hi"},
        })
        item = {"conversationId": "dm:alice:bob", "seq": 1, "userIds": ["alice"]}
        outcome = handler(events.sqs_event([item]), Context())["batchItemFailures"]
    else:
        # Work items name their message: the fanout reads it from the table.
        runtime.messages().put_if_absent({
            "conversationId": "dm:alice:bob",
            "seq": 1,
            "messageId": "01J00000000000000000000001",
            "senderId": "bob",
            "clientMsgId": "m1",
            "ts": now,
            "body": {"type": "text", "text": "hi"},
        })
        item = {
            "kind": "users",
            "userIds": ["alice"],
            "message": {"conversationId": "dm:alice:bob", "seq": 1},
            "exclude": None,
            "correlationId": "c-1",
        }
        outcome = handler(events.sqs_event([item]), Context())["batchItemFailures"]
print(json.dumps({"before": before, "after": "pydantic" in sys.modules, "outcome": outcome}))
"""

# function -> (outcome, a message its log must show, or None)
EXPECTED: dict[str, tuple[Any, str | None]] = {
    "authorizer": ("Allow", None),
    "ws_connect": (200, "connected"),
    "ws_disconnect": (200, "disconnected"),
    "fanout": ([], "work item done"),
    "erase": ([], "attachment erased"),
    "account_jobs": ([], "account job done"),
    "notifier": ([], "notify item done"),
    "ws_send": ("ack", None),
    "ws_sync": ("sync", None),
    "ws_live": ("presence", None),
    "http_auth": (201, None),
    "http_groups": (201, None),
    "http_users": (200, None),
    "http_conversations": (200, None),
    "http_rtc": (200, None),
    "http_admin": (403, None),  # alice is no app admin: refused before any pydantic
    "http_attachments": (201, None),  # validated; a direct conversation's pair may upload
    "http_devices": (201, None),
    "health": (200, None),
}


def test_every_function_is_covered() -> None:
    # GIVEN the functions of the template (one directory each)
    # THEN each serves a request here
    assert set(EXPECTED) == {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_the_handler_serves_a_request_without_importing_pydantic(function: str) -> None:
    # GIVEN a fresh interpreter with the layer, the function and the test support importable
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    # WHEN the handler is imported and serves one request against moto
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, function],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    logs = [json.loads(line) for line in lines[:-1] if line.startswith("{")]
    outcome, message = EXPECTED[function]
    # THEN the request succeeded, as its reply (and its own log line, where it writes one) says
    assert result["outcome"] == outcome, done.stdout[-3000:]
    messages = [line.get("message") for line in logs]
    assert message is None or message in messages, messages
    assert not [line for line in logs if line.get("level") in {"ERROR", "CRITICAL"}]
    # AND pydantic was imported neither by the setup nor by the handler
    assert result["before"] is False, "the test's own setup imported pydantic"
    assert result["after"] is False, f"{function} imported pydantic"
