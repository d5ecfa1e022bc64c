"""LiveService with the fakes: receipts, typing, presence and call signaling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import ConversationNotFound, Forbidden, UserNotFound
from parley.models import SignalFrame, parse_frame
from parley.services.abuse import AbuseLimits
from parley_memory.abuse import AbuseCounters

from tests.unit.services.conftest import World, build_world

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
DM = "dm:alice:bob"


@pytest.fixture
def dm(world: World) -> str:
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice")
    world.repos.add_member(DM, "bob")
    for seq in range(1, 6):
        world.repos.add_message(DM, seq)
    for conn, user in [("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("c1", "carol")]:
        world.repos.connections.add(conn, user)
    return DM


def signal(to: str = "bob", kind: str = "offer", **extra: Any) -> SignalFrame:
    frame = {"action": "signal", "to": to, "callId": "call-1", "kind": kind, **extra}
    parsed = parse_frame(json.dumps(frame))
    assert isinstance(parsed, SignalFrame)
    return parsed


# ---- read receipts -----------------------------------------------------------------------


def test_read_moves_read_seq_and_sends_receipts(world: World, dm: str) -> None:
    # GIVEN alice on a1 and a2, bob on b1, 5 messages
    # WHEN alice reads up to 3 from a1
    # THEN her readSeq is 3; bob and her other device get a receipt; a1 and carol do not
    assert world.live.read("alice", dm, 3, "a1") == 3
    assert world.repos.members.read_seqs("alice", [dm]) == {dm: 3}
    receipt = {"type": "receipt", "conversationId": dm, "userId": "alice", "readSeq": 3}
    assert world.gateway.frames("b1") == [receipt]
    assert world.gateway.frames("a2") == [receipt]
    assert world.gateway.frames("a1") == []
    assert world.gateway.frames("c1") == []


def test_read_is_clamped_to_last_seq(world: World, dm: str) -> None:
    # GIVEN 5 messages
    # WHEN alice reads up to 99
    # THEN her readSeq is 5 and the receipt says 5
    assert world.live.read("alice", dm, 99, "a1") == 5
    assert world.repos.members.read_seqs("alice", [dm]) == {dm: 5}
    assert world.gateway.frames("b1")[0]["readSeq"] == 5


def test_read_never_moves_back(world: World, dm: str) -> None:
    # GIVEN alice has read up to 4
    # WHEN she reads up to 2, then 4 again
    # THEN readSeq stays 4, the answer is 4, and no new receipt is sent
    world.live.read("alice", dm, 4, "a1")
    sent = len(world.gateway.frames("b1"))
    assert world.live.read("alice", dm, 2, "a1") == 4
    assert world.live.read("alice", dm, 4, "a1") == 4
    assert world.repos.members.read_seqs("alice", [dm]) == {dm: 4}
    assert len(world.gateway.frames("b1")) == sent


def test_read_of_zero_or_an_empty_conversation_does_nothing(world: World) -> None:
    # GIVEN an empty conversation
    # WHEN alice reads up to 3, or 0
    # THEN readSeq stays 0 and nobody is told
    world.repos.add_conversation(GROUP)
    world.repos.add_member(GROUP, "alice")
    world.repos.add_member(GROUP, "bob")
    world.repos.connections.add("b1", "bob")
    assert world.live.read("alice", GROUP, 3, "a1") == 0
    assert world.live.read("alice", GROUP, 0, "a1") == 0
    assert world.gateway.posts == {}


@pytest.fixture
def dm_with_maps(world: World) -> str:
    """dm:alice:bob: alice wrote 1..3, bob 4 and 5 (each message with its `own` map), no
    row advanced by those sends; alice on a1 and a2, bob on b1."""
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice")
    world.repos.add_member(DM, "bob")
    newest: dict[str, int] = {}
    for seq, sender in enumerate(["alice"] * 3 + ["bob"] * 2, start=1):
        newest[sender] = seq
        world.repos.add_message(DM, seq, sender, own=dict(newest))
    for conn, user in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")]:
        world.repos.connections.add(conn, user)
    return DM


def test_reading_up_to_an_own_message_changes_nothing(world: World, dm_with_maps: str) -> None:
    # GIVEN alice's own newest message is 3
    # WHEN she reads up to 3, 2 and 0
    # THEN each answer is 3, her row is not written, and nobody gets a receipt
    assert [world.live.read("alice", dm_with_maps, s, "a1") for s in (3, 2, 0)] == [3, 3, 3]
    assert world.repos.members.times("advance_read") == 0
    assert world.gateway.posts == {}


def test_reading_past_an_own_message_sends_the_receipt(world: World, dm_with_maps: str) -> None:
    # GIVEN alice's own newest is 3, bob's messages are 4 and 5
    # WHEN she reads up to 4, then up to 99
    # THEN the answers are 4 and 5, with a receipt for each to bob and her other device
    assert world.live.read("alice", dm_with_maps, 4, "a1") == 4
    assert world.live.read("alice", dm_with_maps, 99, "a1") == 5
    assert [f["readSeq"] for f in world.gateway.frames("b1")] == [4, 5]
    assert [f["readSeq"] for f in world.gateway.frames("a2")] == [4, 5]
    assert world.gateway.frames("a1") == []
    # AND a read back down to her own message answers 5 without a receipt
    assert world.live.read("alice", dm_with_maps, 3, "a1") == 5
    assert len(world.gateway.frames("b1")) == 2


def test_a_sender_reading_their_own_newest_answers_it(world: World, dm_with_maps: str) -> None:
    # GIVEN bob's own newest message is the newest of all (5)
    # WHEN he reads up to 5
    # THEN the answer is 5 with no receipt
    assert world.live.read("bob", dm_with_maps, 5, "b1") == 5
    assert world.gateway.posts == {}


def test_read_by_non_member_is_forbidden(world: World, dm: str) -> None:
    # GIVEN carol, not in the dm
    # WHEN she reads it
    # THEN it is 1004
    with pytest.raises(Forbidden):
        world.live.read("carol", dm, 1, "c1")


def test_read_of_unknown_conversation_is_1004(world: World) -> None:
    # GIVEN no such group
    # WHEN alice reads it
    # THEN it is 1004, as for a group that exists without her (protocol 13)
    with pytest.raises(Forbidden):
        world.live.read("alice", GROUP, 1, "a1")
    # AND a malformed id is still 2002
    with pytest.raises(ConversationNotFound):
        world.live.read("alice", "grp:bad", 1, "a1")


def test_large_group_receipts_go_only_to_the_readers_other_devices() -> None:
    # GIVEN a group over relay_max (3) members with everyone online
    # WHEN alice reads
    # THEN only her own other device gets the receipt
    world = build_world(relay_max=3)
    world.repos.add_conversation(GROUP)
    for user in ("alice", "bob", "carol", "dave"):
        world.repos.add_member(GROUP, user)
        world.repos.connections.add(f"{user}-1", user)
    world.repos.connections.add("alice-2", "alice")
    world.repos.add_message(GROUP, 1)
    assert world.live.read("alice", GROUP, 1, "alice-1") == 1
    assert len(world.gateway.frames("alice-2", "receipt")) == 1
    for user in ("bob", "carol", "dave"):
        assert world.gateway.frames(f"{user}-1") == []


def test_group_at_relay_max_relays_to_everyone() -> None:
    # GIVEN a group of exactly relay_max (3) members
    # WHEN alice reads
    # THEN the other two members get the receipt
    world = build_world(relay_max=3)
    world.repos.add_conversation(GROUP)
    for user in ("alice", "bob", "carol"):
        world.repos.add_member(GROUP, user)
        world.repos.connections.add(f"{user}-1", user)
    world.repos.add_message(GROUP, 1)
    world.live.read("alice", GROUP, 1, "alice-1")
    assert len(world.gateway.frames("bob-1", "receipt")) == 1
    assert len(world.gateway.frames("carol-1", "receipt")) == 1


# ---- typing ------------------------------------------------------------------------------


def test_typing_is_relayed_to_the_other_member_only(world: World, dm: str) -> None:
    # GIVEN alice and bob online
    # WHEN alice types from a1
    # THEN bob gets the typing frame; alice's devices and carol do not
    world.live.typing("alice", dm, "start", "a1")
    assert world.gateway.frames("b1") == [
        {"type": "typing", "conversationId": dm, "userId": "alice", "state": "start"}
    ]
    assert world.gateway.frames("a1") == world.gateway.frames("a2") == []
    assert world.gateway.frames("c1") == []


def test_typing_in_a_large_group_is_not_relayed() -> None:
    # GIVEN a group over relay_max
    # WHEN alice types
    # THEN nobody is told
    world = build_world(relay_max=2)
    world.repos.add_conversation(GROUP)
    for user in ("alice", "bob", "carol"):
        world.repos.add_member(GROUP, user)
        world.repos.connections.add(f"{user}-1", user)
    world.live.typing("alice", GROUP, "start", "alice-1")
    assert world.gateway.posts == {}


def test_typing_in_a_note_to_self_is_not_relayed(world: World) -> None:
    # GIVEN alice's note-to-self conversation and a second device
    # WHEN she types
    # THEN nothing is posted
    world.repos.add_member("dm:alice:alice", "alice")
    world.repos.connections.add("a2", "alice")
    world.live.typing("alice", "dm:alice:alice", "stop", "a1")
    assert world.gateway.posts == {}


def test_typing_by_non_member_is_forbidden(world: World, dm: str) -> None:
    # GIVEN carol outside the dm
    # WHEN she types in it
    # THEN it is 1004 and nothing is relayed
    with pytest.raises(Forbidden):
        world.live.typing("carol", dm, "start", "c1")
    assert world.gateway.posts == {}


# ---- presence ----------------------------------------------------------------------------


def _share(world: World, *others: str) -> None:
    """alice shares a conversation with each of `others`: a group with all of them."""
    world.groups.create("alice", "Shared", list(others))


def test_presence_online_and_last_seen(world: World) -> None:
    # GIVEN bob online, carol offline last seen at t, erin never seen, ghost unknown, all but
    # ghost sharing a group with alice
    # WHEN presence is asked (with a repeat)
    # THEN online users report now, offline ones their lastSeen or null, in the asked order
    _share(world, "bob", "carol", "erin")
    world.repos.connections.add("b1", "bob")
    world.repos.users.set_last_seen("carol", 12345)
    now = world.clock.now_ms()
    assert world.live.presence("alice", ["bob", "carol", "erin", "ghost", "bob"]) == [
        {"userId": "bob", "online": True, "lastSeen": now},
        {"userId": "carol", "online": False, "lastSeen": 12345},
        {"userId": "erin", "online": False, "lastSeen": None},
        {"userId": "ghost", "online": False, "lastSeen": None},
    ]


def test_presence_ignores_expired_connections(world: World) -> None:
    # GIVEN bob's only connection is past its TTL
    # WHEN presence is asked
    # THEN he is offline
    _share(world, "bob")
    world.repos.connections.add("b1", "bob", ttl=world.clock.now_ms() // 1000 - 1)
    assert world.live.presence("alice", ["bob"])[0]["online"] is False


def test_presence_hides_users_who_share_nothing_or_blocked_the_caller(world: World) -> None:
    # GIVEN bob, carol, dave and erin online and seen; alice shares a group with bob and
    # carol, a direct conversation with dave, nothing with erin; carol blocked alice
    for user in ("bob", "carol", "dave", "erin"):
        world.repos.connections.add(f"{user}-1", user)
        world.repos.users.set_last_seen(user, 777)
    _share(world, "bob", "carol")
    world.repos.add_member("dm:alice:dave", "alice")
    world.repos.add_member("dm:alice:dave", "dave")
    world.repos.users.block("carol", "alice", 0)
    now = world.clock.now_ms()
    # WHEN alice asks about all of them and herself
    users = world.live.presence("alice", ["bob", "carol", "dave", "erin", "alice"])
    # THEN bob and dave show as they are; carol and erin read offline and never seen
    assert users == [
        {"userId": "bob", "online": True, "lastSeen": now},
        {"userId": "carol", "online": False, "lastSeen": None},
        {"userId": "dave", "online": True, "lastSeen": now},
        {"userId": "erin", "online": False, "lastSeen": None},
        {"userId": "alice", "online": False, "lastSeen": None},
    ]


def test_presence_reads_are_bounded_whatever_the_caller_is_in(world: World) -> None:
    # GIVEN alice in 30 groups without bob
    for i in range(30):
        world.groups.create("alice", f"g{i}", ["carol"])
    world.repos.members.calls.clear()
    # WHEN she asks about 100 users
    names = [f"user{i:03d}" for i in range(100)]
    world.live.presence("alice", names)
    # THEN one page of her groups is read (1,000 keys' worth: 10 groups for 100 users) and
    # the membership keys are capped: each user's direct conversation and those groups
    pages = [args for name, args in world.repos.members.calls if name.startswith("for_user")]
    assert pages == [("alice", 10, "grp:")]
    (probe,) = [args for name, args in world.repos.members.calls if name == "present"]
    assert probe == (100 + 10 * 100,)


# ---- signaling ---------------------------------------------------------------------------


def test_signal_goes_to_all_callee_connections(world: World) -> None:
    # GIVEN bob on two devices
    # WHEN alice sends an offer from a1
    # THEN both get the signal naming alice and a1; the answer counts them
    world.repos.connections.add("b1", "bob")
    world.repos.connections.add("b2", "bob")
    delivered = world.live.signal("alice", signal(payload={"sdp": "v=0"}), "a1")
    assert delivered == 2
    expected = {
        "type": "signal",
        "from": "alice",
        "fromConnection": "a1",
        "callId": "call-1",
        "kind": "offer",
        "payload": {"sdp": "v=0"},
    }
    assert world.gateway.frames("b1") == world.gateway.frames("b2") == [expected]


def test_signal_to_one_connection(world: World) -> None:
    # GIVEN bob on two devices
    # WHEN alice answers to b2 only
    # THEN only b2 gets it
    world.repos.connections.add("b1", "bob")
    world.repos.connections.add("b2", "bob")
    assert world.live.signal("alice", signal(kind="answer", toConnection="b2"), "a1") == 1
    assert world.gateway.frames("b1") == []
    assert len(world.gateway.frames("b2")) == 1


def test_signal_to_a_connection_of_someone_else_is_refused(world: World) -> None:
    # GIVEN carol's connection c1
    # WHEN alice targets bob with toConnection c1
    # THEN it is refused (1002) and nothing is posted
    world.repos.connections.add("b1", "bob")
    world.repos.connections.add("c1", "carol")
    with pytest.raises(UserNotFound):
        world.live.signal("alice", signal(toConnection="c1"), "a1")
    assert world.gateway.posts == {}


def test_signal_to_offline_user_delivers_nothing(world: World) -> None:
    # GIVEN bob offline
    # WHEN alice invites him
    # THEN nothing is delivered (the caller sees 0)
    assert world.live.signal("alice", signal(kind="invite"), "a1") == 0


def test_signal_to_unknown_user_is_1002(world: World) -> None:
    # GIVEN no such user
    # WHEN alice calls them
    # THEN it is 1002
    with pytest.raises(UserNotFound):
        world.live.signal("alice", signal(to="ghost"), "a1")


def test_signal_to_a_user_who_blocked_the_caller_is_1004(world: World) -> None:
    # GIVEN bob blocks alice
    # WHEN alice calls bob
    # THEN it is 1004 and bob gets nothing
    world.repos.connections.add("b1", "bob")
    world.repos.users.block("bob", "alice", 0)
    with pytest.raises(Forbidden):
        world.live.signal("alice", signal(kind="invite"), "a1")
    assert world.gateway.frames("b1") == []


def test_signal_to_own_other_device(world: World) -> None:
    # GIVEN alice on a1 and a2
    # WHEN she signals herself from a1
    # THEN a2 receives it and a1 does not
    world.repos.connections.add("a1", "alice")
    world.repos.connections.add("a2", "alice")
    assert world.live.signal("alice", signal(to="alice"), "a1") == 1
    assert world.gateway.frames("a1") == []


def test_accept_tells_the_callees_other_devices(world: World) -> None:
    # GIVEN alice calling bob, bob ringing on b1 and b2, alice also on a2
    # WHEN bob accepts on b1
    # THEN alice's connections get the accept, b2 gets it with answeredElsewhere, b1 nothing
    for conn, user in [("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("b2", "bob")]:
        world.repos.connections.add(conn, user)
    world.live.signal("bob", signal(to="alice", kind="accept", payload={"sdp": "x"}), "b1")
    accept = world.gateway.frames("a1")[0]
    assert (accept["kind"], accept["from"], accept["fromConnection"]) == ("accept", "bob", "b1")
    assert accept["payload"] == {"sdp": "x"}
    assert len(world.gateway.frames("a2")) == 1
    [notice] = world.gateway.frames("b2")
    assert notice["kind"] == "accept"
    assert notice["callId"] == "call-1"
    assert notice["payload"] == {"answeredElsewhere": True}
    assert world.gateway.frames("b1") == []


@pytest.mark.parametrize("kind", ["reject", "hangup", "ringing"])
def test_other_kinds_do_not_notify_own_devices(world: World, kind: str) -> None:
    # GIVEN bob on b1 and b2
    # WHEN he sends a non-accept signal from b1
    # THEN b2 gets nothing
    for conn, user in [("a1", "alice"), ("b1", "bob"), ("b2", "bob")]:
        world.repos.connections.add(conn, user)
    world.live.signal("bob", signal(to="alice", kind=kind), "b1")
    assert world.gateway.frames("b2") == []
    assert len(world.gateway.frames("a1")) == 1


def test_signal_to_a_gone_connection_deletes_it(world: World) -> None:
    # GIVEN bob's connection answering 410
    # WHEN alice signals him
    # THEN that connection record is deleted
    world.repos.connections.add("b1", "bob")
    world.gateway.gone.add("b1")
    assert world.live.signal("alice", signal(), "a1") == 0
    assert world.repos.connections.get("b1") is None


def test_presence_reads_online_from_the_connection_sets_in_one_batch(world: World) -> None:
    # GIVEN the abuse limits keep each user's live connection ids; bob has one, carol none
    abuse = AbuseLimits(counters=AbuseCounters(), flags=None, clock=world.clock)
    world.live.abuse = abuse
    _share(world, "bob", "carol")
    abuse.connection_opened("bob", "b1", set)
    world.repos.connections.calls.clear()
    # WHEN alice asks about both
    users = world.live.presence("alice", ["bob", "carol"])
    # THEN bob is online, carol not, and no connection index was queried
    assert [u["online"] for u in users] == [True, False]
    assert world.repos.connections.calls == []
    # AND once his connection closes he reads offline
    abuse.connection_closed("bob", "b1")
    assert world.live.presence("alice", ["bob"])[0]["online"] is False
