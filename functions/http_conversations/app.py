"""`/conversations` (paged, with each conversation's mute setting), `PATCH
/conversations/{id}` (mute) and `/conversations/{id}/messages` (history, paged by
beforeSeq)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.models import MuteBody, validate
from parley.observability import instrumented
from parley.services.conversations import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from parley.web import HttpRequest, http_response, serve_http


def list_conversations(request: HttpRequest) -> dict[str, Any]:
    limit = request.int_query("limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT) or DEFAULT_LIST_LIMIT
    cursor = request.query.get("cursor")
    page = runtime.conversation_service().list(request.caller.user_id, limit, cursor)
    return http_response(200, page)


def set_muted(request: HttpRequest) -> dict[str, Any]:
    body = validate(MuteBody, request.json())
    setting = runtime.conversation_service().set_muted(
        request.caller.user_id, request.path.get("id", ""), body.muted
    )
    return http_response(200, setting)


def history(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    before = request.int_query("beforeSeq", None, 1, 2**53)
    limit = request.int_query("limit", 50, 1, 100) or 50
    page = runtime.conversation_service().history(user, request.path.get("id", ""), before, limit)
    return http_response(200, page)


ROUTES = {
    "GET /conversations": list_conversations,
    "PATCH /conversations/{id}": set_muted,
    "GET /conversations/{id}/messages": history,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
