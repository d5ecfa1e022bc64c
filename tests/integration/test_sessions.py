"""The issue-15 account routes over HTTP, against moto: `GET /auth/challenge`,
`POST /auth/logout-all`, `POST /me/password` and the challenge fields of register, each
with the bodies they refuse and the protocol codes they answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import PASSWORD, Harness

NEW_PASSWORD = "a brand new password"


def change(app: Harness, body: Any, token: str | None) -> tuple[int, Any]:
    return app.http("http_auth", "POST", "/me/password", body=body, token=token)


BAD_PASSWORD_BODIES: dict[str, Any] = {
    "empty object": {},
    "no new password": {"oldPassword": PASSWORD},
    "no old password": {"newPassword": NEW_PASSWORD},
    "new too short": {"oldPassword": PASSWORD, "newPassword": "short"},
    "new too long": {"oldPassword": PASSWORD, "newPassword": "x" * 129},
    "old empty": {"oldPassword": "", "newPassword": NEW_PASSWORD},
    "number": {"oldPassword": PASSWORD, "newPassword": 12345678},
    "null": {"oldPassword": None, "newPassword": NEW_PASSWORD},
    "extra field": {"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD, "userId": "bob"},
    "not an object": [PASSWORD, NEW_PASSWORD],
}


@pytest.mark.parametrize("body", BAD_PASSWORD_BODIES.values(), ids=BAD_PASSWORD_BODIES.keys())
def test_a_malformed_password_change_is_400_1001_and_changes_nothing(
    app: Harness, body: Any
) -> None:
    token = app.user("alice")
    status, reply = change(app, body, token)
    assert (status, reply["code"]) == (400, 1001)
    assert app.login("alice")["accessToken"]


def test_a_wrong_old_password_is_401_1003_and_keeps_the_logins(app: Harness) -> None:
    token = app.user("alice")
    other = app.login("alice")["accessToken"]
    status, reply = change(app, {"oldPassword": "not it", "newPassword": NEW_PASSWORD}, token)
    assert (status, reply["code"]) == (401, 1003)
    for access in (token, other):
        assert app.http("http_users", "GET", "/me", token=access)[0] == 200


def test_the_account_routes_need_a_token(app: Harness) -> None:
    body = {"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert change(app, body, None)[1]["code"] == 1003
    status, reply = app.http("http_auth", "POST", "/auth/logout-all")
    assert (status, reply["code"]) == (401, 1003)


def test_logout_all_of_a_user_with_one_login_ends_it(app: Harness) -> None:
    token = app.user("alice")
    refresh = app.tokens["alice"]["refreshToken"]
    assert app.http("http_auth", "POST", "/auth/logout-all", token=token)[0] == 204
    status, reply = app.http("http_auth", "POST", "/auth/refresh", body={"refreshToken": refresh})
    assert (status, reply["code"]) == (401, 1003)
    # Logging out everywhere again needs a token, which no longer works.
    assert app.http("http_auth", "POST", "/auth/logout-all", token=token)[0] == 401


def test_no_challenge_is_issued_when_the_server_asks_none(app: Harness) -> None:
    status, reply = app.http("http_auth", "GET", "/auth/challenge")
    assert (status, reply["code"]) == (404, 1002)
    # And registration needs none.
    assert app.register("alice")[0] == 201


BAD_CHALLENGE_FIELDS: dict[str, dict[str, Any]] = {
    "challenge number": {"challenge": 5, "solution": "1"},
    "challenge empty": {"challenge": "", "solution": "1"},
    "challenge too long": {"challenge": "c" * 257, "solution": "1"},
    "solution too long": {"challenge": "c", "solution": "1" * 65},
    "solution list": {"challenge": "c", "solution": ["1"]},
}


@pytest.mark.parametrize("extra", BAD_CHALLENGE_FIELDS.values(), ids=BAD_CHALLENGE_FIELDS.keys())
def test_malformed_challenge_fields_are_400_1001(app: Harness, extra: dict[str, Any]) -> None:
    status, reply = app.register("alice", **extra)
    assert (status, reply["code"]) == (400, 1001)
    assert (
        app.http(
            "http_auth", "POST", "/auth/login", body={"userId": "alice", "password": PASSWORD}
        )[0]
        == 401
    )
