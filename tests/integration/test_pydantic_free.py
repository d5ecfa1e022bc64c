"""The connection path and the fan-out never import pydantic.

The authorizer, `$connect`, `$disconnect` and fanout validate no client frame or body, and
their cold starts are the ones a user waits for (opening a socket, receiving a message).
Each is imported in a fresh interpreter, as Lambda does, and serves one real request against
moto; pydantic must not be in `sys.modules` afterwards. A module that starts importing
pydantic (directly or through a service or repository) fails here with its import chain
easy to find (`python -X importtime`).
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


with mock_aws():
    os.environ.update(create_stack().env())
    from parley import passwords, runtime

    # A user with a login, and for the routes that need one, an open connection.
    now = int(time.time() * 1000)
    runtime.users().create("alice", passwords.hash_password("correct horse"), "Alice", now)
    pair = runtime.auth_service().login("alice", "correct horse", "198.51.100.7")
    principal = runtime.auth_service().authenticate(pair["accessToken"])
    if function in ("ws_disconnect", "fanout"):
        runtime.connection_service().connect(
            "conn-1", "alice", principal.session_id, principal.expires_at, "198.51.100.7"
        )
    before = "pydantic" in sys.modules

    handler = load(function).handler
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
    else:
        frame = {
            "type": "message",
            "conversationId": "dm:alice:bob",
            "seq": 1,
            "from": "bob",
            "ts": now,
            "body": {"type": "text", "text": "hi"},
        }
        item = {
            "kind": "users",
            "userIds": ["alice"],
            "frame": frame,
            "exclude": None,
            "correlationId": "c-1",
        }
        outcome = handler(events.sqs_event([item]), Context())["batchItemFailures"]
print(json.dumps({"before": before, "after": "pydantic" in sys.modules, "outcome": outcome}))
"""

EXPECTED: dict[str, tuple[Any, str]] = {
    "authorizer": ("Allow", "authorized"),
    "ws_connect": (200, "connected"),
    "ws_disconnect": (200, "disconnected"),
    "fanout": ([], "work item done"),
}


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
    # THEN the request succeeded, as its own log line says
    assert result["outcome"] == outcome, done.stdout[-3000:]
    messages = [line.get("message") for line in logs]
    assert message in messages or function == "authorizer", messages
    assert not [line for line in logs if line.get("level") in {"ERROR", "CRITICAL"}]
    # AND pydantic was imported neither by the setup nor by the handler
    assert result["before"] is False, "the test's own setup imported pydantic"
    assert result["after"] is False, f"{function} imported pydantic"
