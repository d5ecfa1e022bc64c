"""ConversationService with the fakes: sync budget and cursors, history pages, the list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import ConversationNotFound, Forbidden, InvalidParam
from parley.services.conversations import MIN_MESSAGE_BYTES, SYNC_REPLY_BUDGET

from tests.unit.services.conftest import World

G1 = "grp:01ARZ3NDEKTSV4RRFFQ69G5FA1"
G2 = "grp:01ARZ3NDEKTSV4RRFFQ69G5FA2"
DM = "dm:alice:bob"


def size(reply: dict[str, Any]) -> int:
    return len(json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode())


def seed(world: World, conversation_id: str, count: int, *, text: str | None = None) -> None:
    if world.repos.conversations.get(conversation_id) is None:
        world.repos.add_conversation(conversation_id)
    for seq in range(1, count + 1):
        world.repos.add_message(conversation_id, seq, text=text)


def by_id(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["conversationId"]: c for c in reply["conversations"]}


# ---- sync: cursors and limits ------------------------------------------------------------


def test_sync_returns_messages_above_each_cursor(world: World) -> None:
    # GIVEN alice in two conversations with 5 and 3 messages
    # WHEN she syncs with cursor 2 for the first and none for the second
    # THEN she gets 3..5 and 1..3, ascending, with lastSeq, readSeq, type and complete
    world.repos.add_member(G1, "alice")
    world.repos.add_member(DM, "alice", read_seq=1)
    seed(world, G1, 5)
    seed(world, DM, 3)
    reply = world.sync("alice", {G1: 2}, 100, request_id="s-1")
    assert reply["type"] == "sync"
    assert reply["id"] == "s-1"
    assert reply["complete"] is True
    conv = by_id(reply)
    assert [m["seq"] for m in conv[G1]["messages"]] == [3, 4, 5]
    assert [m["seq"] for m in conv[DM]["messages"]] == [1, 2, 3]
    assert (conv[G1]["type"], conv[DM]["type"]) == ("group", "dm")
    assert (conv[G1]["lastSeq"], conv[DM]["lastSeq"]) == (5, 3)
    assert conv[DM]["readSeq"] == 1
    assert conv[G1]["hasMore"] is conv[DM]["hasMore"] is False
    assert set(conv[G1]["messages"][0]) == {
        "conversationId",
        "seq",
        "messageId",
        "senderId",
        "clientMsgId",
        "body",
        "ts",
    }


def test_sync_without_request_id_has_no_id(world: World) -> None:
    # GIVEN nothing to sync
    # WHEN sync runs without a request id
    # THEN the reply is complete, empty and has no id
    reply = world.sync("alice", {}, 100)
    assert reply == {"type": "sync", "conversations": [], "complete": True}


def test_conversations_with_nothing_new_are_left_out(world: World) -> None:
    # GIVEN two conversations, one fully seen, one empty
    # WHEN alice syncs with the first's cursor at its lastSeq
    # THEN neither is returned and the reply is complete
    world.repos.add_member(G1, "alice")
    world.repos.add_member(G2, "alice")
    seed(world, G1, 4)
    world.repos.add_conversation(G2)
    reply = world.sync("alice", {G1: 4}, 100)
    assert reply["conversations"] == []
    assert reply["complete"] is True


def test_cursor_beyond_last_seq_leaves_the_conversation_out(world: World) -> None:
    # GIVEN a conversation with 3 messages
    # WHEN the cursor is 10
    # THEN it is left out
    world.repos.add_member(G1, "alice")
    seed(world, G1, 3)
    assert world.sync("alice", {G1: 10}, 100)["conversations"] == []


def test_limit_sets_has_more_and_incomplete(world: World) -> None:
    # GIVEN 7 messages
    # WHEN alice syncs with limit 3
    # THEN she gets 1..3, hasMore, lastSeq 7 and complete false; the next round continues
    world.repos.add_member(G1, "alice")
    seed(world, G1, 7)
    first = world.sync("alice", {}, 3)
    conv = by_id(first)[G1]
    assert [m["seq"] for m in conv["messages"]] == [1, 2, 3]
    assert conv["hasMore"] is True
    assert conv["lastSeq"] == 7
    assert first["complete"] is False
    second = by_id(world.sync("alice", {G1: 3}, 3))[G1]
    assert [m["seq"] for m in second["messages"]] == [4, 5, 6]
    third = world.sync("alice", {G1: 6}, 3)
    assert [m["seq"] for m in by_id(third)[G1]["messages"]] == [7]
    assert third["complete"] is True


def test_exactly_limit_messages_is_not_has_more(world: World) -> None:
    # GIVEN exactly 3 new messages
    # WHEN alice syncs with limit 3
    # THEN all come back, hasMore false, complete true
    world.repos.add_member(G1, "alice")
    seed(world, G1, 3)
    reply = world.sync("alice", {}, 3)
    assert by_id(reply)[G1]["hasMore"] is False
    assert reply["complete"] is True


def test_sync_starts_at_the_members_joined_seq(world: World) -> None:
    # GIVEN bob joined a group at seq 4
    # WHEN he syncs from cursor 0 (or an explicit lower cursor)
    # THEN he gets only 4 and above
    world.repos.add_member(G1, "bob", joined_seq=4)
    seed(world, G1, 6)
    for cursors in ({}, {G1: 0}, {G1: 2}):
        conv = by_id(world.sync("bob", cursors, 100))[G1]
        assert [m["seq"] for m in conv["messages"]] == [4, 5, 6]


def test_sync_ignores_cursors_of_conversations_the_user_is_not_in(world: World) -> None:
    # GIVEN a conversation alice is not a member of
    # WHEN her cursors name it
    # THEN nothing of it comes back
    seed(world, G2, 3)
    assert world.sync("alice", {G2: 0}, 100)["conversations"] == []


def test_read_seq_is_clamped_to_last_seq(world: World) -> None:
    # GIVEN a membership whose readSeq is above the last message (stale row)
    # WHEN alice syncs
    # THEN readSeq is reported as lastSeq
    world.repos.add_member(G1, "alice", read_seq=9)
    seed(world, G1, 2)
    assert by_id(world.sync("alice", {}, 100))[G1]["readSeq"] == 2


def dm_with_maps(world: World) -> None:
    """dm:alice:bob: alice wrote 1 and 2, bob 3, 4 and 5 (each with its `own` map); the
    rows were never advanced by those sends (alice's row 0, bob's row 0)."""
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice")
    world.repos.add_member(DM, "bob")
    newest: dict[str, int] = {}
    for seq, sender in enumerate(["alice", "alice", "bob", "bob", "bob"], start=1):
        newest[sender] = seq
        world.repos.add_message(DM, seq, sender, own=dict(newest))


def test_sync_read_seq_includes_the_callers_own_newest_message(world: World) -> None:
    # GIVEN a dm whose newest message says alice's newest is 2 and bob's 5
    dm_with_maps(world)
    # WHEN both sync (alice also with a limit that leaves more: lastSeq from the newest read)
    # THEN alice's readSeq is 2, bob's 5, whichever way lastSeq was found
    assert (by_id(world.sync("alice", {}, 100))[DM]["readSeq"]) == 2
    assert (by_id(world.sync("bob", {}, 100))[DM]["readSeq"]) == 5
    cut = by_id(world.sync("alice", {}, 2))[DM]
    assert (cut["hasMore"], cut["lastSeq"], cut["readSeq"]) == (True, 5, 2)
    assert all("own" not in m for m in cut["messages"])


def test_sync_read_seq_takes_the_row_when_it_is_higher(world: World) -> None:
    # GIVEN the same dm where alice has read up to 4 (row), beyond her own 2
    dm_with_maps(world)
    world.repos.members.advance_read(DM, "alice", 4)
    # WHEN she syncs (whole, and cut by the limit) and lists
    # THEN readSeq is 4 everywhere
    assert by_id(world.sync("alice", {}, 100))[DM]["readSeq"] == 4
    assert by_id(world.sync("alice", {}, 1))[DM]["readSeq"] == 4
    [conv] = world.conversations.list("alice")["conversations"]
    assert (conv["readSeq"], conv["unread"]) == (4, 1)


def test_list_counts_the_callers_own_messages_as_read(world: World) -> None:
    # GIVEN the dm with maps (alice's newest 2, bob's 5)
    dm_with_maps(world)
    # WHEN both list
    # THEN alice has 3 unread from readSeq 2; bob none
    [alice] = world.conversations.list("alice")["conversations"]
    [bob] = world.conversations.list("bob")["conversations"]
    assert (alice["lastSeq"], alice["readSeq"], alice["unread"]) == (5, 2, 3)
    assert (bob["lastSeq"], bob["readSeq"], bob["unread"]) == (5, 5, 0)


def test_messages_without_a_map_leave_the_row_in_charge(world: World) -> None:
    # GIVEN a dm of 3 messages stored before the map existed; alice's row says 3
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice", read_seq=3)
    world.repos.add_member(DM, "bob")
    seed(world, DM, 3)
    # WHEN both list and sync
    # THEN the rows' values are reported
    [alice] = world.conversations.list("alice")["conversations"]
    [bob] = world.conversations.list("bob")["conversations"]
    assert (alice["readSeq"], bob["readSeq"]) == (3, 0)
    assert by_id(world.sync("alice", {}, 100))[DM]["readSeq"] == 3


# ---- sync: reply budget ------------------------------------------------------------------


def test_reply_stays_under_the_default_budget(world: World) -> None:
    # GIVEN 500 messages of ~1 KB each (far more than 96 KB)
    # WHEN alice syncs with limit 500
    # THEN the reply is under 96 KB, the conversation hasMore, and complete is false
    world.repos.add_member(G1, "alice")
    seed(world, G1, 500, text="x" * 1000)
    reply = world.sync("alice", {}, 500)
    assert size(reply) <= SYNC_REPLY_BUDGET < 96 * 1024
    conv = by_id(reply)[G1]
    assert 0 < len(conv["messages"]) < 500
    assert conv["hasMore"] is True
    assert reply["complete"] is False
    seqs = [m["seq"] for m in conv["messages"]]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.parametrize("budget", [700, 1000, 1500, 2500, 4000])
def test_small_budgets_split_the_reply(world: World, budget: int) -> None:
    # GIVEN three conversations with 5 messages each
    # WHEN alice syncs with a small byte budget, round after round from her new cursors
    # THEN every reply is under the budget, every message arrives exactly once and in order,
    # and the last round says complete
    for cid in (G1, G2, DM):
        world.repos.add_member(cid, "alice")
        seed(world, cid, 5)
    cursors: dict[str, int] = {}
    received: dict[str, list[int]] = {G1: [], G2: [], DM: []}
    for _ in range(40):
        reply = world.sync("alice", cursors, 100, request_id="r", budget=budget)
        assert size(reply) < budget
        for conv in reply["conversations"]:
            assert conv["messages"], "a returned conversation carries messages"
            seqs = [m["seq"] for m in conv["messages"]]
            received[conv["conversationId"]].extend(seqs)
            cursors[conv["conversationId"]] = seqs[-1]
        if reply["complete"]:
            break
    else:
        pytest.fail("sync never completed")
    assert received == {G1: [1, 2, 3, 4, 5], G2: [1, 2, 3, 4, 5], DM: [1, 2, 3, 4, 5]}


def test_conversation_cut_by_budget_has_more(world: World) -> None:
    # GIVEN one conversation of 5 messages and a budget that fits about two
    # WHEN alice syncs
    # THEN only a prefix is returned, hasMore is true although the limit was not reached
    world.repos.add_member(G1, "alice")
    seed(world, G1, 5)
    one = size(world.repos.messages.after(G1, 0, 1)[0])
    reply = world.sync("alice", {}, 100, budget=300 + 2 * one)
    conv = by_id(reply)[G1]
    assert 0 < len(conv["messages"]) < 5
    assert conv["hasMore"] is True
    assert conv["lastSeq"] == 5
    assert reply["complete"] is False


def test_conversation_left_out_for_size_makes_the_reply_incomplete(world: World) -> None:
    # GIVEN a budget too small for even one message
    # WHEN alice syncs
    # THEN no conversation is returned (none with an empty message list) and complete is false
    world.repos.add_member(G1, "alice")
    seed(world, G1, 2, text="y" * 500)
    reply = world.sync("alice", {}, 100, budget=300)
    assert reply["conversations"] == []
    assert reply["complete"] is False


def test_oldest_cursor_is_served_first(world: World) -> None:
    # GIVEN a conversation far behind and one nearly caught up, and room for one message
    # WHEN alice syncs
    # THEN the one with the oldest cursor is the one served
    world.repos.add_member(G1, "alice")
    world.repos.add_member(G2, "alice")
    seed(world, G1, 10)
    seed(world, G2, 10)
    one = size(world.repos.messages.after(G1, 0, 1)[0])
    reply = world.sync("alice", {G1: 9, G2: 1}, 100, budget=260 + one)
    assert [c["conversationId"] for c in reply["conversations"]] == [G2]


# ---- history -----------------------------------------------------------------------------


def test_history_newest_page_ascending(world: World) -> None:
    # GIVEN 10 messages
    # WHEN alice asks for the newest page of 4
    # THEN she gets 7..10 ascending and nextBeforeSeq 7
    world.repos.add_member(G1, "alice")
    seed(world, G1, 10)
    page = world.conversations.history("alice", G1, None, 4)
    assert [m["seq"] for m in page["messages"]] == [7, 8, 9, 10]
    assert page["nextBeforeSeq"] == 7


def test_history_pages_down_to_the_first_message(world: World) -> None:
    # GIVEN 10 messages
    # WHEN alice pages with nextBeforeSeq until it is null
    # THEN every message arrives once, and the last page has nextBeforeSeq null
    world.repos.add_member(G1, "alice")
    seed(world, G1, 10)
    seen: list[int] = []
    before: int | None = None
    for _ in range(10):
        page = world.conversations.history("alice", G1, before, 4)
        seen = [m["seq"] for m in page["messages"]] + seen
        before = page["nextBeforeSeq"]
        if before is None:
            break
    assert seen == list(range(1, 11))


def test_history_before_seq_is_exclusive(world: World) -> None:
    # GIVEN 10 messages
    # WHEN alice asks for the page before seq 5
    # THEN it ends at 4
    world.repos.add_member(G1, "alice")
    seed(world, G1, 10)
    page = world.conversations.history("alice", G1, 5, 2)
    assert [m["seq"] for m in page["messages"]] == [3, 4]
    assert page["nextBeforeSeq"] == 3


def test_history_page_ending_at_seq_1_has_no_next(world: World) -> None:
    # GIVEN 3 messages
    # WHEN alice asks for a page that reaches seq 1
    # THEN nextBeforeSeq is null
    world.repos.add_member(G1, "alice")
    seed(world, G1, 3)
    assert world.conversations.history("alice", G1, None, 3)["nextBeforeSeq"] is None
    assert world.conversations.history("alice", G1, 2, 50) == {
        "messages": world.repos.messages.after(G1, 0, 1),
        "nextBeforeSeq": None,
    }


def test_history_stops_at_joined_seq(world: World) -> None:
    # GIVEN bob joined at seq 5 of 10
    # WHEN he pages history
    # THEN he sees 5..10 only and nextBeforeSeq becomes null at 5
    world.repos.add_member(G1, "bob", joined_seq=5)
    seed(world, G1, 10)
    first = world.conversations.history("bob", G1, None, 4)
    assert [m["seq"] for m in first["messages"]] == [7, 8, 9, 10]
    second = world.conversations.history("bob", G1, first["nextBeforeSeq"], 4)
    assert [m["seq"] for m in second["messages"]] == [5, 6]
    assert second["nextBeforeSeq"] is None
    assert world.conversations.history("bob", G1, 5, 4) == {"messages": [], "nextBeforeSeq": None}


def test_history_of_an_empty_conversation(world: World) -> None:
    # GIVEN no messages
    # WHEN alice asks for history
    # THEN the page is empty and there is nothing older
    world.repos.add_member(G1, "alice")
    world.repos.add_conversation(G1)
    assert world.conversations.history("alice", G1, None, 50) == {
        "messages": [],
        "nextBeforeSeq": None,
    }


def test_history_of_non_member_is_forbidden(world: World) -> None:
    # GIVEN a conversation without dave
    # WHEN dave asks for its history
    # THEN it is 1004
    world.repos.add_member(G1, "alice")
    seed(world, G1, 3)
    with pytest.raises(Forbidden):
        world.conversations.history("dave", G1, None, 50)


def test_history_of_unknown_conversation_is_1004_and_of_a_malformed_id_2002(
    world: World,
) -> None:
    # GIVEN no such conversation (well-formed ids, and malformed ones)
    # WHEN alice asks for its history
    # THEN a well-formed id is 1004 whether or not it exists (protocol 13), a malformed 2002
    for cid in (G2, "dm:alice:zed"):
        with pytest.raises(Forbidden):
            world.conversations.history("alice", cid, None, 50)
    for cid in ("grp:bad", "dm:zed:alice"):
        with pytest.raises(ConversationNotFound):
            world.conversations.history("alice", cid, None, 50)


def test_history_of_a_non_string_id_is_1001(world: World) -> None:
    # GIVEN an empty conversation id
    # WHEN history is asked for it
    # THEN it is 1001
    with pytest.raises(InvalidParam):
        world.conversations.history("alice", "", None, 50)


# ---- list --------------------------------------------------------------------------------


def test_list_reports_last_read_and_unread(world: World) -> None:
    # GIVEN alice in a named group (5 messages, read 2) and a dm (3 messages, read 3)
    # WHEN she lists her conversations
    # THEN each has type, lastSeq, readSeq, unread = lastSeq - readSeq; the group its name
    world.repos.add_member(G1, "alice", read_seq=2)
    world.repos.add_member(DM, "alice", read_seq=3)
    seed(world, G1, 5)
    world.repos.add_conversation(G1, name="Team")
    seed(world, DM, 3)
    listed = {c["conversationId"]: c for c in world.conversations.list("alice")["conversations"]}
    assert listed[G1] == {
        "conversationId": G1,
        "type": "group",
        "name": "Team",
        "lastSeq": 5,
        "readSeq": 2,
        "unread": 3,
        "muted": False,
    }
    assert listed[DM] == {
        "conversationId": DM,
        "type": "dm",
        "lastSeq": 3,
        "readSeq": 3,
        "unread": 0,
        "muted": False,
    }


def test_list_of_a_user_without_conversations(world: World) -> None:
    # GIVEN a user in nothing
    # WHEN they list
    # THEN the list is empty
    assert world.conversations.list("erin") == {"conversations": [], "nextCursor": None}


def test_list_of_a_new_member_shows_no_negative_unread(world: World) -> None:
    # GIVEN bob who joined at seq 4 of a group with 3 messages so far (readSeq 3)
    # WHEN he lists
    # THEN readSeq is clamped to lastSeq and unread is 0
    world.repos.add_member(G1, "bob", joined_seq=4)
    seed(world, G1, 3)
    [conv] = world.conversations.list("bob")["conversations"]
    assert (conv["lastSeq"], conv["readSeq"], conv["unread"]) == (3, 3, 0)


def test_list_pages_with_a_cursor_and_no_empty_last_page(world: World) -> None:
    # GIVEN alice in five groups
    groups = [f"grp:01ARZ3NDEKTSV4RRFFQ69G5FA{c}" for c in "ABCDE"]
    for group in groups:
        world.repos.add_member(group, "alice")
        seed(world, group, 1)
    # WHEN she lists them two at a time, following nextCursor
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = world.conversations.list("alice", 2, cursor)
        pages += 1
        seen += [c["conversationId"] for c in page["conversations"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    # THEN every conversation comes once, in order, in three pages (the last one not empty)
    assert seen == sorted(groups)
    assert pages == 3
    # AND a page that ends the list exactly says so
    assert world.conversations.list("alice", 5)["nextCursor"] is None


@pytest.mark.parametrize("cursor", ["!!!", "eA", "Z3JwOg", "x" * 300])
def test_a_cursor_this_server_never_made_is_1001(world: World, cursor: str) -> None:
    # GIVEN a cursor that is not base64url of a conversation id
    # WHEN it is used THEN 1001
    with pytest.raises(InvalidParam):
        world.conversations.list("alice", 10, cursor)


def test_mute_is_the_members_own_setting(world: World) -> None:
    # GIVEN alice and bob in a group
    world.repos.add_member(G1, "alice")
    world.repos.add_member(G1, "bob")
    # WHEN alice mutes it
    assert world.conversations.set_muted("alice", G1, True) == {
        "conversationId": G1,
        "muted": True,
    }
    # THEN her list says so and bob's does not
    assert world.conversations.list("alice")["conversations"][0]["muted"] is True
    assert world.conversations.list("bob")["conversations"][0]["muted"] is False
    # AND unmuting turns it back
    world.conversations.set_muted("alice", G1, False)
    assert world.conversations.list("alice")["conversations"][0]["muted"] is False


def test_mute_by_a_non_member_is_1004_whether_or_not_it_exists(world: World) -> None:
    # GIVEN a group carol is not in, and a group that does not exist
    world.repos.add_member(G1, "alice")
    # WHEN carol mutes either THEN 1004; a malformed id is 1001
    with pytest.raises(Forbidden):
        world.conversations.set_muted("carol", G1, True)
    with pytest.raises(Forbidden):
        world.conversations.set_muted("carol", "grp:01ARZ3NDEKTSV4RRFFQ69G5FZZ", True)
    with pytest.raises(InvalidParam):
        world.conversations.set_muted("carol", "grp:nope", True)


# ---- sync: bounded reads -----------------------------------------------------------------


def test_a_sync_round_reads_about_what_one_reply_holds(world: World) -> None:
    # GIVEN bob in 300 conversations with 40 unread messages each
    groups = [f"grp:01ARZ3NDEKTSV4RRFFQ{i:07d}" for i in range(300)]
    for group in groups:
        world.repos.add_member(group, "bob")
        seed(world, group, 40)
    # WHEN he syncs once from nothing with the largest limit
    world.repos.messages.calls.clear()
    reply = world.sync("bob", {}, 500)
    # THEN the messages read are at most two per conversation plus what a reply can hold,
    # far below 300 x 40 (and the reply is still full and honest about what is left)
    read = sum(args[2] for name, args in world.repos.messages.calls if name == "after_with_own")
    bound = 2 * len(groups) + SYNC_REPLY_BUDGET // MIN_MESSAGE_BYTES + len(groups)
    assert read <= bound < 300 * 40
    assert reply["complete"] is False


def test_repeated_bounded_syncs_deliver_every_message_once_in_order(world: World) -> None:
    # GIVEN bob in 30 conversations with 1 to 60 messages each
    groups = [f"grp:01ARZ3NDEKTSV4RRFFQ{i:07d}" for i in range(30)]
    for i, group in enumerate(groups):
        world.repos.add_member(group, "bob")
        seed(world, group, 1 + (i * 7) % 60, text="x" * 300)
    # WHEN he syncs from his cursors until a reply is complete
    cursors: dict[str, int] = {}
    got: dict[str, list[int]] = {}
    for _ in range(1000):
        reply = world.sync("bob", cursors, 100, budget=8192)
        for entry in reply["conversations"]:
            seqs = [m["seq"] for m in entry["messages"]]
            got.setdefault(entry["conversationId"], []).extend(seqs)
            cursors[entry["conversationId"]] = seqs[-1]
        if reply["complete"]:
            break
    else:
        pytest.fail("never complete")
    # THEN every message came exactly once, in order
    assert got == {g: list(range(1, 2 + (i * 7) % 60)) for i, g in enumerate(groups)}
