"""The sender's readSeq in direct conversations (protocol 5.3.6) without a Members write per
send: each direct message carries `own` (every member's newest seq), and the readSeq that
`GET /conversations`, `sync`, `read` and `receipt` report is the larger of the Members row
and the newest message's entry. Groups keep the write.

Everything here is observed through the handlers; the tables are read directly only to
prove what was (not) written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from parley import ddb, runtime
from parley.repositories.conversations import member_row

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    conversations,
    create_group,
    history,
    member_item,
    seed_messages,
    send_frame,
    stored_messages,
    sync_entry,
    text_frame,
)
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

DM = "dm:alice:bob"
WIRE_FIELDS = {"conversationId", "seq", "messageId", "senderId", "clientMsgId", "body", "ts"}


@pytest.fixture
def pair(app: Harness) -> Harness:
    """alice (connections a1, a2) and bob (b1), registered and connected."""
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("alice", "a2")
    app.connect("bob", "b1")
    return app


class DynamoCalls:
    """Every DynamoDB request the handlers make (operation name and parameters)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def clear(self) -> None:
        self.calls.clear()

    def writes_to(self, table: str) -> list[str]:
        """The write operations addressed to `table` (transactions counted by their items)."""
        found = []
        for operation, params in self.calls:
            if params.get("TableName") == table and operation in (
                "PutItem",
                "UpdateItem",
                "DeleteItem",
            ):
                found.append(operation)
            for item in params.get("TransactItems", []):
                found.extend(op for op, body in item.items() if body.get("TableName") == table)
        return found


@pytest.fixture
def dynamo_calls(app: Harness) -> Iterator[DynamoCalls]:
    from parley import aws

    runtime.users()  # the shared client exists before hooking it
    recorder = DynamoCalls()
    events = aws.client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.*", recorder.record)
    yield recorder
    events.unregister("provide-client-params.dynamodb.*", recorder.record)


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def say(app: Harness, user: str, client_id: str, conversation: str = DM) -> dict[str, Any]:
    ack = send_frame(
        app,
        text_frame(client_id, f"{user} says {client_id}", conversationId=conversation),
        user=user,
        connection=f"{user[0]}1",
    )
    assert ack["type"] == "ack", ack
    return ack


def start_dm(app: Harness, user: str = "alice", client_id: str = "m1") -> dict[str, Any]:
    other = "bob" if user == "alice" else "alice"
    ack = send_frame(app, text_frame(client_id, to=other), user=user, connection=f"{user[0]}1")
    assert ack["type"] == "ack", ack
    return ack


def read(app: Harness, user: str, seq: int, conversation: str = DM) -> dict[str, Any]:
    frame = {"action": "read", "id": "rd", "conversationId": conversation, "seq": seq}
    reply = app.frame("read", frame, user=user, connection=f"{user[0]}1")
    assert reply is not None
    return reply


def seen(app: Harness, user: str, conversation: str = DM) -> tuple[int, int, int]:
    """(lastSeq, readSeq, unread) of `GET /conversations` for `user`."""
    entry = conversations(app, token(app, user))[conversation]
    return entry["lastSeq"], entry["readSeq"], entry["unread"]


def synced(app: Harness, user: str, conversation: str = DM) -> tuple[int, int]:
    """(lastSeq, readSeq) of the user's `sync` from nothing."""
    entry = sync_entry(app, user, conversation)
    assert entry is not None
    return entry["lastSeq"], entry["readSeq"]


def receipts(app: Harness, connection: str) -> list[dict[str, Any]]:
    return app.gateway.frames(connection, "receipt")


def own_maps(app: Harness, conversation: str = DM) -> dict[int, dict[str, int] | None]:
    return {m["seq"]: m.get("own") for m in stored_messages(app, conversation)}


def expected_own(senders: list[tuple[int, str]]) -> dict[int, dict[str, int]]:
    """The exact map chain for messages (seq, sender) in seq order."""
    chain: dict[int, dict[str, int]] = {}
    newest: dict[str, int] = {}
    for seq, sender in sorted(senders):
        newest[sender] = seq
        chain[seq] = dict(newest)
    return chain


# ---- the observable readSeq ---------------------------------------------------------------


def test_a_senders_own_messages_are_read_and_the_recipient_has_them_unread(
    pair: Harness,
) -> None:
    # GIVEN alice sent 3 direct messages to bob
    start_dm(pair)
    say(pair, "alice", "m2")
    say(pair, "alice", "m3")
    # WHEN both list their conversations
    # THEN alice has read up to lastSeq (nothing unread), bob has all 3 unread
    assert seen(pair, "alice") == (3, 3, 0)
    assert seen(pair, "bob") == (3, 0, 3)
    # AND sync reports the same readSeq values
    assert synced(pair, "alice") == (3, 3)
    assert synced(pair, "bob") == (3, 0)
    # AND alice's Members row was never written for it (her readSeq comes from the message)
    alice_row = member_item(pair, DM, "alice")
    assert alice_row is not None and alice_row["readSeq"] == 0


def test_replies_count_as_unread_for_the_other_and_read_for_their_sender(pair: Harness) -> None:
    # GIVEN alice sent 3 messages and bob replied twice (seqs 4 and 5)
    start_dm(pair)
    say(pair, "alice", "m2")
    say(pair, "alice", "m3")
    say(pair, "bob", "b1")
    say(pair, "bob", "b2")
    # WHEN both list their conversations and sync
    # THEN alice's readSeq is her last own message (3) with bob's 2 unread; bob read all
    assert seen(pair, "alice") == (5, 3, 2)
    assert seen(pair, "bob") == (5, 5, 0)
    assert synced(pair, "alice") == (5, 3)
    assert synced(pair, "bob") == (5, 5)


def test_reading_up_to_an_own_message_changes_nothing_and_sends_no_receipt(
    pair: Harness,
) -> None:
    # GIVEN alice sent 3 messages and bob replied twice
    start_dm(pair)
    say(pair, "alice", "m2")
    say(pair, "alice", "m3")
    say(pair, "bob", "b1")
    say(pair, "bob", "b2")
    # WHEN alice reads up to her own messages 3, then 1, then 0
    replies = [read(pair, "alice", seq) for seq in (3, 1, 0)]
    # THEN each `ok` says readSeq 3 (unchanged), and no receipt reaches anyone
    assert [(r["type"], r["id"], r["readSeq"]) for r in replies] == [("ok", "rd", 3)] * 3
    assert receipts(pair, "b1") == receipts(pair, "a2") == []
    assert seen(pair, "alice") == (5, 3, 2)


def test_reading_the_others_newest_message_sends_a_receipt_with_that_seq(pair: Harness) -> None:
    # GIVEN alice sent 3 messages and bob replied twice
    start_dm(pair)
    say(pair, "alice", "m2")
    say(pair, "alice", "m3")
    say(pair, "bob", "b1")
    say(pair, "bob", "b2")
    # WHEN alice reads bob's first reply, then his newest (from a1)
    first, newest = read(pair, "alice", 4), read(pair, "alice", 5)
    # THEN the answers are 4 and 5; bob and alice's other device get both receipts, the
    # reading connection none
    assert (first["readSeq"], newest["readSeq"]) == (4, 5)
    expected = [
        {"type": "receipt", "conversationId": DM, "userId": "alice", "readSeq": seq}
        for seq in (4, 5)
    ]
    assert receipts(pair, "b1") == receipts(pair, "a2") == expected
    assert receipts(pair, "a1") == []
    # AND every report agrees: nothing unread for alice; a read above lastSeq stays at 5
    assert seen(pair, "alice") == (5, 5, 0)
    assert synced(pair, "alice") == (5, 5)
    assert read(pair, "alice", 99)["readSeq"] == 5
    assert len(receipts(pair, "b1")) == 2


def test_a_read_beyond_an_own_message_after_it_moves_on_from_there(pair: Harness) -> None:
    # GIVEN bob wrote 1, alice 2, bob 3: alice's own newest is 2
    start_dm(pair, "bob", "b1")
    say(pair, "alice", "a1")
    say(pair, "bob", "b2")
    # WHEN alice reads bob's message 3
    reply = read(pair, "alice", 3)
    # THEN the receipt carries 3, and then her own next message keeps her at its seq
    assert reply["readSeq"] == 3
    assert [r["readSeq"] for r in receipts(pair, "b1")] == [3]
    say(pair, "alice", "a2")
    assert seen(pair, "alice") == (4, 4, 0)
    assert seen(pair, "bob") == (4, 3, 1)


def test_a_note_to_self_is_always_read(pair: Harness) -> None:
    # GIVEN alice writes to herself twice
    for client_id in ("n1", "n2"):
        ack = send_frame(pair, text_frame(client_id, to="alice"))
        assert ack["type"] == "ack", ack
    # WHEN she lists her conversations and reads her own note
    # THEN nothing is unread and no receipt goes to her other device
    assert seen(pair, "alice", "dm:alice:alice") == (2, 2, 0)
    assert read(pair, "alice", 2, "dm:alice:alice")["readSeq"] == 2
    assert receipts(pair, "a2") == []


# ---- what is written ----------------------------------------------------------------------


def test_a_direct_send_writes_nothing_to_the_members_table(
    pair: Harness, dynamo_calls: DynamoCalls
) -> None:
    # GIVEN an existing direct conversation (its first send created the member rows)
    start_dm(pair)
    members = pair.stack.tables["MembersTable"]
    messages = pair.stack.tables["MessagesTable"]
    dynamo_calls.clear()
    # WHEN alice and bob each send once more
    say(pair, "alice", "m2")
    say(pair, "bob", "b1")
    # THEN no request wrote the Members table; each send was one PutItem on Messages
    assert dynamo_calls.writes_to(members) == []
    assert dynamo_calls.writes_to(messages) == ["PutItem", "PutItem"]
    # AND the stored items carry the map chain
    assert own_maps(pair) == {1: {"alice": 1}, 2: {"alice": 2}, 3: {"alice": 2, "bob": 3}}


def test_a_group_send_still_advances_the_senders_stored_read_seq(
    pair: Harness, dynamo_calls: DynamoCalls
) -> None:
    # GIVEN a group of alice and bob (group_created is seq 1)
    group = create_group(pair, token(pair, "alice"), ["bob"])["conversationId"]
    dynamo_calls.clear()
    # WHEN bob sends into it
    ack = say(pair, "bob", "g1", group)
    # THEN bob's Members row moved to the message's seq (one UpdateItem), and the message
    # has no map
    assert dynamo_calls.writes_to(pair.stack.tables["MembersTable"]) == ["UpdateItem"]
    bob_row = member_item(pair, group, "bob")
    assert bob_row is not None and bob_row["readSeq"] == ack["seq"] == 2
    assert own_maps(pair, group) == {1: None, 2: None}
    assert seen(pair, "bob", group) == (2, 2, 0)
    assert seen(pair, "alice", group) == (2, 1, 1)


def test_the_map_reaches_no_client(pair: Harness) -> None:
    # GIVEN alice and bob exchanged messages (alice retries one, so its first copy is
    # re-pushed from the stored item)
    first = start_dm(pair)
    say(pair, "bob", "b1")
    retried = send_frame(pair, text_frame("m1", to="bob"))
    # THEN acks, pushed messages, sync and history carry the protocol's fields only
    ack_fields = {"type", "id", "conversationId", "seq", "messageId", "clientMsgId", "ts"}
    assert set(first) == set(retried) == ack_fields
    pushed = pair.gateway.frames("b1", "message") + pair.gateway.frames("a2", "message")
    assert pushed
    assert all(set(m) == WIRE_FIELDS | {"type"} for m in pushed)
    entry = sync_entry(pair, "bob", DM)
    assert entry is not None and all(set(m) == WIRE_FIELDS for m in entry["messages"])
    status, page = history(pair, token(pair, "alice"), DM)
    assert status == 200 and all(set(m) == WIRE_FIELDS for m in page["messages"])
    assert "own" not in json.dumps([pushed, entry, page])


# ---- messages from before the map ---------------------------------------------------------


def _legacy_dm(app: Harness, alice_read: int, count: int) -> None:
    """dm:alice:bob as the previous version left it: `count` messages from alice without a
    map, and her Members row advanced to `alice_read` by those sends."""
    now = 1_700_000_000_000
    ddb_client = client("dynamodb")
    ddb_client.put_item(
        TableName=app.stack.tables["ConversationsTable"],
        Item=ddb.encode(
            {
                "conversationId": DM,
                "type": "dm",
                "createdAt": now,
                "createdBy": "alice",
                "memberCount": 2,
            }
        ),
    )
    for user, read_seq in (("alice", alice_read), ("bob", 0)):
        ddb_client.put_item(
            TableName=app.stack.tables["MembersTable"],
            Item=ddb.encode(member_row(DM, user, "member", 1, now, read_seq=read_seq)),
        )
    seed_messages(app, DM, "alice", range(1, count + 1))


def test_messages_without_a_map_keep_the_stored_read_seq(pair: Harness) -> None:
    # GIVEN alice's 3 messages stored before the map existed (her row says readSeq 3)
    _legacy_dm(pair, alice_read=3, count=3)
    assert own_maps(pair) == {1: None, 2: None, 3: None}
    # WHEN both list and sync
    # THEN the rows' values count: alice read all, bob none
    assert seen(pair, "alice") == (3, 3, 0)
    assert seen(pair, "bob") == (3, 0, 3)
    assert synced(pair, "alice") == (3, 3)
    # AND a read of an old message by alice changes nothing and tells nobody
    assert read(pair, "alice", 2)["readSeq"] == 3
    assert receipts(pair, "b1") == []


def test_a_new_message_after_old_ones_starts_the_map(pair: Harness) -> None:
    # GIVEN alice's 3 messages from before the map
    _legacy_dm(pair, alice_read=3, count=3)
    # WHEN bob answers and alice answers back
    assert say(pair, "bob", "b1")["seq"] == 4
    # THEN the map starts with bob only; alice still reads as 3 (her row), bob as 4
    assert own_maps(pair)[4] == {"bob": 4}
    assert seen(pair, "alice") == (4, 3, 1)
    assert seen(pair, "bob") == (4, 4, 0)
    assert say(pair, "alice", "a4")["seq"] == 5
    assert own_maps(pair)[5] == {"bob": 4, "alice": 5}
    assert seen(pair, "alice") == (5, 5, 0)
    assert seen(pair, "bob") == (5, 4, 1)
    # AND bob reading alice's message sends the receipt as before
    assert read(pair, "bob", 5)["readSeq"] == 5
    assert [r["readSeq"] for r in receipts(pair, "a1")] == [5]


def test_an_old_message_with_a_higher_stored_read_seq_is_not_undone_by_the_map(
    pair: Harness,
) -> None:
    # GIVEN a legacy conversation in which alice had read beyond her own messages (row: 3)
    # and a new message of hers at 4 (map {alice: 4}); bob then writes 5
    _legacy_dm(pair, alice_read=3, count=3)
    say(pair, "alice", "a4")
    say(pair, "bob", "b5")
    # WHEN alice reads 2 (old) and then 5
    # THEN the first changes nothing (4), the second moves her to 5 with a receipt
    assert read(pair, "alice", 2)["readSeq"] == 4
    assert receipts(pair, "b1") == []
    assert read(pair, "alice", 5)["readSeq"] == 5
    assert [r["readSeq"] for r in receipts(pair, "b1")] == [5]


# ---- retries and concurrency --------------------------------------------------------------


def test_a_retried_direct_send_returns_the_first_ack_and_leaves_the_chain_alone(
    pair: Harness,
) -> None:
    # GIVEN alice sent m1 and bob answered
    first = start_dm(pair)
    say(pair, "bob", "b1")
    before = own_maps(pair)
    # WHEN alice retries m1 (by `to` and by conversationId)
    again = [
        send_frame(pair, text_frame("m1", to="bob")),
        send_frame(pair, text_frame("m1", conversationId=DM)),
    ]
    # THEN both answers are the first ack; nothing was stored and no map changed
    for ack in again:
        assert {k: v for k, v in ack.items() if k != "id"} == {
            k: v for k, v in first.items() if k != "id"
        }
    assert own_maps(pair) == before == {1: {"alice": 1}, 2: {"alice": 1, "bob": 2}}
    # AND the readSeqs are what they were: alice at her message 1, bob's reply unread
    assert seen(pair, "alice") == (2, 1, 1)
    assert seen(pair, "bob") == (2, 2, 0)


def _send_until_acked(app: Harness, user: str, thread: int, client_id: str) -> dict[str, Any]:
    """Send, retrying 2001 with the same clientMsgId as the protocol tells clients to."""
    frame = text_frame(client_id, f"{user}-{thread}", conversationId=DM)
    for _ in range(20):
        reply = send_frame(app, frame, user=user, connection=f"{user}-thread-{thread}")
        if reply["type"] != "error" or reply["code"] != 2001:
            return reply
    raise AssertionError(f"{client_id} never acked")


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_sends_from_both_members_keep_the_map_exact(pair: Harness) -> None:
    # GIVEN a direct conversation with one message (and warm handlers)
    start_dm(pair)
    workers = [("alice", 0), ("alice", 1), ("bob", 2), ("bob", 3)]
    per_worker = 6

    def sender(worker: tuple[str, int]) -> list[dict[str, Any]]:
        user, thread = worker
        return [
            _send_until_acked(pair, user, thread, f"{user}-{thread}-{i}") for i in range(per_worker)
        ]

    # WHEN alice and bob each send from two threads at once
    with ThreadPoolExecutor(len(workers)) as pool:
        batches = list(pool.map(sender, workers))
    acks = [a for batch in batches for a in batch]
    assert all(a["type"] == "ack" for a in acks), [a for a in acks if a["type"] != "ack"]
    # THEN every stored message's map names each sender's newest seq at or below it
    stored = stored_messages(pair, DM)
    total = 1 + len(workers) * per_worker
    assert [m["seq"] for m in stored] == list(range(1, total + 1))
    assert own_maps(pair) == expected_own([(m["seq"], m["senderId"]) for m in stored])
    # AND the reported readSeqs are each member's last own seq
    last_of = {u: max(m["seq"] for m in stored if m["senderId"] == u) for u in ("alice", "bob")}
    assert seen(pair, "alice") == (total, last_of["alice"], total - last_of["alice"])
    assert seen(pair, "bob") == (total, last_of["bob"], total - last_of["bob"])


# ---- input ---------------------------------------------------------------------------------


def test_a_send_frame_carrying_an_own_field_is_refused(pair: Harness) -> None:
    # GIVEN a DM with one message of bob's
    start_dm(pair, "bob", "b1")
    # WHEN alice's send frame adds an `own` field claiming she wrote up to 99
    frame = {**text_frame("x1", conversationId=DM), "own": {"alice": 99}}
    reply = send_frame(pair, frame)
    # THEN it is 1001 with her request id, nothing is stored, her readSeq is untouched
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "r-x1", 1001)
    assert own_maps(pair) == {1: {"bob": 1}}
    assert seen(pair, "alice") == (1, 0, 1)


def test_an_own_key_inside_a_body_is_just_content(pair: Harness) -> None:
    # GIVEN bob wrote once
    start_dm(pair, "bob", "b1")
    # WHEN alice sends a custom body whose data has an `own` map
    frame = {
        "action": "send",
        "id": "c1",
        "clientMsgId": "c1",
        "conversationId": DM,
        "body": {"type": "custom", "data": {"own": {"bob": 99, "alice": 99}}},
    }
    ack = send_frame(pair, frame)
    # THEN it is stored as body content; the map is computed by the server only
    assert ack["type"] == "ack" and ack["seq"] == 2
    assert own_maps(pair) == {1: {"bob": 1}, 2: {"bob": 1, "alice": 2}}
    assert seen(pair, "bob") == (2, 1, 1)
    [pushed] = pair.gateway.frames("b1", "message")
    assert pushed["body"] == {"type": "custom", "data": {"own": {"bob": 99, "alice": 99}}}
