"""Identifiers of the protocol (section 2): pure functions, no I/O."""

from __future__ import annotations

import os
import re
import time

from parley.errors import ConversationNotFound, InvalidParam

USER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{2,31}$")
CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
GROUP_PREFIX = "grp:"
DM_PREFIX = "dm:"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, Crockford base32, sortable by time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID_RE.fullmatch(value) is not None


def check_user_id(value: object, field: str = "userId") -> str:
    """Return `value` if it is a valid userId, else raise InvalidParam naming the field."""
    if not is_user_id(value):
        raise InvalidParam(
            f"{field} must be 3-32 characters of a-z 0-9 _ . - starting with a letter or digit"
        )
    return value  # type: ignore[return-value]


def dm_id(a: str, b: str) -> str:
    """The direct conversation between two users: `dm:<a>:<b>` with the ids sorted."""
    first, second = sorted((a, b))
    return f"{DM_PREFIX}{first}:{second}"


def dm_members(conversation_id: str) -> tuple[str, str]:
    """The two userIds of a direct conversation id (equal for a note to self)."""
    parts = conversation_id.split(":")
    if len(parts) != 3 or parts[0] != "dm":
        raise ConversationNotFound()
    a, b = parts[1], parts[2]
    if not (is_user_id(a) and is_user_id(b)) or a > b:
        raise ConversationNotFound()
    return a, b


def new_group_id(now_ms: int | None = None) -> str:
    return GROUP_PREFIX + new_ulid(now_ms)


def conversation_type(conversation_id: str) -> str:
    """`dm` or `group`; any other shape is an unknown conversation."""
    if conversation_id.startswith(DM_PREFIX):
        dm_members(conversation_id)
        return "dm"
    if conversation_id.startswith(GROUP_PREFIX) and ULID_RE.fullmatch(
        conversation_id[len(GROUP_PREFIX) :]
    ):
        return "group"
    raise ConversationNotFound()


def check_conversation_id(value: object, field: str = "conversationId") -> str:
    """A well-formed conversation id; malformed strings are unknown conversations (2002)."""
    if not isinstance(value, str) or not value or len(value) > 80:
        raise InvalidParam(f"{field} must be a conversation id")
    conversation_type(value)
    return value
