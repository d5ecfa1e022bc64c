"""`parley.web`: request views, bearer parsing, authentication, query bounds and error
mapping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from parley.errors import (
    Conflict,
    Forbidden,
    InvalidParam,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
)
from parley.tokens import Principal
from parley.web import Caller, HttpRequest, WsRequest, public, serve_http, serve_ws

ALICE = Principal(user_id="alice", session_id="s1", expires_at=99, token_id="j1")


def accept_tok(token: str) -> Caller:
    """An authenticator that knows one token, `tok` (alice's)."""
    if token != "tok":
        raise Unauthenticated("invalid token")
    return ALICE


def http_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routeKey": "POST /things",
        "rawPath": "/things",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer tok"},
        "pathParameters": {"id": "7"},
        "queryStringParameters": {"limit": "10"},
        "requestContext": {"requestId": "req-http-1", "http": {"sourceIp": "203.0.113.9"}},
        "body": '{"a":1}',
        "isBase64Encoded": False,
    }
    event.update(overrides)
    return event


def ws_event(body: Any = None, *, raw: str | None = None, **ctx: Any) -> dict[str, Any]:
    context = {
        "routeKey": "send",
        "connectionId": "conn-1",
        "requestId": "req-ws-1",
        "authorizer": {
            "principalId": "alice",
            "userId": "alice",
            "sessionId": "s1",
            "tokenExp": 99,
        },
        "identity": {"sourceIp": "198.51.100.1"},
    }
    context.update(ctx)
    return {
        "requestContext": context,
        "body": raw if raw is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


# ---- HttpRequest -------------------------------------------------------------------------


def test_http_request_from_event() -> None:
    # GIVEN an HTTP API 2.0 event
    # WHEN it is viewed as a request
    # THEN route, path, query, lower-cased headers, body, request id and source ip are kept
    request = HttpRequest.from_event(http_event())
    assert request.route == "POST /things"
    assert request.path == {"id": "7"}
    assert request.query == {"limit": "10"}
    assert request.headers["authorization"] == "Bearer tok"
    assert "Authorization" not in request.headers
    assert request.raw_body == '{"a":1}'
    assert request.request_id == "req-http-1"
    assert request.source_ip == "203.0.113.9"
    assert request.json() == {"a": 1}


def test_http_request_with_nulls_for_absent_parts() -> None:
    # GIVEN an event whose optional parts are null or missing
    # WHEN it is viewed as a request
    # THEN they are empty, not errors
    request = HttpRequest.from_event(
        {"routeKey": "GET /x", "pathParameters": None, "queryStringParameters": None}
    )
    assert (request.path, request.query, request.headers) == ({}, {}, {})
    assert request.raw_body is None
    assert request.source_ip is None
    with pytest.raises(InvalidParam):
        request.json()


def test_base64_body_is_decoded() -> None:
    # GIVEN a body API Gateway base64-encoded
    # WHEN the request is built
    # THEN the decoded UTF-8 text is the body
    encoded = base64.b64encode('{"name":"中文"}'.encode()).decode()
    request = HttpRequest.from_event(http_event(body=encoded, isBase64Encoded=True))
    assert request.json() == {"name": "中文"}


def test_base64_body_that_is_not_utf8_is_invalid_param() -> None:
    # GIVEN a base64 body that decodes to invalid UTF-8
    # WHEN the request is built
    # THEN it is 1001
    encoded = base64.b64encode(b"\xff\xfe\x00").decode()
    with pytest.raises(InvalidParam):
        HttpRequest.from_event(http_event(body=encoded, isBase64Encoded=True))


def test_body_that_is_not_an_object_is_invalid_param() -> None:
    # GIVEN bodies that are not JSON objects
    # WHEN parsed as JSON
    # THEN each is 1001
    for body in ("[1]", "not json", '"s"', ""):
        with pytest.raises(InvalidParam):
            HttpRequest.from_event(http_event(body=body)).json()


def test_body_over_64_kb_is_payload_too_large() -> None:
    # GIVEN a body of 64 KB + 1 byte
    # WHEN parsed as JSON
    # THEN it is 1006, while exactly 64 KB parses
    def of(size: int) -> str:
        return '{"k":"' + "v" * (size - 8) + '"}'

    assert HttpRequest.from_event(http_event(body=of(65536))).json()["k"]
    with pytest.raises(PayloadTooLarge):
        HttpRequest.from_event(http_event(body=of(65537))).json()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"),
    ],
)
def test_bearer_token_is_extracted(header: str, token: str) -> None:
    # GIVEN an Authorization header with the Bearer scheme (any case)
    # WHEN the token is asked for
    # THEN it is the stripped credential
    request = HttpRequest.from_event(http_event(headers={"authorization": header}))
    assert request.bearer() == token


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "abc"]
)
def test_missing_or_malformed_bearer_is_unauthenticated(header: str | None) -> None:
    # GIVEN no Authorization header, or one without a Bearer credential
    # WHEN the token is asked for
    # THEN it is 1003
    headers = {} if header is None else {"Authorization": header}
    request = HttpRequest.from_event(http_event(headers=headers))
    with pytest.raises(Unauthenticated):
        request.bearer()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 50), ("", 50), ("1", 1), ("100", 100), ("050", 50)],
)
def test_int_query_within_bounds(raw: str | None, expected: int) -> None:
    # GIVEN an absent, empty or in-range query value
    # WHEN read with bounds 1-100 and default 50
    # THEN the default or the value comes back
    query = {} if raw is None else {"limit": raw}
    request = HttpRequest.from_event(http_event(queryStringParameters=query))
    assert request.int_query("limit", 50, 1, 100) == expected


@pytest.mark.parametrize(
    "raw", ["0", "101", "-1", "abc", "1.5", " 5", "1e2", "9" * 17, "²", "\u0661", "\uff15"]
)
def test_int_query_out_of_bounds_or_not_an_integer_is_invalid_param(raw: str) -> None:
    # GIVEN a value out of range, signed, fractional, non-ASCII digits or too long
    # WHEN read with bounds 1-100
    # THEN it is 1001, never another exception
    request = HttpRequest.from_event(http_event(queryStringParameters={"limit": raw}))
    with pytest.raises(InvalidParam):
        request.int_query("limit", 50, 1, 100)


def test_int_query_default_may_be_none() -> None:
    # GIVEN an optional parameter without a default
    # WHEN it is absent
    # THEN the answer is None
    request = HttpRequest.from_event(http_event(queryStringParameters=None))
    assert request.int_query("beforeSeq", None, 1, 2**53) is None


# ---- serve_http --------------------------------------------------------------------------


def test_serve_http_runs_the_route() -> None:
    # GIVEN a route table
    # WHEN an event for one route is served
    # THEN that route's response is returned
    seen: list[HttpRequest] = []

    def route(request: HttpRequest) -> dict[str, Any]:
        seen.append(request)
        return {"statusCode": 201, "body": "{}"}

    response = serve_http(http_event(), {"POST /things": route}, accept_tok)
    assert response["statusCode"] == 201
    assert seen[0].route == "POST /things"
    assert seen[0].caller == ALICE


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer other"}, {"x": "Bearer tok"}])
def test_serve_http_refuses_a_route_without_a_valid_token_before_it_runs(
    headers: dict[str, str],
) -> None:
    # GIVEN a route that is not declared public
    ran: list[HttpRequest] = []

    def route(request: HttpRequest) -> dict[str, Any]:
        ran.append(request)
        return {"statusCode": 200}

    # WHEN it is called without a token, or with one the authenticator refuses
    response = serve_http(http_event(headers=headers), {"POST /things": route}, accept_tok)
    # THEN the reply is 401 code 1003 and the route never ran
    assert response["statusCode"] == 401
    assert body_of(response)["code"] == 1003
    assert ran == []


def test_serve_http_runs_a_public_route_without_a_token() -> None:
    # GIVEN a route declared public
    seen: list[HttpRequest] = []

    def route(request: HttpRequest) -> dict[str, Any]:
        seen.append(request)
        return {"statusCode": 204}

    def authenticate(token: str) -> Caller:
        raise AssertionError("a public route must not authenticate")

    # WHEN it is called without a token
    response = serve_http(http_event(headers={}), {"POST /things": public(route)}, authenticate)
    # THEN it runs, and has no caller to read (1003 if it tries)
    assert response["statusCode"] == 204
    assert seen[0].authenticated is None
    with pytest.raises(Unauthenticated):
        _ = seen[0].caller


def test_serve_http_authenticates_with_the_runtime_auth_service_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the runtime's auth service, standing in for the real one
    from parley import runtime

    class Auth:
        def authenticate(self, token: str) -> Principal:
            return accept_tok(token)

    monkeypatch.setattr(runtime, "auth_service", Auth)
    seen: list[Caller] = []

    def route(request: HttpRequest) -> dict[str, Any]:
        seen.append(request.caller)
        return {"statusCode": 200}

    # WHEN a route is served without an explicit authenticator
    ok = serve_http(http_event(), {"POST /things": route})
    refused = serve_http(http_event(headers={"authorization": "Bearer x"}), {"POST /things": route})
    # THEN the service's verdict decides
    assert (ok["statusCode"], refused["statusCode"]) == (200, 401)
    assert seen == [ALICE]


def test_serve_http_unknown_route_is_404_with_a_code() -> None:
    # GIVEN no route for the event
    # WHEN it is served
    # THEN the reply is 404 with a JSON code
    response = serve_http(http_event(routeKey="GET /nowhere"), {})
    assert response["statusCode"] == 404
    assert body_of(response)["code"] == 2002


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidParam("bad"), 400, 1001),
        (Unauthenticated(), 401, 1003),
        (Forbidden(), 403, 1004),
        (Conflict(), 409, 1008),
        (PayloadTooLarge(), 413, 1006),
    ],
)
def test_serve_http_maps_parley_errors(error: Exception, status: int, code: int) -> None:
    # GIVEN a route that raises a protocol error
    # WHEN the event is served
    # THEN the reply has that error's status and a JSON {code, message} body
    def route(request: HttpRequest) -> dict[str, Any]:
        raise error

    response = serve_http(http_event(), {"POST /things": route}, accept_tok)
    assert response["statusCode"] == status
    assert response["headers"]["content-type"] == "application/json"
    assert set(body_of(response)) == {"code", "message"}
    assert body_of(response)["code"] == code


def test_serve_http_rate_limit_carries_retry_after() -> None:
    # GIVEN a route refusing with a 1.2 s retry hint
    # WHEN served
    # THEN the reply is 429 with retryAfterMs in the body and Retry-After rounded up to 2 s
    def route(request: HttpRequest) -> dict[str, Any]:
        raise RateLimited(retry_after_ms=1200)

    response = serve_http(http_event(), {"POST /things": route}, accept_tok)
    assert response["statusCode"] == 429
    assert body_of(response)["retryAfterMs"] == 1200
    assert response["headers"]["retry-after"] == "2"


def test_serve_http_maps_unexpected_exceptions_to_3001_naming_the_request() -> None:
    # GIVEN a route that crashes with a non-protocol exception
    # WHEN served
    # THEN the reply is 500 code 3001 naming the request id, without internals
    def route(request: HttpRequest) -> dict[str, Any]:
        raise KeyError("secret-internal-detail")

    response = serve_http(http_event(), {"POST /things": route}, accept_tok)
    assert response["statusCode"] == 500
    body = body_of(response)
    assert body["code"] == 3001
    assert "req-http-1" in body["message"]
    assert "secret-internal-detail" not in response["body"]
    assert "Traceback" not in response["body"]


def test_serve_http_maps_a_bad_base64_body_to_1001() -> None:
    # GIVEN an event whose base64 body is not UTF-8
    # WHEN served
    # THEN the reply is 400 code 1001 (the view is built inside the error mapping)
    encoded = base64.b64encode(b"\xff").decode()
    response = serve_http(http_event(body=encoded, isBase64Encoded=True), {})
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == 1001


def test_serve_http_bad_query_is_400_not_500() -> None:
    # GIVEN a route reading a query value of non-ASCII digits
    # WHEN served
    # THEN the reply is 400 code 1001
    def route(request: HttpRequest) -> dict[str, Any]:
        request.int_query("limit", 50, 1, 100)
        return {"statusCode": 200}

    response = serve_http(
        http_event(queryStringParameters={"limit": "²"}), {"POST /things": route}, accept_tok
    )
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == 1001


# ---- WebSocket ---------------------------------------------------------------------------


def test_ws_request_from_event() -> None:
    # GIVEN a WebSocket route event with an authorizer context
    # WHEN it is viewed as a request
    # THEN route, connection, request id, body and identity are kept
    request = WsRequest.from_event(ws_event({"action": "ping"}))
    assert request.route == "send"
    assert request.connection_id == "conn-1"
    assert request.request_id == "req-ws-1"
    assert json.loads(request.body or "") == {"action": "ping"}
    assert (request.user_id, request.session_id, request.token_expires_at) == ("alice", "s1", 99)
    assert request.source_ip == "198.51.100.1"


def test_ws_request_decodes_base64_frames() -> None:
    # GIVEN a binary frame API Gateway base64-encoded
    # WHEN the request is built
    # THEN the body is the decoded text
    event = ws_event()
    event["body"] = base64.b64encode(b'{"action":"ping"}').decode()
    event["isBase64Encoded"] = True
    assert WsRequest.from_event(event).body == '{"action":"ping"}'


def test_serve_ws_reply_frame() -> None:
    # GIVEN an action returning a frame
    # WHEN served
    # THEN the route response is 200 with the frame as compact JSON
    response = serve_ws(
        ws_event({"action": "ping", "id": "p1"}), lambda r: {"type": "pong", "id": "p1"}
    )
    assert response == {"statusCode": 200, "body": '{"type":"pong","id":"p1"}'}


def test_serve_ws_no_reply() -> None:
    # GIVEN an action with no reply (typing)
    # WHEN served
    # THEN the route response has no body
    assert serve_ws(ws_event({"action": "typing"}), lambda r: None) == {"statusCode": 200}


def test_serve_ws_maps_parley_error_to_an_error_frame_with_the_frame_id() -> None:
    # GIVEN an action refusing with a protocol error, for a frame with an id
    # WHEN served
    # THEN the reply is an `error` frame with that id, the code and the message
    def action(request: WsRequest) -> dict[str, Any]:
        raise Forbidden("not a member")

    response = serve_ws(ws_event({"action": "send", "id": "f-9"}), action)
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "type": "error",
        "id": "f-9",
        "code": 1004,
        "message": "not a member",
    }


def test_serve_ws_error_frame_carries_retry_after() -> None:
    # GIVEN an action refusing with a rate limit
    # WHEN served
    # THEN the error frame carries retryAfterMs
    def action(request: WsRequest) -> dict[str, Any]:
        raise RateLimited(retry_after_ms=20)

    assert body_of(serve_ws(ws_event({"action": "ping", "id": "x"}), action))["retryAfterMs"] == 20


def test_serve_ws_error_without_frame_id_has_no_id() -> None:
    # GIVEN a frame that is not JSON (so it has no id)
    # WHEN its action fails
    # THEN the error frame has no `id` key
    def action(request: WsRequest) -> dict[str, Any]:
        raise InvalidParam("bad json")

    frame = body_of(serve_ws(ws_event(raw="not json"), action))
    assert "id" not in frame
    assert frame["code"] == 1001


def test_serve_ws_maps_unexpected_exceptions_to_3001_naming_the_request() -> None:
    # GIVEN an action that crashes
    # WHEN served
    # THEN the error frame is 3001 naming the API Gateway request id, with the frame id
    def action(request: WsRequest) -> dict[str, Any]:
        raise ZeroDivisionError("internal-detail")

    frame = body_of(serve_ws(ws_event({"action": "send", "id": "f-1"}), action))
    assert frame["type"] == "error"
    assert frame["code"] == 3001
    assert frame["id"] == "f-1"
    assert "req-ws-1" in frame["message"]
    assert "internal-detail" not in frame["message"]


def test_serve_ws_guard_refusal_skips_the_action() -> None:
    # GIVEN a guard that refuses the frame (rate limit)
    # WHEN a frame is served
    # THEN the action does not run and the error frame carries the code, id and retry hint
    ran: list[WsRequest] = []

    def guard(request: WsRequest) -> None:
        raise RateLimited(retry_after_ms=500)

    def action(request: WsRequest) -> dict[str, Any]:
        ran.append(request)
        return {"type": "ok"}

    frame = body_of(serve_ws(ws_event({"action": "ping", "id": "g1"}), action, guard))
    assert ran == []
    assert frame == {
        "type": "error",
        "id": "g1",
        "code": 1005,
        "message": "too many requests",
        "retryAfterMs": 500,
    }


def test_serve_ws_guard_passing_runs_the_action() -> None:
    # GIVEN a guard that lets the frame through
    # WHEN a frame is served
    # THEN the action's reply is returned and the guard saw the request
    seen: list[str] = []
    response = serve_ws(
        ws_event({"action": "ping", "id": "g2"}),
        lambda r: {"type": "pong", "id": "g2"},
        lambda r: seen.append(r.connection_id),
    )
    assert body_of(response) == {"type": "pong", "id": "g2"}
    assert seen == ["conn-1"]
