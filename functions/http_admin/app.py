"""`/admin/*` (protocol 12-13): routes for app admins only (1004 for everyone else)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import SuspendBody, validate
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def flags(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.admin_service().list_flags(request.caller.user_id))


def clear_flag(request: HttpRequest) -> dict[str, Any]:
    runtime.admin_service().clear_flag(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


def suspend(request: HttpRequest) -> dict[str, Any]:
    # Admins first: a non-admin learns nothing from a bad body (1004, not 1001).
    runtime.admin_service().require_admin(request.caller.user_id)
    # `{reason?}`: no body at all is a suspension without a reason.
    raw = request.json() if request.raw_body else {}
    body = validate(SuspendBody, raw)
    runtime.admin_service().suspend(
        request.caller.user_id, request.path.get("userId", ""), body.reason
    )
    return http_response(204)


def unsuspend(request: HttpRequest) -> dict[str, Any]:
    runtime.admin_service().unsuspend(request.caller.user_id, request.path.get("userId", ""))
    return http_response(204)


def delete_message(request: HttpRequest) -> dict[str, Any]:
    path = request.path
    runtime.admin_service().delete_message(
        request.caller.user_id, path.get("id", ""), path.get("seq", "")
    )
    return http_response(204)


ROUTES = {
    "GET /admin/flags": flags,
    "DELETE /admin/flags/{userId}": clear_flag,
    "POST /admin/users/{userId}/suspend": suspend,
    "DELETE /admin/users/{userId}/suspend": unsuspend,
    "DELETE /admin/conversations/{id}/messages/{seq}": delete_message,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
