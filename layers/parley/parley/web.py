"""Access-layer helpers shared by the handlers: request views, replies, error mapping.

Handlers stay thin: they build a request view, call one service function and return what
these helpers make of the result or the error. Every failure leaves with a protocol code.

HTTP routes are authenticated here, not in the handlers: `serve_http` verifies the bearer
token of every route that is not declared :func:`public` before the route runs, and hands
the route the verified :attr:`HttpRequest.caller`. With the stack's optional edge in front
of the HTTP API (CloudFront and its WAF rate rule), it first refuses every request that did
not come through the edge: :func:`through_edge`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from parley import frames
from parley.errors import (
    Code,
    Forbidden,
    InvalidParam,
    ParleyError,
    Unauthenticated,
    internal_error,
)
from parley.observability import count, error_metric, logger
from parley.tokens import Principal
from parley.wire import compact_json, parse_json_object, request_id_of

MAX_HTTP_BODY = 64 * 1024
OK = 0  # the `code` of a successful request or frame in log lines (errors carry theirs)
JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store"}


# ---- HTTP (payload format 2.0) -----------------------------------------------------------

Caller = Principal
"""The verified identity behind a request: user id, session id, token expiry and id."""


@dataclass
class HttpRequest:
    """What a handler needs from an HTTP API event."""

    route: str
    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: str | None
    request_id: str
    source_ip: str | None
    authenticated: Caller | None = None  # set by `serve_http` for every non-public route

    @property
    def caller(self) -> Caller:
        """Who sent the request (1003 on a public route, which has no verified caller)."""
        if self.authenticated is None:
            raise Unauthenticated()
        return self.authenticated

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> HttpRequest:
        ctx = event.get("requestContext") or {}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            import base64

            try:
                body = base64.b64decode(body).decode()
            except (ValueError, UnicodeDecodeError):
                raise InvalidParam("body must be UTF-8 JSON") from None
        return cls(
            route=str(event.get("routeKey", "")),
            path=dict(event.get("pathParameters") or {}),
            query=dict(event.get("queryStringParameters") or {}),
            headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
            raw_body=body,
            request_id=str(ctx.get("requestId", "")),
            source_ip=(ctx.get("http") or {}).get("sourceIp"),
        )

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (1001 if it is not one, 1006 if over 64 KB)."""
        return parse_json_object(self.raw_body, limit=MAX_HTTP_BODY)

    def bearer(self) -> str:
        """The token of `Authorization: Bearer ...` (1003 when absent or malformed)."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer token")
        return token.strip()

    def int_query(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """An integer query parameter within [low, high] (1001 otherwise)."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        # ASCII only: str.isdigit() also accepts "²" and other digits int() rejects.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 16:
            raise InvalidParam(f"{name} must be an integer")
        value = int(raw)
        if not low <= value <= high:
            raise InvalidParam(f"{name} must be between {low} and {high}")
        return value


def http_response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
    }
    if body is not None:
        response["body"] = compact_json(body)
    return response


def http_error(err: ParleyError) -> dict[str, Any]:
    headers = {}
    if err.retry_after_ms is not None:
        headers["retry-after"] = str(max(1, -(-err.retry_after_ms // 1000)))
    return http_response(err.http_status, err.payload(), headers)


HttpRoute = Callable[[HttpRequest], dict[str, Any]]
Authenticate = Callable[[str], Caller]


@dataclass(frozen=True)
class Public:
    """A route served without a bearer token: the only way a route escapes authentication."""

    route: HttpRoute

    def __call__(self, request: HttpRequest) -> dict[str, Any]:
        return self.route(request)


def public(route: HttpRoute) -> Public:
    """Declare `route` public in a route table (`/health`, `/auth/*`)."""
    return Public(route)


EDGE_HEADER = "x-parley-edge"
"""The header CloudFront adds to every request it forwards (template: EdgeDistribution)."""
VIEWER_ADDRESS = "cloudfront-viewer-address"
"""CloudFront's `ip:port` of the viewer; CloudFront sets it, a client cannot."""


def through_edge(request: HttpRequest, secret: str | None) -> None:
    """With an edge in front (`secret` set): refuse a request that did not come through it
    (403, code 1004), so that calling the `execute-api` URL directly cannot skip the edge's
    per-address rate limit; and take the caller's address from CloudFront's viewer header,
    since API Gateway's `sourceIp` is then a CloudFront server's (the per-address limits
    of login, registration and connect would count a whole edge location as one caller).
    """
    if secret is None:
        return
    sent = request.headers.pop(EDGE_HEADER, "")
    if not hmac.compare_digest(sent.encode(), secret.encode()):
        raise Forbidden("requests go through the edge URL")
    viewer = request.headers.get(VIEWER_ADDRESS, "")
    # `203.0.113.9:443` or `2001:db8::1:443`: the port follows the last colon.
    address = viewer.rpartition(":")[0].strip("[]")
    if address:
        request.source_ip = address


def serve_http(
    event: dict[str, Any],
    routes: Mapping[str, HttpRoute | Public],
    authenticate: Authenticate | None = None,
    edge_secret: Callable[[], str | None] | None = None,
) -> dict[str, Any]:
    """Dispatch an HTTP API event by its route key and map every outcome to a response.

    A request that did not come through the stack's edge, when it has one, is refused (403
    code 1004; :func:`through_edge`, with `edge_secret` the runtime's by default). A route
    not declared :func:`public` runs only with a valid bearer token (401 code 1003
    otherwise), verified by `authenticate` (the runtime's auth service by default).
    """
    started = time.perf_counter()
    request_id = str((event.get("requestContext") or {}).get("requestId", ""))
    try:
        count("Requests")
        request = HttpRequest.from_event(event)
        through_edge(request, (edge_secret or _edge_secret)())
        route = routes.get(request.route)
        if route is None:
            return http_response(
                404, {"code": int(Code.CONVERSATION_NOT_FOUND), "message": "no such route"}
            )
        logger.append_keys(route=request.route)
        if not isinstance(route, Public):
            request.authenticated = (authenticate or _authenticate)(request.bearer())
        response = route(request)
        logger.info(
            "request done",
            extra={"code": OK, "status": response["statusCode"], "latencyMs": _ms(started)},
        )
        return response
    except ParleyError as err:
        error_metric(err.code)
        logger.info(
            "request refused",
            extra={"code": int(err.code), "status": err.http_status, "latencyMs": _ms(started)},
        )
        return http_error(err)
    except Exception:
        logger.exception(
            "request failed", extra={"code": int(Code.INTERNAL), "latencyMs": _ms(started)}
        )
        error_metric(Code.INTERNAL)
        return http_error(internal_error(request_id))


def _edge_secret() -> str | None:
    from parley import runtime

    return runtime.edge_secret()


def _authenticate(token: str) -> Caller:
    """The caller of a bearer token: signature, claims, and a login that is not revoked."""
    from parley import runtime

    return runtime.auth_service().authenticate(token)


# ---- WebSocket ---------------------------------------------------------------------------


@dataclass
class WsRequest:
    """What a handler needs from an API Gateway WebSocket event."""

    route: str
    connection_id: str
    request_id: str
    body: str | None
    user_id: str
    session_id: str
    token_expires_at: int
    source_ip: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> WsRequest:
        ctx = event.get("requestContext") or {}
        auth = ctx.get("authorizer") or {}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            import base64
            import binascii

            try:
                body = base64.b64decode(body, validate=True).decode(errors="replace")
            except (binascii.Error, ValueError):
                body = None  # answered as "not a JSON object" (1001) by the frame parser
        return cls(
            route=str(ctx.get("routeKey", "")),
            connection_id=str(ctx.get("connectionId", "")),
            request_id=str(ctx.get("requestId", "")),
            body=body,
            user_id=str(auth.get("userId") or auth.get("principalId") or ""),
            session_id=str(auth.get("sessionId", "")),
            token_expires_at=_int_or_zero(auth.get("tokenExp")),
            source_ip=(ctx.get("identity") or {}).get("sourceIp"),
        )


def _int_or_zero(value: Any) -> int:
    # Authorizer context values reach later routes as strings or numbers.
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def ws_reply(frame: dict[str, Any] | None) -> dict[str, Any]:
    """A route response: API Gateway sends `body` to the client when the route is two-way."""
    if frame is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": compact_json(frame)}


def ws_error(err: ParleyError, request_id: str | None) -> dict[str, Any]:
    """The route response carrying `err` as an `error` frame."""
    return ws_reply(frames.error(err.payload(), request_id))


WsAction = Callable[[WsRequest], dict[str, Any] | None]
WsGuardCheck = Callable[[WsRequest], None]


def serve_ws(
    event: dict[str, Any], action: WsAction, guard: WsGuardCheck | None = None
) -> dict[str, Any]:
    """Run one WebSocket action after the guard (token lifetime, frame rate); any failure
    becomes an `error` frame with a code."""
    started = time.perf_counter()
    request = WsRequest.from_event(event)
    logger.append_keys(userId=request.user_id or None, connectionId=request.connection_id)
    frame_id = request_id_of(request.body)
    count("Requests")
    try:
        if guard is not None:
            guard(request)
        reply = action(request)
        logger.info(
            "frame done", extra={"route": request.route, "code": OK, "latencyMs": _ms(started)}
        )
        return ws_reply(reply)
    except ParleyError as err:
        error_metric(err.code)
        logger.info(
            "frame refused",
            extra={"route": request.route, "code": int(err.code), "latencyMs": _ms(started)},
        )
        return ws_error(err, frame_id)
    except Exception:
        logger.exception(
            "frame failed",
            extra={"route": request.route, "code": int(Code.INTERNAL), "latencyMs": _ms(started)},
        )
        error_metric(Code.INTERNAL)
        return ws_error(internal_error(request.request_id), frame_id)


def guard_frame(request: WsRequest) -> None:
    """The standard guard: the shared WsGuard checks of `parley.runtime`."""
    from parley import runtime

    runtime.ws_guard().check(
        request.connection_id, request.token_expires_at, session_id=request.session_id
    )


def guard_send(request: WsRequest) -> None:
    """The send route's guard: the token checks; the frame is counted by the send limit."""
    from parley import runtime

    runtime.ws_guard().check(
        request.connection_id,
        request.token_expires_at,
        session_id=request.session_id,
        count_frame=False,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
