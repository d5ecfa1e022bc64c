"""`sync` (protocol 5.3.5), `GET /conversations` and `GET /conversations/{id}/messages`
(protocol section 4): cursors, limits, the 96 KB reply budget, membership and paging."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    add_members,
    compact,
    conversations,
    create_group,
    history,
    put_user,
    seed_messages,
    send_frame,
    send_raw,
    text_frame,
    ws_raw,
)

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

REPLY_LIMIT = 96 * 1024
DM = "dm:alice:bob"


@pytest.fixture
def pair(app: Harness) -> Harness:
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    return app


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def sync(app: Harness, user: str, cursors: dict[str, Any] | None = None, **extra: Any) -> Any:
    frame = {"action": "sync", "id": "s1", **({"cursors": cursors} if cursors else {}), **extra}
    return app.frame("sync", frame, user=user, connection=f"{user}-sync")


def by_id(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["conversationId"]: c for c in reply["conversations"]}


def seqs(entry: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in entry["messages"]]


_client_ids = itertools.count(1)


def send_n(app: Harness, n: int, user: str = "alice", **target: Any) -> None:
    """Send `n` distinct text messages (each with a fresh clientMsgId)."""
    for i in range(n):
        frame = text_frame(f"{user}-{next(_client_ids)}", f"msg {i}", **target)
        reply = send_frame(app, frame, user=user)
        assert reply["type"] == "ack", reply


# ---- sync ---------------------------------------------------------------------------------


def test_sync_without_cursors_returns_every_conversation_of_the_caller(pair: Harness) -> None:
    # GIVEN bob has a direct conversation with alice (2 messages) and a group (2 messages),
    # and alice also talks to carol
    send_n(pair, 2, to="bob")
    pair.user("carol")
    send_frame(pair, text_frame("c1", to="carol"))
    group = create_group(pair, token(pair, "alice"), ["bob"], name="team")["conversationId"]
    send_frame(pair, text_frame("g1", "in group", conversationId=group))
    # WHEN bob syncs from nothing
    reply = sync(pair, "bob")
    # THEN he gets both of his conversations, complete, with every field of the protocol
    assert reply["type"] == "sync" and reply["id"] == "s1" and reply["complete"] is True
    found = by_id(reply)
    assert set(found) == {DM, group}
    assert {k: v for k, v in found[DM].items() if k != "messages"} == {
        "conversationId": DM,
        "type": "dm",
        "lastSeq": 2,
        "readSeq": 0,
        "hasMore": False,
    }
    assert found[group]["type"] == "group" and found[group]["lastSeq"] == 2
    assert seqs(found[DM]) == [1, 2] and seqs(found[group]) == [1, 2]
    message = found[group]["messages"][1]
    assert set(message) == {
        "conversationId",
        "seq",
        "messageId",
        "senderId",
        "clientMsgId",
        "body",
        "ts",
    }
    assert message["senderId"] == "alice" and message["body"]["text"] == "in group"


def test_sync_shows_the_senders_own_messages_as_read(pair: Harness) -> None:
    # GIVEN alice sent 3 messages to bob
    send_n(pair, 3, to="bob")
    # WHEN alice syncs
    entry = by_id(sync(pair, "alice"))[DM]
    # THEN her readSeq is the last of her own messages
    assert (entry["lastSeq"], entry["readSeq"]) == (3, 3)


def test_sync_cursors_skip_seen_messages_and_leave_out_conversations_with_nothing_new(
    pair: Harness,
) -> None:
    # GIVEN bob saw the 2 messages of his direct conversation and the 1 of a new group,
    # and then alice wrote once more into the group
    send_n(pair, 2, to="bob")
    group = create_group(pair, token(pair, "alice"), ["bob"])["conversationId"]
    send_frame(pair, text_frame("g1", conversationId=group))
    # WHEN bob syncs from his cursors
    reply = sync(pair, "bob", {DM: 2, group: 1})
    # THEN only the group is returned, with only the message above his cursor
    assert set(by_id(reply)) == {group}
    assert seqs(by_id(reply)[group]) == [2]
    assert reply["complete"] is True


def test_sync_with_cursors_at_the_end_returns_nothing_and_is_complete(pair: Harness) -> None:
    # GIVEN bob has seen everything (and a cursor past the end is no error)
    send_n(pair, 2, to="bob")
    # WHEN he syncs with his cursor at or past lastSeq
    for cursor in (2, 50):
        reply = sync(pair, "bob", {DM: cursor})
        # THEN the reply is empty and complete
        assert reply["conversations"] == [] and reply["complete"] is True


def test_sync_limit_pages_each_conversation_until_complete(pair: Harness) -> None:
    # GIVEN 5 messages bob has not seen
    send_n(pair, 5, to="bob")
    cursors: dict[str, int] = {}
    rounds = []
    # WHEN bob syncs with limit 2 from his new cursors until complete
    for _ in range(5):
        reply = sync(pair, "bob", cursors, limit=2)
        entry = by_id(reply)[DM]
        rounds.append((seqs(entry), entry["hasMore"], reply["complete"], entry["lastSeq"]))
        cursors[DM] = entry["messages"][-1]["seq"]
        if reply["complete"]:
            break
    # THEN he got 2, 2, 1 messages; hasMore/complete say whether to go on; lastSeq is 5
    assert rounds == [
        ([1, 2], True, False, 5),
        ([3, 4], True, False, 5),
        ([5], False, True, 5),
    ]


@pytest.mark.parametrize("limit", [1, 500])
def test_sync_accepts_the_limit_bounds(pair: Harness, limit: int) -> None:
    # GIVEN 2 messages
    send_n(pair, 2, to="bob")
    # WHEN bob syncs with limit at a bound
    entry = by_id(sync(pair, "bob", limit=limit))[DM]
    # THEN at most `limit` messages come back
    assert seqs(entry) == [1, 2][:limit]
    assert entry["hasMore"] is (limit < 2)


BAD_SYNC_FIELDS: dict[str, dict[str, Any]] = {
    "limit-0": {"limit": 0},
    "limit-501": {"limit": 501},
    "limit-negative": {"limit": -1},
    "limit-string": {"limit": "5"},
    "limit-bool": {"limit": True},
    "limit-float": {"limit": 1.5},
    "limit-null": {"limit": None},
    "cursors-list": {"cursors": [DM]},
    "cursors-string": {"cursors": DM},
    "cursor-negative": {"cursors": {DM: -1}},
    "cursor-string": {"cursors": {DM: "1"}},
    "cursor-bool": {"cursors": {DM: True}},
    "cursor-float": {"cursors": {DM: 1.5}},
    "cursor-null": {"cursors": {DM: None}},
    "cursor-key-empty": {"cursors": {"": 1}},
    "cursor-key-81-chars": {"cursors": {"c" * 81: 1}},
    "extra-field": {"since": 0},
}


@pytest.mark.parametrize("fields", BAD_SYNC_FIELDS.values(), ids=BAD_SYNC_FIELDS.keys())
def test_sync_with_a_bad_field_is_1001_with_the_request_id(
    app: Harness, fields: dict[str, Any]
) -> None:
    # GIVEN bob exists
    put_user(app, "bob")
    # WHEN he sends a sync frame with a bad limit, cursor or extra field
    frame = {"action": "sync", "id": "s1", **fields}
    reply = app.frame("sync", frame, user="bob", connection="b1")
    # THEN 1001 with his request id
    assert reply is not None
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "s1", 1001)


def test_sync_ignores_cursors_for_conversations_the_caller_is_not_in(pair: Harness) -> None:
    # GIVEN alice and bob talk, and carol has her own conversation with alice
    send_n(pair, 2, to="bob")
    pair.user("carol")
    send_frame(pair, text_frame("c1", to="carol"))
    # WHEN carol syncs with cursors for their conversation, an unknown group and a non-id
    reply = sync(
        pair, "carol", {DM: 0, "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV": 0, "not-a-conversation": 0}
    )
    # THEN she gets only her own conversation
    assert set(by_id(reply)) == {"dm:alice:carol"}
    assert reply["complete"] is True


def test_a_new_group_members_sync_starts_at_the_seq_they_joined(pair: Harness) -> None:
    # GIVEN a group of alice and bob with 3 messages (group_created + 2)
    group = create_group(pair, token(pair, "alice"), ["bob"])["conversationId"]
    send_n(pair, 2, conversationId=group)
    # WHEN carol is added (members_added is seq 4) and syncs, even from cursor 0
    pair.user("carol")
    assert add_members(pair, token(pair, "alice"), group, ["carol"])[0] == 200
    for cursors in (None, {group: 0}):
        entry = by_id(sync(pair, "carol", cursors))[group]
        # THEN she sees messages from her joining on, and has read what came before
        assert seqs(entry) == [4]
        assert entry["messages"][0]["body"]["event"] == "members_added"
        assert (entry["lastSeq"], entry["readSeq"]) == (4, 3)


def test_sync_replies_stay_under_96_kb_and_loop_to_every_message_once(
    pair: Harness,
) -> None:
    # GIVEN three conversations of alice's with 10 messages each of ~15 KB (4-byte chars),
    # far more than one reply may hold
    conversations_ = []
    for other in ("bob", "carol", "dave"):
        if other != "bob":
            pair.user(other)
        ack = send_raw(pair, compact(text_frame(f"first-{other}", "😀" * 3990, to=other)))
        conversations_.append(ack["conversationId"])
        seed_messages(pair, ack["conversationId"], "alice", range(2, 11), text="😀" * 3990)
    # WHEN alice syncs from nothing, again and again from her new cursors, until complete
    cursors: dict[str, int] = {}
    seen: dict[str, list[int]] = {c: [] for c in conversations_}
    completes = []
    for _ in range(20):
        frame = {"action": "sync", "id": "big", "cursors": cursors, "limit": 500}
        response = ws_raw("sync", frame, user="alice", connection="a1")
        # THEN every reply, as sent on the wire, is under 96 KB
        assert len(response["body"].encode()) < REPLY_LIMIT
        reply = json.loads(response["body"])
        completes.append(reply["complete"])
        for entry in reply["conversations"]:
            seen[entry["conversationId"]].extend(seqs(entry))
            cursors[entry["conversationId"]] = entry["messages"][-1]["seq"]
        if reply["complete"]:
            break
    # AND it took several rounds, complete only on the last, and every message came once,
    # in order
    assert len(completes) >= 4
    assert completes == [False] * (len(completes) - 1) + [True]
    assert seen == {c: list(range(1, 11)) for c in conversations_}


# ---- GET /conversations -------------------------------------------------------------------


def test_conversation_list_counts_unread_with_the_senders_own_messages_read(
    pair: Harness,
) -> None:
    # GIVEN alice sent 3 messages to bob and bob answered once
    send_n(pair, 3, to="bob")
    send_frame(pair, text_frame("b1", "reply", to="alice"), user="bob", connection="b1")
    # WHEN both list their conversations
    alice, bob = conversations(pair, token(pair, "alice")), conversations(pair, token(pair, "bob"))
    # THEN alice has read up to her own last message (3) and has bob's 1 unread;
    # bob's own reply (4) marks everything as read for him
    assert alice == {
        DM: {
            "conversationId": DM,
            "type": "dm",
            "lastSeq": 4,
            "readSeq": 3,
            "unread": 1,
            "muted": False,
        }
    }
    assert bob[DM]["readSeq"] == 4 and bob[DM]["unread"] == 0


def test_conversation_list_names_groups_and_counts_their_unread(pair: Harness) -> None:
    # GIVEN alice created the group "team" with bob and wrote once into it
    group = create_group(pair, token(pair, "alice"), ["bob"], name="team")["conversationId"]
    send_frame(pair, text_frame("g1", conversationId=group))
    # WHEN both list their conversations
    alice, bob = conversations(pair, token(pair, "alice")), conversations(pair, token(pair, "bob"))
    # THEN the group has its type and name; bob has the text unread (the system message
    # group_created does not count: protocol 9.2), alice none
    assert bob[group] == {
        "conversationId": group,
        "type": "group",
        "name": "team",
        "lastSeq": 2,
        "readSeq": 0,
        "unread": 1,
        "muted": False,
    }
    assert (alice[group]["readSeq"], alice[group]["unread"]) == (2, 0)


def test_a_group_creator_has_nothing_unread_in_the_new_group(pair: Harness) -> None:
    # WHEN alice creates a group (its group_created message is hers, seq 1)
    group = create_group(pair, token(pair, "alice"), ["bob"])["conversationId"]
    # THEN neither has anything unread: she has read it, and for bob a system message does
    # not count (protocol 9.2), though his readSeq is below it
    assert conversations(pair, token(pair, "alice"))[group]["unread"] == 0
    bob = conversations(pair, token(pair, "bob"))[group]
    assert (bob["readSeq"], bob["lastSeq"], bob["unread"]) == (0, 1, 0)


def test_conversation_list_of_a_new_user_is_empty(app: Harness) -> None:
    # WHEN a user who never talked lists conversations
    status, body = app.http("http_conversations", "GET", "/conversations", token=app.user("eve"))
    # THEN the list is empty
    assert (status, body) == (200, {"conversations": [], "nextCursor": None})


@pytest.mark.parametrize(
    ("route", "path"),
    [("/conversations", None), ("/conversations/{id}/messages", {"id": DM})],
)
def test_conversation_routes_need_a_valid_token(
    app: Harness, route: str, path: dict[str, str] | None
) -> None:
    # WHEN a conversation route is called without and with a bad token
    for bad in (None, "garbage"):
        status, body = app.http("http_conversations", "GET", route, token=bad, path=path)
        # THEN 401 code 1003
        assert status == 401 and body["code"] == 1003


# ---- history ------------------------------------------------------------------------------


@pytest.fixture
def sixty(pair: Harness) -> Harness:
    """dm:alice:bob with 60 messages."""
    send_frame(pair, text_frame("m1", to="bob"))
    seed_messages(pair, DM, "alice", range(2, 61))
    return pair


def test_history_returns_the_newest_50_by_default(sixty: Harness) -> None:
    # WHEN bob asks for the history without parameters
    status, page = history(sixty, token(sixty, "bob"), DM)
    # THEN he gets the newest 50 in ascending order, and where to continue
    assert status == 200
    assert [m["seq"] for m in page["messages"]] == list(range(11, 61))
    assert page["nextBeforeSeq"] == 11


def test_history_before_seq_pages_back_to_the_beginning(sixty: Harness) -> None:
    # WHEN bob asks for the page before seq 11
    status, page = history(sixty, token(sixty, "bob"), DM, beforeSeq="11")
    # THEN he gets 1..10, and nextBeforeSeq is null: nothing older exists
    assert status == 200
    assert [m["seq"] for m in page["messages"]] == list(range(1, 11))
    assert page["nextBeforeSeq"] is None


def test_walking_history_backwards_yields_every_message_once(sixty: Harness) -> None:
    # WHEN bob pages back 7 at a time following nextBeforeSeq
    collected: list[int] = []
    query: dict[str, str] = {"limit": "7"}
    for _ in range(20):
        status, page = history(sixty, token(sixty, "bob"), DM, **query)
        assert status == 200 and len(page["messages"]) <= 7
        collected = [m["seq"] for m in page["messages"]] + collected
        if page["nextBeforeSeq"] is None:
            break
        query["beforeSeq"] = str(page["nextBeforeSeq"])
    # THEN he saw every message exactly once, in order
    assert collected == list(range(1, 61))


@pytest.mark.parametrize(("limit", "expected"), [("1", [60]), ("100", list(range(1, 61)))])
def test_history_accepts_the_limit_bounds(sixty: Harness, limit: str, expected: list[int]) -> None:
    # WHEN bob asks with limit at a bound
    status, page = history(sixty, token(sixty, "bob"), DM, limit=limit)
    # THEN that many (or all there are) come back
    assert status == 200 and [m["seq"] for m in page["messages"]] == expected


def test_history_before_seq_past_the_end_is_the_newest_page(sixty: Harness) -> None:
    # WHEN bob asks for messages before a seq far past the last one
    status, page = history(sixty, token(sixty, "bob"), DM, beforeSeq="1000", limit="3")
    # THEN he gets the newest page
    assert status == 200 and [m["seq"] for m in page["messages"]] == [58, 59, 60]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"limit": "-1"},
        {"limit": "1.5"},
        {"limit": "²"},
        {"beforeSeq": "0"},
        {"beforeSeq": "x"},
        {"beforeSeq": "-3"},
        {"beforeSeq": "²"},
        {"beforeSeq": str(2**53 + 1)},
    ],
    ids=lambda q: "-".join(f"{k}={v}" for k, v in q.items()),
)
def test_history_with_a_bad_query_is_400_1001(pair: Harness, query: dict[str, str]) -> None:
    # GIVEN a conversation
    send_frame(pair, text_frame("m1", to="bob"))
    # WHEN bob asks for its history with a bad limit or beforeSeq
    status, body = history(pair, token(pair, "bob"), DM, **query)
    # THEN 400 code 1001
    assert status == 400 and body["code"] == 1001


def test_history_of_a_conversation_the_caller_is_not_in_is_403_1004(pair: Harness) -> None:
    # GIVEN alice and bob talk
    send_frame(pair, text_frame("m1", to="bob"))
    # WHEN carol asks for their history
    status, body = history(pair, pair.user("carol"), DM)
    # THEN 403 code 1004
    assert status == 403 and body["code"] == 1004


@pytest.mark.parametrize("conversation_id", ["nope", "dm:bob:alice"])
def test_history_of_a_malformed_conversation_id_is_404_2002(
    pair: Harness, conversation_id: str
) -> None:
    # WHEN alice asks for the history of an id no conversation can have
    status, body = history(pair, token(pair, "alice"), conversation_id)
    # THEN 404 code 2002
    assert status == 404 and body["code"] == 2002


@pytest.mark.parametrize("conversation_id", ["grp:01ARZ3NDEKTSV4RRFFQ69G5FAV", "dm:alice:ghost"])
def test_history_of_an_unknown_conversation_is_403_1004(
    pair: Harness, conversation_id: str
) -> None:
    # WHEN alice asks for the history of a well-formed id of no conversation
    status, body = history(pair, token(pair, "alice"), conversation_id)
    # THEN 403 code 1004, as for one that exists without her (protocol 13)
    assert status == 403 and body["code"] == 1004


def test_a_member_added_later_does_not_see_older_messages(pair: Harness) -> None:
    # GIVEN a group with 3 messages before carol joined (her members_added is seq 4)
    group = create_group(pair, token(pair, "alice"), ["bob"])["conversationId"]
    send_n(pair, 2, conversationId=group)
    carol = pair.user("carol")
    add_members(pair, token(pair, "alice"), group, ["carol"])
    # WHEN carol reads the history, also asking explicitly for what came before
    status, page = history(pair, carol, group)
    status_before, before = history(pair, carol, group, beforeSeq="4")
    # THEN she sees only from her joining on, and nothing older is offered
    assert status == 200 and [m["seq"] for m in page["messages"]] == [4]
    assert page["nextBeforeSeq"] is None
    assert status_before == 200 and before == {"messages": [], "nextBeforeSeq": None}
