"""A WebSocket connection the gateway holds: its state, sending to it and closing it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiohttp import web

from parley_local.events.websocket import WsConnection

NORMAL = 1000
GOING_AWAY = 1001
MESSAGE_TOO_BIG = 1009


@dataclass
class LiveConnection:
    """A connection the gateway holds (open once `$connect` succeeded)."""

    info: WsConnection
    ws: web.WebSocketResponse
    opened_mono: float
    last_active_ms: int
    last_active_mono: float
    closing: bool = False
    disconnect_code: int | None = None
    disconnect_reason: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def send(self, data: str | bytes) -> bool:
        """Send a text (or binary) frame; False if the socket is closing or gone."""
        if self.closing or self.ws.closed:
            return False
        try:
            if isinstance(data, bytes):
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _mark_closing(self, code: int, reason: str) -> bool:
        if self.closing:
            return False
        self.closing = True
        self.disconnect_code = code
        self.disconnect_reason = reason
        return True

    def close_soon(self, code: int, reason: str) -> None:
        """Start closing from the server side, without waiting ($disconnect follows)."""
        if self._mark_closing(code, reason):
            asyncio.get_running_loop().create_task(self._close_socket(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close from the server side ($disconnect follows)."""
        if self._mark_closing(code, reason):
            await self._close_socket(code, reason)

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())
