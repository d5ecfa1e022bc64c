"""Groups over HTTP (protocol section 4): creation, viewing, adding, removing, leaving and
roles, each change written into the conversation as a `system` message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    add_members,
    conversations,
    create_group,
    history,
    member_item,
    remove_member,
    scan,
    send_frame,
    set_role,
    stored_messages,
    sync_entry,
    system_events,
    text_frame,
)

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

UNKNOWN_GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def trio(app: Harness) -> Harness:
    """alice, bob and carol, registered (not connected)."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
    return app


@pytest.fixture
def solo(app: Harness) -> Harness:
    """Only alice, registered: for requests refused before any other account matters."""
    app.user("alice")
    return app


@pytest.fixture
def group(trio: Harness) -> str:
    """A group owned by alice with bob and carol as members."""
    return str(create_group(trio, token(trio, "alice"), ["bob", "carol"])["conversationId"])


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def show(app: Harness, user: str, group_id: str) -> tuple[int, Any]:
    return app.http(
        "http_groups", "GET", "/groups/{id}", token=token(app, user), path={"id": group_id}
    )


def roles_of(app: Harness, group_id: str) -> dict[str, str]:
    status, body = show(app, "alice", group_id)
    assert status == 200, body
    return {m["userId"]: m["role"] for m in body["members"]}


def last_event(app: Harness, user: str, group_id: str) -> dict[str, Any]:
    return system_events(app, token(app, user), group_id)[-1][1]


# ---- create -------------------------------------------------------------------------------


def test_create_answers_201_with_the_caller_as_owner(trio: Harness) -> None:
    # WHEN alice creates a group with bob and carol
    status, body = trio.http(
        "http_groups",
        "POST",
        "/groups",
        token=token(trio, "alice"),
        body={"name": "Team", "members": ["carol", "bob"]},
    )
    # THEN 201 with the new id, the name, and every member with a role; alice is owner
    assert status == 201
    assert body["conversationId"].startswith("grp:") and len(body["conversationId"]) == 30
    assert body["name"] == "Team"
    assert sorted((m["userId"], m["role"]) for m in body["members"]) == [
        ("alice", "owner"),
        ("bob", "member"),
        ("carol", "member"),
    ]
    # AND the membership rows exist
    for user in ("alice", "bob", "carol"):
        assert member_item(trio, body["conversationId"], user) is not None


def test_create_writes_group_created_as_seq_1(trio: Harness, group: str) -> None:
    # WHEN bob reads the new group's history
    status, page = history(trio, token(trio, "bob"), group)
    # THEN its first and only message is alice's group_created naming every first member
    assert status == 200
    [message] = page["messages"]
    assert message["seq"] == 1 and message["senderId"] == "alice"
    body = message["body"]
    assert {k: v for k, v in body.items() if k != "userIds"} == {
        "type": "system",
        "event": "group_created",
        "by": "alice",
    }
    assert sorted(body["userIds"]) == ["alice", "bob", "carol"]


def test_create_listing_the_owner_as_a_member_does_not_duplicate_them(trio: Harness) -> None:
    # WHEN alice lists herself among the members
    body = create_group(trio, token(trio, "alice"), ["alice", "bob"])
    # THEN she is there once, as owner
    assert sorted((m["userId"], m["role"]) for m in body["members"]) == [
        ("alice", "owner"),
        ("bob", "member"),
    ]


def test_create_with_no_other_members_is_a_group_of_one(trio: Harness) -> None:
    # WHEN alice creates a group without members
    status, body = trio.http(
        "http_groups", "POST", "/groups", token=token(trio, "alice"), body={"name": "Solo"}
    )
    # THEN it exists with her as owner
    assert status == 201 and body["members"] == [{"userId": "alice", "role": "owner"}]


def test_create_with_an_unknown_member_is_404_1002_and_creates_nothing(trio: Harness) -> None:
    # WHEN alice creates a group naming a user who does not exist
    status, body = trio.http(
        "http_groups",
        "POST",
        "/groups",
        token=token(trio, "alice"),
        body={"name": "Team", "members": ["bob", "ghost"]},
    )
    # THEN 404 code 1002, and no group, membership or message was written
    assert status == 404 and body["code"] == 1002
    assert scan(trio, "ConversationsTable") == [] and scan(trio, "MembersTable") == []
    assert stored_messages(trio) == []


def test_create_over_the_group_size_limit_is_413_1006(
    trio: Harness, reconfigure: Callable[..., None]
) -> None:
    # GIVEN groups are limited to 5 members, and 5 users besides alice exist
    reconfigure(PARLEY_MAX_GROUP_SIZE=5)
    for user in ("dave", "erin", "frank"):
        trio.user(user)
    others = ["bob", "carol", "dave", "erin", "frank"]
    # WHEN alice creates a group of 6
    status, body = trio.http(
        "http_groups",
        "POST",
        "/groups",
        token=token(trio, "alice"),
        body={"name": "Big", "members": others},
    )
    # THEN 413 code 1006 and nothing is created; a group of exactly 5 is fine
    assert status == 413 and body["code"] == 1006
    assert scan(trio, "ConversationsTable") == []
    assert len(create_group(trio, token(trio, "alice"), others[:4])["members"]) == 5


def test_adding_past_the_group_size_limit_is_413_1006(
    trio: Harness, reconfigure: Callable[..., None]
) -> None:
    # GIVEN groups are limited to 3, and alice's group has 3 members
    reconfigure(PARLEY_MAX_GROUP_SIZE=3)
    trio.user("dave")
    group_id = create_group(trio, token(trio, "alice"), ["bob", "carol"])["conversationId"]
    # WHEN alice adds a fourth
    status, body = add_members(trio, token(trio, "alice"), group_id, ["dave"])
    # THEN 413 code 1006, and dave is not a member
    assert status == 413 and body["code"] == 1006
    assert member_item(trio, group_id, "dave") is None


BAD_CREATE_BODIES: dict[str, Any] = {
    "empty-object": {},
    "name-empty": {"name": ""},
    "name-only-controls": {"name": "\x00\x1b\u200b"},
    "name-number": {"name": 5},
    "name-65-chars": {"name": "n" * 65},
    "members-string": {"name": "Team", "members": "bob"},
    "members-null": {"name": "Team", "members": None},
    "member-uppercase": {"name": "Team", "members": ["Bob"]},
    "member-number": {"name": "Team", "members": [1]},
    "extra-field": {"name": "Team", "members": [], "public": True},
}


@pytest.mark.parametrize("body", BAD_CREATE_BODIES.values(), ids=BAD_CREATE_BODIES.keys())
def test_create_with_a_bad_body_is_400_1001_and_creates_nothing(solo: Harness, body: Any) -> None:
    # WHEN alice posts a malformed group
    status, reply = solo.http(
        "http_groups", "POST", "/groups", token=token(solo, "alice"), body=body
    )
    # THEN 400 code 1001, and nothing was created
    assert status == 400 and reply["code"] == 1001
    assert scan(solo, "ConversationsTable") == []


@pytest.mark.parametrize(
    "raw", [None, "not json", "[]", '"x"'], ids=["absent", "not-json", "array", "string"]
)
def test_create_with_a_body_that_is_not_an_object_is_400_1001(
    solo: Harness, raw: str | None
) -> None:
    # WHEN alice posts a body that is absent or not a JSON object
    status, reply = solo.http("http_groups", "POST", "/groups", token=token(solo, "alice"), raw=raw)
    # THEN 400 code 1001
    assert status == 400 and reply["code"] == 1001


def test_group_routes_need_a_valid_token(trio: Harness, group: str) -> None:
    # WHEN the group routes are called with a bad token
    calls = [
        ("POST", "/groups", None, {"name": "x"}),
        ("GET", "/groups/{id}", {"id": group}, None),
        ("POST", "/groups/{id}/members", {"id": group}, {"userIds": ["bob"]}),
        ("DELETE", "/groups/{id}/members/{userId}", {"id": group, "userId": "bob"}, None),
        (
            "PATCH",
            "/groups/{id}/members/{userId}",
            {"id": group, "userId": "bob"},
            {"role": "admin"},
        ),
    ]
    for method, route, path, body in calls:
        status, reply = trio.http("http_groups", method, route, token="bad", path=path, body=body)
        # THEN each is 401 code 1003
        assert (status, reply["code"]) == (401, 1003), route
    # AND nothing changed
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


# ---- view ---------------------------------------------------------------------------------


def test_a_member_views_the_group(trio: Harness, group: str) -> None:
    # WHEN bob views the group
    status, body = show(trio, "bob", group)
    # THEN 200 with the same shape as on creation
    assert status == 200
    assert body["conversationId"] == group and body["name"] == "team"
    assert sorted((m["userId"], m["role"]) for m in body["members"]) == [
        ("alice", "owner"),
        ("bob", "member"),
        ("carol", "member"),
    ]


def test_a_non_member_cannot_view_the_group(trio: Harness, group: str) -> None:
    # WHEN dave, who is not in the group, views it
    trio.user("dave")
    status, body = show(trio, "dave", group)
    # THEN 403 code 1004
    assert status == 403 and body["code"] == 1004


@pytest.mark.parametrize("group_id", ["grp:nope", "nope"])
def test_viewing_a_malformed_group_id_is_404_2002(solo: Harness, group_id: str) -> None:
    # WHEN alice views an id no conversation can have
    status, body = show(solo, "alice", group_id)
    # THEN 404 code 2002
    assert status == 404 and body["code"] == 2002


@pytest.mark.parametrize("group_id", [UNKNOWN_GROUP, "dm:alice:bob"])
def test_viewing_an_unknown_conversation_is_403_1004(solo: Harness, group_id: str) -> None:
    # WHEN alice views a well-formed id of no conversation she is in
    status, body = show(solo, "alice", group_id)
    # THEN 403 code 1004, as for one that exists without her (protocol 13)
    assert status == 403 and body["code"] == 1004


# ---- add ----------------------------------------------------------------------------------


def test_the_owner_adds_members(trio: Harness, group: str) -> None:
    # GIVEN dave and erin exist
    trio.user("dave")
    trio.user("erin")
    # WHEN alice adds them
    status, body = add_members(trio, token(trio, "alice"), group, ["erin", "dave"])
    # THEN 200 with the new member list, and members_added is the next message
    assert status == 200
    assert {m["userId"]: m["role"] for m in body["members"]}["dave"] == "member"
    assert len(body["members"]) == 5
    assert last_event(trio, "dave", group) == {
        "type": "system",
        "event": "members_added",
        "by": "alice",
        "userIds": ["dave", "erin"],
    }


def test_an_admin_adds_members(trio: Harness, group: str) -> None:
    # GIVEN bob is an admin
    assert set_role(trio, token(trio, "alice"), group, "bob", "admin")[0] == 200
    trio.user("dave")
    # WHEN bob adds dave
    status, _ = add_members(trio, token(trio, "bob"), group, ["dave"])
    # THEN it works and the message says bob did it
    assert status == 200
    assert last_event(trio, "dave", group)["by"] == "bob"


def test_a_plain_member_cannot_add_members(trio: Harness, group: str) -> None:
    # GIVEN dave exists
    trio.user("dave")
    # WHEN bob (a plain member) adds dave
    status, body = add_members(trio, token(trio, "bob"), group, ["dave"])
    # THEN 403 code 1004; dave is not in and no message was written
    assert status == 403 and body["code"] == 1004
    assert member_item(trio, group, "dave") is None
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


def test_a_non_member_cannot_add_members(trio: Harness, group: str) -> None:
    # WHEN dave (outside the group) adds himself
    trio.user("dave")
    status, body = add_members(trio, token(trio, "dave"), group, ["dave"])
    # THEN 403 code 1004
    assert status == 403 and body["code"] == 1004
    assert member_item(trio, group, "dave") is None


def test_adding_an_unknown_user_is_404_1002_and_adds_nobody(trio: Harness, group: str) -> None:
    # WHEN alice adds dave (exists) and ghost (does not)
    trio.user("dave")
    status, body = add_members(trio, token(trio, "alice"), group, ["dave", "ghost"])
    # THEN 404 code 1002 and neither was added
    assert status == 404 and body["code"] == 1002
    assert member_item(trio, group, "dave") is None
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


def test_adding_existing_members_changes_nothing(trio: Harness, group: str) -> None:
    # WHEN alice adds bob, who is already a member
    status, body = add_members(trio, token(trio, "alice"), group, ["bob"])
    # THEN 200, no new message, and bob's membership is unchanged
    assert status == 200 and len(body["members"]) == 3
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]
    assert member_item(trio, group, "bob")["joinedSeq"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    "body",
    [{}, {"userIds": []}, {"userIds": "bob"}, {"userIds": ["Bob"]}, {"userIds": ["bob"], "x": 1}],
    ids=["missing", "empty", "string", "bad-id", "extra-field"],
)
def test_adding_with_a_bad_body_is_400_1001(trio: Harness, group: str, body: Any) -> None:
    # WHEN alice posts a malformed member list
    status, reply = trio.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=token(trio, "alice"),
        path={"id": group},
        body=body,
    )
    # THEN 400 code 1001
    assert status == 400 and reply["code"] == 1001


def test_adding_to_an_unknown_group_is_403_1004(trio: Harness) -> None:
    # WHEN alice adds bob to a group that does not exist
    status, body = add_members(trio, token(trio, "alice"), UNKNOWN_GROUP, ["bob"])
    # THEN 403 code 1004, as for one that exists without her (protocol 13)
    assert status == 403 and body["code"] == 1004


# ---- remove and leave ---------------------------------------------------------------------


def test_the_owner_removes_a_member(trio: Harness, group: str) -> None:
    # WHEN alice removes carol
    status, body = remove_member(trio, token(trio, "alice"), group, "carol")
    # THEN 204; carol is no longer a member; member_removed is written
    assert (status, body) == (204, None)
    assert member_item(trio, group, "carol") is None
    assert last_event(trio, "bob", group) == {
        "type": "system",
        "event": "member_removed",
        "by": "alice",
        "userIds": ["carol"],
    }
    assert show(trio, "carol", group)[0] == 403


def test_a_member_leaves(trio: Harness, group: str) -> None:
    # WHEN bob removes himself
    status, _ = remove_member(trio, token(trio, "bob"), group, "bob")
    # THEN 204, bob is gone, and member_left is written
    assert status == 204
    assert member_item(trio, group, "bob") is None
    assert last_event(trio, "alice", group) == {
        "type": "system",
        "event": "member_left",
        "by": "bob",
        "userIds": ["bob"],
    }


def test_the_owner_cannot_leave(trio: Harness, group: str) -> None:
    # WHEN alice (the owner) tries to leave
    status, body = remove_member(trio, token(trio, "alice"), group, "alice")
    # THEN 403 code 1004 and she is still the owner
    assert status == 403 and body["code"] == 1004
    assert roles_of(trio, group)["alice"] == "owner"


def test_a_plain_member_cannot_remove_another(trio: Harness, group: str) -> None:
    # WHEN bob removes carol
    status, body = remove_member(trio, token(trio, "bob"), group, "carol")
    # THEN 403 code 1004 and carol stays
    assert status == 403 and body["code"] == 1004
    assert member_item(trio, group, "carol") is not None


def test_an_admin_removes_a_member_but_not_the_owner_or_another_admin(
    trio: Harness, group: str
) -> None:
    # GIVEN bob and carol are admins, and dave is a member
    trio.user("dave")
    add_members(trio, token(trio, "alice"), group, ["dave"])
    set_role(trio, token(trio, "alice"), group, "bob", "admin")
    set_role(trio, token(trio, "alice"), group, "carol", "admin")
    # WHEN bob removes the owner, another admin, and a plain member
    owner = remove_member(trio, token(trio, "bob"), group, "alice")
    admin = remove_member(trio, token(trio, "bob"), group, "carol")
    member = remove_member(trio, token(trio, "bob"), group, "dave")
    # THEN only the plain member is removed
    assert (owner[0], owner[1]["code"]) == (403, 1004)
    assert (admin[0], admin[1]["code"]) == (403, 1004)
    assert member[0] == 204
    assert set(roles_of(trio, group)) == {"alice", "bob", "carol"}


def test_removing_a_user_who_is_not_a_member_is_404_1002(trio: Harness, group: str) -> None:
    # WHEN alice removes dave, who is not in the group
    trio.user("dave")
    status, body = remove_member(trio, token(trio, "alice"), group, "dave")
    # THEN 404 code 1002 and nothing is written
    assert status == 404 and body["code"] == 1002
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


def test_removing_with_a_malformed_user_id_is_400_1001(trio: Harness, group: str) -> None:
    # WHEN alice removes "Bob!" (not a userId)
    status, body = remove_member(trio, token(trio, "alice"), group, "Bob!")
    # THEN 400 code 1001
    assert status == 400 and body["code"] == 1001


def test_a_removed_member_no_longer_gets_pushes_or_access(trio: Harness, group: str) -> None:
    # GIVEN everyone is connected, and alice removed carol
    for user in ("alice", "bob", "carol"):
        trio.connect(user, f"{user}-1")
    remove_member(trio, token(trio, "alice"), group, "carol")
    removed_notice = trio.gateway.frames("carol-1", "message")
    # WHEN alice sends into the group
    ack = send_frame(trio, text_frame("m1", conversationId=group), connection="alice-1")
    # THEN carol got the notice of her removal but not the new message; bob got both
    assert [f["body"]["event"] for f in removed_notice] == ["member_removed"]
    assert ack["seq"] not in [f["seq"] for f in trio.gateway.frames("carol-1", "message")]
    assert ack["seq"] in [f["seq"] for f in trio.gateway.frames("bob-1", "message")]
    # AND she can neither write, read the history, nor sync it any more
    reply = send_frame(
        trio, text_frame("c1", conversationId=group), user="carol", connection="carol-1"
    )
    assert (reply["type"], reply["code"]) == ("error", 1004)
    assert history(trio, token(trio, "carol"), group)[0] == 403
    assert sync_entry(trio, "carol", group) is None


# ---- roles --------------------------------------------------------------------------------


def test_the_owner_makes_a_member_admin(trio: Harness, group: str) -> None:
    # WHEN alice makes bob an admin
    status, body = set_role(trio, token(trio, "alice"), group, "bob", "admin")
    # THEN 200 with the new role; it is stored and written as role_changed
    assert (status, body) == (200, {"conversationId": group, "userId": "bob", "role": "admin"})
    assert roles_of(trio, group)["bob"] == "admin"
    assert last_event(trio, "carol", group) == {
        "type": "system",
        "event": "role_changed",
        "by": "alice",
        "userIds": ["bob"],
        "role": "admin",
    }


def test_an_admin_cannot_change_roles(trio: Harness, group: str) -> None:
    # GIVEN bob is an admin
    set_role(trio, token(trio, "alice"), group, "bob", "admin")
    # WHEN bob makes carol an admin
    status, body = set_role(trio, token(trio, "bob"), group, "carol", "admin")
    # THEN 403 code 1004 and carol stays a member
    assert status == 403 and body["code"] == 1004
    assert roles_of(trio, group)["carol"] == "member"


def test_the_owner_cannot_change_their_own_role(trio: Harness, group: str) -> None:
    # WHEN alice tries to make herself a plain member
    status, body = set_role(trio, token(trio, "alice"), group, "alice", "member")
    # THEN 403 code 1004; she is still the owner and nothing is written
    assert status == 403 and body["code"] == 1004
    assert roles_of(trio, group) == {"alice": "owner", "bob": "member", "carol": "member"}
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


def test_setting_the_same_role_writes_no_message(trio: Harness, group: str) -> None:
    # WHEN alice "changes" bob to member, which he already is
    status, _ = set_role(trio, token(trio, "alice"), group, "bob", "member")
    # THEN 200 and nothing is written
    assert status == 200
    assert [m["seq"] for m in stored_messages(trio, group)] == [1]


@pytest.mark.parametrize("role", ["superuser", 1, None, "Admin"])
def test_setting_a_bad_role_is_400_1001(trio: Harness, group: str, role: Any) -> None:
    # WHEN alice sets a role that does not exist
    status, body = set_role(trio, token(trio, "alice"), group, "bob", role)
    # THEN 400 code 1001
    assert status == 400 and body["code"] == 1001


def test_the_actor_of_a_change_has_read_its_system_message(trio: Harness, group: str) -> None:
    # WHEN alice adds dave and makes bob an admin (system messages 2 and 3, by her)
    trio.user("dave")
    add_members(trio, token(trio, "alice"), group, ["dave"])
    set_role(trio, token(trio, "alice"), group, "bob", "admin")
    # THEN her own changes count as read for her; bob's and dave's readSeqs stay below
    # them (dave joined at seq 2), but system messages are never unread (protocol 9.2)
    assert conversations(trio, token(trio, "alice"))[group]["readSeq"] == 3
    assert conversations(trio, token(trio, "bob"))[group]["readSeq"] == 0
    assert conversations(trio, token(trio, "dave"))[group]["readSeq"] == 1
    for user in ("alice", "bob", "dave"):
        assert conversations(trio, token(trio, user))[group]["unread"] == 0


def test_every_change_is_in_the_history_in_order(trio: Harness, group: str) -> None:
    # WHEN the group goes through every kind of change
    trio.user("dave")
    add_members(trio, token(trio, "alice"), group, ["dave"])
    set_role(trio, token(trio, "alice"), group, "bob", "admin")
    remove_member(trio, token(trio, "bob"), group, "dave")
    remove_member(trio, token(trio, "carol"), group, "carol")
    # THEN the history shows each, in order, with gap-free seqs
    events_ = system_events(trio, token(trio, "alice"), group)
    assert [(seq, body["event"], body["by"]) for seq, body in events_] == [
        (1, "group_created", "alice"),
        (2, "members_added", "alice"),
        (3, "role_changed", "alice"),
        (4, "member_removed", "bob"),
        (5, "member_left", "carol"),
    ]
