"""API Gateway's WebSocket size limits (32 KB frames, 128 KB messages) on raw bytes.

WebSocket libraries limit *messages*, not single frames, and aiohttp answers an oversized
message by dropping the TCP connection rather than with a 1009 close frame.
`FrameSizeGuard` reads frame headers as bytes arrive (across any chunking) and passes every
byte on, except those of a data frame over the frame limit, or that takes its message over
the message limit (and the rest of that message): these are swallowed and reported, so
the gateway closes the socket with 1009 while the library still sees a clean stream (and
the client's answering close frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

FRAME_LIMIT = 32 * 1024  # bytes of payload in one frame
MESSAGE_LIMIT = 128 * 1024  # bytes of one (possibly fragmented) message

_DATA_OPCODES = {0x0, 0x1, 0x2}


class FrameSizeGuard:
    """Incremental frame scanner: `feed(data)` returns the bytes to pass on."""

    def __init__(self, limit: int = FRAME_LIMIT, message_limit: int = MESSAGE_LIMIT) -> None:
        self.limit = limit
        self.message_limit = message_limit
        self._header = bytearray()
        self._remaining = 0  # payload bytes left in the current frame
        self._dropping = False
        self._message_size = 0  # payload bytes of the data message being received
        self._message_dropped = False
        self.violations = 0
        self.largest_frame = 0

    def _header_length(self) -> int | None:
        """Total header length once enough bytes are known, else None."""
        if len(self._header) < 2:
            return None
        length7 = self._header[1] & 0x7F
        masked = bool(self._header[1] & 0x80)
        extra = 2 if length7 == 126 else 8 if length7 == 127 else 0
        return 2 + extra + (4 if masked else 0)

    def _payload_length(self) -> int:
        length7 = self._header[1] & 0x7F
        if length7 == 126:
            return int.from_bytes(self._header[2:4], "big")
        if length7 == 127:
            return int.from_bytes(self._header[2:10], "big")
        return length7

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, True if an oversized frame started in this chunk)."""
        out = bytearray()
        violated = False
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._remaining:
                take = min(self._remaining, len(view) - pos)
                if not self._dropping:
                    out += view[pos : pos + take]
                self._remaining -= take
                pos += take
                continue
            # Reading a header.
            self._header.append(view[pos])
            pos += 1
            total = self._header_length()
            if total is None or len(self._header) < total:
                continue
            length = self._payload_length()
            opcode = self._header[0] & 0x0F
            self.largest_frame = max(self.largest_frame, length)
            self._dropping = False
            if opcode in _DATA_OPCODES:
                if opcode != 0x0:  # a new message starts
                    self._message_size = 0
                    self._message_dropped = False
                self._message_size += length
                if self._message_dropped:
                    self._dropping = True  # the rest of a message already refused
                elif length > self.limit or self._message_size > self.message_limit:
                    self._dropping = self._message_dropped = True
                    self.violations += 1
                    violated = True
            if not self._dropping:
                out += self._header
            self._header.clear()
            self._remaining = length
        return bytes(out), violated


class GuardedProtocol(asyncio.Protocol):
    """Sits between a transport and its protocol, filtering incoming bytes through a guard."""

    def __init__(
        self,
        inner: asyncio.BaseProtocol,
        guard: FrameSizeGuard,
        on_violation: Callable[[], None],
    ) -> None:
        self.inner = inner
        self.guard = guard
        self.on_violation = on_violation

    def data_received(self, data: bytes) -> None:
        forward, violated = self.guard.feed(data)
        if forward:
            self.inner.data_received(forward)  # type: ignore[attr-defined]
        if violated:
            self.on_violation()

    def eof_received(self) -> bool | None:
        handler = getattr(self.inner, "eof_received", None)
        return handler() if handler else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install_guard(
    transport: asyncio.BaseTransport, guard: FrameSizeGuard, on_violation: Callable[[], None]
) -> bool:
    """Put `guard` in front of the transport's current protocol. False if not possible."""
    get_protocol = getattr(transport, "get_protocol", None)
    set_protocol = getattr(transport, "set_protocol", None)
    if get_protocol is None or set_protocol is None:
        return False
    inner = get_protocol()
    if isinstance(inner, GuardedProtocol):
        return True
    set_protocol(GuardedProtocol(inner, guard, on_violation))
    return True
