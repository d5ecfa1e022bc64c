"""`parley.roles`: the complete truth tables of the group role rules."""

from __future__ import annotations

import itertools

import pytest
from parley import roles
from parley.roles import ADMIN, MEMBER, OWNER

ROLES = [OWNER, ADMIN, MEMBER]


@pytest.mark.parametrize(
    ("actor_role", "allowed"), [(OWNER, True), (ADMIN, True), (MEMBER, False), ("", False)]
)
def test_can_add(actor_role: str, allowed: bool) -> None:
    # GIVEN an actor of each role
    # WHEN asked whether they may add members
    # THEN only owners and admins may
    assert roles.can_add(actor_role) is allowed


# (actor role, target role) -> may the actor remove another member of that role?
REMOVE_OTHER = {
    (OWNER, OWNER): False,
    (OWNER, ADMIN): True,
    (OWNER, MEMBER): True,
    (ADMIN, OWNER): False,
    (ADMIN, ADMIN): False,
    (ADMIN, MEMBER): True,
    (MEMBER, OWNER): False,
    (MEMBER, ADMIN): False,
    (MEMBER, MEMBER): False,
}


@pytest.mark.parametrize(("actor_role", "target_role"), sorted(REMOVE_OTHER))
def test_can_remove_another_member(actor_role: str, target_role: str) -> None:
    # GIVEN an actor and a different target, of every pair of roles
    # WHEN asked whether the actor may remove the target
    # THEN only a strictly higher owner/admin may
    allowed = REMOVE_OTHER[(actor_role, target_role)]
    assert roles.can_remove("actor", actor_role, "target", target_role) is allowed


@pytest.mark.parametrize(("role", "allowed"), [(OWNER, False), (ADMIN, True), (MEMBER, True)])
def test_can_remove_oneself_is_leaving(role: str, allowed: bool) -> None:
    # GIVEN a member removing itself (leaving)
    # WHEN asked whether it may
    # THEN admins and members may leave; the owner must hand over first
    assert roles.can_remove("alice", role, "alice", role) is allowed


def test_can_remove_the_same_name_is_leaving_whatever_the_rank() -> None:
    # GIVEN actor == target
    # WHEN the actor is a member (lowest rank)
    # THEN leaving is allowed although a member can remove nobody else
    assert roles.can_remove("bob", MEMBER, "bob", MEMBER)
    assert not roles.can_remove("bob", MEMBER, "carol", MEMBER)


@pytest.mark.parametrize(
    ("actor_role", "target_role", "new_role"), list(itertools.product(ROLES, repeat=3))
)
def test_can_set_role_truth_table(actor_role: str, target_role: str, new_role: str) -> None:
    # GIVEN every combination of actor role, target role and requested role
    # WHEN asked whether the change is allowed
    # THEN only the owner may, and only on a non-owner (to admin, member, or handing over
    # ownership)
    expected = actor_role == OWNER and target_role != OWNER
    assert roles.can_set_role(actor_role, target_role, new_role) is expected


def test_can_set_role_refuses_unknown_roles() -> None:
    # GIVEN a requested role that is not a role
    # WHEN the owner asks for it
    # THEN it is refused
    assert not roles.can_set_role(OWNER, MEMBER, "superuser")
    assert not roles.can_set_role(OWNER, MEMBER, "")
