"""Every HTTP route of every function is authenticated unless it is declared public.

The routes are walked from both sides, the template's `HttpApi` events and each function's
`ROUTES`, so a route added to either without the other fails here before it can escape the
check. Only `/health` and `/auth/*` may be public; every other route must answer 401 code
1003 to a request without a token, with a malformed one, an expired one, or one signed with
another key, before it looks at the request's body.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from parley import tokens
from parley.config import settings
from parley.web import Public

from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import load
from tests.support.security import claims_of, hs256, stack_keys
from tests.support.stack import template_resources

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# `/auth/logout-all` ends the caller's logins: it needs the caller's token like any /me route.
PUBLIC = re.compile(r"^[A-Z]+ /(health|auth/(?!logout-all$)[^/]+)$")
PARAMS = re.compile(r"\{([^}]+)\}")


def template_routes() -> dict[str, str]:
    """Every `HttpApi` event of template.yaml as route key -> the function's folder."""
    found: dict[str, str] = {}
    for resource in template_resources().values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                method, path = event["Properties"]["Method"], event["Properties"]["Path"]
                found[f"{method.upper()} {path}"] = props["CodeUri"].strip("/").split("/")[-1]
    return found


def route_tables() -> dict[str, dict[str, Any]]:
    """The `ROUTES` of every function that has one, by function folder."""
    tables = {}
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        routes = getattr(load(app.parent.name), "ROUTES", None)
        if routes is not None:
            tables[app.parent.name] = dict(routes)
    return tables


def served_routes() -> dict[str, str]:
    """Every route of every function's table as route key -> the function's folder."""
    return {key: fn for fn, table in route_tables().items() for key in table}


def every_route() -> list[str]:
    return sorted(set(template_routes()) | set(served_routes()))


def test_the_route_tables_are_the_templates_http_routes() -> None:
    # GIVEN the template's HTTP routes and the functions' route tables
    template, served = template_routes(), served_routes()
    # WHEN the two are compared
    # THEN each table route is wired to its function in the template, and each template
    # route is in its function's table (health is one route and has no table)
    assert {k: v for k, v in template.items() if v != "health"} == served
    assert [k for k, v in template.items() if v == "health"] == ["GET /health"]


def test_only_health_and_auth_routes_are_public() -> None:
    # GIVEN every function's route table
    for function, table in route_tables().items():
        for key, route in table.items():
            # WHEN a route is declared public or not
            # THEN it is public exactly when it is /health or /auth/*
            assert isinstance(route, Public) == bool(PUBLIC.match(key)), (function, key)


def _request(key: str, token: str | None = None, header: str | None = None) -> tuple[int, Any]:
    """Call the function serving `key` with a body of `{}` and every path parameter filled,
    with `Authorization: Bearer <token>` or the raw `header`."""
    method, path = key.split(" ", 1)
    values = {name: "alice" if name == "userId" else "g-1" for name in PARAMS.findall(path)}
    event = events.http_event(method, path, path=values or None, body={}, token=token)
    if header is not None:
        event["headers"]["authorization"] = header
    response = load(served_routes()[key]).handler(event, CONTEXT)
    return response["statusCode"], json.loads(response.get("body") or "null")


@pytest.mark.parametrize("key", [k for k in every_route() if not PUBLIC.match(k)])
def test_a_non_public_route_refuses_requests_without_a_valid_token(
    app: Harness, shared_secrets_client: None, cheap_password_hashing: None, key: str
) -> None:
    # GIVEN a route that is not public, and a real login whose tokens the stack issued
    token = app.user("alice")
    cfg = settings()
    keys = stack_keys(app)
    sid = claims_of(token)["sid"]
    expired = tokens.issue_access_token(
        keys,
        user_id="alice",
        session_id=sid,
        now=int(time.time()) - 3600,
        ttl=60,
        issuer=cfg.jwt_issuer,
        audience=cfg.jwt_audience,
    )
    forged = hs256({**claims_of(token), "exp": int(time.time()) + 600}, b"k" * 32)
    refusals = {
        "no token": _request(key, None),
        "malformed token": _request(key, "not.a.jwt"),
        "another scheme": _request(key, None, header=f"Basic {token}"),
        "expired token": _request(key, expired),
        "token signed with another key": _request(key, forged),
    }
    # WHEN each is sent / THEN each is 401 code 1003, whatever the body or path
    for case, (status, body) in refusals.items():
        assert (status, body["code"]) == (401, 1003), (key, case, body)
    # AND the same request with the valid token gets past authentication
    status, body = _request(key, token)
    assert status != 401, (key, body)
