"""PushService with the fakes: inline vs queued fan-out, batches, 410s and retries, and work
items that name their message (read in its current state) instead of carrying it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley import frames
from parley.records import (
    ConnectionsWork,
    ConversationWork,
    Message,
    MessageFrame,
    MessageRef,
    UsersWork,
    WorkItem,
    is_work_item,
)
from parley.services.push import with_reference

from tests.unit.services.conftest import World, build_world

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


def message(cid: str = GROUP, seq: int = 1, sender: str = "alice") -> Message:
    return {
        "conversationId": cid,
        "seq": seq,
        "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "senderId": sender,
        "clientMsgId": "c",
        "body": {"type": "text", "text": "hi"},
        "ts": 1,
    }


def ref(cid: str = GROUP, seq: int = 1) -> MessageRef:
    return {"conversationId": cid, "seq": seq}


def group_of(world: World, count: int, *, joined: int = 1) -> list[str]:
    names = [f"u{i:04d}" for i in range(count)]
    for name in names:
        world.repos.add_member(GROUP, name, joined_seq=joined)
    return names


# ---- inline ------------------------------------------------------------------------------


def test_dm_is_pushed_inline_to_both_members(world: World) -> None:
    # GIVEN alice and bob online in their dm
    # WHEN a message is published excluding the sending connection
    # THEN bob's and alice's other connection get it; nothing is queued
    for conn, user in [("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("c1", "carol")]:
        world.repos.connections.add(conn, user)
    report = world.push.publish(message("dm:alice:bob"), exclude_connection="a1")
    assert report.delivered == 2
    assert world.gateway.frames("a1") == []
    assert (
        world.gateway.frames("a2")
        == world.gateway.frames("b1")
        == [{"type": "message", **message("dm:alice:bob")}]
    )
    assert world.gateway.frames("c1") == []
    assert world.repos.queue.items == []


def test_small_group_is_pushed_inline(world: World) -> None:
    # GIVEN a group of exactly inline_max (50) members, each online once
    # WHEN a message is published
    # THEN all 50 connections get it inline and nothing is queued
    names = group_of(world, 50)
    for name in names:
        world.repos.connections.add(f"conn-{name}", name)
    report = world.push.publish(message())
    assert report.delivered == 50
    assert world.repos.queue.items == []


def test_group_over_inline_max_is_queued_as_one_item(world: World) -> None:
    # GIVEN a group of 51 members (one over inline_max)
    # WHEN a message is published
    # THEN nothing is posted inline and one `conversation` item is queued
    names = group_of(world, 51)
    world.repos.connections.add("conn-0", names[0])
    report = world.push.publish(
        message(), exclude_connection="x", extra_users=["gone-user"], correlation_id="req-1"
    )
    assert report.delivered == 0
    assert world.gateway.posts == {}
    assert world.repos.queue.items == [
        {
            "kind": "conversation",
            "conversationId": GROUP,
            "message": ref(),
            "exclude": "x",
            "extraUsers": ["gone-user"],
            "correlationId": "req-1",
        }
    ]


def test_inline_limit_is_configurable() -> None:
    # GIVEN inline_max 0
    # WHEN a group message is published
    # THEN it is queued even for a tiny group, while a dm stays inline
    world = build_world(inline_max=0)
    world.repos.add_member(GROUP, "alice")
    world.repos.connections.add("conn-a", "alice")
    world.push.publish(message())
    assert [i["kind"] for i in world.repos.queue.items] == ["conversation"]
    world.push.publish(message("dm:alice:bob"))
    assert len(world.gateway.frames("conn-a")) == 1


def test_extra_users_get_an_inline_push(world: World) -> None:
    # GIVEN carol, just removed from a small group, online
    # WHEN the removal message is published with her as an extra user
    # THEN she receives it
    group_of(world, 3)
    world.repos.connections.add("conn-c", "carol")
    world.push.publish(message(), extra_users=["carol"])
    assert len(world.gateway.frames("conn-c")) == 1


def test_expired_connections_are_not_posted(world: World) -> None:
    # GIVEN bob's connection whose TTL has passed (not yet swept)
    # WHEN a dm message is published
    # THEN it is not posted to
    now_s = world.clock.now_ms() // 1000
    world.repos.connections.add("old", "bob", ttl=now_s - 1)
    world.repos.connections.add("new", "bob", ttl=now_s + 100)
    world.push.publish(message("dm:alice:bob"))
    assert world.gateway.frames("old") == []
    assert len(world.gateway.frames("new")) == 1


# ---- 410 and failures --------------------------------------------------------------------


def test_gone_deletes_exactly_that_connection(world: World) -> None:
    # GIVEN bob with a dead connection (410) and a live one, alice's sending connection
    # WHEN a message is published
    # THEN only the dead record is deleted; the live one, the sender's and others stay
    for conn, user in [("a1", "alice"), ("b-dead", "bob"), ("b-live", "bob")]:
        world.repos.connections.add(conn, user)
    world.gateway.gone.add("b-dead")
    report = world.push.publish(message("dm:alice:bob"), exclude_connection="a1")
    assert report.gone == ["b-dead"]
    assert world.repos.connections.get("b-dead") is None
    assert world.repos.connections.get("b-live") is not None
    assert world.repos.connections.get("a1") is not None
    assert world.repos.connections.times("delete") == 1
    assert ("PushesGone", 1) in world.metrics
    assert world.repos.queue.items == []


def test_a_gone_connection_is_also_closed_in_case_its_socket_is_open(world: World) -> None:
    # GIVEN bob's connection answers 410 although its socket may still be open (a stale
    # route): deleting the record alone would leave the device receiving nothing
    world.repos.connections.add("b-stale", "bob")
    world.gateway.gone.add("b-stale")
    # WHEN a message is published to him
    world.push.publish(message("dm:alice:bob"))
    # THEN the record is deleted AND the socket is closed, so the device reconnects and syncs
    assert world.repos.connections.get("b-stale") is None
    assert world.gateway.closed == ["b-stale"]


def test_a_failed_close_of_a_gone_connection_is_counted_not_raised(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 410 whose close then fails (throttled, or no permission)
    world.repos.connections.add("b-stale", "bob")
    world.gateway.gone.add("b-stale")

    def refuse(connection_id: str) -> bool:
        raise RuntimeError("throttled")

    monkeypatch.setattr(world.gateway, "close", refuse)
    # WHEN a message is published THEN the publish still completes and the failure is counted
    report = world.push.publish(message("dm:alice:bob"))
    assert report.gone == ["b-stale"]
    assert ("GoneClosesFailed", 1) in world.metrics


def test_failed_and_throttled_posts_become_connection_retry_items() -> None:
    # GIVEN one failing and one throttled connection
    # WHEN a message is published
    # THEN both go to the queue as one `connections` item naming the message; nothing deleted
    world = build_world()
    gateway = world.gateway
    for conn in ("b-fail", "b-slow", "b-ok"):
        world.repos.connections.add(conn, "bob")
    gateway.failing.add("b-fail")
    gateway.throttled.add("b-slow")
    report = world.push.publish(message("dm:alice:bob"), correlation_id="req-7")
    assert (report.failed, report.throttled, report.delivered) == (["b-fail"], ["b-slow"], 1)
    assert world.repos.queue.items == [
        {
            "kind": "connections",
            "connectionIds": ["b-fail", "b-slow"],
            "message": ref("dm:alice:bob"),
            "correlationId": "req-7",
        }
    ]
    assert world.repos.connections.get("b-fail") is not None
    assert ("PushesFailed", 1) in world.metrics
    assert ("PushesThrottled", 1) in world.metrics


def test_retry_items_hold_at_most_50_connections(world: World) -> None:
    # GIVEN 120 failing connections
    # WHEN a message is pushed to them
    # THEN the retries are split into items of 50, 50 and 20
    for i in range(120):
        world.repos.connections.add(f"c{i:03d}", "bob")
        world.gateway.failing.add(f"c{i:03d}")
    world.push.publish(message("dm:alice:bob"))
    assert [len(i["connectionIds"]) for i in world.repos.queue.of_kind("connections")] == [
        50,
        50,
        20,
    ]


def test_retry_enqueue_failure_does_not_raise(world: World) -> None:
    # GIVEN a failing connection and the queue down
    # WHEN a message is published
    # THEN publish returns normally and the lost retry is counted
    world.repos.connections.add("b1", "bob")
    world.gateway.failing.add("b1")
    world.repos.queue.fail = True
    report = world.push.publish(message("dm:alice:bob"))
    assert report.failed == ["b1"]
    assert ("PushRetryEnqueueFailed", 1) in world.metrics


def test_no_queue_means_no_retry(world: World) -> None:
    # GIVEN a push service without a queue
    # WHEN a post fails
    # THEN publish returns normally
    world.push.queue = None
    world.repos.connections.add("b1", "bob")
    world.gateway.failing.add("b1")
    assert world.push.publish(message("dm:alice:bob")).failed == ["b1"]


# ---- fanout function: expand and deliver -------------------------------------------------


def stored_frame(world: World, seq: int = 1, text: str = "hi") -> MessageFrame:
    """Store message `seq` of the group; the frame a member gets for it."""
    return frames.message(world.repos.add_message(GROUP, seq, text=text))


def erase(world: World, cid: str, seq: int) -> None:
    """Leave message `seq` as a delete leaves it (its text gone), straight in the store."""
    with world.repos.store.lock:
        world.repos.store.messages[cid][seq]["body"] = {"type": "deleted"}


def conversation_item(seq: int = 5, extra: list[str] | None = None) -> ConversationWork:
    return {
        "kind": "conversation",
        "conversationId": GROUP,
        "message": ref(seq=seq),
        "exclude": "sender-conn",
        "extraUsers": extra or [],
        "correlationId": "req-9",
    }


def test_expand_splits_members_into_batches_of_batch_users() -> None:
    # GIVEN 2,345 members (more than one 1,000-row page) and batch_users 100
    # WHEN the work item is expanded
    # THEN 24 `users` items are queued (23 x 100 + 45), covering every member once, each
    # naming the message, the excluded connection and the correlation id
    world = build_world(batch_users=100)
    names = group_of(world, 2345)
    world.push.expand_conversation(conversation_item())
    items = world.repos.queue.of_kind("users")
    assert [len(i["userIds"]) for i in items] == [100] * 23 + [45]
    assert sorted(u for i in items for u in i["userIds"]) == names
    assert all(i["exclude"] == "sender-conn" for i in items)
    assert all(i["correlationId"] == "req-9" for i in items)
    assert all(i["message"] == ref(seq=5) for i in items)
    assert world.repos.members.times("page") == 3
    # AND the expansion read the member list only, never the message
    assert world.repos.messages.times("get") == 0


def test_expand_with_an_exact_multiple_has_no_empty_item() -> None:
    # GIVEN 200 members and batch_users 100
    # WHEN expanded
    # THEN exactly two full items are queued
    world = build_world(batch_users=100)
    group_of(world, 200)
    world.push.expand_conversation(conversation_item())
    assert [len(i["userIds"]) for i in world.repos.queue.of_kind("users")] == [100, 100]


def test_expand_skips_members_who_joined_after_the_message() -> None:
    # GIVEN members who joined at seq 5 and at seq 6
    # WHEN a seq-5 message is expanded
    # THEN only those with joinedSeq <= 5 are included
    world = build_world(batch_users=10)
    early = group_of(world, 3, joined=5)
    for name in ("late1", "late2"):
        world.repos.add_member(GROUP, name, joined_seq=6)
    world.push.expand_conversation(conversation_item(seq=5))
    included = [u for i in world.repos.queue.of_kind("users") for u in i["userIds"]]
    assert included == early


def test_expand_adds_extra_users_once() -> None:
    # GIVEN a removed user passed as an extra, and an extra who is also a member
    # WHEN expanded
    # THEN the removed user is included and nobody twice
    world = build_world(batch_users=10)
    names = group_of(world, 3)
    world.push.expand_conversation(conversation_item(extra=["removed", names[0]]))
    included = [u for i in world.repos.queue.of_kind("users") for u in i["userIds"]]
    assert sorted(included) == sorted([*names, "removed"])


def test_deliver_users_item_posts_and_retries_failures(world: World) -> None:
    # GIVEN a `users` item for bob and carol; bob's connection fails, carol's is the sender's
    # WHEN it is delivered
    # THEN carol's excluded connection is skipped, bob's failure is queued for retry, and
    # the message was read once
    frame = stored_frame(world)
    world.repos.connections.add("b1", "bob")
    world.repos.connections.add("sender-conn", "carol")
    world.repos.connections.add("c2", "carol")
    world.gateway.failing.add("b1")
    item: UsersWork = {
        "kind": "users",
        "userIds": ["bob", "carol"],
        "message": ref(),
        "exclude": "sender-conn",
        "correlationId": "req-3",
    }
    report = world.push.deliver_users_item(item)
    assert report.delivered == 1
    assert world.gateway.frames("sender-conn") == []
    assert world.gateway.frames("c2") == [frame]
    [retry] = world.repos.queue.of_kind("connections")
    assert retry["connectionIds"] == ["b1"]
    assert retry["correlationId"] == "req-3"
    assert retry["message"] == ref()
    assert world.repos.messages.times("get") == 1


def test_deliver_connections_item_reports_but_does_not_requeue(world: World) -> None:
    # GIVEN a `connections` retry item with one ok and one failing connection
    # WHEN it is delivered
    # THEN the report names the failure (the caller fails the record), nothing is queued,
    # and the message was read once
    world.gateway.failing.add("bad")
    frame = stored_frame(world)
    report = world.push.deliver_connections_item(
        {
            "kind": "connections",
            "connectionIds": ["ok", "bad"],
            "message": ref(),
            "correlationId": None,
        }
    )
    assert (report.delivered, report.failed) == (1, ["bad"])
    assert world.gateway.frames("ok") == [frame]
    assert world.repos.queue.items == []
    assert world.repos.messages.times("get") == 1


def test_an_empty_connections_item_reads_nothing(world: World) -> None:
    # GIVEN a `connections` item with no connection left to retry
    # WHEN it is delivered
    # THEN nothing is read or posted
    report = world.push.deliver_connections_item(
        {"kind": "connections", "connectionIds": [], "message": ref(), "correlationId": None}
    )
    assert (report.delivered, report.missing) == (0, None)
    assert world.repos.messages.times("get") == 0


def test_ephemeral_frames_are_not_retried(world: World) -> None:
    # GIVEN a failing connection
    # WHEN a typing frame is sent to its user
    # THEN nothing is queued
    world.repos.connections.add("b1", "bob")
    world.gateway.failing.add("b1")
    report = world.push.send_frame_to_users(["bob"], {"type": "typing"})
    assert report.failed == ["b1"]
    assert world.repos.queue.items == []


@pytest.mark.parametrize("count", [0, 1, 7])
def test_post_to_connections_counts_deliveries(world: World, count: int) -> None:
    # GIVEN some connections
    # WHEN a frame is posted to them
    # THEN each gets it once and the delivered metric says so
    ids = [f"k{i}" for i in range(count)]
    report = world.push.send_frame_to_connections(ids, {"type": "pong"})
    assert report.delivered == count
    assert all(world.gateway.frames(c) == [{"type": "pong"}] for c in ids)


def test_handle_runs_each_kind_of_work_item(world: World) -> None:
    # GIVEN one work item of each kind (bob online, a group of three)
    # WHEN the fanout function's handler hands them over
    # THEN a conversation item is expanded (no report), users and connections are posted
    world.repos.connections.add("b1", "bob")
    group_of(world, 3)
    stored_frame(world)
    assert world.push.handle(conversation_item()) is None
    assert len(world.repos.queue.of_kind("users")) == 1
    users: UsersWork = {
        "kind": "users",
        "userIds": ["bob"],
        "message": ref(),
        "exclude": None,
        "correlationId": None,
    }
    connections: ConnectionsWork = {
        "kind": "connections",
        "connectionIds": ["b1"],
        "message": ref(),
        "correlationId": None,
    }
    for item in (users, connections):
        report = world.push.handle(item)
        assert report is not None
        assert report.delivered == 1


@pytest.mark.parametrize(
    ("body", "known"),
    [
        ({"kind": "conversation"}, True),
        ({"kind": "users"}, True),
        ({"kind": "connections"}, True),
        ({"kind": "bogus"}, False),
        ({}, False),
        (["users"], False),
    ],
)
def test_work_items_are_told_apart_by_their_kind(body: object, known: bool) -> None:
    # GIVEN a decoded queue body
    # WHEN it is checked
    # THEN only the three kinds of work item are accepted
    assert is_work_item(body) is known


# ---- references: what the queue holds, and the message's current state -----------------

SECRET = "the launch code is 0000"


def drain(world: World) -> list[WorkItem]:
    """Run every pending work item through the fanout's handler, as the event source would
    (items a handled item queues run too); the items run, as their queue bodies decode."""
    ran: list[WorkItem] = []
    while bodies := world.repos.queue.receive(10, timeout=0):
        for body in bodies:
            item = json.loads(body)
            assert is_work_item(item)
            world.push.handle(item)
            ran.append(item)
    return ran


def posted(world: World) -> list[dict[str, Any]]:
    """Every frame posted to any connection."""
    return [frame for frames_ in world.gateway.posts.values() for frame in frames_]


def test_a_large_group_message_is_queued_without_its_text() -> None:
    # GIVEN a group over inline_max, everyone online, two of them with failing connections
    world = build_world(batch_users=10)
    names = group_of(world, 60)
    for name in names:
        world.repos.connections.add(f"conn-{name}", name)
    world.gateway.failing.update({"conn-u0003", "conn-u0042"})
    stored = world.repos.add_message(GROUP, 1, text=SECRET)
    # WHEN the message is published and the fanout runs everything queued
    world.push.publish(stored, correlation_id="req-1")
    ran = drain(world)
    # THEN the conversation item, its users items and the retries all went through the queue
    assert {i["kind"] for i in ran} == {"conversation", "users", "connections"}
    # AND none of them held the text: each names the message by conversation and seq only
    assert all(SECRET not in json.dumps(i) for i in world.repos.queue.items)
    assert all(i["message"] == ref() for i in world.repos.queue.items)
    assert all("frame" not in i for i in world.repos.queue.items)
    # AND the members who could be reached got the message with its text
    assert sum(f["body"].get("text") == SECRET for f in posted(world)) == 58


def test_a_message_deleted_before_the_fanout_runs_is_pushed_as_deleted() -> None:
    # GIVEN a large group's message queued for the fanout
    world = build_world(batch_users=10)
    for name in group_of(world, 60):
        world.repos.connections.add(f"conn-{name}", name)
    world.push.publish(world.repos.add_message(GROUP, 1, text=SECRET))
    # WHEN it is deleted before the fanout runs
    erase(world, GROUP, 1)
    drain(world)
    # THEN every member gets it in its current state, and nobody its text
    frames_ = posted(world)
    assert len(frames_) == 60
    assert all(f["seq"] == 1 and f["body"] == {"type": "deleted"} for f in frames_)
    assert SECRET not in json.dumps(frames_)


def test_a_retry_posts_the_message_as_it_is_when_retried(world: World) -> None:
    # GIVEN a dm message posted inline whose post to bob failed (queued for retry)
    world.repos.connections.add("b1", "bob")
    world.gateway.failing.add("b1")
    stored = world.repos.add_message("dm:alice:bob", 1, text=SECRET)
    world.push.publish(stored)
    [retry] = world.repos.queue.of_kind("connections")
    assert SECRET not in json.dumps(retry)
    # WHEN it is deleted, b1 recovers and the retry runs
    erase(world, "dm:alice:bob", 1)
    world.gateway.failing.clear()
    drain(world)
    # THEN b1 gets the deleted message, never its text
    assert [f["body"] for f in world.gateway.frames("b1")] == [{"type": "deleted"}]


@pytest.mark.parametrize("kind", ["users", "connections"])
def test_an_unknown_reference_is_dropped_with_a_metric(world: World, kind: str) -> None:
    # GIVEN bob online and a work item naming a message that is not stored
    world.repos.connections.add("b1", "bob")
    item: WorkItem
    if kind == "users":
        item = {
            "kind": "users",
            "userIds": ["bob"],
            "message": ref(seq=99),
            "exclude": None,
            "correlationId": None,
        }
    else:
        item = {
            "kind": "connections",
            "connectionIds": ["b1"],
            "message": ref(seq=99),
            "correlationId": None,
        }
    # WHEN the fanout handles it
    report = world.push.handle(item)
    # THEN it is dropped: reported missing (not failed), counted, nothing posted or queued
    assert report is not None
    assert report.missing == ref(seq=99)
    assert (report.delivered, report.failed, report.throttled) == (0, [], [])
    assert ("FanoutMessageNotFound", 1) in world.metrics
    assert world.gateway.posts == {}
    assert world.repos.queue.items == []


def legacy_frame(seq: int = 1, text: str = "as queued") -> dict[str, Any]:
    """A `frame` as the release before put it in work items (the message with its text)."""
    return {"type": "message", **message(seq=seq), "body": {"type": "text", "text": text}}


def test_a_users_item_queued_before_references_still_delivers(world: World) -> None:
    # GIVEN a `users` item in the old format (the whole frame), for a stored message
    world.repos.connections.add("b1", "bob")
    current = stored_frame(world, text="as stored")
    old: Any = {
        "kind": "users",
        "userIds": ["bob"],
        "frame": legacy_frame(),
        "exclude": None,
        "correlationId": None,
    }
    # WHEN the fanout handles it
    report = world.push.handle(old)
    # THEN bob gets the message as stored now (the item's copy is not posted)
    assert report is not None and report.delivered == 1
    assert world.gateway.frames("b1") == [current]


def test_a_conversation_item_queued_before_references_expands_into_references() -> None:
    # GIVEN an old-format `conversation` item for a seq-5 message of a group of three
    world = build_world(batch_users=10)
    names = group_of(world, 3)
    old: Any = {
        "kind": "conversation",
        "conversationId": GROUP,
        "frame": legacy_frame(seq=5),
        "exclude": None,
        "extraUsers": [],
        "correlationId": "req-2",
    }
    # WHEN the fanout handles it
    assert world.push.handle(old) is None
    # THEN its `users` items name the message and carry no frame
    [users] = world.repos.queue.of_kind("users")
    assert users["userIds"] == names
    assert users["message"] == ref(seq=5)
    assert "frame" not in users


def test_with_reference_leaves_a_new_item_as_it_is() -> None:
    # GIVEN a work item in the current format
    item: ConnectionsWork = {
        "kind": "connections",
        "connectionIds": ["b1"],
        "message": ref(),
        "correlationId": None,
    }
    # WHEN it is upgraded
    # THEN it is the same item
    assert with_reference(item) is item
