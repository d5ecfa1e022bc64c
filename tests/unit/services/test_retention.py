"""Message retention (protocol 12, `MessageRetentionDays`) with the in-memory fakes: which
message is made expirable and when, the never-expiring newest message (the seq anchor), and
reads that hide what is past retention before TTL removes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from parley.errors import NotFound
from parley.services.retention import DAY_MS, EXPIRY_FAILED_METRIC, Retention

from tests.unit.services.conftest import World, build_world
from tests.unit.services.test_event_service import frame

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
DM = "dm:alice:bob"
DAYS = 2


class Kept:
    """A world whose services keep messages `DAYS` days, with what the retention logged."""

    def __init__(self, days: int = DAYS) -> None:
        self.world = build_world()
        for user in ("alice", "bob", "carol"):
            self.world.repos.users.add(user)
        self.errors: list[tuple[Any, Any]] = []
        self.metrics: list[tuple[str, float]] = []
        retention = Retention(
            days=days,
            messages=self.world.repos.messages,
            clock=self.world.repos.clock,
            on_error=lambda *args, **kwargs: self.errors.append((args, kwargs)),
            metric=lambda name, value: self.metrics.append((name, value)),
        )
        self.world.messages.retention = retention
        self.world.conversations.retention = retention
        self.world.groups.retention = retention
        self.sent = 0

    def text(self, user: str, conversation: str = GROUP) -> int:
        self.sent += 1
        body = {"type": "text", "text": f"m{self.sent}"}
        sent = self.world.messages.send(user, frame(body, f"c-{self.sent}", conversation))
        return sent.message["seq"]

    def expires_at(self, seq: int, conversation: str = GROUP) -> int | None:
        return self.world.repos.messages.expires_at(conversation, seq)

    def ts(self, seq: int, conversation: str = GROUP) -> int:
        found = self.world.repos.messages.get(conversation, seq)
        assert found is not None
        return found["ts"]

    def later(self, days: float) -> None:
        self.world.clock.advance(int(days * DAY_MS))

    def history(self, user: str = "alice", before: int | None = None) -> dict[str, Any]:
        return dict(self.world.conversations.history(user, GROUP, before, 50))

    def synced(self, user: str = "alice", cursor: int = 0, conversation: str = GROUP) -> list[int]:
        reply = self.world.sync(user, {conversation: cursor}, 100)
        return [
            m["seq"]
            for c in reply["conversations"]
            if c["conversationId"] == conversation
            for m in c["messages"]
        ]


@pytest.fixture
def kept() -> Iterator[Kept]:
    k = Kept()
    k.world.repos.add_conversation(GROUP, name="team")
    for user in ("alice", "bob", "carol"):
        k.world.repos.add_member(GROUP, user, role="owner" if user == "alice" else "member")
    yield k
    if k.world.push._pool is not None:
        k.world.push._pool.shutdown(wait=True)


def test_off_costs_nothing(world: World) -> None:
    # GIVEN the services without retention (the default: messages are kept forever)
    world.repos.add_conversation(GROUP)
    world.repos.add_member(GROUP, "alice")
    # WHEN two messages are sent
    for n in (1, 2):
        world.messages.send("alice", frame({"type": "text", "text": "x"}, f"c-{n}", GROUP))
    # THEN no expiry is ever written
    assert world.repos.messages.times("expire") == 0
    assert world.repos.messages.expires_at(GROUP, 1) is None


def test_a_message_expires_only_once_a_later_one_is_stored(kept: Kept) -> None:
    # GIVEN a first message
    first = kept.text("alice")
    # THEN, as the newest message, it never expires
    assert kept.expires_at(first) is None
    # WHEN a second message is stored a little later
    kept.later(0.5)
    second = kept.text("bob")
    # THEN the first expires its retention after its own ts, and the new newest never does
    assert kept.expires_at(first) == kept.ts(first) // 1000 + DAYS * 86_400
    assert kept.expires_at(second) is None
    assert kept.world.repos.messages.times("expire") == 1


def test_the_anchor_survives_ttl_so_the_next_send_continues_the_sequence(kept: Kept) -> None:
    # GIVEN a direct conversation of three messages
    kept.world.messages.send("alice", frame({"type": "text", "text": "a"}, "a1", DM))
    kept.text("bob", DM)
    kept.text("alice", DM)
    # AND, long after, TTL has removed every message that was made expirable
    kept.later(DAYS + 1)
    expirable = [s for s in (1, 2, 3) if kept.expires_at(s, DM) is not None]
    assert expirable == [1, 2]
    for seq in expirable:
        kept.world.repos.messages.remove(DM, seq)
    # WHEN alice sends again into the idle conversation
    seq = kept.text("alice", DM)
    # THEN the sequence continues from the anchor, with its running count and `own` map
    assert seq == 4
    newest = kept.world.repos.messages.newest(DM)
    assert (newest.seq, newest.n) == (4, 4)
    assert newest.own == {"alice": 4, "bob": 2}
    # AND bob's unread counts what he can still get: 3 is past retention, 4 is kept
    [bob] = [
        c
        for c in kept.world.conversations.list("bob")["conversations"]
        if c["conversationId"] == DM
    ]
    assert (bob["lastSeq"], bob["readSeq"], bob["unread"]) == (4, 2, 1)
    assert kept.synced("bob", cursor=2, conversation=DM) == [4]
    # AND the anchor (3) became expirable only now
    assert kept.expires_at(3, DM) == kept.ts(3, DM) // 1000 + DAYS * 86_400


def test_reads_hide_messages_past_retention_before_ttl_removes_them(kept: Kept) -> None:
    # GIVEN three messages, then two more three days later (retention: two days)
    for _ in range(3):
        kept.text("alice")
    kept.later(3)
    kept.text("bob")
    kept.text("bob")
    # WHEN alice syncs from the start and reads the history (nothing removed by TTL yet)
    # THEN both start at the oldest kept message: the gap below it is retention, not loss
    assert kept.synced(cursor=0) == [4, 5]
    page = kept.history()
    assert [m["seq"] for m in page["messages"]] == [4, 5]
    assert page["nextBeforeSeq"] is None
    assert kept.history(before=4) == {"messages": [], "nextBeforeSeq": None}


def test_an_idle_conversations_anchor_is_hidden_once_past_retention(kept: Kept) -> None:
    # GIVEN two messages, and then days without any
    kept.text("alice")
    kept.text("bob")
    kept.later(DAYS + 0.5)
    # WHEN alice syncs and reads the history
    # THEN the never-expiring newest message is hidden like the rest
    assert kept.synced(cursor=0) == []
    assert kept.history() == {"messages": [], "nextBeforeSeq": None}
    # AND the list still says where the conversation stands (lastSeq), with nothing unread
    # that a sync could still fetch
    [conv] = kept.world.conversations.list("alice")["conversations"]
    assert (conv["lastSeq"], conv["readSeq"], conv["unread"]) == (2, 1, 0)


def test_unread_counts_the_kept_countable_messages_when_the_read_position_is_gone(
    kept: Kept,
) -> None:
    # GIVEN bob has read two messages that TTL removed later, once a third was stored
    kept.text("alice")
    kept.text("alice")
    kept.world.repos.members.advance_read(GROUP, "bob", 2)
    kept.later(DAYS + 1)
    kept.text("alice")
    for seq in (1, 2):
        kept.world.repos.messages.remove(GROUP, seq)
    # AND then a reaction (not counted, protocol 9.2) and another text
    body = {"type": "reaction", "target": 3, "key": "+1", "on": True}
    kept.world.messages.send("carol", frame(body, "r-1", GROUP))
    kept.text("alice")
    # WHEN bob lists his conversations
    [conv] = kept.world.conversations.list("bob")["conversations"]
    # THEN unread is the two texts above his readSeq, with no count at the read position
    assert (conv["lastSeq"], conv["readSeq"], conv["unread"]) == (5, 2, 2)


def test_sync_within_retention_is_unchanged(kept: Kept) -> None:
    # GIVEN five messages within retention
    for _ in range(5):
        kept.text("alice")
    # WHEN bob syncs from seq 2 and pages the history by two
    # THEN everything above the cursor comes back, and history pages on as without retention
    assert kept.synced("bob", cursor=2) == [3, 4, 5]
    page = kept.world.conversations.history("bob", GROUP, None, 2)
    assert ([m["seq"] for m in page["messages"]], page["nextBeforeSeq"]) == ([4, 5], 4)


def test_an_event_on_a_message_past_retention_is_2003(kept: Kept) -> None:
    # GIVEN a message past retention and a newer one
    kept.text("alice")
    kept.later(DAYS + 1)
    kept.text("alice")
    # WHEN bob reacts to the old one
    body = {"type": "reaction", "target": 1, "key": "+1", "on": True}
    # THEN it is refused as a message that does not exist, and nothing is stored
    with pytest.raises(NotFound):
        kept.world.messages.send("bob", frame(body, "r-1", GROUP))
    assert kept.world.repos.messages.seqs(GROUP) == [1, 2]


def test_an_event_makes_the_previous_newest_expirable(kept: Kept) -> None:
    # GIVEN a message
    kept.text("alice")
    # WHEN bob reacts to it (an event: a message of its own)
    body = {"type": "reaction", "target": 1, "key": "+1", "on": True}
    kept.world.messages.send("bob", frame(body, "r-1", GROUP))
    # THEN the message before the event may expire
    assert kept.expires_at(1) is not None
    assert kept.expires_at(2) is None


def test_a_group_system_message_makes_the_previous_newest_expirable(kept: Kept) -> None:
    # GIVEN a group created with its `group_created` message (seq 1)
    view = kept.world.groups.create("alice", "team", ["bob"])
    gid = view["conversationId"]
    assert kept.world.repos.messages.expires_at(gid, 1) is None
    # WHEN a member is added (a `members_added` system message, seq 2)
    kept.world.groups.add_members("alice", gid, ["carol"])
    # THEN seq 1 may expire and seq 2, the newest, may not
    found = kept.world.repos.messages.get(gid, 1)
    assert found is not None
    assert kept.world.repos.messages.expires_at(gid, 1) == found["ts"] // 1000 + DAYS * 86_400
    assert kept.world.repos.messages.expires_at(gid, 2) is None


def test_a_failed_expiry_is_logged_and_counted_never_fatal(kept: Kept) -> None:
    # GIVEN a message, and an expiry write that fails
    kept.text("alice")

    def fail(conversation_id: str, seq: int, expires_at: int) -> bool:
        raise RuntimeError("throttled")

    kept.world.repos.messages.expire = fail  # type: ignore[method-assign]
    # WHEN another message is sent
    seq = kept.text("bob")
    # THEN the send succeeds, and the failure is logged and counted
    assert seq == 2
    assert kept.metrics == [(EXPIRY_FAILED_METRIC, 1)]
    [(_args, kwargs)] = kept.errors
    assert kwargs["extra"] == {"conversationId": GROUP, "seq": 1}


def test_cutoff_is_zero_when_off_and_days_back_when_on(world: World) -> None:
    # GIVEN retention off and on
    off = Retention(days=0, messages=world.repos.messages, clock=world.clock)
    on = Retention(days=3, messages=world.repos.messages, clock=world.clock)
    # THEN off shows everything and never expires; on hides what is older than 3 days
    assert off.cutoff_ms() == 0
    assert not off.hidden(0)
    assert off.expire_previous(GROUP, world.repos.messages.newest(GROUP)) is None
    assert on.cutoff_ms() == world.clock.now_ms() - 3 * DAY_MS
    assert on.hidden(on.cutoff_ms() - 1)
    assert not on.hidden(on.cutoff_ms())


def test_a_moderated_delete_still_erases_a_message_past_retention(kept: Kept) -> None:
    # GIVEN an idle conversation whose newest message is past retention: hidden, but still
    # stored (it carries the next seq)
    kept.text("alice")
    kept.later(DAYS + 1)
    # WHEN an app admin deletes it
    sent = kept.world.messages.moderate_delete("admin", GROUP, 1)
    # THEN the delete is stored and erases it, and the message may now expire
    assert sent.message["seq"] == 2
    erased = kept.world.repos.messages.get(GROUP, 1)
    assert erased is not None and erased["body"] == {"type": "deleted"}
    assert kept.expires_at(1) is not None
