"""`$connect`: records the (already authorized) connection so fan-out can find it."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.errors import ParleyError, RateLimited
from parley.observability import count, instrumented, logger
from parley.web import WsRequest


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = WsRequest.from_event(event)
    logger.append_keys(userId=request.user_id, connectionId=request.connection_id)
    if not request.user_id:
        logger.warning("connect without authorizer context")
        return {"statusCode": 401}
    limiter = runtime.limiter()
    try:
        if limiter is not None:
            limiter.connect(request.source_ip)
    except ParleyError as err:
        logger.info("connect refused", extra={"code": int(err.code)})
        return {"statusCode": 429, "body": err.message}
    try:
        runtime.connection_service().connect(
            request.connection_id,
            request.user_id,
            request.session_id,
            request.token_expires_at,
            request.source_ip,
        )
    except RateLimited as err:
        # Past the user's live connections (protocol 13): the handshake is refused.
        logger.info("connect refused", extra={"code": int(err.code)})
        return {"statusCode": 429, "body": err.message}
    except Exception:
        logger.exception("connect failed")
        return {"statusCode": 500}
    count("Connects")
    logger.info("connected")
    return {"statusCode": 200}
