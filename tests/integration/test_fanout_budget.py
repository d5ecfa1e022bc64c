"""The per-sender fan-out budget against moto through the real handlers (issue 15, group
amplification): one account flooding a large group is refused with 1005 before anything is
stored, while another member's sends into the same group still go out. Each AWS call is
checked against the function's role by the IAM audit."""

from __future__ import annotations

import json
import time

import pytest
from parley import runtime
from parley.repositories.abuse import AbuseCountersRepository
from parley.services.budget import FanoutBudget

from tests.fakes.repos import FixedClock
from tests.integration.conftest import Harness
from tests.integration.helpers import create_group, put_user, send_frame, stored_messages

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")


def minute_clock() -> FixedClock:
    """A clock standing a second into the current minute: the budget counts per fixed
    minute, and a boundary passing between a test's sends would reset it."""
    return FixedClock((time.time_ns() // 60_000_000_000) * 60_000 + 1_000)


def test_a_flooding_sender_is_refused_and_the_group_still_hears_others(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 60-member group, and a budget of 200 member deliveries a minute (59 a message)
    token = app.user("alice")
    app.user("bob")
    others = [f"user{i:04d}" for i in range(58)]
    for user in others:
        put_user(app, user)
    group = str(create_group(app, token, ["bob", *others])["conversationId"])
    limits = app.stack.tables["LimitsTable"]
    budget = FanoutBudget(
        counters=AbuseCountersRepository(limits), clock=minute_clock(), per_minute=200
    )
    monkeypatch.setattr(runtime.message_service(), "fanout_budget", budget)

    def send(user: str, client_id: str) -> dict[str, object]:
        frame = {
            "action": "send",
            "id": client_id,
            "conversationId": group,
            "clientMsgId": client_id,
            "body": {"type": "text", "text": "flood"},
        }
        return send_frame(app, frame, user=user, connection=f"{user}-c")

    # WHEN alice sends four messages in a row
    replies = [send("alice", f"a{i}") for i in range(4)]
    # THEN three are stored and the fourth answers 1005 with the wait, storing nothing
    assert [r["type"] for r in replies[:3]] == ["ack"] * 3
    assert replies[3]["type"] == "error" and replies[3]["code"] == 1005
    assert 0 < int(replies[3]["retryAfterMs"]) <= 60_000  # type: ignore[call-overload]
    seqs = [m["seq"] for m in stored_messages(app, group)]
    assert seqs == list(range(1, 5))  # the group's creation and alice's three
    # AND bob, in the same group, is not held back by alice's flood
    assert send("bob", "b0")["type"] == "ack"


def test_a_sender_past_their_share_is_queued_in_the_bulk_lane_and_both_lanes_drain(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 60-member group where bob and carol are online, and a budget of 1,000 member
    # deliveries a minute whose bulk share is 10% (100: two messages of 59 deliveries)
    import boto3

    token = app.user("alice")
    for user in ("bob", "carol"):
        app.user(user)
        app.connect(user, f"{user}-c")
    others = [f"user{i:04d}" for i in range(57)]
    for user in others:
        put_user(app, user)
    group = str(create_group(app, token, ["bob", "carol", *others])["conversationId"])
    app.drain_queue()
    budget = FanoutBudget(
        counters=AbuseCountersRepository(app.stack.tables["LimitsTable"]),
        clock=minute_clock(),
        per_minute=1000,
        bulk_share=0.1,
    )
    monkeypatch.setattr(runtime.message_service(), "fanout_budget", budget)

    def send(user: str, client_id: str) -> int:
        frame = {
            "action": "send",
            "id": client_id,
            "conversationId": group,
            "clientMsgId": client_id,
            "body": {"type": "text", "text": client_id},
        }
        reply = send_frame(app, frame, user=user, connection=f"{user}-c")
        assert reply["type"] == "ack", reply
        return int(reply["seq"])  # type: ignore[call-overload]

    def queued(url: str) -> list[dict[str, object]]:
        # The test queues' visibility timeout is 0: a receive leaves the messages there.
        got = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    # WHEN alice sends three messages (the third after 118 deliveries) and bob one
    first, second, third = (send("alice", f"a{i}") for i in range(3))
    bobs = send("bob", "b0")
    # THEN alice's third is bulk work on the bulk queue, everything else on the push queue
    [bulk] = queued(app.stack.bulk_queue_url)
    assert bulk["lane"] == "bulk" and bulk["message"] == {"conversationId": group, "seq": third}
    normal = queued(app.stack.queue_url)
    assert sorted(item["message"]["seq"] for item in normal) == [first, second, bobs]  # type: ignore[index]
    assert all("lane" not in item for item in normal)
    # AND the fanout function drains both lanes: carol receives all four messages
    assert app.drain_queue() >= 8  # four conversation items and their member batches
    got = [
        f["seq"] for f in app.gateway.frames("carol-c", "message") if f["conversationId"] == group
    ]
    assert sorted(got)[-4:] == [first, second, third, bobs]
    assert queued(app.stack.queue_url) == queued(app.stack.bulk_queue_url) == []
