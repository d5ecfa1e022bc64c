"""`MessageRetentionDays` (protocol 12) through the handlers, against moto: the expiry each
write gives the message before its own, the never-expiring newest message, and the Query
filters that hide messages past retention until TTL removes them.

moto never expires TTL items, so a test removes an expired item itself, as DynamoDB's TTL
would, and messages are aged by their stored `ts` (what the filters read), never by sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from parley import ddb

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    add_members,
    conversations,
    create_group,
    history,
    seed_messages,
    send_frame,
    text_frame,
)
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

DAYS = 2
DAY_MS = 86_400_000
DM = "dm:alice:bob"


@pytest.fixture
def kept(app: Harness, reconfigure: Callable[..., None]) -> Harness:
    """Alice and bob, online, with messages kept `DAYS` days."""
    reconfigure(PARLEY_MESSAGE_RETENTION_DAYS=DAYS)
    for user, connection in (("alice", "a1"), ("bob", "b1")):
        app.user(user)
        app.connect(user, connection)
    return app


def item(app: Harness, conversation_id: str, seq: int) -> dict[str, Any] | None:
    found = client("dynamodb").get_item(
        TableName=app.stack.tables["MessagesTable"],
        Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
        ConsistentRead=True,
    )
    return ddb.decode(found["Item"]) if "Item" in found else None


def age(app: Harness, conversation_id: str, seq: int, days: float) -> None:
    """Move a stored message `days` into the past (its `ts`, which the reads filter on)."""
    stored = item(app, conversation_id, seq)
    assert stored is not None
    client("dynamodb").update_item(
        TableName=app.stack.tables["MessagesTable"],
        Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
        UpdateExpression="SET ts = :t",
        ExpressionAttributeValues=ddb.encode({":t": int(stored["ts"]) - int(days * DAY_MS)}),
    )


def ttl_removes(app: Harness, conversation_id: str, seq: int) -> None:
    """What DynamoDB's TTL does to an item whose `expiresAt` has passed: delete it."""
    stored = item(app, conversation_id, seq)
    assert stored is not None and "expiresAt" in stored, "only expirable items are removed"
    client("dynamodb").delete_item(
        TableName=app.stack.tables["MessagesTable"],
        Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
    )


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def sync_seqs(app: Harness, user: str, conversation_id: str, cursor: int, limit: int = 100) -> Any:
    reply = app.sync(user, f"{user}-sync", {conversation_id: cursor}, limit)
    entries = [c for c in reply["conversations"] if c["conversationId"] == conversation_id]
    return [m["seq"] for c in entries for m in c["messages"]], reply


def test_the_message_before_each_new_one_gets_its_expiry_the_newest_none(kept: Harness) -> None:
    # GIVEN retention of two days
    # WHEN alice sends three messages to bob
    for n in range(3):
        assert send_frame(kept, text_frame(f"c{n}", to="bob"))["type"] == "ack"
    # THEN the first two expire two days after their ts, and the newest never does
    for seq in (1, 2):
        stored = item(kept, DM, seq)
        assert stored is not None
        assert stored["expiresAt"] == int(stored["ts"]) // 1000 + DAYS * 86_400
    newest = item(kept, DM, 3)
    assert newest is not None and "expiresAt" not in newest


def test_ttl_never_takes_the_anchor_so_an_idle_conversation_continues(kept: Harness) -> None:
    # GIVEN three messages from alice and one reply from bob, all long past retention
    for n in range(3):
        send_frame(kept, text_frame(f"c{n}", to="bob"))
    send_frame(kept, text_frame("b1", to="alice"), user="bob", connection="b1")
    for seq in (1, 2, 3, 4):
        age(kept, DM, seq, DAYS + 1)
    # AND TTL removed every item that could expire: all but the newest
    for seq in (1, 2, 3):
        ttl_removes(kept, DM, seq)
    # WHEN alice sends again
    ack = send_frame(kept, text_frame("c-late", to="bob"))
    # THEN the sequence continues (no seq bob already saw is reused), with the running
    # count and the `own` map carried over from the anchor
    assert ack["seq"] == 5
    stored = item(kept, DM, 5)
    assert stored is not None
    assert (stored["n"], stored["own"]) == (5, {"alice": 5, "bob": 4})
    # AND bob gets it from an old cursor: kept messages from the oldest kept one on
    assert sync_seqs(kept, "bob", DM, 0)[0] == [5]
    # AND bob's unread is what he can still fetch (his own 4 read, 5 unread)
    listed = conversations(kept, token(kept, "bob"))[DM]
    assert (listed["lastSeq"], listed["readSeq"], listed["unread"]) == (5, 4, 1)
    # AND the old anchor (4) may expire now
    anchor = item(kept, DM, 4)
    assert anchor is not None and "expiresAt" in anchor


def test_reads_hide_what_is_past_retention_before_ttl_removes_it(kept: Harness) -> None:
    # GIVEN a first message, then 30 seeded messages years old that TTL has not removed
    # yet, then three fresh ones
    send_frame(kept, text_frame("first", to="bob"))
    age(kept, DM, 1, 1000)
    seed_messages(kept, DM, "alice", range(2, 32))
    for n in range(3):
        send_frame(kept, text_frame(f"fresh{n}", to="bob"))
    # WHEN bob syncs from 0 with a small limit (DynamoDB's Limit applies before the filter)
    seqs, reply = sync_seqs(kept, "bob", DM, 0, limit=2)
    # THEN he gets the oldest kept messages first, and then the rest
    assert seqs == [32, 33]
    assert reply["complete"] is False
    assert sync_seqs(kept, "bob", DM, 33, limit=2)[0] == [34]
    # AND history pages stop at the oldest kept message
    status, page = history(kept, token(kept, "bob"), DM, limit="2")
    assert status == 200
    assert ([m["seq"] for m in page["messages"]], page["nextBeforeSeq"]) == ([33, 34], 33)
    status, page = history(kept, token(kept, "bob"), DM, beforeSeq="33", limit="2")
    assert ([m["seq"] for m in page["messages"]], page["nextBeforeSeq"]) == ([32], None)
    # AND unread counts the three kept messages only
    assert conversations(kept, token(kept, "bob"))[DM]["unread"] == 3


def test_an_idle_conversation_is_left_out_once_its_newest_is_past_retention(
    kept: Harness,
) -> None:
    # GIVEN two messages, then days of silence
    send_frame(kept, text_frame("c1", to="bob"))
    send_frame(kept, text_frame("c2", to="bob"))
    for seq in (1, 2):
        age(kept, DM, seq, DAYS + 1)
    # WHEN bob syncs and reads the history
    seqs, reply = sync_seqs(kept, "bob", DM, 0)
    # THEN nothing is returned, though the anchor is still stored
    assert seqs == [] and reply["complete"] is True
    status, page = history(kept, token(kept, "bob"), DM)
    assert (status, page) == (200, {"messages": [], "nextBeforeSeq": None})
    assert item(kept, DM, 2) is not None
    # AND the list keeps lastSeq, with nothing unread
    listed = conversations(kept, token(kept, "bob"))[DM]
    assert (listed["lastSeq"], listed["unread"]) == (2, 0)


def test_a_membership_change_makes_the_message_before_it_expirable(kept: Harness) -> None:
    # GIVEN a group (its `group_created` message is seq 1) and a third user
    kept.user("carol")
    group = create_group(kept, token(kept, "alice"), ["bob"])["conversationId"]
    first = item(kept, group, 1)
    assert first is not None and "expiresAt" not in first
    # WHEN carol is added (a `members_added` message, seq 2)
    status, _ = add_members(kept, token(kept, "alice"), group, ["carol"])
    assert status == 200
    # THEN seq 1 expires after its retention, and seq 2 does not
    first = item(kept, group, 1)
    assert first is not None
    assert first["expiresAt"] == int(first["ts"]) // 1000 + DAYS * 86_400
    second = item(kept, group, 2)
    assert second is not None and "expiresAt" not in second


def test_without_retention_nothing_expires_and_nothing_is_hidden(app: Harness) -> None:
    # GIVEN the default settings (kept forever) and a years-old message
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    send_frame(app, text_frame("c1", to="bob"))
    seed_messages(app, DM, "alice", range(2, 3))
    # WHEN another message follows
    send_frame(app, text_frame("c3", to="bob"))
    # THEN no item gets an expiry, and the old message is still read
    for seq in (1, 2, 3):
        stored = item(app, DM, seq)
        assert stored is not None and "expiresAt" not in stored
    assert sync_seqs(app, "bob", DM, 0)[0] == [1, 2, 3]
    assert int(time.time() * 1000) - 1_700_000_000_002 > 365 * DAY_MS
