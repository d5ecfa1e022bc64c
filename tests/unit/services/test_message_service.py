"""MessageService with the in-memory fakes: ordering, idempotency, DMs, refusals, push."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    MessageSendFailed,
    UserNotFound,
)
from parley.models import SendFrame, parse_frame
from parley.services import messages as messages_module

from tests.unit.services.conftest import World

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


def send_frame(
    client_msg_id: str = "c-1",
    *,
    to: str | None = None,
    conversation: str | None = None,
    text: str = "hi",
    request_id: str | None = "r-1",
) -> SendFrame:
    frame: dict[str, Any] = {
        "action": "send",
        "clientMsgId": client_msg_id,
        "body": {"type": "text", "text": text},
    }
    if request_id is not None:
        frame["id"] = request_id
    if to is not None:
        frame["to"] = to
    else:
        frame["conversationId"] = conversation
    parsed = parse_frame(json.dumps(frame))
    assert isinstance(parsed, SendFrame)
    return parsed


@pytest.fixture
def group(world: World) -> str:
    world.repos.add_conversation(GROUP, name="team")
    for user in ("alice", "bob", "carol"):
        world.repos.add_member(GROUP, user)
    return GROUP


# ---- basic send --------------------------------------------------------------------------


def test_send_stores_at_seq_1_and_acks(world: World, group: str) -> None:
    # GIVEN an empty group and a member
    # WHEN the member sends
    # THEN the message is stored at seq 1 and the ack carries its fields and the request id
    ack = world.send("alice", send_frame(conversation=group))
    stored = world.repos.messages.after(group, 0, 10)
    assert [m["seq"] for m in stored] == [1]
    assert ack == {
        "type": "ack",
        "id": "r-1",
        "conversationId": group,
        "seq": 1,
        "messageId": stored[0]["messageId"],
        "clientMsgId": "c-1",
        "ts": world.clock.now_ms(),
    }
    assert stored[0]["senderId"] == "alice"
    assert stored[0]["body"] == {"type": "text", "text": "hi"}


def test_ack_without_request_id_has_no_id(world: World, group: str) -> None:
    # GIVEN a send frame without an id
    # WHEN it is sent
    # THEN the ack has no `id` key
    ack = world.send("alice", send_frame(conversation=group, request_id=None))
    assert "id" not in ack


def test_sequential_sends_get_consecutive_seqs(world: World, group: str) -> None:
    # GIVEN a group
    # WHEN several members send one after another
    # THEN seqs are 1, 2, 3, ... in order
    seqs = [
        world.send(user, send_frame(f"c-{i}", conversation=group))["seq"]
        for i, user in enumerate(["alice", "bob", "alice", "carol", "bob"])
    ]
    assert seqs == [1, 2, 3, 4, 5]


def test_send_moves_the_senders_read_seq(world: World, group: str) -> None:
    # GIVEN a member who has read nothing
    # WHEN they send message n
    # THEN their readSeq is n, the others' is unchanged
    world.send("bob", send_frame("b1", conversation=group))
    world.send("alice", send_frame("a1", conversation=group))
    assert world.repos.members.read_seqs("alice", [group]) == {group: 2}
    assert world.repos.members.read_seqs("bob", [group]) == {group: 1}
    assert world.repos.members.read_seqs("carol", [group]) == {group: 0}


def test_message_id_is_a_ulid_of_the_send_time(world: World, group: str) -> None:
    # GIVEN a fixed clock
    # WHEN a message is sent
    # THEN its messageId is a ULID and its ts is the clock's time
    from parley.ids import ULID_RE

    ack = world.send("alice", send_frame(conversation=group))
    assert ULID_RE.fullmatch(ack["messageId"])
    assert ack["ts"] == world.clock.now_ms()


# ---- idempotency -------------------------------------------------------------------------


def test_repeated_send_returns_the_first_ack_and_stores_nothing(world: World, group: str) -> None:
    # GIVEN a stored message
    # WHEN the same sender sends the same clientMsgId again (later, other text)
    # THEN the first ack comes back (same seq, messageId, ts) and nothing new is stored
    first = world.send("alice", send_frame("dup", conversation=group))
    world.clock.advance(5000)
    world.send("bob", send_frame("other", conversation=group))
    again = world.send(
        "alice", send_frame("dup", conversation=group, text="changed", request_id="r-2")
    )
    assert {k: again[k] for k in ("seq", "messageId", "ts", "clientMsgId")} == {
        k: first[k] for k in ("seq", "messageId", "ts", "clientMsgId")
    }
    assert again["id"] == "r-2"
    assert world.repos.messages.seqs(group) == [1, 2]


def test_send_says_whether_it_was_a_retry(world: World, group: str) -> None:
    # GIVEN a first send
    # WHEN the same clientMsgId is sent again
    # THEN the service returns the same stored message, flagged as a duplicate the second time
    first = world.messages.send("alice", send_frame("again", conversation=group))
    second = world.messages.send("alice", send_frame("again", conversation=group))
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.message == first.message
    assert "own" not in first.message and "type" not in first.message


def test_same_client_msg_id_from_another_sender_is_a_new_message(world: World, group: str) -> None:
    # GIVEN alice's message "x"
    # WHEN bob sends his own "x"
    # THEN it is a different message (dedupe is per sender)
    a = world.send("alice", send_frame("x", conversation=group))
    b = world.send("bob", send_frame("x", conversation=group))
    assert (a["seq"], b["seq"]) == (1, 2)


def test_repeated_send_pushes_the_full_message_again(world: World, group: str) -> None:
    # GIVEN a stored message whose first push may have been lost
    # WHEN the send is retried
    # THEN the re-push is a complete `message` frame (sender and body included)
    world.repos.connections.add("conn-b", "bob")
    world.send("alice", send_frame("dup", conversation=group))
    world.send("alice", send_frame("dup", conversation=group))
    frames = world.gateway.frames("conn-b", "message")
    assert len(frames) == 2
    assert frames[0] == frames[1]
    assert frames[1]["senderId"] == "alice"
    assert frames[1]["body"] == {"type": "text", "text": "hi"}


def test_concurrent_duplicates_store_one_message(world: World, group: str) -> None:
    # GIVEN eight threads sending the same (sender, clientMsgId) at once, with a race window
    # WHEN they all finish
    # THEN exactly one message is stored and every ack is the same
    world.repos.messages.before_put = lambda message: time.sleep(0.001)
    barrier = threading.Barrier(8)

    def one(_: int) -> dict[str, Any]:
        barrier.wait()
        return world.send("alice", send_frame("same", conversation=group))

    with ThreadPoolExecutor(8) as pool:
        acks = list(pool.map(one, range(8)))
    assert world.repos.messages.seqs(group) == [1]
    assert {(a["seq"], a["messageId"], a["ts"]) for a in acks} == {
        (1, acks[0]["messageId"], acks[0]["ts"])
    }


# ---- ordering under concurrency ----------------------------------------------------------


def test_concurrent_senders_get_gap_free_unique_seqs(world: World, group: str) -> None:
    # GIVEN 6 threads each sending 15 messages into one conversation, with a widened race
    # window between reading lastSeq and the conditional put
    # WHEN all have been acked
    # THEN seqs are exactly 1..90, each clientMsgId is stored once, and each sender's own
    # messages are in the order it sent them
    world.repos.messages.before_put = lambda message: time.sleep(0.0002)
    senders = ["alice", "bob", "carol"] * 2
    barrier = threading.Barrier(len(senders))

    def run(index: int) -> list[int]:
        barrier.wait()
        sender = senders[index]
        return [
            world.send(sender, send_frame(f"t{index}-{i}", conversation=group))["seq"]
            for i in range(15)
        ]

    with ThreadPoolExecutor(len(senders)) as pool:
        per_thread = list(pool.map(run, range(len(senders))))
    stored = world.repos.messages.after(group, 0, 1000)
    assert [m["seq"] for m in stored] == list(range(1, 91))
    assert Counter(m["clientMsgId"] for m in stored).most_common(1)[0][1] == 1
    for seqs in per_thread:
        assert seqs == sorted(seqs)
    assert sorted(s for seqs in per_thread for s in seqs) == list(range(1, 91))
    # the race was real: some puts lost and were retried
    assert world.repos.messages.times("put_if_absent") > 90


def test_lost_race_is_retried_at_the_next_seq(world: World, group: str) -> None:
    # GIVEN another writer that takes seq 1 just before our put
    # WHEN alice sends
    # THEN her put at 1 loses, she re-reads and stores at 2
    taken = []

    def intruder(message: dict[str, Any]) -> None:
        if not taken:
            taken.append(True)
            world.repos.add_message(group, message["seq"], sender="bob")

    world.repos.messages.before_put = intruder
    ack = world.send("alice", send_frame(conversation=group))
    assert ack["seq"] == 2
    assert world.repos.messages.seqs(group) == [1, 2]


def test_exhausted_attempts_fail_with_2001(
    world: World, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a conditional put that always loses
    # WHEN a member sends
    # THEN after MAX_ATTEMPTS tries the send fails with 2001, nothing is stored or pushed
    monkeypatch.setattr(messages_module.time, "sleep", lambda seconds: None)
    world.repos.connections.add("conn-b", "bob")
    world.repos.messages.lose_every_put = True
    with pytest.raises(MessageSendFailed) as caught:
        world.send("alice", send_frame(conversation=group))
    assert caught.value.code == 2001
    assert world.repos.messages.times("put_if_absent") == messages_module.MAX_ATTEMPTS
    assert world.repos.messages.seqs(group) == []
    assert world.gateway.frames("conn-b") == []


# ---- direct conversations ----------------------------------------------------------------


def test_first_send_to_a_user_creates_the_dm(world: World) -> None:
    # GIVEN no conversation between bob and alice
    # WHEN bob sends `to: alice`
    # THEN dm:alice:bob is created with both as members and the message is seq 1;
    # bob has read his own message (through the message's `own` map: his row still says 0)
    ack = world.send("bob", send_frame(to="alice"))
    assert ack["conversationId"] == "dm:alice:bob"
    assert ack["seq"] == 1
    conv = world.repos.conversations.get("dm:alice:bob")
    assert conv is not None
    assert (conv["type"], conv["memberCount"], conv["createdBy"]) == ("dm", 2, "bob")
    alice = world.repos.members.get("dm:alice:bob", "alice")
    bob = world.repos.members.get("dm:alice:bob", "bob")
    assert alice is not None
    assert bob is not None
    assert (alice["joinedSeq"], alice["readSeq"]) == (1, 0)
    assert bob["readSeq"] == 0
    seen = {user: world.conversations.list(user)["conversations"][0] for user in ("alice", "bob")}
    assert (seen["alice"]["readSeq"], seen["alice"]["unread"]) == (0, 1)
    assert (seen["bob"]["readSeq"], seen["bob"]["unread"]) == (1, 0)


def test_dm_is_created_once(world: World) -> None:
    # GIVEN a dm created by a first send
    # WHEN both sides send more, by `to` and by conversationId
    # THEN no second creation happens and seqs continue
    world.send("bob", send_frame("1", to="alice"))
    world.send("alice", send_frame("2", to="bob"))
    ack = world.send("alice", send_frame("3", conversation="dm:alice:bob"))
    assert ack["seq"] == 3
    assert world.repos.membership.times("create_dm") == 1


def test_a_dm_send_records_the_senders_seq_on_the_message_instead_of_writing_members(
    world: World,
) -> None:
    # GIVEN alice and bob's dm
    dm = "dm:alice:bob"
    # WHEN alice sends twice (opening it) and bob once
    world.send("alice", send_frame("a1", to="bob"))
    world.send("alice", send_frame("a2", conversation=dm))
    world.send("bob", send_frame("b1", conversation=dm))
    # THEN no readSeq write was made; each message carries every sender's newest seq
    assert world.repos.members.times("advance_read") == 0
    assert [world.repos.messages.own_of(dm, seq) for seq in (1, 2, 3)] == [
        {"alice": 1},
        {"alice": 2},
        {"alice": 2, "bob": 3},
    ]
    # AND the rows are as created, while the observable readSeqs are the own seqs
    assert world.repos.members.read_seqs("alice", [dm]) == {dm: 0}
    listed = {u: world.conversations.list(u)["conversations"][0] for u in ("alice", "bob")}
    assert (listed["alice"]["readSeq"], listed["alice"]["unread"]) == (2, 1)
    assert (listed["bob"]["readSeq"], listed["bob"]["unread"]) == (3, 0)


def test_a_group_send_still_writes_the_senders_read_seq(world: World, group: str) -> None:
    # GIVEN a group
    # WHEN alice sends
    # THEN her Members row is advanced once and the message carries no map
    world.send("alice", send_frame(conversation=group))
    assert world.repos.members.times("advance_read") == 1
    assert world.repos.messages.own_of(group, 1) is None


def test_a_dm_send_reads_the_newest_once_with_its_map(world: World) -> None:
    # GIVEN an existing dm
    dm = "dm:alice:bob"
    world.send("alice", send_frame("a1", to="bob"))
    before = (world.repos.messages.times("newest"), world.repos.messages.times("last_seq"))
    # WHEN bob sends
    world.send("bob", send_frame("b1", conversation=dm))
    # THEN the one consistent read of the newest message gave the seq and the map
    after = (world.repos.messages.times("newest"), world.repos.messages.times("last_seq"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)


def test_a_lost_dm_race_recomputes_the_map_from_the_winner(world: World) -> None:
    # GIVEN alice and bob's dm with alice's message 1, and bob's message taking seq 2 just
    # before alice's put (his map: alice 1, bob 2)
    dm = "dm:alice:bob"
    world.send("alice", send_frame("a1", to="bob"))
    taken: list[bool] = []

    def intruder(message: dict[str, Any]) -> None:
        if not taken and message["senderId"] == "alice":
            taken.append(True)
            world.repos.add_message(dm, message["seq"], sender="bob", own={"alice": 1, "bob": 2})

    world.repos.messages.before_put = intruder
    # WHEN alice sends
    ack = world.send("alice", send_frame("a2", conversation=dm))
    # THEN her put at 2 lost, and her message 3 carries bob's entry from the winner
    assert ack["seq"] == 3
    assert world.repos.messages.own_of(dm, 3) == {"alice": 3, "bob": 2}


def test_a_retried_dm_send_leaves_the_map_alone(world: World) -> None:
    # GIVEN alice's message 1 and bob's reply 2
    dm = "dm:alice:bob"
    first = world.send("alice", send_frame("a1", to="bob"))
    world.send("bob", send_frame("b1", conversation=dm))
    # WHEN alice retries her message
    again = world.send("alice", send_frame("a1", to="bob"))
    # THEN it is the first ack, nothing is stored, and the maps are unchanged
    assert (again["seq"], again["messageId"]) == (first["seq"], first["messageId"])
    assert world.repos.messages.seqs(dm) == [1, 2]
    assert world.repos.messages.own_of(dm, 2) == {"alice": 1, "bob": 2}


def test_concurrent_dm_senders_keep_the_map_exact(world: World) -> None:
    # GIVEN alice and bob each sending 10 messages into their dm from two threads at once,
    # with a widened race window between reading the newest and the conditional put
    dm = "dm:alice:bob"
    world.send("alice", send_frame("first", to="bob"))
    world.repos.messages.before_put = lambda message: time.sleep(0.0002)
    senders = ["alice", "bob", "alice", "bob"]
    barrier = threading.Barrier(len(senders))

    def run(index: int) -> None:
        barrier.wait()
        for i in range(5):
            world.send(senders[index], send_frame(f"t{index}-{i}", conversation=dm))

    with ThreadPoolExecutor(len(senders)) as pool:
        list(pool.map(run, range(len(senders))))
    # WHEN the stored messages are read in order
    # THEN each one's map holds each sender's newest seq at or below it
    stored = world.repos.messages.after(dm, 0, 100)
    assert [m["seq"] for m in stored] == list(range(1, 22))
    newest: dict[str, int] = {}
    for m in stored:
        newest[m["senderId"]] = m["seq"]
        assert world.repos.messages.own_of(dm, m["seq"]) == newest
    assert world.repos.members.times("advance_read") == 0
    # the race was real: some puts lost and were retried with a re-read map
    assert world.repos.messages.times("put_if_absent") > 21


def test_pushed_dm_messages_and_acks_have_no_map(world: World) -> None:
    # GIVEN bob online
    world.repos.connections.add("conn-b", "bob")
    # WHEN alice sends to him, then retries
    ack = world.send("alice", send_frame("a1", to="bob"))
    world.send("alice", send_frame("a1", to="bob"))
    # THEN neither the ack nor either push carries `own`
    assert "own" not in ack
    frames = world.gateway.frames("conn-b", "message")
    assert len(frames) == 2 and all("own" not in f for f in frames)


def test_concurrent_first_sends_create_one_dm(world: World) -> None:
    # GIVEN alice and bob writing to each other for the first time at the same moment
    # WHEN both sends finish
    # THEN there is one conversation with both messages at seqs 1 and 2
    barrier = threading.Barrier(2)

    def go(pair: tuple[str, str]) -> int:
        barrier.wait()
        return world.send(pair[0], send_frame(f"from-{pair[0]}", to=pair[1]))["seq"]

    with ThreadPoolExecutor(2) as pool:
        seqs = sorted(pool.map(go, [("alice", "bob"), ("bob", "alice")]))
    assert seqs == [1, 2]
    assert world.repos.conversations.get("dm:alice:bob") is not None


def test_note_to_self(world: World) -> None:
    # GIVEN alice alone
    # WHEN she sends to herself
    # THEN dm:alice:alice exists with one member and holds the message
    ack = world.send("alice", send_frame(to="alice"))
    assert ack["conversationId"] == "dm:alice:alice"
    conv = world.repos.conversations.get("dm:alice:alice")
    assert conv is not None
    assert conv["memberCount"] == 1
    assert [m["userId"] for m in world.repos.members.all("dm:alice:alice")] == ["alice"]


def test_send_to_unknown_user_is_1002(world: World) -> None:
    # GIVEN no user "ghost"
    # WHEN alice sends `to: ghost`
    # THEN it is 1002 and nothing is created
    with pytest.raises(UserNotFound):
        world.send("alice", send_frame(to="ghost"))
    assert world.repos.conversations.get("dm:alice:ghost") is None
    assert world.repos.messages.seqs("dm:alice:ghost") == []


def test_send_by_conversation_id_to_a_dm_with_unknown_user_is_1004(world: World) -> None:
    # GIVEN no user "ghost"
    # WHEN alice sends to conversationId dm:alice:ghost
    # THEN she is not a member of it (1004, protocol 13; only `to` names a user: 1002)
    with pytest.raises(Forbidden):
        world.send("alice", send_frame(conversation="dm:alice:ghost"))


def test_send_into_someone_elses_dm_is_forbidden(world: World) -> None:
    # GIVEN the dm of bob and carol
    # WHEN alice sends into it by id
    # THEN it is 1004 and nothing is created
    with pytest.raises(Forbidden):
        world.send("alice", send_frame(conversation="dm:bob:carol"))
    assert world.repos.conversations.get("dm:bob:carol") is None


def test_blocked_sender_cannot_open_a_dm(world: World) -> None:
    # GIVEN bob blocks alice
    # WHEN alice writes to bob for the first time
    # THEN it is 1004 and no conversation is created
    world.repos.users.block("bob", "alice", 0)
    with pytest.raises(Forbidden):
        world.send("alice", send_frame(to="bob"))
    assert world.repos.conversations.get("dm:alice:bob") is None


def test_blocking_the_other_way_does_not_stop_the_blocker(world: World) -> None:
    # GIVEN bob blocks alice
    # WHEN bob writes to alice
    # THEN it is stored
    world.repos.users.block("bob", "alice", 0)
    assert world.send("bob", send_frame(to="alice"))["seq"] == 1


def test_member_marked_blocked_cannot_write(world: World) -> None:
    # GIVEN an existing dm where alice's membership is marked blocked
    # WHEN alice sends
    # THEN it is 1004 and nothing is stored
    world.send("alice", send_frame("1", to="bob"))
    world.repos.members.set_blocked("dm:alice:bob", "alice", True)
    with pytest.raises(Forbidden):
        world.send("alice", send_frame("2", to="bob"))
    assert world.repos.messages.seqs("dm:alice:bob") == [1]


def test_send_to_unknown_group_is_1004(world: World) -> None:
    # GIVEN no such group
    # WHEN alice sends to it
    # THEN it is 1004, as for a group that exists without her (protocol 13)
    with pytest.raises(Forbidden):
        world.send("alice", send_frame(conversation=GROUP))


def test_non_member_of_a_group_is_forbidden(world: World, group: str) -> None:
    # GIVEN a group without dave
    # WHEN dave sends to it
    # THEN it is 1004 and nothing is stored
    with pytest.raises(Forbidden):
        world.send("dave", send_frame(conversation=group))
    assert world.repos.messages.seqs(group) == []


def test_malformed_conversation_id_is_2002(world: World) -> None:
    # GIVEN a conversation id of no known shape
    # WHEN a send names it
    # THEN it is 2002
    with pytest.raises(ConversationNotFound):
        world.send("alice", send_frame(conversation="grp:nope"))


# ---- push --------------------------------------------------------------------------------


def test_message_is_pushed_to_every_member_connection_but_the_sender(
    world: World, group: str
) -> None:
    # GIVEN bob with two devices, alice with two devices, carol offline
    # WHEN alice sends from conn-a1
    # THEN conn-a2, conn-b1 and conn-b2 get the message; conn-a1 gets only the ack
    for conn, user in [
        ("conn-a1", "alice"),
        ("conn-a2", "alice"),
        ("conn-b1", "bob"),
        ("conn-b2", "bob"),
    ]:
        world.repos.connections.add(conn, user)
    ack = world.send("alice", send_frame(conversation=group), connection_id="conn-a1")
    assert world.gateway.frames("conn-a1") == []
    for conn in ("conn-a2", "conn-b1", "conn-b2"):
        [frame] = world.gateway.frames(conn)
        assert frame == {
            "type": "message",
            "conversationId": group,
            "seq": 1,
            "messageId": ack["messageId"],
            "senderId": "alice",
            "clientMsgId": "c-1",
            "body": {"type": "text", "text": "hi"},
            "ts": ack["ts"],
        }


def test_push_failure_does_not_fail_the_send(
    world: World, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a push service that blows up
    # WHEN a member sends
    # THEN the message is stored, the ack is returned and the error is reported
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("push exploded")

    monkeypatch.setattr(world.messages.push, "publish", broken)
    ack = world.send("alice", send_frame(conversation=group))
    assert ack["seq"] == 1
    assert world.repos.messages.seqs(group) == [1]
    assert len(world.push_errors) == 1
    assert isinstance(world.push_errors[0][1]["exc_info"], RuntimeError)


def test_push_failure_without_error_hook_is_swallowed(
    world: World, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a service without an on_push_error hook and a push that fails
    # WHEN a member sends
    # THEN the ack is still returned
    world.messages.on_push_error = None
    monkeypatch.setattr(world.messages.push, "publish", lambda *a, **k: 1 / 0)
    assert world.send("alice", send_frame(conversation=group))["seq"] == 1


def test_failed_posts_do_not_fail_the_send(world: World, group: str) -> None:
    # GIVEN bob's connection failing and the push queue down
    # WHEN alice sends
    # THEN the send succeeds
    world.repos.connections.add("conn-b", "bob")
    world.gateway.failing.add("conn-b")
    world.repos.queue.fail = True
    assert world.send("alice", send_frame(conversation=group))["seq"] == 1
