"""`/me` and block lists."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def me(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.auth_service().me(request.caller.user_id))


def block(request: HttpRequest) -> dict[str, Any]:
    runtime.user_service().block(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


def unblock(request: HttpRequest) -> dict[str, Any]:
    runtime.user_service().unblock(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


ROUTES = {
    "GET /me": me,
    "POST /users/{userId}/block": block,
    "DELETE /users/{userId}/block": unblock,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
