"""The push lanes (issue 15, group amplification): the fan-out budget's charge picks the lane
of a message's fan-out work (the bulk queue past the sender's share of the budget), the
send passes it to the push service, and every item that work leads to (member batches,
retried posts) stays in that lane."""

from __future__ import annotations

from typing import Any

import pytest
from parley import frames
from parley.records import ConversationWork, UsersWork
from parley.services.budget import FanoutBudget
from parley_memory import PushQueue
from parley_memory.abuse import AbuseCounters

from tests.unit.services.conftest import World, build_world
from tests.unit.services.test_fanout_budget import frame, group

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
OTHER = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAX"


def lanes_world(*, batch_users: int = 100) -> tuple[World, PushQueue]:
    """A world whose push service has a bulk queue, and a budget of 1,000 deliveries a
    minute whose bulk share is 200; two 51-member groups (50 deliveries a message)."""
    world = build_world(batch_users=batch_users)
    bulk = PushQueue(world.repos.store)
    world.push.bulk_queue = bulk
    world.messages.fanout_budget = FanoutBudget(
        counters=AbuseCounters(), clock=world.clock, per_minute=1000, bulk_share=0.2
    )
    group(world, GROUP, 51)
    group(world, OTHER, 51)
    return world, bulk


# ---- the budget's lane -------------------------------------------------------------------


def test_the_lane_turns_bulk_once_more_than_the_share_was_spent_before() -> None:
    # GIVEN a budget of 1,000 a minute with a 20% share (200), and 50 deliveries a message
    budget = FanoutBudget(
        counters=AbuseCounters(), clock=build_world().clock, per_minute=1000, bulk_share=0.2
    )
    # WHEN alice sends seven messages into a 51-member group
    lanes = [budget.charge("alice", 51) for _ in range(7)]
    # THEN the first five had spent 0..200 before them (200 is not more than the share):
    # normal; the sixth and seventh (250, 300 spent before) are bulk
    assert lanes == ["normal"] * 5 + ["bulk"] * 2
    # AND another sender's lane is their own
    assert budget.charge("bob", 51) == "normal"


def test_the_lane_is_normal_for_small_groups_and_with_a_full_share() -> None:
    # GIVEN a budget whose share is all of it, and one whose share is none
    clock = build_world().clock
    whole = FanoutBudget(counters=AbuseCounters(), clock=clock, per_minute=1000, bulk_share=1.0)
    none = FanoutBudget(counters=AbuseCounters(), clock=clock, per_minute=1000, bulk_share=0.0)
    # WHEN senders use up the whole budget THEN a full share never sends to bulk
    assert {whole.charge("alice", 101) for _ in range(10)} == {"normal"}
    # AND with no share a sender's first message of the window is still normal, the next bulk
    assert [none.charge("alice", 101) for _ in range(2)] == ["normal", "bulk"]
    # AND a group pushed inline (not over free_members) is normal and not counted
    assert {none.charge("carol", 50) for _ in range(100)} == {"normal"}
    assert none.charge("carol", 101) == "normal"


def test_a_new_window_starts_in_the_normal_lane() -> None:
    # GIVEN alice in the bulk lane
    world = build_world()
    budget = FanoutBudget(
        counters=AbuseCounters(), clock=world.clock, per_minute=1000, bulk_share=0.2
    )
    while budget.charge("alice", 101) == "normal":
        pass
    # WHEN the minute ends THEN her next message is normal again
    world.clock.advance(60_000)
    assert budget.charge("alice", 101) == "normal"


# ---- the send picks the queue ------------------------------------------------------------


def test_a_sender_past_the_share_is_queued_in_the_bulk_lane_and_others_are_not() -> None:
    # GIVEN alice has sent five messages into large groups this minute (200 deliveries)
    world, bulk = lanes_world()
    for i in range(5):
        world.messages.send("alice", frame(GROUP if i % 2 else OTHER, f"a{i}"))
    assert bulk.items == []
    normal_before = len(world.repos.queue.items)
    # WHEN she sends a sixth, and bob sends one into the same group
    world.messages.send("alice", frame(GROUP, "a5"))
    world.messages.send("bob", frame(GROUP, "b0"))
    # THEN alice's work item is on the bulk queue, marked with its lane
    [item] = bulk.items
    assert item["kind"] == "conversation" and item["lane"] == "bulk"
    assert item["message"] == {"conversationId": GROUP, "seq": 3}
    # AND bob's is on the normal queue, unmarked
    [bobs] = world.repos.queue.items[normal_before:]
    assert bobs["kind"] == "conversation" and "lane" not in bobs
    assert bobs["message"]["seq"] == 4


def test_a_retried_send_is_pushed_in_the_bulk_lane_without_a_charge() -> None:
    # GIVEN alice's first message of the minute, queued in the normal lane
    world, bulk = lanes_world()
    world.messages.send("alice", frame(GROUP, "a0"))
    spent = dict(world.messages.fanout_budget.counters.amounts)  # type: ignore[union-attr]
    # WHEN she retries it with the same clientMsgId
    again = world.messages.send("alice", frame(GROUP, "a0"))
    # THEN it answers its first copy, is not charged again, and its push is bulk work
    assert again.duplicate
    assert world.messages.fanout_budget.counters.amounts == spent  # type: ignore[union-attr]
    [item] = bulk.items
    assert item["message"] == {"conversationId": GROUP, "seq": 1}


# ---- items stay in their lane ------------------------------------------------------------


def conversation_item(lane: str | None) -> ConversationWork:
    item: dict[str, Any] = {
        "kind": "conversation",
        "conversationId": GROUP,
        "message": {"conversationId": GROUP, "seq": 1},
        "exclude": None,
        "extraUsers": [],
        "correlationId": "req-1",
    }
    if lane is not None:
        item["lane"] = lane
    return item  # type: ignore[return-value]


def test_member_batches_of_bulk_work_are_queued_in_the_bulk_lane() -> None:
    # GIVEN a 51-member group and bulk work for its message, in batches of 20 members
    world, bulk = lanes_world(batch_users=20)
    world.repos.add_message(GROUP, 1)
    # WHEN the fanout function expands it
    assert world.push.handle(conversation_item("bulk")) is None
    # THEN its three member batches are on the bulk queue, each carrying the lane
    assert [len(i["userIds"]) for i in bulk.of_kind("users")] == [20, 20, 11]
    assert {i.get("lane") for i in bulk.items} == {"bulk"}
    assert world.repos.queue.of_kind("users") == []
    # AND normal work expands onto the normal queue, unmarked
    world.push.handle(conversation_item(None))
    assert [len(i["userIds"]) for i in world.repos.queue.of_kind("users")] == [20, 20, 11]
    assert all("lane" not in i for i in world.repos.queue.items)
    assert len(bulk.items) == 3


def test_retried_posts_of_bulk_work_stay_in_the_bulk_lane() -> None:
    # GIVEN a bulk `users` item whose post to bob fails
    world, bulk = lanes_world()
    expected = frames.message(world.repos.add_message(GROUP, 1))
    world.repos.connections.add("b1", "bob")
    world.repos.connections.add("c1", "carol")
    world.gateway.failing.add("b1")
    item: UsersWork = {
        "kind": "users",
        "userIds": ["bob", "carol"],
        "message": {"conversationId": GROUP, "seq": 1},
        "exclude": None,
        "correlationId": "req-2",
        "lane": "bulk",
    }
    # WHEN it is delivered
    report = world.push.handle(item)
    # THEN carol has it, and bob's retry is a bulk `connections` item on the bulk queue
    assert report is not None and report.delivered == 1
    assert world.gateway.frames("c1") == [expected]
    [retry] = bulk.of_kind("connections")
    assert retry["connectionIds"] == ["b1"] and retry["lane"] == "bulk"
    assert world.repos.queue.items == []


@pytest.mark.parametrize("lane", ["bulk", "normal"])
def test_without_a_bulk_queue_every_lane_uses_the_push_queue(lane: str) -> None:
    # GIVEN a push service with no bulk queue (a function that never routes there)
    world = build_world(batch_users=20)
    group(world, GROUP, 51)
    world.repos.add_message(GROUP, 1)
    # WHEN a large group's message is published in either lane, and expanded
    world.push.publish(world.repos.messages.get(GROUP, 1), lane=lane)  # type: ignore[arg-type]
    [work] = world.repos.queue.of_kind("conversation")
    world.push.handle(work)
    # THEN all of it is on the push queue (delivered, only without the isolation)
    assert len(world.repos.queue.of_kind("users")) == 3
