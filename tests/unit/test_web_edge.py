"""`parley.web` behind the optional edge (EdgeProtection=on): a request that did not come
through CloudFront is refused, and the caller's address is CloudFront's viewer address."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley import runtime
from parley.config import Settings
from parley.web import EDGE_HEADER, VIEWER_ADDRESS, HttpRequest, public, serve_http, through_edge

SECRET = "s3cr3t-from-the-stack"


def event(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "routeKey": "POST /auth/login",
        "rawPath": "/auth/login",
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"requestId": "req-edge-1", "http": {"sourceIp": "198.51.100.7"}},
        "body": "{}",
        "isBase64Encoded": False,
    }


def serve(headers: dict[str, str], secret: str | None) -> tuple[dict[str, Any], list[Any]]:
    """Serve one public route that records the request it ran with."""
    ran: list[HttpRequest] = []

    @public
    def route(request: HttpRequest) -> dict[str, Any]:
        ran.append(request)
        return {"statusCode": 200, "body": "{}"}

    response = serve_http(event(headers), {"POST /auth/login": route}, edge_secret=lambda: secret)
    return response, ran


@pytest.mark.parametrize(
    "headers",
    [{}, {EDGE_HEADER: ""}, {EDGE_HEADER: "guess"}, {EDGE_HEADER: SECRET + "x"}],
    ids=["no header", "empty", "wrong", "longer"],
)
def test_with_the_edge_on_a_request_that_skipped_it_is_refused_before_its_route(
    headers: dict[str, str],
) -> None:
    # GIVEN a stack with the edge on, and a request on the execute-api URL (no or a wrong
    # edge header)
    # WHEN it is served
    response, ran = serve(headers, SECRET)
    # THEN it is refused (403, code 1004) and the route never runs
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["code"] == 1004
    assert ran == []


@pytest.mark.parametrize(
    ("viewer", "address"),
    [("203.0.113.9:51234", "203.0.113.9"), ("2001:db8::7:443", "2001:db8::7")],
)
def test_through_the_edge_the_caller_is_cloudfronts_viewer(viewer: str, address: str) -> None:
    # GIVEN a request forwarded by CloudFront: its secret header and the viewer's address
    headers = {EDGE_HEADER.upper(): SECRET, VIEWER_ADDRESS: viewer}
    # WHEN it is served
    response, [request] = serve({k.title(): v for k, v in headers.items()}, SECRET)
    # THEN the route runs with the viewer's address (API Gateway's is CloudFront's), and the
    # secret is not handed on to the route
    assert response["statusCode"] == 200
    assert request.source_ip == address
    assert EDGE_HEADER not in request.headers


def test_through_the_edge_without_a_viewer_address_the_source_ip_stays() -> None:
    request = HttpRequest.from_event(event({EDGE_HEADER: SECRET}))
    through_edge(request, SECRET)
    assert request.source_ip == "198.51.100.7"


def test_without_an_edge_nothing_changes() -> None:
    # GIVEN the default stack (no edge) and a request with whatever headers a client sends
    headers = {EDGE_HEADER: "anything", VIEWER_ADDRESS: "203.0.113.9:1"}
    # WHEN it is served
    response, [request] = serve(headers, None)
    # THEN it runs as before: API Gateway's source address, the headers as sent
    assert response["statusCode"] == 200
    assert request.source_ip == "198.51.100.7"
    assert request.headers[EDGE_HEADER] == "anything"


def test_the_runtime_reads_the_edge_secret_only_when_the_stack_has_an_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda_powertools.utilities import parameters

    read: list[tuple[str, int]] = []

    def get_secret(name: str, max_age: int) -> str:
        read.append((name, max_age))
        return SECRET

    monkeypatch.setattr(parameters, "get_secret", get_secret)
    # GIVEN no edge (the template's empty PARLEY_EDGE_SECRET_ARN): no secret is read
    monkeypatch.setattr(runtime, "settings", lambda: Settings(edge_secret_arn=""))
    assert runtime.edge_secret() is None
    assert read == []
    # GIVEN the edge: its secret, cached by Powertools for the secrets' max age
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-AbCdEf"
    monkeypatch.setattr(runtime, "settings", lambda: Settings(edge_secret_arn=arn))
    assert runtime.edge_secret() == SECRET
    assert read == [(arn, Settings().secret_max_age)]
