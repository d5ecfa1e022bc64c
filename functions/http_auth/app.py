"""`/auth/*`: challenge, register, login, refresh, logout, logout everywhere; and
`POST /me/password` and `DELETE /me`, served here because this is the one function sized
for hashing passwords (docs/benchmarks.md) and allowed to end logins."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import (
    ChangePasswordBody,
    DeleteMeBody,
    LoginBody,
    RefreshBody,
    RegisterBody,
    validate,
)
from parley.observability import instrumented
from parley.web import HttpRequest, HttpRoute, Public, http_response, public, serve_http


def challenge(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.auth_service().issue_challenge())


def register(request: HttpRequest) -> dict[str, Any]:
    body = validate(RegisterBody, request.json())
    return http_response(201, runtime.auth_service().register(body, request.source_ip))


def login(request: HttpRequest) -> dict[str, Any]:
    body = validate(LoginBody, request.json())
    tokens = runtime.auth_service().login(body.userId, body.password, request.source_ip)
    return http_response(200, tokens)


def refresh(request: HttpRequest) -> dict[str, Any]:
    body = validate(RefreshBody, request.json())
    return http_response(200, runtime.auth_service().refresh(body.refreshToken))


def logout(request: HttpRequest) -> dict[str, Any]:
    body = validate(RefreshBody, request.json())
    runtime.auth_service().logout(body.refreshToken)
    return http_response(204)


def logout_all(request: HttpRequest) -> dict[str, Any]:
    runtime.auth_service().revoke_user(request.caller.user_id)
    return http_response(204)


def change_password(request: HttpRequest) -> dict[str, Any]:
    caller = request.caller
    body = validate(ChangePasswordBody, request.json())
    runtime.auth_service().change_password(
        caller.user_id,
        caller.session_id,
        body.oldPassword,
        body.newPassword,
        request.source_ip,
    )
    return http_response(204)


def delete_me(request: HttpRequest) -> dict[str, Any]:
    body = validate(DeleteMeBody, request.json())
    runtime.account_service().delete(request.caller.user_id, body.password, request.source_ip)
    return http_response(204)


# Public: these routes are how a caller gets (or ends) the tokens the other routes need.
ROUTES: dict[str, HttpRoute | Public] = {
    "GET /auth/challenge": public(challenge),
    "POST /auth/register": public(register),
    "POST /auth/login": public(login),
    "POST /auth/refresh": public(refresh),
    "POST /auth/logout": public(logout),
    "POST /auth/logout-all": logout_all,
    "POST /me/password": change_password,
    "DELETE /me": delete_me,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
