"""`/admin/*` (protocol 12-13) against the real handler on moto: who may call it, and
what a bad request gets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import Harness


@pytest.fixture
def admins(app: Harness, reconfigure: Callable[..., None]) -> Harness:
    """`root` and `ops` are app admins (with spaces and an empty entry in the list)."""
    reconfigure(PARLEY_ADMIN_USERS=" root, ,ops ")
    for user in ("root", "ops", "alice"):
        app.user(user)
    return app


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "Bearer x"])
def test_flags_without_a_valid_token_are_401_1003(admins: Harness, token: str | None) -> None:
    # WHEN the flags are asked for without a valid bearer token
    status, body = admins.http("http_admin", "GET", "/admin/flags", token=token)
    # THEN 401 code 1003
    assert (status, body["code"]) == (401, 1003)


@pytest.mark.parametrize("user", ["root", "ops"])
def test_every_listed_admin_may_read_the_flags(admins: Harness, user: str) -> None:
    token = admins.tokens[user]["accessToken"]
    assert admins.http("http_admin", "GET", "/admin/flags", token=token) == (200, {"flags": []})


def test_a_body_or_query_changes_nothing(admins: Harness) -> None:
    # WHEN a non-admin sends a body and a query string that might look like a bypass
    token = admins.tokens["alice"]["accessToken"]
    status, body = admins.http(
        "http_admin",
        "GET",
        "/admin/flags",
        token=token,
        query={"admin": "true", "userId": "root"},
        raw='{"admin": true}',
    )
    # THEN still 403 1004
    assert (status, body["code"]) == (403, 1004)


def test_an_unknown_admin_route_is_404(admins: Harness) -> None:
    token = admins.tokens["root"]["accessToken"]
    status, body = admins.http("http_admin", "GET", "/admin/nope", token=token)
    assert status == 404 and body["code"] == 2002
