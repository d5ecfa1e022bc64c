"""`GET /rtc/ice-servers`: STUN/TURN URLs with short-lived TURN credentials."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def ice_servers(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.rtc_service().ice_servers(request.caller.user_id))


ROUTES = {"GET /rtc/ice-servers": ice_servers}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
