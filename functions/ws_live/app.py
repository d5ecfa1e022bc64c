"""Live actions and `$default`: read, typing, presence, signal, auth, ping, and the coded
error for frames that are not JSON objects (1001) or name no known action (1007)."""

from __future__ import annotations

from typing import Any

from parley import frames, runtime
from parley.errors import UnknownAction
from parley.models import (
    AuthFrame,
    PingFrame,
    PresenceFrame,
    ReadFrame,
    SignalFrame,
    TypingFrame,
    parse_frame,
)
from parley.observability import instrumented
from parley.web import WsRequest, guard_frame, serve_ws


def live(request: WsRequest) -> dict[str, Any] | None:
    frame = parse_frame(request.body)
    if isinstance(frame, PingFrame):
        return frames.pong(frame.id)
    if isinstance(frame, TypingFrame):
        runtime.live_service().typing(
            request.user_id, frame.conversationId, frame.state, request.connection_id
        )
        return None
    if isinstance(frame, ReadFrame):
        read_seq = runtime.live_service().read(
            request.user_id, frame.conversationId, frame.seq, request.connection_id
        )
        return frames.ok(frame.id, readSeq=read_seq)
    if isinstance(frame, PresenceFrame):
        users = runtime.live_service().presence(request.user_id, list(frame.userIds))
        return frames.presence(users, frame.id)
    if isinstance(frame, AuthFrame):
        expires = runtime.ws_guard().renew(request.user_id, request.connection_id, frame.token)
        return frames.ok(frame.id, expiresAt=expires)
    if isinstance(frame, SignalFrame):
        delivered = runtime.live_service().signal(request.user_id, frame, request.connection_id)
        return frames.ok(frame.id, delivered=delivered)
    # send and sync have routes of their own; reaching here means a misrouted frame.
    raise UnknownAction(f"action {frame.action!r} is not served on this route")


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_ws(event, live, guard_frame)
