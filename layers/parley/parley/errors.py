"""Domain errors and the one table that maps them to protocol codes and HTTP statuses.

Services raise these; `parley.web` turns them into HTTP responses and `error` frames with
:meth:`ParleyError.payload` and :attr:`ParleyError.http_status`. Nothing ever matches on
message text: the class decides the code.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """Protocol error codes (protocol section 6)."""

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


HTTP_STATUS: dict[Code, int] = {
    Code.INVALID_PARAM: 400,
    Code.USER_NOT_FOUND: 404,
    Code.UNAUTHENTICATED: 401,
    Code.FORBIDDEN: 403,
    Code.RATE_LIMITED: 429,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.UNKNOWN_ACTION: 400,
    Code.CONFLICT: 409,
    Code.MESSAGE_SEND_FAILED: 503,
    Code.CONVERSATION_NOT_FOUND: 404,
    Code.NOT_FOUND: 404,
    Code.INTERNAL: 500,
}


class ParleyError(Exception):
    """Base of every error a client may see; carries its protocol code."""

    code: Code = Code.INTERNAL
    default_message = "internal error"

    def __init__(self, message: str | None = None, *, retry_after_ms: int | None = None) -> None:
        self.message = message or self.default_message
        self.retry_after_ms = retry_after_ms
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def payload(self) -> dict[str, object]:
        """The `{code, message[, retryAfterMs]}` body shared by HTTP and WebSocket."""
        body: dict[str, object] = {"code": int(self.code), "message": self.message}
        if self.retry_after_ms is not None:
            body["retryAfterMs"] = self.retry_after_ms
        return body


class InvalidParam(ParleyError):
    code = Code.INVALID_PARAM
    default_message = "invalid parameter"


class UserNotFound(ParleyError):
    code = Code.USER_NOT_FOUND
    default_message = "user not found"


class Unauthenticated(ParleyError):
    code = Code.UNAUTHENTICATED
    default_message = "authentication required"


class Forbidden(ParleyError):
    code = Code.FORBIDDEN
    default_message = "forbidden"


class RateLimited(ParleyError):
    code = Code.RATE_LIMITED
    default_message = "too many requests"


class PayloadTooLarge(ParleyError):
    code = Code.PAYLOAD_TOO_LARGE
    default_message = "payload too large"


class UnknownAction(ParleyError):
    code = Code.UNKNOWN_ACTION
    default_message = "unknown action"


class Conflict(ParleyError):
    code = Code.CONFLICT
    default_message = "already exists"


class MessageSendFailed(ParleyError):
    code = Code.MESSAGE_SEND_FAILED
    default_message = "message not stored; retry with the same clientMsgId"


class ConversationNotFound(ParleyError):
    code = Code.CONVERSATION_NOT_FOUND
    default_message = "conversation not found"


class NotFound(ParleyError):
    """No such message or attachment, or not visible to the caller (protocol 1.1)."""

    code = Code.NOT_FOUND
    default_message = "not found"


class Internal(ParleyError):
    code = Code.INTERNAL
    default_message = "internal error"


class Unavailable(ParleyError):
    """A dependency (DynamoDB, SQS) failed or throttled: the operation did not take effect."""

    code = Code.MESSAGE_SEND_FAILED
    default_message = "service temporarily unavailable; retry"


def internal_error(request_id: str) -> ParleyError:
    """The reply for an unexpected failure: it names the request id, never a stack trace."""
    return Internal(f"internal error (request {request_id})")
