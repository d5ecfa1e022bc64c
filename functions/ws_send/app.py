"""`send`: store a message in order, exactly once per clientMsgId, push it, reply `ack`."""

from __future__ import annotations

from typing import Any

from parley import frames, runtime
from parley.config import settings
from parley.errors import ParleyError, UnknownAction
from parley.models import SendFrame, parse_frame
from parley.observability import count, instrumented, logger
from parley.web import WsRequest, guard_send, serve_ws


def send(request: WsRequest) -> dict[str, Any]:
    try:
        frame = parse_frame(request.body)
        if not isinstance(frame, SendFrame):
            raise UnknownAction("this route takes the send action")
    except ParleyError:
        # The send limit counts this route's frames only once they parse: a malformed one
        # is counted as a frame here instead (protocol 13), and past the limit answers 1005.
        limiter = runtime.limiter()
        if limiter is not None:
            limiter.frame(request.connection_id)
        raise
    if settings().bodies_in_logs:
        # Dev-only debugging (PARLEY_LOG_BODIES): the body joins this frame's log lines.
        logger.append_keys(body=frame.body.model_dump())
    sent = runtime.message_service().send(
        request.user_id,
        frame,
        connection_id=request.connection_id,
        correlation_id=request.request_id,
    )
    count("MessagesSent")
    return frames.ack(sent.message, frame.id)


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_ws(event, send, guard_send)
