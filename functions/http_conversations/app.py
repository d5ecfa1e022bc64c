"""`/conversations` and `/conversations/{id}/messages` (history, paged by beforeSeq)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.observability import instrumented
from parley.web import HttpRequest, http_response, serve_http


def list_conversations(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.conversation_service().list(request.caller.user_id))


def history(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    before = request.int_query("beforeSeq", None, 1, 2**53)
    limit = request.int_query("limit", 50, 1, 100) or 50
    page = runtime.conversation_service().history(user, request.path.get("id", ""), before, limit)
    return http_response(200, page)


ROUTES = {
    "GET /conversations": list_conversations,
    "GET /conversations/{id}/messages": history,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
