"""`sync`: what the caller missed, per conversation, from its cursors, under 96 KB."""

from __future__ import annotations

from typing import Any

from parley import frames, runtime
from parley.errors import UnknownAction
from parley.models import SyncFrame, parse_frame
from parley.observability import count, instrumented
from parley.web import WsRequest, guard_frame, serve_ws


def sync(request: WsRequest) -> dict[str, Any]:
    frame = parse_frame(request.body)
    if not isinstance(frame, SyncFrame):
        raise UnknownAction("this route takes the sync action")
    result = runtime.conversation_service().sync(
        request.user_id, dict(frame.cursors), frame.limit, frame.id
    )
    count("SyncFrames")
    return frames.sync(result.conversations, result.complete, frame.id)


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_ws(event, sync, guard_frame)
