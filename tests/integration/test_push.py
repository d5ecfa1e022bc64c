"""Push (protocol 5.3.4): stale connections, retries through the push queue, the fanout
function's per-record failures, and large groups fanned out through SQS; work items name
their message and never hold its text (protocol 9: delete erases)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    add_members,
    call,
    connection_item,
    create_group,
    put_connection,
    seed_messages,
    send_frame,
    text_frame,
)
from tests.support import events
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")


@pytest.fixture
def pair(app: Harness) -> Harness:
    """alice (a1) and bob (b1, b2), registered and connected."""
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    app.connect("bob", "b2")
    return app


def queued(app: Harness, *, dlq: bool = False) -> list[dict[str, Any]]:
    """The work items waiting in the push queue or its DLQ (left there: visibility timeout
    is 0)."""
    got = client("sqs").receive_message(
        QueueUrl=app.stack.dlq_url if dlq else app.stack.queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
    )
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def erase(app: Harness, conversation_id: str, seq: int) -> None:
    """Leave a stored message as a delete leaves it (its text gone), straight in the table."""
    client("dynamodb").update_item(
        TableName=app.stack.tables["MessagesTable"],
        Key={"conversationId": {"S": conversation_id}, "seq": {"N": str(seq)}},
        UpdateExpression="SET body = :b",
        ExpressionAttributeValues={":b": {"S": '{"type":"deleted"}'}},
    )


def fanout(bodies: list[Any]) -> list[str]:
    """Run the fanout function over SQS records; the ids of the records it reported failed."""
    result = call("fanout", events.sqs_event(bodies))
    return [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]


SECRET = "the launch code is 0000"


def message_frame(seq: int = 1, text: str = "hi") -> dict[str, Any]:
    """A `message` frame as the release before carried it in work items (with its text)."""
    return {
        "type": "message",
        "conversationId": "dm:alice:bob",
        "seq": seq,
        "messageId": "01J00000000000000000000001",
        "senderId": "alice",
        "clientMsgId": f"m{seq}",
        "body": {"type": "text", "text": text},
        "ts": 1_700_000_000_000,
    }


def reference(seq: int = 1) -> dict[str, Any]:
    return {"conversationId": "dm:alice:bob", "seq": seq}


def connections_item(*connection_ids: str) -> dict[str, Any]:
    return {"kind": "connections", "connectionIds": list(connection_ids), "message": reference()}


@pytest.fixture
def stored(pair: Harness) -> Harness:
    """alice and bob with message 1 of their dm stored (text "seeded 1"), never pushed."""
    seed_messages(pair, "dm:alice:bob", "alice", range(1, 2))
    return pair


# ---- inline push ---------------------------------------------------------------------------


def test_a_connection_answering_410_is_deleted_and_only_that_one(pair: Harness) -> None:
    # GIVEN bob's first device is gone (410) but API Gateway's record of it remains
    pair.gateway.gone.add("b1")
    # WHEN alice sends to bob
    ack = send_frame(pair, text_frame("m1", to="bob"))
    # THEN the send is acked, b1's record is deleted, and b2 (and alice's a1) stay and b2 got it
    assert ack["type"] == "ack"
    assert connection_item(pair, "b1") is None
    assert connection_item(pair, "b2") is not None
    assert connection_item(pair, "a1") is not None
    assert [f["seq"] for f in pair.gateway.frames("b2", "message")] == [1]


def test_a_connection_past_its_ttl_is_not_pushed_to(pair: Harness) -> None:
    # GIVEN a record of bob's whose TTL passed but that DynamoDB has not swept yet
    put_connection(pair, "bob", "b-stale", ttl=int(time.time()) - 10)
    # WHEN alice sends to bob
    send_frame(pair, text_frame("m1", to="bob"))
    # THEN only his live connections got it
    assert pair.gateway.frames("b-stale") == []
    assert len(pair.gateway.frames("b1", "message")) == 1


def test_a_failing_post_is_queued_for_retry_and_the_send_still_acks(pair: Harness) -> None:
    # GIVEN posts to bob's b1 fail (not 410)
    pair.gateway.failing.add("b1")
    # WHEN alice sends to bob
    ack = send_frame(pair, text_frame("m1", "hello", to="bob"))
    # THEN she gets her ack, b2 got the message, and a `connections` retry for b1 is queued
    assert ack["type"] == "ack" and ack["seq"] == 1
    assert len(pair.gateway.frames("b2", "message")) == 1
    [item] = queued(pair)
    assert item["kind"] == "connections" and item["connectionIds"] == ["b1"]
    # AND the retry names the message; it does not hold its text
    assert item["message"] == reference(1)
    assert "hello" not in json.dumps(item)
    # AND the failing connection is kept (it may recover)
    assert connection_item(pair, "b1") is not None


def test_the_fanout_reports_a_retry_that_still_fails_then_delivers_after_recovery(
    pair: Harness,
) -> None:
    # GIVEN a queued retry for b1, whose posts still fail
    pair.gateway.failing.add("b1")
    send_frame(pair, text_frame("m1", to="bob"))
    bodies = queued(pair)
    assert len(bodies) == 1
    # WHEN the fanout function runs it
    failures = fanout(bodies)
    # THEN it reports the record as failed (SQS will redeliver it)
    assert failures == ["msg-0"]
    assert pair.gateway.frames("b1") == []
    # AND once b1 recovers, draining the queue delivers the message to it
    pair.gateway.failing.clear()
    assert pair.drain_queue() >= 1
    assert [f["seq"] for f in pair.gateway.frames("b1", "message")] == [1]
    assert queued(pair) == []


def test_a_partial_batch_reports_exactly_the_failing_record(stored: Harness) -> None:
    pair = stored
    # GIVEN b2 fails and b1 works
    pair.gateway.failing.add("b2")
    # WHEN one batch holds a retry for b1 and a retry for b2
    failures = fanout([connections_item("b1"), connections_item("b2")])
    # THEN only the b2 record failed, and b1 got its message
    assert failures == ["msg-1"]
    assert len(pair.gateway.frames("b1", "message")) == 1


@pytest.mark.parametrize(
    "bad",
    ["not json", "[]", '{"kind": "connections"}', '{"kind": "users", "userIds": "bob"}'],
    ids=["not-json", "array", "no-fields", "wrong-types"],
)
def test_a_malformed_record_fails_only_itself(stored: Harness, bad: str) -> None:
    pair = stored
    # WHEN a batch holds a malformed record followed by a good one
    failures = fanout([bad, connections_item("b1")])
    # THEN only the malformed record is reported, and the good one was delivered
    assert failures == ["msg-0"]
    assert len(pair.gateway.frames("b1", "message")) == 1


def test_a_record_of_an_unknown_kind_is_dropped_without_failing(pair: Harness) -> None:
    # WHEN a record names a kind the fanout does not know
    failures = fanout([{"kind": "carrier-pigeon"}])
    # THEN it is not retried forever (no failure) and nothing is posted
    assert failures == []
    assert pair.gateway.posts == {}


def test_a_users_item_whose_posts_fail_requeues_them_as_connections(stored: Harness) -> None:
    pair = stored
    # GIVEN b1 fails
    pair.gateway.failing.add("b1")
    item = {"kind": "users", "userIds": ["bob"], "message": reference(), "exclude": None}
    # WHEN the fanout delivers a `users` item for bob
    failures = fanout([item])
    # THEN the record itself succeeds, b2 got the message, and b1 is queued for retry
    assert failures == []
    assert len(pair.gateway.frames("b2", "message")) == 1
    [retry] = queued(pair)
    assert retry["kind"] == "connections" and retry["connectionIds"] == ["b1"]
    assert retry["message"] == reference()


def test_a_retry_that_ends_in_the_dlq_holds_no_text(pair: Harness) -> None:
    # GIVEN b1 fails for good
    pair.gateway.failing.add("b1")
    # WHEN alice sends to bob and the fanout retries b1 until SQS gives up on it
    send_frame(pair, text_frame("m1", SECRET, to="bob"))
    pair.drain_queue()
    # THEN the record is in the DLQ, naming the message without its text
    [dead] = queued(pair, dlq=True)
    assert dead["kind"] == "connections" and dead["connectionIds"] == ["b1"]
    assert dead["message"] == reference(1)
    assert SECRET not in json.dumps(dead)
    assert queued(pair) == []


def test_a_retry_of_a_message_deleted_meanwhile_posts_it_deleted(pair: Harness) -> None:
    # GIVEN a queued retry for b1 of alice's message
    pair.gateway.failing.add("b1")
    send_frame(pair, text_frame("m1", SECRET, to="bob"))
    # WHEN the message is deleted, then b1 recovers and the retry runs
    erase(pair, "dm:alice:bob", 1)
    pair.gateway.failing.clear()
    assert pair.drain_queue() == 1
    # THEN b1 gets the message in its current state, never its text
    assert [f["body"] for f in pair.gateway.frames("b1", "message")] == [{"type": "deleted"}]


def test_an_item_naming_no_stored_message_is_dropped_without_failing(stored: Harness) -> None:
    # WHEN the fanout gets items naming a message that is not stored
    items = [
        {"kind": "users", "userIds": ["bob"], "message": reference(9), "exclude": None},
        connections_item("b1") | {"message": reference(9)},
    ]
    failures = fanout(items)
    # THEN neither is retried (no failure) and nothing is posted or queued
    assert failures == []
    assert stored.gateway.posts == {}
    assert queued(stored) == []


def test_items_queued_before_references_still_deliver(stored: Harness) -> None:
    # GIVEN items in the old format (the whole frame), b2 failing
    stored.gateway.failing.add("b2")
    old_users = {"kind": "users", "userIds": ["bob"], "frame": message_frame(text="old copy")}
    old_retry = {"kind": "connections", "connectionIds": ["b1"], "frame": message_frame()}
    # WHEN the fanout runs them
    failures = fanout([old_users | {"exclude": None}, old_retry])
    # THEN both delivered to b1, as the message is stored now (not the item's copy)
    assert failures == []
    assert [f["body"]["text"] for f in stored.gateway.frames("b1", "message")] == ["seeded 1"] * 2
    # AND b2's retry is queued as a reference
    [retry] = queued(stored)
    assert retry["connectionIds"] == ["b2"] and retry["message"] == reference()
    assert "frame" not in retry


# ---- large groups through SQS -------------------------------------------------------------------

OTHERS = ["bob", "carol", "dave", "erin", "frank", "grace"]


@pytest.fixture
def big_group(app: Harness, reconfigure: Callable[..., None]) -> tuple[Harness, str]:
    """A group of 7 (alice owns it; everyone connected, alice twice) above the inline limit."""
    reconfigure(PARLEY_INLINE_FANOUT_MAX=2, PARLEY_FANOUT_BATCH_USERS=2)
    for user in ["alice", *OTHERS, "henry"]:
        app.user(user)
        app.connect(user, f"{user}-1")
    app.connect("alice", "alice-2")
    group = create_group(app, app.tokens["alice"]["accessToken"], OTHERS)["conversationId"]
    app.drain_queue()
    app.gateway.posts.clear()
    return app, group


def test_a_large_group_is_fanned_out_through_the_queue(big_group: tuple[Harness, str]) -> None:
    app, group = big_group
    # WHEN alice sends into the group from alice-1
    ack = send_frame(
        app, text_frame("m1", "to everyone", conversationId=group), connection="alice-1"
    )
    assert ack["type"] == "ack"
    # THEN nothing was posted inline: it went to the push queue, naming the message without
    # its text
    assert app.gateway.posts == {}
    [item] = queued(app)
    assert item["kind"] == "conversation"
    assert item["message"] == {"conversationId": group, "seq": ack["seq"]}
    assert "to everyone" not in json.dumps(item)
    # AND after the fanout ran (split into batches of 2 users), every member's connection
    # except the sending one got the message
    assert app.drain_queue() >= 1 + 4
    for connection in ["alice-2", *(f"{u}-1" for u in OTHERS)]:
        got = [f for f in app.gateway.frames(connection, "message") if f["seq"] == ack["seq"]]
        assert got, connection
        assert all(f["body"] == {"type": "text", "text": "to everyone"} for f in got)
    assert app.gateway.frames("alice-1") == []
    # AND henry, who is not a member, got nothing
    assert app.gateway.frames("henry-1") == []


def test_a_member_added_after_a_message_does_not_receive_it(
    big_group: tuple[Harness, str],
) -> None:
    app, group = big_group
    # GIVEN alice sent a message that is still waiting in the push queue
    ack = send_frame(app, text_frame("m1", conversationId=group), connection="alice-1")
    # WHEN henry is added before the fanout runs
    status, _ = add_members(app, app.tokens["alice"]["accessToken"], group, ["henry"])
    assert status == 200
    app.drain_queue()
    # THEN henry gets the members_added notice but not the earlier message
    henry = app.gateway.frames("henry-1", "message")
    assert ack["seq"] not in [f["seq"] for f in henry]
    assert [f["body"]["event"] for f in henry] == ["members_added"]
    # AND the existing members got both
    bob_seqs = {f["seq"] for f in app.gateway.frames("bob-1", "message")}
    assert {ack["seq"], ack["seq"] + 1} <= bob_seqs


def test_a_large_group_message_deleted_before_the_fanout_is_pushed_deleted(
    big_group: tuple[Harness, str],
) -> None:
    app, group = big_group
    # GIVEN alice's message waiting in the push queue
    ack = send_frame(app, text_frame("m1", SECRET, conversationId=group), connection="alice-1")
    # WHEN it is deleted before the fanout runs
    erase(app, group, ack["seq"])
    assert app.drain_queue() >= 1 + 4
    # THEN every member gets it in its current state, and no work item held its text
    for connection in ["alice-2", *(f"{u}-1" for u in OTHERS)]:
        got = [f for f in app.gateway.frames(connection, "message") if f["seq"] == ack["seq"]]
        assert [f["body"] for f in got] == [{"type": "deleted"}], connection
    assert SECRET not in json.dumps(app.gateway.posts)
