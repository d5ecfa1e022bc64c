"""`send` (protocol 5.1 and guarantees 5.3.1-5.3.4): targets, idempotency, strict order under
concurrency, durable ack, push to the other connections, and every kind of bad frame."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from parley.errors import Unavailable
from parley.repositories.messages import MessagesRepository
from parley_memory import Delivery

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    compact,
    create_group,
    history,
    is_ulid,
    member_item,
    nothing_stored,
    put_connection,
    put_user,
    scan,
    send_frame,
    send_raw,
    stored_messages,
    text_frame,
)

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

UNKNOWN_GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def pair(app: Harness) -> Harness:
    """alice (connection a1) and bob (connection b1), registered and connected."""
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    return app


@pytest.fixture
def bare_pair(app: Harness) -> Harness:
    """alice and bob as bare rows, bob with live connection b1: enough for frames that are
    refused before any account is used (a frame wrongly let through would be stored)."""
    put_user(app, "alice")
    put_user(app, "bob")
    put_connection(app, "bob", "b1", ttl=int(time.time()) + 3600)
    return app


def error_of(reply: dict[str, Any], request_id: str) -> int:
    """The code of an `error` reply, after checking it carries the request id and a message."""
    assert reply["type"] == "error", reply
    assert reply["id"] == request_id
    assert isinstance(reply["message"], str) and reply["message"]
    return int(reply["code"])


# ---- targets ------------------------------------------------------------------------------


def test_ack_describes_the_stored_message(pair: Harness) -> None:
    # GIVEN alice and bob
    before = int(time.time() * 1000)
    # WHEN alice sends to bob
    ack = send_frame(pair, text_frame("m1", "hello", to="bob"))
    # THEN the ack has every protocol field, matching the one stored item
    assert set(ack) == {"type", "id", "conversationId", "seq", "messageId", "clientMsgId", "ts"}
    assert ack["type"] == "ack" and ack["id"] == "r-m1" and ack["clientMsgId"] == "m1"
    assert ack["seq"] == 1 and is_ulid(ack["messageId"])
    assert before <= ack["ts"] <= int(time.time() * 1000)
    [item] = stored_messages(pair)
    assert (item["conversationId"], item["seq"], item["messageId"], item["ts"]) == (
        ack["conversationId"],
        ack["seq"],
        ack["messageId"],
        ack["ts"],
    )
    assert item["senderId"] == "alice"
    assert json.loads(item["body"]) == {"type": "text", "text": "hello"}


def test_a_frame_without_id_gets_an_ack_without_id(pair: Harness) -> None:
    # GIVEN a send frame that names no request id
    frame = text_frame("m1", to="bob")
    del frame["id"]
    # WHEN alice sends it
    ack = send_frame(pair, frame)
    # THEN the ack has no id field
    assert ack["type"] == "ack" and "id" not in ack


def test_first_send_with_to_creates_the_direct_conversation_with_sorted_ids(
    pair: Harness,
) -> None:
    # GIVEN bob and alice have never talked
    # WHEN bob (the later name) sends to alice
    ack = send_frame(pair, text_frame("m1", to="alice"), user="bob", connection="b1")
    # THEN the conversation is dm:alice:bob with both as members, and the message is seq 1
    assert ack["conversationId"] == "dm:alice:bob" and ack["seq"] == 1
    [conversation] = scan(pair, "ConversationsTable")
    assert conversation["conversationId"] == "dm:alice:bob" and conversation["type"] == "dm"
    assert member_item(pair, "dm:alice:bob", "alice") is not None
    assert member_item(pair, "dm:alice:bob", "bob") is not None


def test_send_by_conversation_id_to_an_existing_direct_conversation(pair: Harness) -> None:
    # GIVEN alice and bob talked already
    send_frame(pair, text_frame("m1", to="bob"))
    # WHEN bob replies by conversationId
    ack = send_frame(
        pair, text_frame("m2", conversationId="dm:alice:bob"), user="bob", connection="b1"
    )
    # THEN it is the next message of the same conversation
    assert (ack["conversationId"], ack["seq"]) == ("dm:alice:bob", 2)


def test_send_to_an_unknown_user_is_1002_and_stores_nothing(pair: Harness) -> None:
    # WHEN alice sends to a user who does not exist
    reply = send_frame(pair, text_frame("m1", to="ghost"))
    # THEN 1002, and no conversation, membership or message was written
    assert error_of(reply, "r-m1") == 1002
    assert nothing_stored(pair)


def test_send_by_conversation_id_naming_an_unknown_user_is_1004(pair: Harness) -> None:
    # WHEN alice names a direct conversation with a user that does not exist
    reply = send_frame(pair, text_frame("m1", conversationId="dm:alice:ghost"))
    # THEN she is no member of it (1004, protocol 13; 1002 is for `to`), and nothing is stored
    assert error_of(reply, "r-m1") == 1004
    assert nothing_stored(pair)


def test_send_to_a_direct_conversation_of_two_other_users_is_1004(pair: Harness) -> None:
    # GIVEN bob and carol talk
    pair.user("carol")
    send_frame(pair, text_frame("m1", to="carol"), user="bob", connection="b1")
    # WHEN alice writes into their conversation
    reply = send_frame(pair, text_frame("m2", conversationId="dm:bob:carol"))
    # THEN 1004, and their conversation still holds only bob's message
    assert error_of(reply, "r-m2") == 1004
    assert [m["senderId"] for m in stored_messages(pair)] == ["bob"]
    assert member_item(pair, "dm:bob:carol", "alice") is None


def test_send_to_a_group_the_sender_is_not_in_is_1004(pair: Harness) -> None:
    # GIVEN bob created a group with carol, without alice
    pair.user("carol")
    group = create_group(pair, pair.tokens["bob"]["accessToken"], ["carol"])["conversationId"]
    # WHEN alice sends to it
    reply = send_frame(pair, text_frame("m1", conversationId=group))
    # THEN 1004, and only the group_created message exists
    assert error_of(reply, "r-m1") == 1004
    assert [m["seq"] for m in stored_messages(pair, group)] == [1]


@pytest.mark.parametrize(
    "conversation_id",
    [
        "grp:not-a-ulid",
        "grp:",
        "grp:01arz3ndektsv4rrffq69g5fav",
        "dm:bob:alice",
        "dm:alice",
        "dm:alice:bob:carol",
        "dm:Alice:bob",
        "dm:alice:b",
        "chan:alice",
        "alice",
    ],
)
def test_send_to_a_conversation_id_string_that_names_no_conversation_is_2002(
    bare_pair: Harness, conversation_id: str
) -> None:
    # WHEN alice sends to a 1-80 char string that no conversation can have
    # (malformed group id, unsorted or malformed direct id, other prefix)
    reply = send_frame(bare_pair, text_frame("m1", conversationId=conversation_id))
    # THEN 2002 CONVERSATION_NOT_FOUND, and nothing is stored
    assert error_of(reply, "r-m1") == 2002
    assert nothing_stored(bare_pair)


@pytest.mark.parametrize(
    "conversation_id",
    ["", "g" * 81, 5, ["dm:alice:bob"], {"id": "dm:alice:bob"}, True],
    ids=["empty", "81-chars", "number", "list", "object", "bool"],
)
def test_send_with_a_conversation_id_that_is_not_a_1_to_80_char_string_is_1001(
    bare_pair: Harness, conversation_id: Any
) -> None:
    # WHEN the conversationId field is not a string of 1-80 characters
    reply = send_frame(bare_pair, text_frame("m1", conversationId=conversation_id))
    # THEN 1001 INVALID_PARAM (a malformed field), and nothing is stored
    assert error_of(reply, "r-m1") == 1001
    assert nothing_stored(bare_pair)


def test_send_to_oneself_is_a_note_to_self(pair: Harness) -> None:
    # GIVEN alice has a second device
    pair.connect("alice", "a2")
    # WHEN alice sends to herself
    ack = send_frame(pair, text_frame("m1", "remember the milk", to="alice"))
    # THEN it lands in dm:alice:alice, with alice its only member; her other device gets it
    assert ack["conversationId"] == "dm:alice:alice" and ack["seq"] == 1
    rows = [m for m in scan(pair, "MembersTable") if m["conversationId"] == "dm:alice:alice"]
    assert [r["userId"] for r in rows] == ["alice"]
    assert [m["seq"] for m in pair.gateway.frames("a2", "message")] == [1]
    assert pair.gateway.frames("a1") == [] and pair.gateway.frames("b1") == []


# ---- idempotency ----------------------------------------------------------------------------


def test_a_retried_send_returns_the_first_ack_and_stores_one_message(pair: Harness) -> None:
    # GIVEN alice sent m1
    first = send_frame(pair, text_frame("m1", "hello", to="bob"))
    # WHEN she retries it (same clientMsgId, even with another request id and text)
    retry = text_frame("m1", "hello again", to="bob")
    retry["id"] = "retry-1"
    second = send_frame(pair, retry)
    # THEN the ack is the first one (same seq, messageId, ts) and one item is stored
    assert second["id"] == "retry-1"
    assert {k: v for k, v in second.items() if k != "id"} == {
        k: v for k, v in first.items() if k != "id"
    }
    [item] = stored_messages(pair)
    assert json.loads(item["body"])["text"] == "hello"


def test_a_retried_send_by_conversation_id_is_also_idempotent(pair: Harness) -> None:
    # GIVEN alice sent m1 by `to`
    first = send_frame(pair, text_frame("m1", to="bob"))
    # WHEN she retries it naming the conversation instead
    second = send_frame(pair, text_frame("m1", conversationId="dm:alice:bob"))
    # THEN it is the same message
    assert (second["seq"], second["messageId"], second["ts"]) == (
        first["seq"],
        first["messageId"],
        first["ts"],
    )
    assert len(stored_messages(pair)) == 1


def test_a_retried_send_pushes_only_complete_message_frames(pair: Harness) -> None:
    # GIVEN alice sent m1 and bob received it
    send_frame(pair, text_frame("m1", "hello", to="bob"))
    # WHEN alice retries m1
    send_frame(pair, text_frame("m1", "hello", to="bob"))
    # THEN whatever bob receives is a whole `message` (a repeat is allowed: push is at least
    # once), never one without senderId or body
    pushed = pair.gateway.frames("b1", "message")
    assert pushed
    for frame in pushed:
        assert frame["senderId"] == "alice"
        assert frame["body"] == {"type": "text", "text": "hello"}
        assert frame["seq"] == 1


def test_the_same_client_msg_id_from_another_sender_is_another_message(pair: Harness) -> None:
    # GIVEN alice sent m1 to bob
    first = send_frame(pair, text_frame("m1", to="bob"))
    # WHEN bob sends his own m1 into the same conversation
    second = send_frame(pair, text_frame("m1", to="alice"), user="bob", connection="b1")
    # THEN it is a new message with the next seq
    assert second["seq"] == 2 and second["messageId"] != first["messageId"]
    assert [(m["seq"], m["senderId"]) for m in stored_messages(pair)] == [
        (1, "alice"),
        (2, "bob"),
    ]


def test_the_same_client_msg_id_in_another_conversation_is_another_message(
    pair: Harness,
) -> None:
    # GIVEN alice sent m1 to bob
    first = send_frame(pair, text_frame("m1", to="bob"))
    pair.user("carol")
    # WHEN she sends m1 to carol
    second = send_frame(pair, text_frame("m1", to="carol"))
    # THEN carol's conversation gets its own message
    assert second["conversationId"] == "dm:alice:carol" and second["seq"] == 1
    assert second["messageId"] != first["messageId"]
    assert len(stored_messages(pair)) == 2


# ---- order under concurrency ---------------------------------------------------------------


def _send_until_acked(app: Harness, thread: int, client_id: str) -> dict[str, Any]:
    """Send, retrying 2001 with the same clientMsgId as the protocol tells clients to."""
    frame = text_frame(client_id, f"t{thread}", conversationId="dm:alice:bob")
    for _ in range(20):
        reply = send_frame(app, frame, connection=f"a-thread-{thread}")
        if reply["type"] != "error" or reply["code"] != 2001:
            return reply
    raise AssertionError(f"{client_id} never acked")


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_senders_get_gap_free_unique_seqs(pair: Harness) -> None:
    # GIVEN a conversation with one message (and warm handlers)
    send_frame(pair, text_frame("warm", to="bob"))
    threads, per_thread = 8, 10

    def sender(thread: int) -> list[dict[str, Any]]:
        return [_send_until_acked(pair, thread, f"t{thread}-{i}") for i in range(per_thread)]

    # WHEN 8 threads send 10 messages each into it at once
    with ThreadPoolExecutor(threads) as pool:
        acks = [a for batch in pool.map(sender, range(threads)) for a in batch]
    # THEN every send was acked with its own seq, and the seqs are exactly 2..81
    total = threads * per_thread + 1
    assert all(a["type"] == "ack" for a in acks), [a for a in acks if a["type"] != "ack"]
    seqs = [a["seq"] for a in acks]
    assert len(set(seqs)) == len(seqs)
    assert sorted(seqs) == list(range(2, total + 1))
    # AND each thread's own messages got increasing seqs (its sends were sequential)
    for thread in range(threads):
        mine = [a["seq"] for a in acks if a["clientMsgId"].startswith(f"t{thread}-")]
        assert mine == sorted(mine)
    # AND the table holds exactly one item per seq, and history returns them all in order
    assert [m["seq"] for m in stored_messages(pair)] == list(range(1, total + 1))
    status, page = history(pair, pair.tokens["bob"]["accessToken"], "dm:alice:bob", limit="100")
    assert status == 200
    assert [m["seq"] for m in page["messages"]] == list(range(1, total + 1))
    by_client_id = {a["clientMsgId"]: a["seq"] for a in acks}
    assert all(by_client_id[m["clientMsgId"]] == m["seq"] for m in page["messages"][1:])


# ---- durable ack ------------------------------------------------------------------------------


def test_the_message_is_stored_before_anyone_hears_of_it(pair: Harness) -> None:
    # GIVEN a gateway that checks the table at the moment bob's push goes out
    seen_at_push: list[int] = []

    def check(_: Delivery) -> None:
        seen_at_push.extend(m["seq"] for m in stored_messages(pair))

    pair.gateway.on_delivery = check
    # WHEN alice sends
    ack = send_frame(pair, text_frame("m1", to="bob"))
    # THEN the message was in the table when it was pushed, and is there with the ack's id
    assert seen_at_push == [1]
    assert stored_messages(pair)[0]["messageId"] == ack["messageId"]


def test_no_ack_and_no_push_when_the_message_cannot_be_stored(
    pair: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the messages table refuses writes (throttled)
    def refuse(
        self: MessagesRepository, message: dict[str, Any], own: object = None, n: object = None
    ) -> bool:
        raise Unavailable()

    monkeypatch.setattr(MessagesRepository, "put_if_absent", refuse)
    # WHEN alice sends
    reply = send_frame(pair, text_frame("m1", to="bob"))
    # THEN she gets 2001 (retry with the same clientMsgId), not an ack; bob got nothing
    assert error_of(reply, "r-m1") == 2001
    assert stored_messages(pair) == []
    assert pair.gateway.frames("b1") == []


# ---- push ---------------------------------------------------------------------------------------


def test_push_reaches_every_member_connection_except_the_sending_one(pair: Harness) -> None:
    # GIVEN a group of alice, bob and carol; alice and bob on two devices each; dave outside
    pair.user("carol")
    pair.user("dave")
    pair.connect("alice", "a2")
    pair.connect("bob", "b2")
    pair.connect("carol", "c1")
    pair.connect("dave", "d1")
    group = create_group(pair, pair.tokens["alice"]["accessToken"], ["bob", "carol"])
    group_id = group["conversationId"]
    # WHEN alice sends from a1
    ack = send_frame(pair, text_frame("m1", "hi all", conversationId=group_id))
    # THEN every other connection of every member got exactly that message once
    for connection in ("a2", "b1", "b2", "c1"):
        got = [f for f in pair.gateway.frames(connection, "message") if f["seq"] == ack["seq"]]
        assert len(got) == 1, connection
        assert got[0] == {
            "type": "message",
            "conversationId": group_id,
            "seq": ack["seq"],
            "messageId": ack["messageId"],
            "senderId": "alice",
            "clientMsgId": "m1",
            "body": {"type": "text", "text": "hi all"},
            "ts": ack["ts"],
        }
    # AND the sending connection and the outsider got none of it
    assert [f for f in pair.gateway.frames("a1") if f.get("seq") == ack["seq"]] == []
    assert pair.gateway.frames("d1") == []


# ---- bodies -------------------------------------------------------------------------------------

MIXED = "é中😀"  # 2, 3 and 4 bytes in UTF-8


def _custom_of_size(size: int, filler: str = "x") -> dict[str, Any]:
    """A custom body whose data is exactly `size` bytes of compact UTF-8 JSON."""
    room = size - len(b'{"k":""}')
    per = len(filler.encode())
    data = {"k": filler * (room // per) + "x" * (room % per)}
    assert len(compact(data).encode()) == size
    return {"type": "custom", "data": data}


VALID_BODIES = {
    "text-1": {"type": "text", "text": "x"},
    "text-4000-ascii": {"type": "text", "text": "x" * 4000},
    "text-4000-multibyte": {"type": "text", "text": (MIXED * 1334)[:4000]},
    "text-whitespace": {"type": "text", "text": " "},
    "custom-8192-bytes": _custom_of_size(8192),
    "custom-8192-bytes-multibyte": _custom_of_size(8192, "中"),
    "custom-array": {"type": "custom", "data": [1, {"a": None}, True, "ü", 2.5]},
    "custom-null": {"type": "custom", "data": None},
    "custom-number": {"type": "custom", "data": 0},
}


@pytest.mark.parametrize("body", VALID_BODIES.values(), ids=VALID_BODIES.keys())
def test_a_valid_body_is_stored_and_pushed_unchanged(pair: Harness, body: dict[str, Any]) -> None:
    # WHEN alice sends a body at or within its limits (raw UTF-8, as a client sends it)
    frame = {"action": "send", "id": "q", "to": "bob", "clientMsgId": "m1", "body": body}
    ack = send_raw(pair, compact(frame))
    # THEN it is acked, stored and pushed exactly as sent
    assert ack["type"] == "ack", ack
    assert json.loads(stored_messages(pair)[0]["body"]) == body
    assert pair.gateway.frames("b1", "message")[0]["body"] == body


BAD_BODIES: dict[str, tuple[Any, int]] = {
    "text-4001-ascii": ({"type": "text", "text": "x" * 4001}, 1006),
    "text-4001-multibyte": ({"type": "text", "text": (MIXED * 1334)[:4001]}, 1006),
    "text-empty": ({"type": "text", "text": ""}, 1001),
    "text-missing": ({"type": "text"}, 1001),
    "text-number": ({"type": "text", "text": 5}, 1001),
    "text-null": ({"type": "text", "text": None}, 1001),
    "text-lone-surrogate": ({"type": "text", "text": "a\ud800b"}, 1001),
    "custom-8193-bytes": (_custom_of_size(8193), 1006),
    "custom-8193-bytes-multibyte": (_custom_of_size(8193, "中"), 1006),
    "custom-missing-data": ({"type": "custom"}, 1001),
    "system": ({"type": "system", "event": "group_created", "by": "alice"}, 1001),
    "unknown-type": ({"type": "image", "url": "https://example.com/x.png"}, 1001),
    "no-type": ({"text": "hi"}, 1001),
    "type-number": ({"type": 1, "text": "hi"}, 1001),
    "text-extra-field": ({"type": "text", "text": "hi", "bold": True}, 1001),
    "custom-extra-field": ({"type": "custom", "data": 1, "schema": "x"}, 1001),
    "body-string": ("hi", 1001),
    "body-list": ([{"type": "text", "text": "hi"}], 1001),
    "body-null": (None, 1001),
}


@pytest.mark.parametrize(("body", "code"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_refused_with_its_code_and_stores_nothing(
    bare_pair: Harness, body: Any, code: int
) -> None:
    # WHEN alice sends a body that is too large (1006) or malformed (1001)
    frame = {"action": "send", "id": "q1", "to": "bob", "clientMsgId": "m1", "body": body}
    reply = send_raw(bare_pair, json.dumps(frame))
    # THEN the error carries the request id and the code; nothing was stored or pushed
    assert error_of(reply, "q1") == code
    assert nothing_stored(bare_pair)
    assert bare_pair.gateway.posts == {}


GOOD_FRAME = {
    "action": "send",
    "id": "q1",
    "to": "bob",
    "clientMsgId": "m1",
    "body": {"type": "text", "text": "hi"},
}


def _without(*keys: str, **changes: Any) -> dict[str, Any]:
    frame = {k: v for k, v in GOOD_FRAME.items() if k not in keys}
    frame.update(changes)
    return frame


BAD_FRAMES: dict[str, dict[str, Any]] = {
    "extra-field": _without(priority="high"),
    "both-targets": _without(conversationId="dm:alice:bob"),
    "no-target": _without("to"),
    "to-null": _without(to=None),
    "to-uppercase": _without(to="Bob"),
    "to-number": _without(to=5),
    "no-clientMsgId": _without("clientMsgId"),
    "clientMsgId-space": _without(clientMsgId="a b"),
    "clientMsgId-slash": _without(clientMsgId="a/b"),
    "clientMsgId-non-ascii": _without(clientMsgId="é"),
    "clientMsgId-empty": _without(clientMsgId=""),
    "clientMsgId-65-chars": _without(clientMsgId="c" * 65),
    "clientMsgId-number": _without(clientMsgId=5),
    "no-body": _without("body"),
}


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_malformed_send_frame_is_1001_with_the_request_id_and_stores_nothing(
    bare_pair: Harness, frame: dict[str, Any]
) -> None:
    # WHEN alice sends a frame with a missing, extra or malformed field
    reply = send_frame(bare_pair, frame)
    # THEN 1001 with her request id; nothing was stored or pushed
    assert error_of(reply, "q1") == 1001
    assert nothing_stored(bare_pair)
    assert bare_pair.gateway.posts == {}


def test_a_client_msg_id_of_64_allowed_chars_is_accepted(pair: Harness) -> None:
    # WHEN alice uses a 64-character clientMsgId of every allowed class
    client_id = ("Az09_-" * 11)[:64]
    ack = send_frame(pair, _without(clientMsgId=client_id))
    # THEN it is acked under that id
    assert ack["type"] == "ack" and ack["clientMsgId"] == client_id


def test_a_raw_frame_over_32_kb_is_1006_even_when_every_field_is_valid(bare_pair: Harness) -> None:
    # GIVEN a valid send frame padded with JSON whitespace to just over 32 KB
    raw = json.dumps(GOOD_FRAME) + " " * (32 * 1024)
    # WHEN alice sends it
    reply = send_raw(bare_pair, raw)
    # THEN 1006 with her request id; nothing was stored
    assert error_of(reply, "q1") == 1006
    assert nothing_stored(bare_pair)


def test_a_raw_frame_of_exactly_32_kb_is_accepted(pair: Harness) -> None:
    # GIVEN a valid send frame padded to exactly 32 KB
    raw = json.dumps(GOOD_FRAME)
    raw += " " * (32 * 1024 - len(raw.encode()))
    # WHEN alice sends it
    reply = send_raw(pair, raw)
    # THEN it is acked
    assert reply["type"] == "ack"
