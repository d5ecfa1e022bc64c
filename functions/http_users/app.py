"""`/me`, block lists and account exports (protocol 12)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.config import settings
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def me(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    # `admin` (protocol 12) comes from the settings: no read for it.
    cfg = settings()
    profile = {**runtime.auth_service().me(user), "admin": user in cfg.admin_user_set()}
    # Issue 17: what is on for this caller, so that clients hide what is off.
    profile["features"] = runtime.features().for_user(
        user, fanout_configured=cfg.fanout_deliveries_per_minute
    )
    return http_response(200, profile)


def block(request: HttpRequest) -> dict[str, Any]:
    runtime.user_service().block(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


def unblock(request: HttpRequest) -> dict[str, Any]:
    runtime.user_service().unblock(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


def request_export(request: HttpRequest) -> dict[str, Any]:
    return http_response(202, runtime.account_service().request_export(request.caller.user_id))


def get_export(request: HttpRequest) -> dict[str, Any]:
    found = runtime.account_service().get_export(
        request.caller.user_id, request.path.get("exportId", "")
    )
    return http_response(200, found)


ROUTES = {
    "GET /me": me,
    "POST /users/{userId}/block": block,
    "DELETE /users/{userId}/block": unblock,
    "POST /me/export": request_export,
    "GET /me/exports/{exportId}": get_export,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
