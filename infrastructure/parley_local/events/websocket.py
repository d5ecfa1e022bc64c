"""WebSocket API events: `$connect`, the REQUEST authorizer, messages, `$disconnect`.

Shaped as API Gateway builds them (Powertools' samples `apiGatewayWebSocketApiConnect.json`,
`...Message.json`, `...Disconnect.json`, `apiGatewayAuthorizerWebSocketEvent.json`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley_local import ids


@dataclass
class WsConnection:
    """What the gateway knows of one WebSocket connection (used in every event)."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    authorizer: dict[str, Any] | None = None
    port: int = 443


def single_and_multi(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """REST-style (payload 1.0) maps: last value wins in the single map, all in the multi."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def ws_request_context(
    conn: WsConnection,
    route_key: str,
    event_type: str,
    *,
    request_id: str | None = None,
    now_ms: int | None = None,
    message_id: str | None = None,
    identity: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    now = ids.now_ms() if now_ms is None else now_ms
    rid = request_id or ids.gateway_id()
    ctx: dict[str, Any] = {"routeKey": route_key}
    if message_id is not None:
        ctx["messageId"] = message_id
    ctx.update(extra or {})
    ctx.update(
        {
            "eventType": event_type,
            "extendedRequestId": rid,
            "requestTime": ids.clf_time(now),
            "messageDirection": "IN",
            "stage": conn.stage,
            "connectedAt": conn.connected_at,
            "requestTimeEpoch": now,
            "identity": dict(identity) if identity is not None else {"sourceIp": conn.source_ip},
            "requestId": rid,
            "domainName": conn.domain_name,
            "connectionId": conn.connection_id,
            "apiId": conn.api_id,
        }
    )
    if conn.authorizer is not None:
        ctx["authorizer"] = dict(conn.authorizer)
    return ctx


def _connect_headers(conn: WsConnection, trace: str) -> list[tuple[str, str]]:
    """The handshake's headers plus those API Gateway's front end adds."""
    added = {
        "X-Amzn-Trace-Id": trace,
        "X-Forwarded-For": conn.source_ip,
        "X-Forwarded-Port": str(conn.port),
        "X-Forwarded-Proto": "http",
    }
    present = {k.lower() for k, _ in conn.headers}
    return list(conn.headers) + [(k, v) for k, v in added.items() if k.lower() not in present]


def ws_connect_event(conn: WsConnection, *, request_id: str | None = None) -> dict[str, Any]:
    headers, multi_headers = single_and_multi(_connect_headers(conn, ids.trace_id()))
    identity: dict[str, Any] = {"sourceIp": conn.source_ip}
    if conn.user_agent:
        identity["userAgent"] = conn.user_agent
    event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    if conn.query:
        query, multi_query = single_and_multi(conn.query)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = ws_request_context(
        conn, "$connect", "CONNECT", request_id=request_id, identity=identity
    )
    event["isBase64Encoded"] = False
    return event


def method_arn(region: str, account_id: str, conn: WsConnection, route_key: str) -> str:
    return f"arn:aws:execute-api:{region}:{account_id}:{conn.api_id}/{conn.stage}/{route_key}"


def ws_authorizer_event(conn: WsConnection, arn: str) -> dict[str, Any]:
    """The input of a WebSocket REQUEST authorizer (its context carries no authorizer)."""
    headers, multi_headers = single_and_multi(_connect_headers(conn, ids.trace_id()))
    query, multi_query = single_and_multi(conn.query)
    unauthorised = WsConnection(**{**conn.__dict__, "authorizer": None})
    return {
        "type": "REQUEST",
        "methodArn": arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": ws_request_context(unauthorised, "$connect", "CONNECT"),
    }


def ws_message_event(
    conn: WsConnection, route_key: str, body: str | bytes, *, message_id: str | None = None
) -> dict[str, Any]:
    is_binary = isinstance(body, bytes)
    return {
        "requestContext": ws_request_context(
            conn, route_key, "MESSAGE", message_id=message_id or ids.gateway_id()
        ),
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": is_binary,
    }


def ws_disconnect_event(conn: WsConnection, status_code: int, reason: str) -> dict[str, Any]:
    host = conn.domain_name
    headers = {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": ws_request_context(
            conn,
            "$disconnect",
            "DISCONNECT",
            extra={"disconnectStatusCode": status_code, "disconnectReason": reason},
        ),
        "isBase64Encoded": False,
    }
