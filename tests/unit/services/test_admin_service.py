"""AdminService and AuthService on the fakes (protocol 12): suspending a user ends their
logins and refuses new ones; only app admins may; each action leaves one audit line."""

from __future__ import annotations

import logging

import pytest
from parley import passwords
from parley.errors import Forbidden, InvalidParam, NotFound, Unauthenticated, UserNotFound
from parley.services.admin import AdminService

from tests.unit.services.conftest import World
from tests.unit.services.test_auth_sessions import PASSWORD, Harness, harness
from tests.unit.services.test_event_service import DM, Chat


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return passwords.hash_password(PASSWORD)


@pytest.fixture
def h(alice_hash: str) -> Harness:
    return harness(alice_hash)


@pytest.fixture
def admin(h: Harness) -> AdminService:
    return AdminService(admins=frozenset({"root"}), flags=None, auth=lambda: h.auth)


def test_suspending_ends_every_login_and_refuses_the_next(h: Harness, admin: AdminService) -> None:
    # GIVEN alice logged in twice
    first = h.auth.login("alice", PASSWORD)
    second = h.auth.login("alice", PASSWORD)
    # WHEN root suspends her
    admin.suspend("root", "alice", "spam")
    # THEN both logins are refused, her sockets were closed, and a login is 1004
    for pair in (first, second):
        with pytest.raises(Unauthenticated):
            h.auth.authenticate(pair["accessToken"])
        with pytest.raises(Unauthenticated):
            h.auth.refresh(pair["refreshToken"])
    assert h.closed_users == [("alice", None)]
    with pytest.raises(Forbidden):
        h.auth.login("alice", PASSWORD)


def test_a_wrong_password_of_a_suspended_user_is_still_1003(
    h: Harness, admin: AdminService
) -> None:
    admin.suspend("root", "alice", None)
    with pytest.raises(Unauthenticated):
        h.auth.login("alice", "not the password")


def test_a_login_that_raced_the_flag_cannot_refresh(h: Harness) -> None:
    # GIVEN a login whose session the revocation did not see (flag set, no revocation)
    pair = h.auth.login("alice", PASSWORD)
    assert h.repos.users.set_suspended("alice", "race", 1)
    # WHEN it refreshes THEN 1003, and the login is ended for good
    with pytest.raises(Unauthenticated):
        h.auth.refresh(pair["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])


def test_lifting_a_suspension_lets_the_user_log_in(h: Harness, admin: AdminService) -> None:
    admin.suspend("root", "alice", "spam")
    admin.unsuspend("root", "alice")
    admin.unsuspend("root", "alice")  # idempotent
    assert h.auth.login("alice", PASSWORD)["tokenType"] == "Bearer"
    assert "suspendedReason" not in (h.repos.users.get("alice") or {})


def test_non_admins_and_unknown_users(h: Harness, admin: AdminService) -> None:
    # WHEN alice (no admin) tries THEN 1004, and nothing was written
    with pytest.raises(Forbidden):
        admin.suspend("alice", "alice", None)
    with pytest.raises(Forbidden):
        admin.unsuspend("alice", "alice")
    assert "suspended" not in (h.repos.users.get("alice") or {})
    # WHEN root names nobody THEN 1002, and no profile is created
    with pytest.raises(UserNotFound):
        admin.suspend("root", "nobody", None)
    with pytest.raises(UserNotFound):
        admin.unsuspend("root", "nobody")
    assert h.repos.users.get("nobody") is None


def test_an_admin_service_without_auth_cannot_suspend() -> None:
    service = AdminService(admins=frozenset({"root"}), flags=None)
    with pytest.raises(RuntimeError):
        service.suspend("root", "alice", None)


def test_each_action_logs_who_what_target_and_why(
    admin: AdminService, caplog: pytest.LogCaptureFixture
) -> None:
    # WHEN root suspends alice and lifts it
    with caplog.at_level(logging.INFO):
        admin.suspend("root", "alice", "spam links")
        admin.unsuspend("root", "alice")
    # THEN one structured line each
    lines = [r for r in caplog.records if getattr(r, "audit", None) == "admin"]
    got = [(r.admin, r.action, r.target, r.reason) for r in lines]  # type: ignore[attr-defined]
    assert got == [
        ("root", "suspend", "user:alice", "spam links"),
        ("root", "unsuspend", "user:alice", ""),
    ]


# ---- moderated delete --------------------------------------------------------------------


def test_an_app_admin_deletes_in_a_conversation_they_are_not_in(world: World) -> None:
    # GIVEN a direct conversation with a message of alice's, and root in neither
    dm = Chat(world, DM)
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice")
    world.repos.add_member(DM, "bob")
    mine = dm.text("alice")
    admin = AdminService(admins=frozenset({"root"}), flags=None, messages=lambda: world.messages)
    # WHEN root deletes it
    admin.delete_message("root", DM, str(mine["seq"]))
    # THEN the target reads as deleted by root, the event is root's, and the members' read
    # positions did not gain root
    assert dm.stored(mine["seq"])["deleted"]["by"] == "root"  # type: ignore[typeddict-item]
    event = dm.stored(mine["seq"] + 1)
    assert event["senderId"] == "root" and event["body"] == {"type": "delete", "target": 1}
    assert "root" not in (world.repos.messages.newest(DM).own or {})
    # AND a second delete is 1001, an unknown seq or conversation 2003, a non-admin 1004
    with pytest.raises(InvalidParam):
        admin.delete_message("root", DM, str(mine["seq"]))
    for conversation, seq in ((DM, "7"), (DM, "0"), (DM, "x"), ("dm:a:b", "1"), ("?", "1")):
        with pytest.raises(NotFound):
            admin.delete_message("root", conversation, seq)
    with pytest.raises(Forbidden):
        admin.delete_message("alice", DM, "1")


def test_an_admin_service_without_messages_cannot_delete() -> None:
    service = AdminService(admins=frozenset({"root"}), flags=None)
    with pytest.raises(RuntimeError):
        service.delete_message("root", DM, "1")
