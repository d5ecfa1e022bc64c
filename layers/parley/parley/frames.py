"""Every server frame, built in one place (docs/protocol.md, section 5).

Services return records and results; the handlers (and the push service, which posts the
`message` frame) turn them into frames here. Plain dicts in the protocol's field order, no
pydantic: the fanout function builds none but posts `message` frames built here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parley.records import Message, MessageFrame

Frame = dict[str, Any]


def _head(kind: str, request_id: str | None) -> Frame:
    """`{"type": kind}` with the request's `id` when the client gave one."""
    frame: Frame = {"type": kind}
    if request_id is not None:
        frame["id"] = request_id
    return frame


def ack(message: Message, request_id: str | None) -> Frame:
    """The reply to `send`: where the message (or its first copy) was stored."""
    frame = _head("ack", request_id)
    frame.update(
        conversationId=message["conversationId"],
        seq=message["seq"],
        messageId=message["messageId"],
        clientMsgId=message["clientMsgId"],
        ts=message["ts"],
    )
    return frame


def message(stored: Message) -> MessageFrame:
    """The `message` frame pushed to members (the protocol fields only, never `own`)."""
    return {
        "type": "message",
        "conversationId": stored["conversationId"],
        "seq": stored["seq"],
        "messageId": stored["messageId"],
        "senderId": stored["senderId"],
        "clientMsgId": stored["clientMsgId"],
        "body": stored["body"],
        "ts": stored["ts"],
    }


def message_ts(frame: Mapping[str, Any]) -> int | None:
    """When the message in a `message` frame was stored (its `ts`, epoch ms); else None."""
    if frame.get("type") != "message":
        return None
    try:
        return int(frame["ts"])
    except (KeyError, TypeError, ValueError):
        return None


def receipt(conversation_id: str, user_id: str, read_seq: int) -> Frame:
    """A member's readSeq moved (relayed to the other members and the reader's devices)."""
    return {
        "type": "receipt",
        "conversationId": conversation_id,
        "userId": user_id,
        "readSeq": read_seq,
    }


def typing(conversation_id: str, user_id: str, state: str) -> Frame:
    """A typing indicator relayed to the other members."""
    return {"type": "typing", "conversationId": conversation_id, "userId": user_id, "state": state}


def signal(from_user: str, from_connection: str, call_id: str, kind: str, payload: Any) -> Frame:
    """Call signaling relayed to the callee's connections."""
    return {
        "type": "signal",
        "from": from_user,
        "fromConnection": from_connection,
        "callId": call_id,
        "kind": kind,
        "payload": payload,
    }


def presence(users: Sequence[Mapping[str, object]], request_id: str | None) -> Frame:
    """The reply to `presence`."""
    frame = _head("presence", request_id)
    frame["users"] = list(users)
    return frame


def sync(
    conversations: Sequence[Mapping[str, object]], complete: bool, request_id: str | None
) -> Frame:
    """The reply to `sync`."""
    frame = _head("sync", request_id)
    frame["conversations"] = list(conversations)
    frame["complete"] = complete
    return frame


def ok(request_id: str | None, **fields: Any) -> Frame:
    """The generic success reply (`readSeq`, `expiresAt`, `delivered`...)."""
    frame = _head("ok", request_id)
    frame.update(fields)
    return frame


def pong(request_id: str | None) -> Frame:
    """The reply to `ping`."""
    return _head("pong", request_id)


def error(payload: Mapping[str, object], request_id: str | None) -> Frame:
    """An `error` frame: `{code, message[, retryAfterMs]}` of a :class:`ParleyError`."""
    frame = _head("error", request_id)
    frame.update(payload)
    return frame
