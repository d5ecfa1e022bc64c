"""API Gateway- and SQS-shaped events built from the samples in `events/`."""

from __future__ import annotations

import copy
import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
_ids = itertools.count(1)


@cache
def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(_sample(name))


def ws_event(
    route: str,
    body: Any = None,
    *,
    user: str = "alice",
    connection: str = "conn-a",
    session: str = "sess",
    token_exp: int = 4102444800,
    raw: str | None = None,
) -> dict[str, Any]:
    """A WebSocket route event for `route` with the authorizer context of `user`."""
    name = {"$connect": "ws_connect", "$disconnect": "ws_disconnect"}.get(route, "ws_send")
    event = sample(name)
    ctx = event["requestContext"]
    ctx["routeKey"] = route
    ctx["connectionId"] = connection
    ctx["requestId"] = f"req-{next(_ids)}"
    ctx["authorizer"] = {
        "principalId": user,
        "userId": user,
        "sessionId": session,
        "tokenExp": token_exp,
    }
    if name == "ws_send":
        event["body"] = raw if raw is not None else json.dumps(body)
    return event


def authorizer_event(token: str | None) -> dict[str, Any]:
    event = sample("ws_authorizer")
    if token is None:
        event["queryStringParameters"] = {}
    else:
        event["queryStringParameters"] = {"token": token}
    return event


def http_event(
    method: str,
    route: str,
    *,
    body: Any = None,
    raw: str | None = None,
    token: str | None = None,
    path: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    source_ip: str = "203.0.113.10",
) -> dict[str, Any]:
    """A payload-format-2.0 HTTP API event for `METHOD /route/{with}/{params}`."""
    event = sample("http_login")
    raw_path = route
    for key, value in (path or {}).items():
        raw_path = raw_path.replace("{" + key + "}", value)
    event["routeKey"] = f"{method} {route}"
    event["rawPath"] = raw_path
    event["requestContext"]["routeKey"] = f"{method} {route}"
    event["requestContext"]["http"].update(method=method, path=raw_path, sourceIp=source_ip)
    event["requestContext"]["requestId"] = f"http-{next(_ids)}"
    event["pathParameters"] = path or None
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    event["headers"] = headers
    if raw is not None:
        event["body"] = raw
    elif body is not None:
        event["body"] = json.dumps(body)
    else:
        event.pop("body", None)
    return event


def sqs_event(bodies: list[Any]) -> dict[str, Any]:
    template = sample("sqs_push")["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{i}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}
