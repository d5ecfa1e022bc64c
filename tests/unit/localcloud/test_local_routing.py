"""Route selection (WebSocket), route matching (HTTP) and CORS rules."""

from __future__ import annotations

import pytest
from parley_local.routing import (
    cors_headers,
    is_preflight,
    match_route,
    origin_allowed,
    preflight_headers,
    select_route,
)
from parley_local.stack import CorsConfig, HttpRoute

ROUTES = {"$connect", "$disconnect", "$default", "send", "sync"}


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"action": "send"}', "send"),
        ('{"action": "sync", "id": 1}', "sync"),
        ('{"action": "nope"}', "$default"),  # no such route
        ('{"other": "send"}', "$default"),  # no action field
        ('{"action": 5}', "$default"),  # not a string
        ('["send"]', "$default"),  # not an object
        ("send", "$default"),  # not JSON
        ("", "$default"),
        (b'{"action": "send"}', "$default"),  # binary frames are not parsed
    ],
)
def test_route_selection_expression(frame: str | bytes, expected: str) -> None:
    # WHEN a frame arrives THEN $request.body.action picks its route, else $default
    assert select_route("$request.body.action", frame, ROUTES) == expected


def test_route_selection_supports_nested_fields_and_the_braced_form() -> None:
    assert select_route("$request.body.meta.kind", '{"meta": {"kind": "send"}}', ROUTES) == "send"
    assert select_route("${request.body.action}", '{"action": "sync"}', ROUTES) == "sync"
    assert select_route("$request.header.x", '{"action": "sync"}', ROUTES) == "$default"


def r(method: str, path: str, fn: str = "F") -> HttpRoute:
    return HttpRoute(method, path, fn)


HTTP_ROUTES = [
    r("GET", "/groups/{id}", "ShowGroup"),
    r("GET", "/groups/mine", "MyGroups"),
    r("ANY", "/groups/{id}", "AnyGroup"),
    r("POST", "/groups", "CreateGroup"),
    r("DELETE", "/groups/{id}/members/{userId}", "RemoveMember"),
    r("GET", "/files/{path+}", "Files"),
    r("GET", "/", "Root"),
]


@pytest.mark.parametrize(
    ("method", "path", "function", "params"),
    [
        ("GET", "/groups/g1", "ShowGroup", {"id": "g1"}),
        ("GET", "/groups/mine", "MyGroups", {}),  # literal beats a variable
        ("PATCH", "/groups/g1", "AnyGroup", {"id": "g1"}),  # ANY when no explicit method
        ("POST", "/groups", "CreateGroup", {}),
        ("DELETE", "/groups/g%3A1/members/bob", "RemoveMember", {"id": "g:1", "userId": "bob"}),
        ("GET", "/files/a/b/c.txt", "Files", {"path": "a/b/c.txt"}),
        ("GET", "/", "Root", {}),
    ],
)
def test_http_route_matching(method: str, path: str, function: str, params: dict[str, str]) -> None:
    # WHEN a request comes THEN the most specific route wins, with decoded parameters
    found = match_route(HTTP_ROUTES, method, path)
    assert found is not None
    assert found.route.function == function
    assert found.path_parameters == params


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/groups"), ("GET", "/files"), ("GET", "/groups/g1/extra"), ("PUT", "/")],
)
def test_unmatched_requests_find_no_route(method: str, path: str) -> None:
    assert match_route(HTTP_ROUTES, method, path) is None


def test_default_route_catches_the_rest() -> None:
    routes = [*HTTP_ROUTES, r("ANY", "$default", "Fallback")]
    found = match_route(routes, "GET", "/nowhere")
    assert found is not None
    assert found.route.function == "Fallback"
    assert found.route.route_key == "$default"
    assert r("GET", "/groups/{id}").route_key == "GET /groups/{id}"


CORS = CorsConfig(
    allow_origins=["https://app.example.com", "https://*.example.org"],
    allow_methods=["GET", "POST"],
    allow_headers=["authorization", "content-type"],
    expose_headers=["x-request-id"],
    max_age=600,
)


def test_origin_rules() -> None:
    assert origin_allowed(CORS, "https://app.example.com") == "https://app.example.com"
    assert origin_allowed(CORS, "https://a.example.org") == "https://a.example.org"
    assert origin_allowed(CORS, "https://evil.com") is None
    assert origin_allowed(CORS, None) is None
    star = CorsConfig(allow_origins=["*"])
    assert origin_allowed(star, "https://x") == "*"
    star_credentials = CorsConfig(allow_origins=["*"], allow_credentials=True)
    assert origin_allowed(star_credentials, "https://x") == "https://x"


def test_preflight_answer() -> None:
    # GIVEN a browser preflight from an allowed origin
    request = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type, Authorization",
    }
    assert is_preflight("OPTIONS", request)
    # WHEN API Gateway answers it THEN the configured rules come back
    assert preflight_headers(CORS, request) == {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "authorization,content-type",
        "access-control-max-age": "600",
    }


@pytest.mark.parametrize(
    "request_headers",
    [
        {"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-secret",
        },
    ],
)
def test_preflight_refusals_carry_no_cors_headers(request_headers: dict[str, str]) -> None:
    assert preflight_headers(CORS, request_headers) == {}


def test_not_a_preflight() -> None:
    assert not is_preflight("GET", {"Origin": "x", "Access-Control-Request-Method": "GET"})
    assert not is_preflight("OPTIONS", {"Origin": "x"})


def test_cors_headers_of_a_normal_response() -> None:
    assert cors_headers(CORS, "https://app.example.com") == {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-expose-headers": "x-request-id",
    }
    assert cors_headers(CORS, "https://evil.com") == {}


def test_several_http_apis_share_the_port_by_stage() -> None:
    # GIVEN a $default-stage API and one with a named stage
    import io

    from parley_local.http_gateway import HttpGateway
    from parley_local.logs import LogSink
    from parley_local.stack import HttpApiSpec

    main = HttpApiSpec("Main", "main000001", "$default", None, [r("GET", "/items", "Items")])
    admin = HttpApiSpec("Admin", "admin00001", "admin", None, [r("GET", "/users", "Users")])
    fallback = HttpApiSpec("Fallback", "fall000001", "$default", None, [r("ANY", "$default", "Fb")])
    gateway = HttpGateway(
        [main, admin, fallback], {}, LogSink(io.StringIO()), account_id="1", port=1
    )
    # WHEN requests come THEN each finds its API, the stage prefix stripped
    picked = gateway._pick("GET", "/admin/users")
    assert picked is not None and picked[0] is admin and picked[1] == "/users"
    assert picked[2] is not None and picked[2].route.function == "Users"
    picked = gateway._pick("GET", "/items")
    assert picked is not None and picked[0] is main
    # AND a path no route matches falls to a $default route when there is one
    picked = gateway._pick("GET", "/elsewhere")
    assert picked is not None and picked[2] is not None and picked[2].route.function == "Fb"
