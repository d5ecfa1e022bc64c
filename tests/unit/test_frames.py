"""`parley.frames`: the one place server frames are built, in the protocol's shapes."""

from __future__ import annotations

from parley import frames
from parley.errors import RateLimited
from parley.records import Message, StoredMessage

MESSAGE: Message = {
    "conversationId": "dm:alice:bob",
    "seq": 7,
    "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "senderId": "alice",
    "clientMsgId": "c-7",
    "body": {"type": "text", "text": "hi"},
    "ts": 1_700_000_000_007,
}


def test_ack_carries_the_stored_fields_and_the_request_id() -> None:
    # GIVEN a stored message
    # WHEN it is acked with and without a request id
    # THEN the ack names where it was stored, with `id` only when the client gave one
    assert frames.ack(MESSAGE, "r-1") == {
        "type": "ack",
        "id": "r-1",
        "conversationId": "dm:alice:bob",
        "seq": 7,
        "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "clientMsgId": "c-7",
        "ts": 1_700_000_000_007,
    }
    assert "id" not in frames.ack(MESSAGE, None)
    assert list(frames.ack(MESSAGE, "r-1"))[:2] == ["type", "id"]


def test_message_frame_is_the_protocol_fields_only() -> None:
    # GIVEN a message that carries an internal extra field
    # WHEN its `message` frame is built
    # THEN the frame has the type and the seven protocol fields, nothing else
    stored: StoredMessage = {**MESSAGE, "own": {"alice": 7}}
    frame = frames.message(stored)
    assert frame == {"type": "message", **MESSAGE}
    assert frames.message_ts(frame) == 1_700_000_000_007


def test_message_ts_only_for_message_frames_with_a_number() -> None:
    # GIVEN frames of other types and malformed ones
    # WHEN their store time is asked
    # THEN it is None
    assert frames.message_ts(frames.typing("grp:x", "bob", "start")) is None
    assert frames.message_ts({"type": "message"}) is None
    assert frames.message_ts({"type": "message", "ts": "soon"}) is None


def test_live_frames() -> None:
    # GIVEN the live events
    # WHEN their frames are built
    # THEN each has the protocol's fields
    assert frames.receipt("grp:x", "bob", 3) == {
        "type": "receipt",
        "conversationId": "grp:x",
        "userId": "bob",
        "readSeq": 3,
    }
    assert frames.typing("grp:x", "bob", "stop") == {
        "type": "typing",
        "conversationId": "grp:x",
        "userId": "bob",
        "state": "stop",
    }
    assert frames.signal("alice", "C1", "call-1", "offer", {"sdp": "v=0"}) == {
        "type": "signal",
        "from": "alice",
        "fromConnection": "C1",
        "callId": "call-1",
        "kind": "offer",
        "payload": {"sdp": "v=0"},
    }


def test_replies() -> None:
    # GIVEN the replies to sync, presence, ping and the `ok` actions
    # WHEN built with and without a request id
    # THEN `type` comes first, then `id` when given, then the fields
    assert frames.sync([], True, "s-1") == {
        "type": "sync",
        "id": "s-1",
        "conversations": [],
        "complete": True,
    }
    users = [{"userId": "bob", "online": False, "lastSeen": None}]
    assert frames.presence(users, None) == {"type": "presence", "users": users}
    assert frames.pong("p") == {"type": "pong", "id": "p"}
    assert frames.ok(None, readSeq=4) == {"type": "ok", "readSeq": 4}


def test_error_frame_carries_the_error_payload() -> None:
    # GIVEN a rate-limit error
    # WHEN its frame is built
    # THEN it has the code, message and retryAfterMs, and the request id
    error = RateLimited("slow down", retry_after_ms=250)
    assert frames.error(error.payload(), "r-9") == {
        "type": "error",
        "id": "r-9",
        "code": 1005,
        "message": "slow down",
        "retryAfterMs": 250,
    }
