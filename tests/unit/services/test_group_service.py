"""GroupService with the fakes: creation (chunked), membership changes, roles, limits."""

from __future__ import annotations

from typing import Any

import pytest
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    InvalidParam,
    MessageSendFailed,
    PayloadTooLarge,
    UserNotFound,
)
from parley.models import SendFrame, parse_frame
from parley.repositories.conversations import SeqTaken
from parley.services import groups as groups_module

from tests.unit.services.conftest import World, build_world


def users(world: World, count: int, prefix: str = "user") -> list[str]:
    names = [f"{prefix}{i:05d}" for i in range(count)]
    for name in names:
        world.repos.users.add(name)
    return names


def log(world: World, cid: str) -> list[dict[str, Any]]:
    return world.repos.messages.after(cid, 0, 10_000)


def roles_of(world: World, cid: str) -> dict[str, str]:
    return {m["userId"]: m["role"] for m in world.repos.members.all(cid)}


@pytest.fixture
def team(world: World) -> str:
    """A group: alice owner, bob admin, carol and dave members."""
    cid = world.groups.create("alice", "Team", ["bob", "carol", "dave"])["conversationId"]
    world.groups.set_role("alice", cid, "bob", "admin")
    return cid


# ---- create ------------------------------------------------------------------------------


def test_create_makes_the_caller_owner_and_writes_group_created(world: World) -> None:
    # GIVEN alice and two registered users
    # WHEN alice creates a group with them
    # THEN she is owner, they are members, `group_created` is seq 1 listing everyone
    shape = world.groups.create("alice", "Team", ["carol", "bob"])
    cid = shape["conversationId"]
    assert cid.startswith("grp:")
    assert shape == {
        "conversationId": cid,
        "name": "Team",
        "members": [
            {"userId": "alice", "role": "owner"},
            {"userId": "bob", "role": "member"},
            {"userId": "carol", "role": "member"},
        ],
    }
    [message] = log(world, cid)
    assert message["seq"] == 1
    assert message["senderId"] == "alice"
    assert message["body"] == {
        "type": "system",
        "event": "group_created",
        "by": "alice",
        "userIds": ["alice", "bob", "carol"],
    }
    assert message["clientMsgId"].startswith("sys-")
    conv = world.repos.conversations.get(cid)
    assert conv is not None
    assert (conv["type"], conv["name"], conv["memberCount"]) == ("group", "Team", 3)


def test_create_sets_joined_and_read_seqs(world: World) -> None:
    # GIVEN a new group
    # WHEN its rows are read
    # THEN everyone joined at 1; the owner has read her own `group_created`, the others not
    cid = world.groups.create("alice", "Team", ["bob"])["conversationId"]
    alice = world.repos.members.get(cid, "alice")
    bob = world.repos.members.get(cid, "bob")
    assert alice is not None
    assert bob is not None
    assert (alice["joinedSeq"], alice["readSeq"]) == (1, 1)
    assert (bob["joinedSeq"], bob["readSeq"]) == (1, 0)


def test_create_dedupes_members_and_ignores_the_owner_in_the_list(world: World) -> None:
    # GIVEN a member list repeating users and naming the owner
    # WHEN the group is created
    # THEN each user is a member once and the owner stays owner
    cid = world.groups.create("alice", "T", ["bob", "bob", "alice"])["conversationId"]
    assert roles_of(world, cid) == {"alice": "owner", "bob": "member"}


def test_create_alone(world: World) -> None:
    # GIVEN no other members
    # WHEN alice creates a group
    # THEN it has only her
    cid = world.groups.create("alice", "Solo", [])["conversationId"]
    assert roles_of(world, cid) == {"alice": "owner"}


def test_create_with_unknown_user_is_1002_and_creates_nothing(world: World) -> None:
    # GIVEN one unknown user among the members
    # WHEN the group is created
    # THEN it is 1002 naming the user, and nothing is written
    with pytest.raises(UserNotFound) as caught:
        world.groups.create("alice", "T", ["bob", "ghost"])
    assert "ghost" in caught.value.message
    assert world.repos.membership.transactions == []


def test_create_with_malformed_member_id_is_1001(world: World) -> None:
    # GIVEN a malformed member id
    # WHEN the group is created
    # THEN it is 1001
    with pytest.raises(InvalidParam):
        world.groups.create("alice", "T", ["Not Valid"])


def test_create_pushes_group_created_to_members(world: World) -> None:
    # GIVEN bob online
    # WHEN alice creates a group with him
    # THEN his connection receives the `group_created` message
    world.repos.connections.add("conn-b", "bob")
    cid = world.groups.create("alice", "T", ["bob"])["conversationId"]
    [frame] = world.gateway.frames("conn-b", "message")
    assert frame["conversationId"] == cid
    assert frame["body"]["event"] == "group_created"


def test_create_at_the_size_limit_and_one_over() -> None:
    # GIVEN a group size limit of 5
    # WHEN a group of owner + 4 and one of owner + 5 are created
    # THEN the first succeeds and the second is 1006
    world = build_world(max_members=5)
    others = users(world, 5)
    world.repos.users.add("alice")
    cid = world.groups.create("alice", "ok", others[:4])["conversationId"]
    assert len(roles_of(world, cid)) == 5
    with pytest.raises(PayloadTooLarge):
        world.groups.create("alice", "big", others)


def test_large_create_writes_one_message_and_transactions_of_at_most_100_items(
    world: World,
) -> None:
    # GIVEN 250 other users
    # WHEN alice creates a group with all of them
    # THEN the first transaction holds owner + 89 members with `group_created`, the rest of
    # the rows follow in transactions of at most 99 rows beside the counter, `group_created`
    # (seq 1) is the only message and lists everyone, each member joined at seq 1, and every
    # transaction fits DynamoDB's 100 items (issue 15: no message per chunk)
    others = users(world, 250)
    shape = world.groups.create("alice", "Big", others)
    cid = shape["conversationId"]
    assert len(shape["members"]) == 251
    txs = world.repos.membership.transactions
    assert [t["kind"] for t in txs] == ["create_group", "add_rows", "add_rows"]
    assert txs[0]["members"] == 90
    assert [t["added"] for t in txs[1:]] == [99, 62]
    assert all(t["items"] <= 100 for t in txs)
    messages = log(world, cid)
    assert [m["seq"] for m in messages] == [1]
    assert messages[0]["body"]["userIds"] == ["alice", *others]
    row = world.repos.members.get(cid, others[200])
    assert row is not None
    assert (row["joinedSeq"], row["readSeq"]) == (1, 0)
    conv = world.repos.conversations.get(cid)
    assert conv is not None
    assert conv["memberCount"] == 251


def test_a_very_large_addition_lists_the_first_thousand_and_counts_the_rest() -> None:
    # GIVEN 1,500 users and a group limit above that
    world = build_world(max_members=2000)
    others = users(world, 1500)
    world.repos.users.add("alice")
    # WHEN alice creates a group with all of them
    cid = world.groups.create("alice", "Huge", others)["conversationId"]
    # THEN its one message lists 1,000 userIds (it must fit a sync reply) and counts the rest
    (message,) = log(world, cid)
    assert len(message["body"]["userIds"]) == 1000
    assert message["body"]["omitted"] == 501
    assert world.repos.conversations.get(cid)["memberCount"] == 1501  # type: ignore[index]


# ---- get ---------------------------------------------------------------------------------


def test_get_shows_members_to_members(world: World, team: str) -> None:
    # GIVEN a group
    # WHEN a member asks for it
    # THEN name and members with roles come back
    shape = world.groups.get("carol", team)
    assert shape["name"] == "Team"
    assert {m["userId"]: m["role"] for m in shape["members"]} == {
        "alice": "owner",
        "bob": "admin",
        "carol": "member",
        "dave": "member",
    }


def test_get_by_non_member_is_forbidden(world: World, team: str) -> None:
    # GIVEN a group without erin
    # WHEN erin asks for it
    # THEN it is 1004
    with pytest.raises(Forbidden):
        world.groups.get("erin", team)


@pytest.mark.parametrize("cid", ["grp:bad", "nonsense", ""])
def test_get_of_a_malformed_id_is_2002(world: World, cid: str) -> None:
    # GIVEN an id no conversation can have
    # WHEN it is asked for
    # THEN it is 2002
    with pytest.raises(ConversationNotFound):
        world.groups.get("alice", cid)


@pytest.mark.parametrize("cid", ["grp:01ARZ3NDEKTSV4RRFFQ69G5FAV", "dm:alice:bob"])
def test_get_of_an_unknown_conversation_is_1004_like_a_foreign_one(world: World, cid: str) -> None:
    # GIVEN a well-formed id of no conversation alice is in (protocol 13)
    # WHEN she asks for it as a group
    # THEN it is 1004, whether or not it exists
    with pytest.raises(Forbidden):
        world.groups.get("alice", cid)


def test_get_of_a_direct_conversation_by_its_member_is_2002(world: World) -> None:
    # GIVEN alice and bob have a direct conversation
    frame = parse_frame(
        '{"action": "send", "to": "bob", "clientMsgId": "m1",'
        ' "body": {"type": "text", "text": "hi"}}'
    )
    assert isinstance(frame, SendFrame)
    world.send("alice", frame)
    # WHEN alice asks for it as a group
    # THEN it is 2002: it is no group (she knows it exists)
    with pytest.raises(ConversationNotFound):
        world.groups.get("alice", "dm:alice:bob")


@pytest.mark.parametrize("actor", ["alice", "bob"])
def test_owner_and_admin_add_members(world: World, team: str, actor: str) -> None:
    # GIVEN the owner or an admin
    # WHEN they add erin
    # THEN erin is a member who joined at the `members_added` seq, readSeq just below it,
    # and the actor has read their own system message
    shape = world.groups.add_members(actor, team, ["erin"])
    assert {"userId": "erin", "role": "member"} in shape["members"]
    last = log(world, team)[-1]
    assert last["body"] == {
        "type": "system",
        "event": "members_added",
        "by": actor,
        "userIds": ["erin"],
    }
    erin = world.repos.members.get(team, "erin")
    assert erin is not None
    assert (erin["joinedSeq"], erin["readSeq"]) == (last["seq"], last["seq"] - 1)
    assert world.repos.members.read_seqs(actor, [team])[team] == last["seq"]


def test_member_cannot_add(world: World, team: str) -> None:
    # GIVEN a plain member
    # WHEN they add someone
    # THEN it is 1004 and nothing changes
    before = log(world, team)
    with pytest.raises(Forbidden):
        world.groups.add_members("carol", team, ["erin"])
    assert log(world, team) == before


def test_non_member_cannot_add(world: World, team: str) -> None:
    # GIVEN erin, not a member
    # WHEN she adds herself
    # THEN it is 1004
    with pytest.raises(Forbidden):
        world.groups.add_members("erin", team, ["erin"])


def test_adding_existing_members_is_skipped(world: World, team: str) -> None:
    # GIVEN carol already a member
    # WHEN the owner adds carol and erin
    # THEN only erin is added, in one message
    before = len(log(world, team))
    world.groups.add_members("alice", team, ["carol", "erin", "erin"])
    new = log(world, team)[before:]
    assert [m["body"]["userIds"] for m in new] == [["erin"]]


def test_adding_only_existing_members_writes_nothing(world: World, team: str) -> None:
    # GIVEN everyone asked for is a member already
    # WHEN the owner adds them
    # THEN no message is written
    before = log(world, team)
    world.groups.add_members("alice", team, ["carol", "bob"])
    assert log(world, team) == before


def test_adding_unknown_user_is_1002(world: World, team: str) -> None:
    # GIVEN an unknown user
    # WHEN the owner adds them
    # THEN it is 1002 and nobody is added
    with pytest.raises(UserNotFound):
        world.groups.add_members("alice", team, ["erin", "ghost"])
    assert world.repos.members.get(team, "erin") is None


def test_add_up_to_the_size_limit_and_past_it() -> None:
    # GIVEN a limit of 4 and a group of 3
    # WHEN one member is added, then another
    # THEN the first fills the group and the second is 1006
    world = build_world(max_members=4)
    names = users(world, 5)
    cid = world.groups.create(names[0], "T", names[1:3])["conversationId"]
    world.groups.add_members(names[0], cid, [names[3]])
    assert len(roles_of(world, cid)) == 4
    changes = world.repos.membership.times("change")
    with pytest.raises(PayloadTooLarge):
        world.groups.add_members(names[0], cid, [names[4]])
    # refused before any write is attempted (the transaction's condition is only a backstop)
    assert world.repos.membership.times("change") == changes
    assert len(roles_of(world, cid)) == 4


def test_a_large_add_is_one_message(world: World, team: str) -> None:
    # GIVEN 200 new users
    # WHEN the owner adds them at once
    # THEN one `members_added` message lists all 200, pushed once; its transaction holds 90
    # rows and the other 110 follow in transactions of at most 99, all joined at its seq
    others = users(world, 200)
    before = log(world, team)[-1]["seq"]
    world.groups.add_members("alice", team, others)
    new = log(world, team)[before:]
    assert [m["seq"] for m in new] == [before + 1]
    assert new[0]["body"]["userIds"] == sorted(others)
    added = [t["added"] for t in world.repos.membership.transactions if "added" in t]
    assert added[-3:] == [90, 99, 11]
    assert all(t["items"] <= 100 for t in world.repos.membership.transactions)
    row = world.repos.members.get(team, others[-1])
    assert row is not None and row["joinedSeq"] == before + 1


def test_add_to_unknown_group_is_1004(world: World) -> None:
    # GIVEN no such group
    # WHEN someone adds to it
    # THEN it is 1004, as for a group that exists without them (protocol 13)
    with pytest.raises(Forbidden):
        world.groups.add_members("alice", "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV", ["bob"])


# ---- remove and leave --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "target"), [("alice", "bob"), ("alice", "carol"), ("bob", "carol")]
)
def test_higher_rank_removes_lower(world: World, team: str, actor: str, target: str) -> None:
    # GIVEN an owner or admin and a member of lower rank
    # WHEN the actor removes the target
    # THEN the target is gone, `member_removed` is written and memberCount drops
    world.groups.remove_member(actor, team, target)
    assert world.repos.members.get(team, target) is None
    assert log(world, team)[-1]["body"] == {
        "type": "system",
        "event": "member_removed",
        "by": actor,
        "userIds": [target],
    }
    conv = world.repos.conversations.get(team)
    assert conv is not None
    assert conv["memberCount"] == 3


@pytest.mark.parametrize(
    ("actor", "target"), [("bob", "alice"), ("carol", "dave"), ("carol", "alice"), ("carol", "bob")]
)
def test_equal_or_lower_rank_cannot_remove(
    world: World, team: str, actor: str, target: str
) -> None:
    # GIVEN an actor not strictly above the target
    # WHEN they try to remove the target
    # THEN it is 1004 and the target stays
    with pytest.raises(Forbidden):
        world.groups.remove_member(actor, team, target)
    assert world.repos.members.get(team, target) is not None


def test_admin_cannot_remove_another_admin(world: World, team: str) -> None:
    # GIVEN two admins
    # WHEN one removes the other
    # THEN it is 1004
    world.groups.set_role("alice", team, "carol", "admin")
    with pytest.raises(Forbidden):
        world.groups.remove_member("bob", team, "carol")


@pytest.mark.parametrize("member", ["bob", "carol"])
def test_member_can_leave(world: World, team: str, member: str) -> None:
    # GIVEN an admin or member
    # WHEN they remove themselves
    # THEN they are gone and `member_left` is written
    world.groups.remove_member(member, team, member)
    assert world.repos.members.get(team, member) is None
    assert log(world, team)[-1]["body"]["event"] == "member_left"


def test_owner_cannot_leave(world: World, team: str) -> None:
    # GIVEN the owner
    # WHEN she leaves
    # THEN it is 1004 (hand over first)
    with pytest.raises(Forbidden):
        world.groups.remove_member("alice", team, "alice")
    assert world.repos.members.get(team, "alice") is not None


def test_removing_a_non_member_is_1002(world: World, team: str) -> None:
    # GIVEN erin, not a member
    # WHEN the owner removes her
    # THEN it is 1002
    with pytest.raises(UserNotFound):
        world.groups.remove_member("alice", team, "erin")


def test_removing_with_malformed_user_id_is_1001(world: World, team: str) -> None:
    # GIVEN a malformed target id
    # WHEN the owner removes it
    # THEN it is 1001
    with pytest.raises(InvalidParam):
        world.groups.remove_member("alice", team, "NOT OK")


def test_removed_member_is_told(world: World, team: str) -> None:
    # GIVEN carol online
    # WHEN the owner removes her
    # THEN her connection still receives the `member_removed` message
    world.repos.connections.add("conn-c", "carol")
    world.groups.remove_member("alice", team, "carol")
    frames = world.gateway.frames("conn-c", "message")
    assert frames[-1]["body"]["event"] == "member_removed"


# ---- roles -------------------------------------------------------------------------------


def test_owner_changes_roles_with_a_system_message(world: World, team: str) -> None:
    # GIVEN the owner
    # WHEN she makes carol admin, then bob member
    # THEN the roles change and `role_changed` messages carry the role
    assert world.groups.set_role("alice", team, "carol", "admin") == {
        "conversationId": team,
        "userId": "carol",
        "role": "admin",
    }
    world.groups.set_role("alice", team, "bob", "member")
    assert roles_of(world, team)["carol"] == "admin"
    assert roles_of(world, team)["bob"] == "member"
    last = log(world, team)[-1]["body"]
    assert last == {
        "type": "system",
        "event": "role_changed",
        "by": "alice",
        "userIds": ["bob"],
        "role": "member",
    }


def test_setting_the_same_role_writes_nothing(world: World, team: str) -> None:
    # GIVEN bob already admin
    # WHEN the owner makes him admin again
    # THEN no message is written
    before = log(world, team)
    world.groups.set_role("alice", team, "bob", "admin")
    assert log(world, team) == before


@pytest.mark.parametrize("actor", ["bob", "carol"])
def test_only_the_owner_changes_roles(world: World, team: str, actor: str) -> None:
    # GIVEN an admin or member
    # WHEN they change a role
    # THEN it is 1004
    with pytest.raises(Forbidden):
        world.groups.set_role(actor, team, "dave", "admin")
    assert roles_of(world, team)["dave"] == "member"


def test_owner_cannot_change_own_role(world: World, team: str) -> None:
    # GIVEN the owner
    # WHEN she demotes herself
    # THEN it is 1004
    with pytest.raises(Forbidden):
        world.groups.set_role("alice", team, "alice", "member")


def test_set_role_of_non_member_is_1002(world: World, team: str) -> None:
    # GIVEN erin, not a member
    # WHEN the owner makes her admin
    # THEN it is 1002
    with pytest.raises(UserNotFound):
        world.groups.set_role("alice", team, "erin", "admin")


def test_owner_hands_over_ownership(world: World, team: str) -> None:
    # GIVEN the owner
    # WHEN she makes carol owner
    # THEN carol is owner and alice admin, in one change, and alice can now leave
    world.groups.set_role("alice", team, "carol", "owner")
    assert roles_of(world, team)["carol"] == "owner"
    assert roles_of(world, team)["alice"] == "admin"
    assert sum(1 for r in roles_of(world, team).values() if r == "owner") == 1
    world.groups.remove_member("alice", team, "alice")
    assert world.repos.members.get(team, "alice") is None


# ---- races -------------------------------------------------------------------------------


def test_change_retries_when_its_seq_is_taken(
    world: World, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a concurrent sender that takes the next seq just before the change commits
    # WHEN the owner adds erin
    # THEN the change is retried at the following seq and succeeds
    real = world.repos.membership.change
    raced: list[int] = []

    def racing(conversation_id: str, message: dict[str, Any], **kwargs: Any) -> None:
        if not raced:
            raced.append(message["seq"])
            world.repos.add_message(conversation_id, message["seq"], sender="carol")
        real(conversation_id, message, **kwargs)

    monkeypatch.setattr(world.repos.membership, "change", racing)
    world.groups.add_members("alice", team, ["erin"])
    erin = world.repos.members.get(team, "erin")
    assert erin is not None
    assert erin["joinedSeq"] == raced[0] + 1
    assert log(world, team)[-1]["body"]["event"] == "members_added"


def test_change_gives_up_with_2001(
    world: World, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a seq that is always taken
    # WHEN the owner adds erin
    # THEN after bounded retries it is 2001 and erin is not a member
    monkeypatch.setattr(groups_module.time, "sleep", lambda seconds: None)

    def always_taken(*args: Any, **kwargs: Any) -> None:
        raise SeqTaken()

    monkeypatch.setattr(world.repos.membership, "change", always_taken)
    with pytest.raises(MessageSendFailed):
        world.groups.add_members("alice", team, ["erin"])
    assert world.repos.members.get(team, "erin") is None


def test_push_failure_does_not_fail_a_change(
    world: World, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a push service that fails
    # WHEN the owner adds erin
    # THEN erin is added anyway
    monkeypatch.setattr(world.push, "publish", lambda *a, **k: 1 / 0)
    world.groups.add_members("alice", team, ["erin"])
    assert world.repos.members.get(team, "erin") is not None
