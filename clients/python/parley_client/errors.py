"""Errors raised by the Parley client library.

Every error the server reports (an HTTP error body ``{code, message}`` or a WebSocket
``error`` frame) becomes a :class:`ParleyError` carrying the protocol's numeric code.
Problems on the client side of the wire (no connection, no reply in time, client
closed) have their own classes, all deriving from :class:`ParleyClientError`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """The protocol's error codes (protocol section 6)."""

    INVALID_PARAM = 1001
    USER_NOT_FOUND = 1002
    UNAUTHENTICATED = 1003
    FORBIDDEN = 1004
    RATE_LIMITED = 1005
    PAYLOAD_TOO_LARGE = 1006
    UNKNOWN_ACTION = 1007
    CONFLICT = 1008
    MESSAGE_SEND_FAILED = 2001
    CONVERSATION_NOT_FOUND = 2002
    NOT_FOUND = 2003
    INTERNAL = 3001


#: The code the protocol pairs with each HTTP status, used when an error response
#: has no parsable ``{code, message}`` body (for example a proxy's HTML error page).
STATUS_TO_CODE: dict[int, int] = {
    400: ErrorCode.INVALID_PARAM,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.CONVERSATION_NOT_FOUND,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.MESSAGE_SEND_FAILED,
}


def code_name(code: int) -> str:
    """Return the protocol name of ``code`` (``"UNAUTHENTICATED"``), or ``"UNKNOWN"``."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return "UNKNOWN"


class ParleyClientError(Exception):
    """Base class of every exception raised by ``parley_client``."""


class ParleyError(ParleyClientError):
    """An error reported by the server.

    Attributes:
        code: the protocol error code (see :class:`ErrorCode`).
        message: the server's human-readable message.
        status: the HTTP status for HTTP errors, ``None`` for WebSocket errors.
        retry_after_ms: the server's ``retryAfterMs`` hint (rate limiting), if any.
        request_id: the WebSocket request ``id`` the error answered, if any.
    """

    def __init__(
        self,
        code: int,
        message: str,
        status: int | None = None,
        retry_after_ms: int | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        self.code = int(code)
        self.message = message
        self.status = status
        self.retry_after_ms = retry_after_ms
        self.request_id = request_id
        super().__init__(code, message, status, retry_after_ms)

    @property
    def name(self) -> str:
        """The protocol name of :attr:`code`, e.g. ``"FORBIDDEN"``."""
        return code_name(self.code)

    def __str__(self) -> str:
        text = f"{self.code} {self.name}: {self.message}"
        if self.status is not None:
            text += f" (HTTP {self.status})"
        if self.retry_after_ms is not None:
            text += f" (retry after {self.retry_after_ms} ms)"
        return text

    def __repr__(self) -> str:
        return (
            f"ParleyError(code={self.code}, message={self.message!r}, status={self.status!r}, "
            f"retry_after_ms={self.retry_after_ms!r})"
        )

    @classmethod
    def from_body(cls, body: Any, status: int | None = None, **kwargs: Any) -> ParleyError:
        """Build an error from a ``{code, message, retryAfterMs?}`` body or ``error`` frame.

        Falls back on the status's protocol code (or 3001) when the body is not of
        that shape, so the caller always gets a code.
        """
        code: int = STATUS_TO_CODE.get(status or 0, ErrorCode.INTERNAL)
        message = f"HTTP {status}" if status is not None else "error"
        retry_after: int | None = None
        if isinstance(body, dict):
            raw_code = body.get("code")
            if isinstance(raw_code, int) and not isinstance(raw_code, bool):
                code = raw_code
            raw_message = body.get("message")
            if isinstance(raw_message, str):
                message = raw_message
            raw_retry = body.get("retryAfterMs")
            if isinstance(raw_retry, int | float) and not isinstance(raw_retry, bool):
                retry_after = int(raw_retry)
        return cls(code, message, status, retry_after, **kwargs)


class ParleyConnectionError(ParleyClientError):
    """The server could not be reached, or the connection was lost and not restored."""


class ParleyTimeoutError(ParleyClientError, TimeoutError):
    """No reply arrived in time (also a :class:`TimeoutError`)."""


class ParleyClosedError(ParleyConnectionError):
    """The client was closed (explicitly, or after a fatal error such as a revoked login)."""
