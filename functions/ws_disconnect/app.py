"""`$disconnect`: forgets the connection (best effort: TTL and 410 cleanup are backstops)."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.observability import count, instrumented, logger
from parley.web import WsRequest


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = WsRequest.from_event(event)
    logger.append_keys(userId=request.user_id or None, connectionId=request.connection_id)
    try:
        runtime.connection_service().disconnect(request.connection_id)
    except Exception:
        logger.exception("disconnect cleanup failed; the record's TTL will remove it")
        return {"statusCode": 200}
    count("Disconnects")
    logger.info(
        "disconnected",
        extra={"status": (event.get("requestContext") or {}).get("disconnectStatusCode")},
    )
    return {"statusCode": 200}
