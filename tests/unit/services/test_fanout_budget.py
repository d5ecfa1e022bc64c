"""The per-sender fan-out budget (issue 15, group amplification) through MessageService with
the in-memory fakes: large groups are charged their member deliveries before anything is
stored, past the budget a send answers 1005 with the wait, retries are not charged twice,
and small groups and direct conversations are never charged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import RateLimited
from parley.models import SendFrame, parse_frame
from parley.services.budget import FanoutBudget
from parley_memory.abuse import AbuseCounters

from tests.unit.services.conftest import World

BIG = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
SMALL = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAW"
OTHER_BIG = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAX"


def frame(conversation: str, client_id: str, body: dict[str, Any] | None = None) -> SendFrame:
    parsed = parse_frame(
        json.dumps(
            {
                "action": "send",
                "conversationId": conversation,
                "clientMsgId": client_id,
                "body": body or {"type": "text", "text": "hello"},
            }
        )
    )
    assert isinstance(parsed, SendFrame)
    return parsed


def group(world: World, conversation: str, members: int) -> None:
    world.repos.add_conversation(conversation)
    world.repos.add_member(conversation, "alice", role="owner")
    world.repos.add_member(conversation, "bob")
    for i in range(members - 2):
        world.repos.add_member(conversation, f"user{i:04d}")


@pytest.fixture
def budget(world: World) -> FanoutBudget:
    # 60-member groups cost 59 deliveries: three sends fit in 200 a minute, not four.
    counted = FanoutBudget(counters=AbuseCounters(), clock=world.clock, per_minute=200)
    world.messages.fanout_budget = counted
    group(world, BIG, 60)
    group(world, OTHER_BIG, 60)
    group(world, SMALL, 10)
    return counted


def test_a_sender_past_the_budget_gets_1005_and_nothing_is_stored(
    world: World, budget: FanoutBudget
) -> None:
    # GIVEN alice has sent three messages into 60-member groups this minute
    for i, conversation in enumerate([BIG, OTHER_BIG, BIG]):
        world.messages.send("alice", frame(conversation, f"m{i}"))
    before = world.repos.messages.seqs(OTHER_BIG)
    # WHEN she sends a fourth, into either group
    with pytest.raises(RateLimited) as refused:
        world.messages.send("alice", frame(OTHER_BIG, "m3"))
    # THEN 1005 with the wait until the minute ends, and nothing stored
    assert 0 < refused.value.retry_after_ms <= 60_000
    assert world.repos.messages.seqs(OTHER_BIG) == before
    # AND another sender's budget is their own
    world.messages.send("bob", frame(OTHER_BIG, "b0"))
    # AND the next minute the budget is back
    world.clock.advance(60_000)
    world.messages.send("alice", frame(OTHER_BIG, "m3"))


def test_a_retried_send_is_not_charged_again(world: World, budget: FanoutBudget) -> None:
    # GIVEN three sends that spent most of the budget
    for i in range(3):
        world.messages.send("alice", frame(BIG, f"m{i}"))
    # WHEN the last one is retried with its clientMsgId THEN it answers its first copy
    again = world.messages.send("alice", frame(BIG, "m2"))
    assert again.duplicate


def test_events_into_a_large_group_are_charged_too(world: World, budget: FanoutBudget) -> None:
    # GIVEN alice's message and two more charged sends
    first = world.messages.send("alice", frame(BIG, "m0")).message
    world.messages.send("alice", frame(BIG, "m1"))
    world.messages.send("alice", frame(BIG, "m2"))
    # WHEN she reacts to her message (an event every member receives) THEN 1005
    reaction = {"type": "reaction", "target": first["seq"], "key": "+1", "on": True}
    with pytest.raises(RateLimited):
        world.messages.send("alice", frame(BIG, "r0", reaction))


def test_small_groups_and_direct_conversations_are_not_charged(
    world: World, budget: FanoutBudget
) -> None:
    # GIVEN a spent budget
    for i in range(3):
        world.messages.send("alice", frame(BIG, f"m{i}"))
    # WHEN alice writes into a 10-member group and to bob directly THEN both go through
    for i in range(20):
        world.messages.send("alice", frame(SMALL, f"s{i}"))
    direct = parse_frame(
        json.dumps(
            {
                "action": "send",
                "to": "bob",
                "clientMsgId": "d0",
                "body": {"type": "text", "text": "hi"},
            }
        )
    )
    assert isinstance(direct, SendFrame)
    world.messages.send("alice", direct)
