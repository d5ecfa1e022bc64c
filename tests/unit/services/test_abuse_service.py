"""AbuseLimits over the in-memory counters: each protocol 13 limit, its 1005 with
retryAfterMs, the flags, and the text normalisation."""

from __future__ import annotations

import pytest
from parley.errors import RateLimited
from parley.services.abuse import AbuseLimits, text_digest
from parley_memory.abuse import AbuseCounters, Flags

from tests.fakes.repos import FixedClock
from tests.unit.services.conftest import World
from tests.unit.services.test_message_service import send_frame


@pytest.fixture
def limits() -> AbuseLimits:
    return AbuseLimits(
        counters=AbuseCounters(),
        flags=Flags(),
        clock=FixedClock(3_600_000 * 1000),
        groups_per_day=2,
        members_per_hour=5,
        direct_per_hour=2,
        repeated_texts=2,
        connections_per_user=2,
        text_key=lambda: b"k" * 32,
    )


def _flagged(limits: AbuseLimits) -> list[str]:
    assert limits.flags is not None
    return [f["userId"] for f in limits.flags.all(100)]


def test_groups_per_day_and_members_per_hour(limits: AbuseLimits) -> None:
    # GIVEN 2 groups a day and 5 members an hour
    limits.group_created("alice", 2)
    limits.members_added("alice", 3)
    # WHEN she adds one more, or creates a group with none
    with pytest.raises(RateLimited) as refused:
        limits.members_added("alice", 1)
    # THEN 1005 with the time until the hour ends; an empty addition costs nothing
    assert refused.value.retry_after_ms == 3_600_000
    limits.members_added("alice", 0)
    limits.group_created("alice", 0)
    with pytest.raises(RateLimited):
        limits.group_created("alice", 0)
    # AND nobody is flagged for these
    assert _flagged(limits) == []


def test_new_direct_conversations_flag_the_user(limits: AbuseLimits) -> None:
    limits.direct_opened("alice")
    limits.direct_opened("alice")
    with pytest.raises(RateLimited):
        limits.direct_opened("alice")
    assert _flagged(limits) == ["alice"]


def test_the_same_text_counts_per_conversation_ignoring_case_and_spacing(
    limits: AbuseLimits,
) -> None:
    # GIVEN alice sent one text into two conversations (and again into the first)
    limits.text_sent("alice", "dm:alice:bob", "Buy now")
    limits.text_sent("alice", "dm:alice:carol", "buy  NOW ")
    limits.text_sent("alice", "dm:alice:bob", "Buy now")
    # WHEN it goes into a third
    with pytest.raises(RateLimited):
        limits.text_sent("alice", "dm:alice:dave", "\tBUY now")
    # THEN she is flagged, other texts and other users are not held back
    assert _flagged(limits) == ["alice"]
    limits.text_sent("alice", "dm:alice:dave", "hello")
    limits.text_sent("bob", "dm:bob:dave", "Buy now")


def test_the_text_is_kept_only_as_a_hash(limits: AbuseLimits) -> None:
    limits.text_sent("alice", "dm:alice:bob", "Secret plan")
    counters = limits.counters
    assert isinstance(counters, AbuseCounters)
    assert "secret" not in repr(counters.sets).lower()
    key = b"k" * 32
    assert text_digest(key, "alice", "Secret  PLAN") == text_digest(key, "alice", "secret plan")
    assert text_digest(key, "alice", "x") != text_digest(key, "bob", "x")


def test_the_hash_is_keyed() -> None:
    # GIVEN the same text and sender
    # WHEN hashed under two keys
    # THEN the hashes differ, so reading the limits table confirms no guessed text
    assert text_digest(b"a" * 32, "alice", "hi") != text_digest(b"b" * 32, "alice", "hi")
    # AND the hash is no plain SHA-256 of what a guesser could build
    import hashlib

    plain = hashlib.sha256(b"alice\x00hi").hexdigest()[:32]
    assert text_digest(b"a" * 32, "alice", "hi") != plain


def test_counting_a_text_needs_a_key() -> None:
    # GIVEN limits built with no text key
    limits = AbuseLimits(counters=AbuseCounters(), flags=None, clock=FixedClock(0))
    # WHEN a text is counted THEN it is a configuration error, never an unkeyed hash
    with pytest.raises(RuntimeError):
        limits.text_sent("alice", "dm:alice:bob", "hi")


def test_connections_are_counted_and_stale_ones_reconciled(limits: AbuseLimits) -> None:
    # GIVEN alice holds 2 connections, of which only c2 is still alive
    limits.connection_opened("alice", "c1", set)
    limits.connection_opened("alice", "c2", set)
    # WHEN a third comes while both are alive
    with pytest.raises(RateLimited):
        limits.connection_opened("alice", "c3", lambda: {"c1", "c2"})
    # THEN it is refused; once c1 is gone (no $disconnect came) there is room
    limits.connection_opened("alice", "c3", lambda: {"c2"})
    # AND a closed connection frees its place
    limits.connection_closed("alice", "c2")
    limits.connection_opened("alice", "c4", lambda: {"c3"})


def test_a_refused_group_gives_its_members_back(limits: AbuseLimits) -> None:
    # GIVEN alice used her 2 groups of the day
    limits.group_created("alice", 0)
    limits.group_created("alice", 0)
    # WHEN a third, with 3 members, is refused
    with pytest.raises(RateLimited):
        limits.group_created("alice", 3)
    # THEN her 5 members of the hour are all still there
    limits.members_added("alice", 5)


# ---- wired into the services ---------------------------------------------------------------


@pytest.fixture
def guarded(world: World) -> tuple[World, AbuseLimits]:
    """The world's message and group services with small abuse limits."""
    abuse = AbuseLimits(
        counters=AbuseCounters(),
        flags=Flags(),
        clock=world.clock,
        groups_per_day=1,
        members_per_hour=3,
        direct_per_hour=2,
        repeated_texts=2,
        text_key=lambda: b"k" * 32,
    )
    world.messages.abuse = abuse
    world.groups.abuse = abuse
    return world, abuse


def test_only_a_first_message_counts_as_a_new_direct_conversation(
    guarded: tuple[World, AbuseLimits],
) -> None:
    world, abuse = guarded
    # GIVEN alice opened two direct conversations and wrote into them again, and to herself
    for n, to in enumerate(["bob", "carol", "bob", "carol", "alice"]):
        world.send("alice", send_frame(f"m{n}", to=to, text=f"text {n}"))
    # WHEN she opens a third
    with pytest.raises(RateLimited):
        world.send("alice", send_frame("m9", to="dave", text="hello"))
    # THEN it is refused and created nothing, and she is flagged
    assert world.repos.conversations.get("dm:alice:dave") is None
    assert _flagged(abuse) == ["alice"]


def test_a_repeated_text_is_refused_before_anything_is_stored(
    guarded: tuple[World, AbuseLimits],
) -> None:
    world, _ = guarded
    group = world.groups.create("alice", "g", ["dave"])["conversationId"]
    world.send("alice", send_frame("1", to="bob", text="Win big"))
    world.send("alice", send_frame("2", conversation=group, text="win BIG"))
    with pytest.raises(RateLimited):
        world.send("alice", send_frame("3", to="carol", text=" win big "))
    assert world.repos.conversations.get("dm:alice:carol") is None


def test_zero_turns_the_text_check_off(guarded: tuple[World, AbuseLimits]) -> None:
    world, abuse = guarded
    abuse.repeated_texts = 0
    for n, to in enumerate(["bob", "carol"]):
        world.send("alice", send_frame(f"m{n}", to=to, text="same"))
    group = world.groups.create("alice", "g", ["dave"])["conversationId"]
    world.send("alice", send_frame("m3", conversation=group, text="same"))
    assert isinstance(abuse.counters, AbuseCounters)
    assert not [k for k in abuse.counters.sets if k.startswith("text#")]


def test_groups_count_creations_and_added_members(guarded: tuple[World, AbuseLimits]) -> None:
    world, _ = guarded
    group = world.groups.create("alice", "g", ["bob", "carol"])["conversationId"]
    # the one group of the day is used, and 2 of 3 members of the hour
    with pytest.raises(RateLimited):
        world.groups.create("alice", "h", [])
    with pytest.raises(RateLimited):
        world.groups.add_members("alice", group, ["dave", "erin"])
    # members already in cost nothing; one more fits
    world.groups.add_members("alice", group, ["bob", "dave"])
    assert {m["userId"] for m in world.repos.members.all(group)} == {
        "alice",
        "bob",
        "carol",
        "dave",
    }
