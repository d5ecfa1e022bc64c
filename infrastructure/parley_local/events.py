"""Lambda event payloads, shaped exactly as API Gateway and the SQS event source build them.

References: AWS's API Gateway developer guide and Powertools' sample events
(`apiGatewayWebSocketApiConnect.json`, `...Message.json`, `...Disconnect.json`,
`apiGatewayAuthorizerWebSocketEvent.json`, `apiGatewayProxyV2Event.json`, `sqsEvent.json`).
Every builder is a pure function of its inputs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley_local import ids

# Content types whose bodies HTTP APIs pass as text; everything else (a missing type,
# form posts included) reaches the function base64-encoded.
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


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


# ---------------------------------------------------------------------------- HTTP API


def is_text_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


@dataclass
class HttpRequestInfo:
    method: str
    raw_path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    port: int = 443


def http_v2_event(
    req: HttpRequestInfo,
    *,
    route_key: str,
    path_parameters: Mapping[str, str],
    api_id: str,
    stage: str,
    account_id: str,
    request_id: str | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """A payload format 2.0 event, as an HTTP API builds it."""
    now = ids.now_ms() if now_ms is None else now_ms
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in req.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-amzn-trace-id", ids.trace_id())
    headers.setdefault("x-forwarded-for", req.source_ip)
    headers.setdefault("x-forwarded-port", str(req.port))
    headers.setdefault("x-forwarded-proto", "http")
    domain = headers.get("host", "localhost")
    rid = request_id or ids.gateway_id()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if req.query:
        query: dict[str, str] = {}
        for key, value in req.query:
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": req.method.upper(),
            "path": req.raw_path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": rid,
        "routeKey": route_key,
        "stage": stage,
        "time": ids.clf_time(now),
        "timeEpoch": now,
    }
    if req.body:
        if is_text_content(headers.get("content-type")):
            try:
                event["body"] = req.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(req.body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(req.body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


@dataclass
class HttpReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponse(ValueError):
    """The function's answer is not a valid HTTP API (2.0) response."""


def http_v2_response(payload: Any) -> HttpReply:
    """What API Gateway sends back for a function's 2.0 answer.

    A dict with `statusCode` is taken as is (headers, cookies, body, isBase64Encoded); any
    other answer is the *inferred* format: 200, `application/json`, the answer as body
    (a string as it is, anything else as JSON).
    """
    import json

    if not isinstance(payload, dict) or "statusCode" not in payload:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return HttpReply(200, [("content-type", "application/json")], text.encode())
    try:
        status = int(payload["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponse(f"statusCode {payload['statusCode']!r} is not an integer") from None
    if not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status} is out of range")
    headers: list[tuple[str, str]] = []
    raw_headers = payload.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers must be a mapping")
    for name, value in raw_headers.items():
        if isinstance(value, list | dict):
            raise MalformedResponse(f"header {name!r} must be a string")
        headers.append((str(name), _scalar(value)))
    multi = payload.get("multiValueHeaders") or {}
    if isinstance(multi, dict):
        for multi_name, values in multi.items():
            for value in values if isinstance(values, list) else [values]:
                headers.append((str(multi_name), _scalar(value)))
    for cookie in payload.get("cookies") or []:
        headers.append(("set-cookie", str(cookie)))
    body = payload.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if payload.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise MalformedResponse("isBase64Encoded is true but body is not base64") from None
        else:
            data = body.encode("utf-8")
    else:
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    return HttpReply(status, headers, data)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------- SQS


def sqs_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS ReceiveMessage `MessageAttributes` -> the Lambda event's camel-case shape."""
    out: dict[str, Any] = {}
    for name, attr in attributes.items():
        item: dict[str, Any] = {}
        if "StringValue" in attr:
            item["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            raw = attr["BinaryValue"]
            item["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        item["stringListValues"] = list(attr.get("StringListValues") or [])
        item["binaryListValues"] = [
            base64.b64encode(v).decode() if isinstance(v, bytes) else v
            for v in attr.get("BinaryListValues") or []
        ]
        item["dataType"] = attr.get("DataType", "String")
        out[name] = item
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event from one ReceiveMessage message."""
    body = str(message.get("Body", ""))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": sqs_message_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def batch_item_failures(payload: Any, message_ids: Sequence[str]) -> set[str] | None:
    """Message ids to keep from a `ReportBatchItemFailures` answer; None = whole batch failed.

    As Lambda: an empty or missing list means all succeeded; an id that is empty or not in
    the batch makes the whole batch fail.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return set()
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    keep: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        keep.add(str(identifier))
    return keep
