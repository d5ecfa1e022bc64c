"""The protocol's enumerations, as named schemas a client SDK can turn into types.

Each mirrors a value set of the runtime (a `Literal` or `Choice` of :mod:`parley.models`, the role
names of :mod:`parley.roles`, :class:`parley.errors.Code`); `tests/unit/test_schema_models.py`
holds each to its source, so the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum

from parley.errors import Code


class Role(StrEnum):
    """A member's role in a group: `owner` (one per group), `admin` or `member`."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class ConversationType(StrEnum):
    """`dm` for a direct conversation (`dm:<a>:<b>`), `group` for a group (`grp:<ULID>`)."""

    DM = "dm"
    GROUP = "group"


class TypingState(StrEnum):
    """`start` (sent again every 3 s while typing; expires after 6 s) or `stop`."""

    START = "start"
    STOP = "stop"


class SignalKind(StrEnum):
    """The kinds of call signaling relayed by `signal` (never stored)."""

    INVITE = "invite"
    RINGING = "ringing"
    ACCEPT = "accept"
    REJECT = "reject"
    OFFER = "offer"
    ANSWER = "answer"
    CANDIDATE = "candidate"
    HANGUP = "hangup"


class SystemEvent(StrEnum):
    """The membership change a `system` message records."""

    GROUP_CREATED = "group_created"
    MEMBERS_ADDED = "members_added"
    MEMBER_REMOVED = "member_removed"
    MEMBER_LEFT = "member_left"
    ROLE_CHANGED = "role_changed"


NAMED_ENUMS: tuple[type[StrEnum], ...] = (
    Role,
    ConversationType,
    TypingState,
    SignalKind,
    SystemEvent,
)

# Protocol section 6, "when": what each code means to a client.
ERROR_WHEN: dict[Code, str] = {
    Code.INVALID_PARAM: "bad JSON, missing or malformed field",
    Code.USER_NOT_FOUND: "the named user does not exist",
    Code.UNAUTHENTICATED: "missing, invalid, expired or revoked token",
    Code.FORBIDDEN: "not a member, role too low, or blocked",
    Code.RATE_LIMITED: "too many requests; retryAfterMs says when to retry",
    Code.PAYLOAD_TOO_LARGE: "body over its limit",
    Code.UNKNOWN_ACTION: "no such WebSocket action",
    Code.CONFLICT: "already exists",
    Code.MESSAGE_SEND_FAILED: "not stored; retry with the same clientMsgId",
    Code.CONVERSATION_NOT_FOUND: "no such conversation",
    Code.NOT_FOUND: "no such message or attachment, or not visible to the caller",
    Code.INTERNAL: "anything else; the message names the request id, never a stack trace",
}
