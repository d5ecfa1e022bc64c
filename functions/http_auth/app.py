"""`/auth/*`: register, login, refresh, logout."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import LoginBody, RefreshBody, RegisterBody, validate
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, public, serve_http


def register(request: HttpRequest) -> dict[str, Any]:
    body = validate(RegisterBody, request.json())
    return http_response(201, runtime.auth_service().register(body))


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


# Public: these routes are how a caller gets (or ends) the tokens the other routes need.
ROUTES = {
    "POST /auth/register": public(register),
    "POST /auth/login": public(login),
    "POST /auth/refresh": public(refresh),
    "POST /auth/logout": public(logout),
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
