"""HTTP API events and answers: payload format 2.0 (Powertools' `apiGatewayProxyV2Event.json`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parley_local import ids

# Content types whose bodies HTTP APIs pass as text; everything else (a missing type,
# form posts included) reaches the function base64-encoded.
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


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
