"""The HTTP API: payload format 2.0 events, responses, errors and CORS, over real HTTP."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from parley_local import LocalCloud

pytestmark = pytest.mark.timeout(60)


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    cloud: LocalCloud,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    request = urllib.request.Request(  # noqa: S310 - the local cloud's http URL
        cloud.http_url + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def test_health(cloud: LocalCloud) -> None:
    reply = call(cloud, "GET", "/health")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["apigw-requestid"]


def test_request_becomes_a_payload_2_event(cloud: LocalCloud) -> None:
    # GIVEN a POST with a path parameter, repeated query keys, cookies and a JSON body
    reply = call(
        cloud,
        "POST",
        "/items/it%3A1?a=1&a=2&b=x%20y",
        body=b'{"name": "box"}',
        headers={
            "Content-Type": "application/json",
            "Cookie": "session=abc; theme=dark",
            "X-Custom": "yes",
            "User-Agent": "tests/2.0",
        },
    )
    # THEN the function saw the event an HTTP API builds
    assert reply.status == 200
    event = reply.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/it%3A1"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["headers"]["x-custom"] == "yes"
    assert event["headers"]["host"] == f"127.0.0.1:{cloud.http_port}"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["pathParameters"] == {"id": "it:1"}
    assert event["body"] == '{"name": "box"}'
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["accountId"] == "123456789012"
    assert ctx["apiId"] == cloud.ref("HttpApi")
    assert ctx["domainName"] == f"127.0.0.1:{cloud.http_port}"
    assert ctx["http"] == {
        "method": "POST",
        "path": "/items/it%3A1",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/2.0",
    }
    assert ctx["routeKey"] == "POST /items/{id}"
    assert ctx["stage"] == "$default"
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", ctx["time"])
    assert abs(ctx["timeEpoch"] - time.time() * 1000) < 60_000
    assert reply.headers["apigw-requestid"] == ctx["requestId"]


def test_response_passes_through_with_cookies(cloud: LocalCloud) -> None:
    reply = call(cloud, "GET", "/status/201")
    assert reply.status == 201
    assert reply.headers["x-request-id"] == "abc"
    assert reply.headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]


def test_non_text_bodies_arrive_base64_encoded(cloud: LocalCloud) -> None:
    # GIVEN a form post (HTTP APIs base64-encode it, like any non-text type)
    reply = call(
        cloud,
        "POST",
        "/items/1",
        body=b"a=1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    event = reply.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"a=1&b=2"


def test_any_and_greedy_routes(cloud: LocalCloud) -> None:
    for method in ("GET", "DELETE", "PUT"):
        reply = call(cloud, method, "/conversations/c1/messages?limit=5")
        event = reply.json()["event"]
        assert event["routeKey"] == "ANY /conversations/{id}/messages"
        assert event["requestContext"]["http"]["method"] == method
    files = call(cloud, "GET", "/files/a/b/c.txt").json()["event"]
    assert files["pathParameters"] == {"path": "a/b/c.txt"}


def test_unknown_routes_are_404(cloud: LocalCloud) -> None:
    for method, path in (("GET", "/nowhere"), ("GET", "/items/1"), ("POST", "/health")):
        reply = call(cloud, method, path)
        assert reply.status == 404
        assert reply.json() == {"message": "Not Found"}


def test_a_crashing_function_is_a_500_and_its_traceback_is_logged(cloud: LocalCloud) -> None:
    reply = call(cloud, "POST", "/crash")
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert "CrashFunction" in cloud.wait_for_log("ValueError: boom from crash")


def test_a_function_over_its_timeout_is_a_500(cloud: LocalCloud) -> None:
    started = time.monotonic()
    reply = call(cloud, "GET", "/sleep")
    elapsed = time.monotonic() - started
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert 0.9 < elapsed < 15  # the 1 s Timeout, plus a cold start on a busy machine
    cloud.wait_for_log("Task timed out after 1.00 seconds")


def test_inferred_and_special_responses(cloud: LocalCloud) -> None:
    inferred = call(cloud, "GET", "/status/inferred")
    assert (inferred.status, inferred.json()) == (200, {"hello": "world"})
    assert inferred.headers["content-type"] == "application/json"
    string = call(cloud, "GET", "/status/string")
    assert (string.status, string.body) == (200, b"plain string")
    binary = call(cloud, "GET", "/status/binary")
    assert binary.body == b"\x00\x01\x02"
    malformed = call(cloud, "GET", "/status/malformed")
    assert malformed.status == 500
    assert malformed.json() == {"message": "Internal Server Error"}
    cloud.wait_for_log("returned a malformed response")


def test_cors_preflight_is_answered_by_the_gateway(cloud: LocalCloud) -> None:
    # GIVEN a browser preflight from an allowed origin
    reply = call(
        cloud,
        "OPTIONS",
        "/items/1",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    # THEN the gateway answers it from CorsConfiguration
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    assert reply.headers["access-control-allow-methods"] == "GET,POST,DELETE"
    assert reply.headers["access-control-allow-headers"] == "authorization,content-type"
    assert reply.headers["access-control-max-age"] == "600"
    # AND an origin that is not allowed gets no CORS headers
    refused = call(
        cloud,
        "OPTIONS",
        "/items/1",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


def test_cors_headers_on_responses_replace_the_backends(cloud: LocalCloud) -> None:
    reply = call(cloud, "GET", "/status/200", headers={"Origin": "https://app.example.com"})
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    assert reply.headers["access-control-expose-headers"] == "x-request-id"
    other = call(cloud, "GET", "/status/200", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers
