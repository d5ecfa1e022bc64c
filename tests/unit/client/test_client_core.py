"""The sans-I/O ClientCore, driven directly: no event loop, no socket, time passed in."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest
from parley_client import ClientCore, ClientOptions, ErrorCode, ParleyError
from parley_client.core import Deliver, Reply, ReplyLost, SyncNeeded
from parley_client.errors import ParleyClosedError, ParleyConnectionError, ParleyTimeoutError
from parley_client.schedules import ReconnectSchedule


def core_with(**options: Any) -> ClientCore:
    cursors = options.pop("cursors", None)
    return ClientCore(
        ClientOptions(**options), cursors=cursors, rng=random.Random(7), id_prefix="t"
    )


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def token(exp: int, sub: str = "alice") -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": sub, "exp": exp}).encode())
    return f"h.{payload.decode().rstrip('=')}.s"


# ------------------------------------------------------------------ matching


def test_reply_is_matched_to_its_request_and_late_replies_are_dropped() -> None:
    # GIVEN two requests in flight
    core = core_with()
    first = core.request({"action": "ping"})
    second = core.request({"action": "read", "conversationId": "c", "seq": 1})
    assert (first.request_id, second.request_id) == ("t-1", "t-2")
    assert json.loads(first.data) == {"action": "ping", "id": "t-1"}
    # WHEN the replies come back, out of order
    core.receive_data(frame(type="ok", id="t-2"))
    core.receive_data(frame(type="pong", id="t-1"))
    # THEN each is matched to its own request
    assert core.events_received() == [
        Reply("t-2", {"type": "ok", "id": "t-2"}),
        Reply("t-1", {"type": "pong", "id": "t-1"}),
    ]
    assert core.awaiting == frozenset()
    # WHEN a request is forgotten (timed out) and its reply comes late
    third = core.request({"action": "ping"})
    core.forget(third.request_id)
    core.receive_data(frame(type="pong", id=third.request_id))
    core.receive_data(frame(type="error", id=third.request_id, code=3001, message="x"))
    # THEN the late pong is dropped, but the late error reaches the app
    [late] = core.events_received()
    assert isinstance(late, Deliver) and late.event["type"] == "error"


def test_oversized_frame_is_refused_before_anything_is_awaited() -> None:
    # GIVEN a frame over the 32 KiB limit
    core = core_with()
    # WHEN it is requested THEN 1006, and no reply is awaited
    with pytest.raises(ParleyError) as caught:
        core.request({"action": "send", "body": {"type": "text", "text": "x" * 40_000}})
    assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    assert core.awaiting == frozenset()


def test_lost_connection_fails_every_awaited_request() -> None:
    # GIVEN two requests awaiting their replies
    core = core_with()
    core.connection_opened(now=0.0)
    ids = [core.request({"action": "ping"}).request_id for _ in range(2)]
    # WHEN the socket is lost
    reconnect = core.connection_lost(now=1.0)
    # THEN both requests are reported lost, and the core asks to reconnect
    assert core.events_received() == [ReplyLost(ids[0]), ReplyLost(ids[1])]
    assert reconnect is True
    assert not core_with(reconnect=False).connection_lost(now=0.0)


def test_garbage_frames_are_ignored() -> None:
    core = core_with()
    core.receive_data("not json")
    core.receive_data("[1, 2]")
    assert core.events_received() == []


# -------------------------------------------------------------------- resend


def test_send_keeps_its_client_msg_id_and_retries_timeouts_lost_sockets_and_2001() -> None:
    # GIVEN a send with 4 attempts
    core = core_with()
    pending = core.begin_send("hi", to="bob", attempts=4)
    first = core.request(core.send_try(pending))
    assert pending.client_msg_id in core.pending_sends
    # WHEN the first try times out, the second loses its socket, the third gets 2001
    errors = [
        ParleyTimeoutError("no reply"),
        ParleyConnectionError("lost"),
        ParleyError(ErrorCode.MESSAGE_SEND_FAILED, "try again", retry_after_ms=3000),
    ]
    delays: list[float | None] = []
    tries = [first]
    for error in errors:
        delays.append(core.send_failed(pending, error, closed=False))
        tries.append(core.request(core.send_try(pending)))
    # THEN every try carried the same clientMsgId under a new request id
    sent = [json.loads(t.data) for t in tries]
    assert {s["clientMsgId"] for s in sent} == {pending.client_msg_id}
    assert len({s["id"] for s in sent}) == 4
    assert sent[0]["body"] == {"type": "text", "text": "hi"} and sent[0]["to"] == "bob"
    # AND the waits follow full jitter from 0.2 s, at least the server's retryAfterMs
    assert delays[0] is not None and 0 <= delays[0] <= 0.2
    assert delays[1] is not None and 0 <= delays[1] <= 0.4
    assert delays[2] is not None and delays[2] >= 3.0
    # WHEN the last allowed try fails too THEN the send gives up and leaves the table
    assert core.send_failed(pending, ParleyTimeoutError("again"), closed=False) is None
    assert core.pending_sends == {}


def test_send_gives_up_at_once_on_other_codes_and_when_closed() -> None:
    core = core_with()
    for error, closed in [
        (ParleyError(ErrorCode.FORBIDDEN, "no"), False),
        (ParleyClosedError("closed"), False),
        (ParleyTimeoutError("slow"), True),
    ]:
        # GIVEN a fresh send on its first try
        pending = core.begin_send({"type": "custom", "data": 1}, conversation_id="c")
        core.send_try(pending)
        # WHEN it fails this way THEN there is no retry
        assert core.send_failed(pending, error, closed=closed) is None
    with pytest.raises(ValueError, match="exactly one"):
        core.begin_send("x")


def test_ack_moves_the_cursor_without_delivering_our_own_message() -> None:
    # GIVEN bob's seq 2 held behind our own unacked seq 1
    core = core_with(cursors={"c": 0})
    pending = core.begin_send("mine", conversation_id="c")
    core.request(core.send_try(pending))
    core.receive_data(frame(type="message", conversationId="c", seq=2, senderId="bob"))
    assert [type(o) for o in core.events_received()] == [SyncNeeded]
    # WHEN our ack for seq 1 arrives
    core.send_acked(pending, {"type": "ack", "conversationId": "c", "seq": 1})
    # THEN bob's message comes out, ours does not
    [out] = core.events_received()
    assert isinstance(out, Deliver) and out.event["seq"] == 2
    assert core.sequencer.cursor("c") == 2


def test_1003_calls_for_a_renewal_except_on_ping_and_auth() -> None:
    expired = ParleyError(ErrorCode.UNAUTHENTICATED, "expired")
    assert ClientCore.renews_on(expired, {"action": "send"})
    assert not ClientCore.renews_on(expired, {"action": "ping"})
    assert not ClientCore.renews_on(expired, {"action": "auth"})
    assert not ClientCore.renews_on(ParleyError(ErrorCode.FORBIDDEN, "x"), {"action": "send"})


# ---------------------------------------------------------------------- gaps


def test_gap_asks_for_one_sync_after_the_grace_and_retries_then_delivers_past() -> None:
    # GIVEN cursor 1 and a push of seq 3
    core = core_with(cursors={"c": 1}, gap_grace=0.5, gap_retries=2)
    core.receive_data(frame(type="message", conversationId="c", seq=3))
    # THEN one sync is asked for, after the grace; a second held message asks nothing more
    assert core.events_received() == [SyncNeeded("gap", 0.5)]
    core.receive_data(frame(type="message", conversationId="c", seq=4))
    assert core.events_received() == []
    # WHEN a sync leaves the gap open THEN the next try waits grace * 2
    assert core.gap_sync_done(ok=True) == 1.0
    # WHEN the second one does too THEN the held messages are delivered past the gap
    assert core.gap_sync_done(ok=True) is None
    assert [o.event["seq"] for o in core.events_received() if isinstance(o, Deliver)] == [3, 4]
    assert core.sequencer.cursor("c") == 4
    # AND a later gap starts a new fill once the shell reports the last one finished
    core.gap_fill_finished()
    core.receive_data(frame(type="message", conversationId="c", seq=6))
    assert core.events_received() == [SyncNeeded("gap", 0.5)]


def test_sync_rounds_deliver_in_order_and_stop_on_complete_or_stalls() -> None:
    # GIVEN a held seq 3 and a sync whose first page brings 2
    core = core_with(cursors={"c": 1}, sync_limit=50)
    core.receive_data(frame(type="message", conversationId="c", seq=3))
    core.events_received()
    run = core.begin_sync()
    assert core.sync_frame(run) == {"action": "sync", "cursors": {"c": 1}, "limit": 50}
    page = {"conversationId": "c", "lastSeq": 3, "messages": [{"seq": 2, "senderId": "b"}]}
    # WHEN the reply is incomplete but made progress THEN the next round goes at once
    assert core.sync_replied(run, {"type": "sync", "conversations": [page]}) == 0.0
    assert [o.event["seq"] for o in core.events_received() if isinstance(o, Deliver)] == [2, 3]
    assert run.result.conversations["c"] == {"conversationId": "c", "lastSeq": 3}
    # WHEN rounds bring nothing THEN the pauses grow and the third stall ends the sync
    empty = {"type": "sync", "conversations": []}
    assert core.sync_replied(run, empty) == pytest.approx(0.1)
    assert core.sync_replied(run, empty) == pytest.approx(0.2)
    assert core.sync_replied(run, empty) is None
    assert run.result.complete is False and run.result.rounds == 4
    # AND a complete reply ends a sync at once
    done = core.begin_sync()
    assert core.sync_replied(done, {"type": "sync", "conversations": [], "complete": True}) is None


# ----------------------------------------------------------------- reconnect


def test_reconnect_schedule_grows_resets_after_a_stable_connection_and_gives_up() -> None:
    # GIVEN a schedule from 1 s, capped at 4 s, giving up after 3 failures
    options = ClientOptions(backoff_base=1.0, backoff_cap=4.0, max_reconnect_attempts=3)

    class Ceiling(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # the top of each jitter window shows the ceiling

    schedule = ReconnectSchedule(options, Ceiling())
    schedule.opened(now=0.0)
    schedule.lost(now=1.0)
    # WHEN attempts keep failing THEN the ceilings double up to the cap, then it gives up
    delays = []
    while (delay := schedule.next_delay()) is not None:
        delays.append(delay)
        schedule.failed()
    assert delays == [1.0, 2.0, 4.0]
    # WHEN a connection opens and drops quickly THEN the backoff carries on from there
    schedule.opened(now=10.0)
    schedule.lost(now=12.0)
    assert schedule.next_delay() == 4.0
    # WHEN a connection stays up past stable_after (10 s) THEN it starts over
    schedule.opened(now=20.0)
    schedule.lost(now=31.0)
    assert schedule.next_delay() == 1.0


def test_connection_opened_says_which_sync_to_run() -> None:
    core = core_with()
    assert core.connection_opened(now=0.0) == SyncNeeded("connect")
    core.connection_lost(now=1.0)
    assert core.connection_opened(now=2.0) == SyncNeeded("reconnect")
    assert core.connection_count == 2
    quiet = core_with(sync_on_connect=False)
    assert quiet.connection_opened(now=0.0) is None
    quiet.connection_lost(now=1.0)
    assert quiet.connection_opened(now=2.0) is None
    eager = core_with(sync_on_connect=False, sync_on_reconnect=True)
    eager.connection_opened(now=0.0)
    eager.connection_lost(now=1.0)
    assert eager.connection_opened(now=2.0) == SyncNeeded("reconnect")


# --------------------------------------------------------------------- token


def test_token_renewal_timing_and_backoff() -> None:
    # GIVEN a token expiring at t=1000 and a 60 s margin
    core = core_with(renew_margin=60.0)
    assert core.renewal_delay(wall_now=0.0) is None  # no token yet
    core.token_presented(token(exp=1000))
    assert core.user_id == "alice"
    # THEN renewal is due 60 s before expiry, never sooner than 0.05 s
    assert core.renewal_delay(wall_now=900.0) == 40.0
    assert core.renewal_delay(wall_now=999.0) == 0.05
    # WHEN renewals fail THEN the wait is at least 2**failures s (capped at 60)
    for _ in range(7):
        core.renewal_done(ok=False)
    assert core.renewal_delay(wall_now=999.0) == 60.0
    core.renewal_done(ok=True)
    assert core.renewal_delay(wall_now=999.0) == 0.05
    # AND only a later-expiring token is worth presenting
    assert ClientCore.renews_to(token(exp=1000), token(exp=1900))
    assert not ClientCore.renews_to(token(exp=1000), token(exp=1000))
    assert not ClientCore.renews_to(token(exp=1000), "opaque")
