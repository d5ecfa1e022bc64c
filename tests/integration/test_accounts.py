"""Accounts and tokens over HTTP (protocol section 3): register, login, refresh with rotation
and reuse detection, logout, `/me`, and every kind of bad input per route."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from tests.integration.conftest import PASSWORD, Harness
from tests.integration.helpers import call, scan, user_item
from tests.support import events

pytestmark = pytest.mark.usefixtures("shared_secrets_client")

AUTH_ROUTES = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/logout"]


def auth(app: Harness, route: str, body: Any = None, raw: str | None = None) -> tuple[int, Any]:
    return app.http("http_auth", "POST", route, body=body, raw=raw)


def me(app: Harness, token: str) -> tuple[int, Any]:
    return app.http("http_users", "GET", "/me", token=token)


def authorizer_allows(token: str) -> bool:
    try:
        call("authorizer", events.authorizer_event(token))
    except Exception as exc:
        if str(exc) != "Unauthorized":
            raise
        return False
    return True


def second_login(app: Harness, user: str) -> dict[str, Any]:
    status, pair = auth(app, "/auth/login", {"userId": user, "password": PASSWORD})
    assert status == 200
    return dict(pair)


# ---- register -----------------------------------------------------------------------------


def test_register_answers_201_with_the_user_id_and_stores_only_a_password_hash(
    app: Harness,
) -> None:
    # WHEN alice registers
    status, body = app.register("alice", displayName="Alice A.")
    # THEN the answer is 201 {userId} and the stored profile holds a hash, not the password
    assert (status, body) == (201, {"userId": "alice"})
    item = user_item(app, "alice")
    assert item is not None and item["displayName"] == "Alice A."
    assert item["passwordHash"].startswith("$argon2id$") and PASSWORD not in json.dumps(item)


# GET /me's features without flags (issue 17): every feature on, the stack's fan-out budget.
ALL_ON = {
    "edit": True,
    "delete": True,
    "reaction": True,
    "file": True,
    "pushPreviews": True,
    "typing": True,
    "presence": True,
    "read": True,
    "fanoutDeliveriesPerMinute": 50_000,
}


def test_register_without_display_name_uses_the_user_id(app: Harness) -> None:
    # GIVEN alice registered without a displayName
    token = app.user("alice")
    # WHEN she asks for her profile
    status, body = me(app, token)
    # THEN the displayName is her userId
    assert (status, body) == (
        200,
        {"userId": "alice", "displayName": "alice", "admin": False, "features": ALL_ON},
    )


def test_register_of_a_taken_user_id_is_409_1008_and_keeps_the_first_account(
    app: Harness,
) -> None:
    # GIVEN alice registered
    app.register("alice", displayName="First")
    # WHEN someone registers "alice" again with another password and name
    status, body = app.register("alice", password="another password", displayName="Second")
    # THEN 409 code 1008, and the first account is untouched
    assert status == 409 and body["code"] == 1008
    assert user_item(app, "alice")["displayName"] == "First"  # type: ignore[index]
    assert auth(app, "/auth/login", {"userId": "alice", "password": PASSWORD})[0] == 200
    wrong = {"userId": "alice", "password": "another password"}
    assert auth(app, "/auth/login", wrong)[0] == 401


@pytest.mark.parametrize(
    ("user_id", "password"),
    [
        ("abc", PASSWORD),
        ("a" * 32, PASSWORD),
        ("0_a.b-c", PASSWORD),
        ("bob", "x" * 8),
        ("bob", "x" * 128),
    ],
    ids=["userId-3", "userId-32", "userId-all-classes", "password-8", "password-128"],
)
def test_register_accepts_values_at_the_limits(app: Harness, user_id: str, password: str) -> None:
    # WHEN a user registers with a value exactly at a limit
    status, body = app.register(user_id, password=password)
    # THEN it is accepted and the account can log in
    assert (status, body) == (201, {"userId": user_id})
    assert auth(app, "/auth/login", {"userId": user_id, "password": password})[0] == 200


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Al\x00ice\x07", "Alice"),
        ("\u200bBob\u200f", "Bob"),
        ("  Carol \t Smith\n", "Carol Smith"),
    ],
    ids=["C0-controls", "format-chars", "whitespace-collapsed"],
)
def test_register_strips_control_characters_from_the_display_name(
    app: Harness, sent: str, stored: str
) -> None:
    # WHEN alice registers with control characters in her displayName
    status, _ = app.register("alice", displayName=sent)
    # THEN they are stripped and the visible name is what is stored and shown
    assert status == 201
    assert user_item(app, "alice")["displayName"] == stored  # type: ignore[index]
    assert me(app, app.login("alice")["accessToken"])[1]["displayName"] == stored


GOOD = {"userId": "alice", "password": PASSWORD}

REGISTER_BAD_FIELDS = {
    "missing-userId": {"password": PASSWORD},
    "missing-password": {"userId": "alice"},
    "userId-number": {"userId": 12345, "password": PASSWORD},
    "userId-bool": {"userId": True, "password": PASSWORD},
    "userId-null": {"userId": None, "password": PASSWORD},
    "password-number": {"userId": "alice", "password": 12345678},
    "password-bool": {"userId": "alice", "password": True},
    "displayName-number": {**GOOD, "displayName": 5},
    "displayName-bool": {**GOOD, "displayName": False},
    "extra-field": {**GOOD, "role": "admin"},
    "userId-uppercase": {"userId": "Alice", "password": PASSWORD},
    "userId-2-chars": {"userId": "al", "password": PASSWORD},
    "userId-33-chars": {"userId": "a" * 33, "password": PASSWORD},
    "userId-leading-underscore": {"userId": "_alice", "password": PASSWORD},
    "userId-leading-dot": {"userId": ".alice", "password": PASSWORD},
    "userId-space": {"userId": "al ice", "password": PASSWORD},
    "userId-non-ascii": {"userId": "alicé", "password": PASSWORD},
    "password-7-chars": {"userId": "alice", "password": "x" * 7},
    "password-129-chars": {"userId": "alice", "password": "x" * 129},
    "displayName-only-controls": {**GOOD, "displayName": "\x00\x07\u200b"},
    "displayName-only-spaces": {**GOOD, "displayName": " \t "},
    "displayName-65-chars": {**GOOD, "displayName": "n" * 65},
}


@pytest.mark.parametrize("body", REGISTER_BAD_FIELDS.values(), ids=REGISTER_BAD_FIELDS.keys())
def test_register_with_a_bad_field_is_400_1001_and_creates_nobody(
    app: Harness, body: dict[str, Any]
) -> None:
    # WHEN a registration has one bad field
    status, reply = auth(app, "/auth/register", body)
    # THEN 400 code 1001, and no user item was written
    assert status == 400 and reply["code"] == 1001 and reply["message"]
    assert scan(app, "UsersTable") == []


BAD_BODIES = {
    "absent": None,
    "empty": "",
    "not-json": "{userId: alice",
    "array": "[]",
    "string": '"x"',
    "number": "1",
    "null": "null",
    "true": "true",
}


@pytest.mark.parametrize("route", AUTH_ROUTES)
@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_auth_route_with_a_body_that_is_not_a_json_object_is_400_1001(
    app: Harness, route: str, raw: str | None
) -> None:
    # WHEN an /auth route gets a body that is absent, not JSON, or JSON but not an object
    status, reply = auth(app, route, raw=raw)
    # THEN 400 code 1001, and nothing was written
    assert status == 400 and reply["code"] == 1001
    assert scan(app, "UsersTable") == [] and scan(app, "SessionsTable") == []


@pytest.mark.parametrize("route", AUTH_ROUTES)
def test_auth_route_with_a_body_over_64_kb_is_413_1006(app: Harness, route: str) -> None:
    # GIVEN a JSON object just over 64 KB
    body = {"userId": "alice", "password": PASSWORD, "pad": "x" * (64 * 1024)}
    # WHEN it is posted
    status, reply = auth(app, route, body)
    # THEN 413 code 1006, and nothing was written
    assert status == 413 and reply["code"] == 1006
    assert scan(app, "UsersTable") == [] and scan(app, "SessionsTable") == []


# ---- login --------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_pair(app: Harness) -> None:
    # GIVEN alice registered
    app.register("alice")
    # WHEN she logs in
    status, body = auth(app, "/auth/login", GOOD)
    # THEN 200 with the pair; the access token is a JWT with every claim of the protocol
    assert status == 200
    assert set(body) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert {"sub", "iat", "exp", "iss", "aud", "jti"} <= set(claims)
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == body["expiresIn"]
    assert jwt.get_unverified_header(body["accessToken"])["alg"] == "HS256"
    assert body["refreshToken"] != body["accessToken"]


def test_unknown_user_and_wrong_password_get_the_same_401_1003(app: Harness) -> None:
    # GIVEN alice registered
    app.register("alice")
    # WHEN logging in with a wrong password, as an unknown user, and with a malformed id
    wrong_password = auth(app, "/auth/login", {"userId": "alice", "password": "wrong password"})
    unknown_user = auth(app, "/auth/login", {"userId": "nobody", "password": PASSWORD})
    malformed_id = auth(app, "/auth/login", {"userId": "Alice", "password": PASSWORD})
    # THEN every answer is the identical 401 code 1003, and no login was started
    assert wrong_password[0] == 401 and wrong_password[1]["code"] == 1003
    assert wrong_password == unknown_user == malformed_id
    assert scan(app, "SessionsTable") == []


LOGIN_BAD_FIELDS = {
    "missing-password": {"userId": "alice"},
    "missing-userId": {"password": PASSWORD},
    "password-number": {"userId": "alice", "password": 12345678},
    "userId-bool": {"userId": True, "password": PASSWORD},
    "extra-field": {**GOOD, "remember": True},
    "empty-password": {"userId": "alice", "password": ""},
}


@pytest.mark.parametrize("body", LOGIN_BAD_FIELDS.values(), ids=LOGIN_BAD_FIELDS.keys())
def test_login_with_a_bad_field_is_400_1001_and_starts_no_login(
    app: Harness, body: dict[str, Any]
) -> None:
    # GIVEN alice registered
    app.register("alice")
    # WHEN a login body has a bad field
    status, reply = auth(app, "/auth/login", body)
    # THEN 400 code 1001 and no session exists
    assert status == 400 and reply["code"] == 1001
    assert scan(app, "SessionsTable") == []


# ---- refresh ------------------------------------------------------------------------------


def test_refresh_returns_a_new_working_pair(app: Harness) -> None:
    # GIVEN alice logged in
    app.user("alice")
    first = app.tokens["alice"]
    # WHEN she refreshes
    status, second = auth(app, "/auth/refresh", {"refreshToken": first["refreshToken"]})
    # THEN 200 with a different pair of the same shape, and the new access token works
    assert status == 200 and second["tokenType"] == "Bearer" and second["expiresIn"] == 900
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert me(app, second["accessToken"])[0] == 200


def test_refresh_spends_the_presented_refresh_token(app: Harness, no_refresh_grace: None) -> None:
    # GIVEN alice refreshed once with r1
    app.user("alice")
    r1 = app.tokens["alice"]["refreshToken"]
    assert auth(app, "/auth/refresh", {"refreshToken": r1})[0] == 200
    # WHEN r1 is presented again
    status, reply = auth(app, "/auth/refresh", {"refreshToken": r1})
    # THEN it is refused with 401 code 1003
    assert status == 401 and reply["code"] == 1003


def test_reusing_a_spent_refresh_token_revokes_every_token_of_that_login(
    app: Harness, no_refresh_grace: None
) -> None:
    # GIVEN alice's login rotated r1 -> (a2, r2)
    app.user("alice")
    a1, r1 = app.tokens["alice"]["accessToken"], app.tokens["alice"]["refreshToken"]
    _, pair = auth(app, "/auth/refresh", {"refreshToken": r1})
    a2, r2 = pair["accessToken"], pair["refreshToken"]
    # WHEN the spent r1 is presented again (a stolen copy, say)
    assert auth(app, "/auth/refresh", {"refreshToken": r1})[0] == 401
    # THEN the newest refresh token and all access tokens of that login are refused
    status, reply = auth(app, "/auth/refresh", {"refreshToken": r2})
    assert status == 401 and reply["code"] == 1003
    for access in (a1, a2):
        status, reply = me(app, access)
        assert status == 401 and reply["code"] == 1003
        assert not authorizer_allows(access)


def test_reuse_detection_ends_only_the_login_it_happened_in(
    app: Harness, no_refresh_grace: None
) -> None:
    # GIVEN alice logged in twice (two devices), and device 1 rotated its refresh token
    app.user("alice")
    r1 = app.tokens["alice"]["refreshToken"]
    other = second_login(app, "alice")
    auth(app, "/auth/refresh", {"refreshToken": r1})
    # WHEN device 1's spent token is reused
    assert auth(app, "/auth/refresh", {"refreshToken": r1})[0] == 401
    # THEN device 2's login is unaffected
    assert me(app, other["accessToken"])[0] == 200
    assert auth(app, "/auth/refresh", {"refreshToken": other["refreshToken"]})[0] == 200


REFRESH_BAD_FIELDS = {
    "missing": {},
    "number": {"refreshToken": 5},
    "null": {"refreshToken": None},
    "empty": {"refreshToken": ""},
    "too-long": {"refreshToken": "x" * 513},
    "extra-field": {"refreshToken": "abc", "userId": "alice"},
}


@pytest.mark.parametrize("route", ["/auth/refresh", "/auth/logout"])
@pytest.mark.parametrize("body", REFRESH_BAD_FIELDS.values(), ids=REFRESH_BAD_FIELDS.keys())
def test_refresh_and_logout_with_a_bad_field_are_400_1001(
    app: Harness, route: str, body: dict[str, Any]
) -> None:
    # WHEN the refresh token field is missing, mistyped or has company
    status, reply = auth(app, route, body)
    # THEN 400 code 1001
    assert status == 400 and reply["code"] == 1001


@pytest.mark.parametrize("route", ["/auth/refresh", "/auth/logout"])
@pytest.mark.parametrize(
    "token",
    ["garbage", f"{'A' * 22}.1.{'B' * 43}", f"{'A' * 22}.0.{'B' * 43}"],
    ids=["garbage", "forged-mac", "generation-0"],
)
def test_refresh_and_logout_with_an_unknown_refresh_token_are_401_1003(
    app: Harness, route: str, token: str
) -> None:
    # WHEN a refresh token that the server never issued is presented
    status, reply = auth(app, route, {"refreshToken": token})
    # THEN 401 code 1003
    assert status == 401 and reply["code"] == 1003


def test_an_access_token_is_not_a_refresh_token(app: Harness) -> None:
    # GIVEN alice logged in
    token = app.user("alice")
    # WHEN she presents her access token as a refresh token
    status, reply = auth(app, "/auth/refresh", {"refreshToken": token[:512]})
    # THEN 401 code 1003
    assert status == 401 and reply["code"] == 1003


# ---- logout -------------------------------------------------------------------------------


def test_logout_answers_204_and_ends_the_login(app: Harness) -> None:
    # GIVEN alice logged in
    app.user("alice")
    access, refresh = app.tokens["alice"]["accessToken"], app.tokens["alice"]["refreshToken"]
    # WHEN she logs out
    status, body = auth(app, "/auth/logout", {"refreshToken": refresh})
    # THEN 204 without a body; the refresh token and the access token are refused after it
    assert (status, body) == (204, None)
    status, reply = auth(app, "/auth/refresh", {"refreshToken": refresh})
    assert status == 401 and reply["code"] == 1003
    status, reply = me(app, access)
    assert status == 401 and reply["code"] == 1003
    assert not authorizer_allows(access)


def test_logout_leaves_the_users_other_logins_alive(app: Harness) -> None:
    # GIVEN alice logged in on two devices
    app.user("alice")
    first = app.tokens["alice"]
    other = second_login(app, "alice")
    # WHEN the first device logs out
    assert auth(app, "/auth/logout", {"refreshToken": first["refreshToken"]})[0] == 204
    # THEN the second login still works
    assert me(app, other["accessToken"])[0] == 200
    assert authorizer_allows(other["accessToken"])


def test_logout_closes_the_open_sockets_of_that_login_only(app: Harness) -> None:
    # GIVEN alice has a socket from each of two logins
    app.user("alice")
    first = app.tokens["alice"]
    app.connect("alice", "a1")
    app.tokens["alice"] = second_login(app, "alice")
    app.connect("alice", "a2")
    # WHEN the first login logs out
    assert auth(app, "/auth/logout", {"refreshToken": first["refreshToken"]})[0] == 204
    # THEN exactly the first login's socket was closed
    assert app.gateway.closed == ["a1"]


# ---- /me ----------------------------------------------------------------------------------


def test_me_returns_the_user_id_and_display_name(app: Harness) -> None:
    # GIVEN alice registered with a display name
    app.register("alice", displayName="Alice Liddell")
    token = app.login("alice")["accessToken"]
    # WHEN she asks who she is
    status, body = me(app, token)
    # THEN 200 with exactly her id, her name, that she is no app admin, and (no flags
    # configured) every feature on at its default
    profile = {
        "userId": "alice",
        "displayName": "Alice Liddell",
        "admin": False,
        "features": ALL_ON,
    }
    assert (status, body) == (200, profile)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer    ", "Basic YWxpY2U6cHc=", "Token abc", "Bearer garbage"],
    ids=["absent", "empty", "scheme-only", "blank-token", "basic", "other-scheme", "garbage"],
)
def test_me_without_a_valid_bearer_token_is_401_1003(
    app: Harness, authorization: str | None
) -> None:
    # GIVEN a request whose Authorization header is absent or malformed
    event = events.http_event("GET", "/me")
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    # WHEN it reaches /me
    response = call("http_users", event)
    # THEN 401 code 1003
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["code"] == 1003


def test_me_refuses_a_refresh_token_as_bearer(app: Harness) -> None:
    # GIVEN alice logged in
    app.user("alice")
    # WHEN she sends her refresh token as the bearer token
    status, reply = me(app, app.tokens["alice"]["refreshToken"])
    # THEN 401 code 1003
    assert status == 401 and reply["code"] == 1003
