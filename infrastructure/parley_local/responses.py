"""What both gateways answer with: JSON bodies, and a 500 rather than a dropped connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

_R = TypeVar("_R")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer, serialised as `json.dumps` does (API Gateway's own bodies vary)."""
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def message_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """API Gateway's error shape: `{"message": ...}`."""
    return json_response(status, {"message": message}, headers)


async def answer_or(
    handle: Callable[[web.Request], Awaitable[_R]],
    request: web.Request,
    on_bug: Callable[[Exception], _R],
) -> _R:
    """`handle(request)`; if the gateway itself fails, `on_bug(exc)` answers (API Gateway
    answers 500 and says nothing more). A client that left is not a bug: that propagates."""
    try:
        return await handle(request)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as exc:
        return on_bug(exc)
