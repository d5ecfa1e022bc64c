"""Unit tests of the pure client-side pieces: sequencer, backoff, errors, tokens, events."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from parley_client import ErrorCode, ParleyError, Sequencer, full_jitter, jwt_claims
from parley_client.events import EventBuffer
from parley_client.tokens import token_expires_within


def msg(seq: int, conv: str = "dm:alice:bob") -> dict[str, object]:
    return {"type": "message", "conversationId": conv, "seq": seq, "senderId": "bob"}


def seqs(messages: list[dict[str, object]]) -> list[object]:
    return [m["seq"] for m in messages]


def test_in_order_pushes_are_delivered_and_advance_the_cursor() -> None:
    # GIVEN a sequencer that knows the conversation up to seq 2
    sequencer = Sequencer({"dm:alice:bob": 2})
    # WHEN seq 3 and 4 arrive in order
    out = sequencer.push(msg(3)) + sequencer.push(msg(4))
    # THEN both are delivered and the cursor follows
    assert seqs(out) == [3, 4]
    assert sequencer.export_cursors() == {"dm:alice:bob": 4}
    assert not sequencer.has_gaps()


def test_repeated_conversation_and_seq_is_dropped() -> None:
    # GIVEN a delivered seq 1
    sequencer = Sequencer()
    assert seqs(sequencer.push(msg(1))) == [1]
    # WHEN the same (conversationId, seq) is pushed again, and an older one too
    again = sequencer.push(msg(1))
    # THEN nothing is delivered
    assert again == []
    # AND a buffered (out-of-order) message pushed twice is held only once
    assert sequencer.push(msg(3)) == []
    assert sequencer.push(msg(3)) == []
    assert seqs(sequencer.push(msg(2))) == [2, 3]


def test_gap_holds_messages_until_the_hole_is_filled() -> None:
    # GIVEN cursor 1
    sequencer = Sequencer({"c": 1})
    # WHEN seq 4 and 3 arrive before 2
    assert sequencer.push(msg(4, "c")) == []
    assert sequencer.push(msg(3, "c")) == []
    # THEN a gap is reported from the cursor to the lowest held seq
    assert sequencer.gaps() == {"c": (1, 3)}
    # WHEN sync brings 2 and 3 (3 again)
    out = sequencer.synced("c", [msg(2, "c"), msg(3, "c")])
    # THEN 2, 3, 4 come out once each, in order
    assert seqs(out) == [2, 3, 4]
    assert sequencer.cursor("c") == 4
    assert not sequencer.has_gaps()


def test_sync_may_jump_over_invisible_messages() -> None:
    # GIVEN a new group member whose first visible message is seq 40, pushed first
    sequencer = Sequencer()
    assert sequencer.push(msg(41, "g")) == []
    # WHEN sync (authoritative) returns 40 and 41
    out = sequencer.synced("g", [msg(40, "g"), msg(41, "g")])
    # THEN both are delivered and the cursor jumps
    assert seqs(out) == [40, 41]
    assert sequencer.cursor("g") == 41


def test_own_acked_seq_moves_the_cursor_without_delivery() -> None:
    # GIVEN cursor 5 and our own send acked at 7 (6 from someone else not seen yet)
    sequencer = Sequencer({"c": 5})
    assert sequencer.acked("c", 7) == []
    assert sequencer.has_gaps()
    # WHEN 6 arrives
    out = sequencer.push(msg(6, "c"))
    # THEN only 6 is delivered and the cursor passes 7
    assert seqs(out) == [6]
    assert sequencer.cursor("c") == 7
    # AND our own message from a later sync is not delivered again
    assert sequencer.synced("c", [msg(7, "c")]) == []


def test_flush_gaps_gives_up_in_order() -> None:
    sequencer = Sequencer({"c": 1})
    sequencer.push(msg(5, "c"))
    sequencer.push(msg(3, "c"))
    assert seqs(sequencer.flush_gaps()) == [3, 5]
    assert sequencer.cursor("c") == 5


def test_unknown_conversation_without_backfill_starts_at_first_message() -> None:
    sequencer = Sequencer(backfill_unknown=False)
    assert seqs(sequencer.push(msg(57, "c"))) == [57]
    assert not sequencer.has_gaps()


def test_import_export_cursors() -> None:
    # GIVEN held messages
    sequencer = Sequencer({"a": 1})
    sequencer.push(msg(3, "a"))
    # WHEN cursors are imported past them
    sequencer.import_cursors({"a": 3, "b": 9})
    # THEN held messages at or below the cursor are discarded
    assert not sequencer.has_gaps()
    assert sequencer.export_cursors() == {"a": 3, "b": 9}
    sequencer.import_cursors({"z": 1}, replace=True)
    assert sequencer.export_cursors() == {"z": 1}
    with pytest.raises(ValueError, match="bad cursor"):
        sequencer.import_cursors({"x": -1})


def test_full_jitter_is_bounded_and_capped() -> None:
    # GIVEN a seeded generator
    rng = random.Random(7)
    # WHEN delays are drawn for growing attempts
    delays = [full_jitter(a, 0.5, 4.0, rng) for a in range(10) for _ in range(50)]
    # THEN each lies in [0, min(cap, base * 2**attempt)]
    for index, delay in enumerate(delays):
        attempt = index // 50
        assert 0.0 <= delay <= min(4.0, 0.5 * 2**attempt)
    # AND later attempts do reach past the early ceilings (they grow)
    assert max(delays[-50:]) > 2.0
    assert full_jitter(10_000, 1, 30, rng) <= 30
    with pytest.raises(ValueError, match="attempt"):
        full_jitter(-1, 1, 1)


def test_parley_error_from_bodies() -> None:
    # GIVEN an HTTP error body with a retry hint
    error = ParleyError.from_body({"code": 1005, "message": "slow down", "retryAfterMs": 1500}, 429)
    # THEN every field is mapped
    assert (error.code, error.message, error.status, error.retry_after_ms) == (
        1005,
        "slow down",
        429,
        1500,
    )
    assert error.name == "RATE_LIMITED"
    assert "1005 RATE_LIMITED: slow down" in str(error)
    # AND a body without a code falls back on the status's code
    assert ParleyError.from_body("<html>", 403).code == ErrorCode.FORBIDDEN
    assert ParleyError.from_body(None, 502).code == ErrorCode.INTERNAL
    assert ParleyError(9999, "?").name == "UNKNOWN"


def test_jwt_claims_and_expiry() -> None:
    import base64
    import json

    payload = base64.urlsafe_b64encode(json.dumps({"sub": "alice", "exp": 1000}).encode())
    token = f"x.{payload.decode().rstrip('=')}.y"
    assert jwt_claims(token)["sub"] == "alice"
    assert token_expires_within(token, 30, now=980)
    assert not token_expires_within(token, 10, now=980)
    assert jwt_claims("not-a-jwt") == {}
    assert jwt_claims("a.!!!.c") == {}
    assert not token_expires_within("opaque", 30, now=time.time())


def test_event_buffer_take_by_predicate_keeps_others_and_caps() -> None:
    async def scenario() -> None:
        # GIVEN a buffer holding two events of different types, capped at 3
        buffer = EventBuffer(maxlen=3)
        buffer.put({"type": "typing"})
        buffer.put({"type": "receipt"})
        # WHEN the receipt is taken by predicate
        got = await buffer.take(lambda e: e["type"] == "receipt", timeout=1)
        # THEN the typing event is still first in line
        assert got["type"] == "receipt"
        assert (await buffer.take(timeout=1))["type"] == "typing"
        # AND a waiter is woken by a later put
        waiter = asyncio.create_task(buffer.take(timeout=1))
        await asyncio.sleep(0)
        buffer.put({"type": "message"})
        assert (await waiter)["type"] == "message"
        # AND past the cap the oldest are dropped
        for n in range(5):
            buffer.put({"n": n})
        assert buffer.dropped == 2 and len(buffer) == 3
        # AND a timeout raises TimeoutError
        with pytest.raises(TimeoutError):
            await buffer.take(lambda e: False, timeout=0.01)

    asyncio.run(scenario())


def test_event_lines_are_readable() -> None:
    from datetime import datetime

    from parley_client.formatting import (
        dm_conversation_id,
        format_chat_line,
        format_event,
        format_message,
        format_time,
    )

    # GIVEN a message from today
    now = datetime(2026, 5, 1, 12, 30, 1).timestamp()
    ts = int(now * 1000)
    message = {
        "type": "message",
        "conversationId": "dm:alice:bob",
        "seq": 5,
        "senderId": "bob",
        "body": {"type": "text", "text": "hello"},
        "ts": ts,
    }
    # THEN each event type renders as one line
    assert format_time(ts, now=now) == "12:30:01"
    assert format_time(ts, now=now + 86_400 * 2) == "2026-05-01 12:30"
    assert format_time(None) == "--:--:--"
    assert format_message(message).endswith("[dm:alice:bob #5] bob: hello")
    assert format_chat_line(message) == "[bob] hello"
    custom = {**message, "body": {"type": "custom", "data": {"é": [1]}}}
    assert format_chat_line(custom) == '[bob] <custom> {"é":[1]}'
    system = {"type": "system", "by": "alice", "userIds": ["bob", "carol"]}
    lines = {
        "group_created": "* alice created the group with bob, carol",
        "members_added": "* alice added bob, carol",
        "member_removed": "* alice removed bob, carol",
        "member_left": "* bob, carol left",
        "role_changed": "* alice made bob, carol admin",
    }
    for event, expected in lines.items():
        body = {**system, "event": event, "role": "admin"}
        assert format_chat_line({**message, "body": body}) == expected
    assert format_event(
        {"type": "receipt", "conversationId": "c", "userId": "bob", "readSeq": 4}
    ) == ("[c] bob read up to #4")
    assert format_event(
        {"type": "typing", "conversationId": "c", "userId": "bob", "state": "start"}
    ) == ("[c] bob is typing...")
    assert format_event(
        {"type": "typing", "conversationId": "c", "userId": "bob", "state": "stop"}
    ) == ("[c] bob stopped typing")
    signal = {
        "type": "signal",
        "from": "bob",
        "fromConnection": "X1",
        "callId": "k",
        "kind": "offer",
    }
    assert format_event({**signal, "payload": {"sdp": "v=0"}}) == (
        'signal offer from bob (call k, connection X1): {"sdp":"v=0"}'
    )
    assert format_event({"type": "error", "code": 1005, "message": "slow"}) == (
        "error 1005 RATE_LIMITED: slow"
    )
    assert format_event({"type": "surprise", "x": 1}).startswith("surprise: ")
    assert dm_conversation_id("bob", "alice") == "dm:alice:bob"
