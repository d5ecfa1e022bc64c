"""`/admin/*` (protocol 12-13): routes for app admins only (1004 for everyone else)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def flags(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.admin_service().list_flags(request.caller.user_id))


ROUTES = {
    "GET /admin/flags": flags,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
