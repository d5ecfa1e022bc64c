"""Group role rules: the one place that decides who may change membership. Pure functions."""

from __future__ import annotations

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
_RANK = {OWNER: 3, ADMIN: 2, MEMBER: 1}


def can_add(actor_role: str) -> bool:
    """Owners and admins add members."""
    return actor_role in (OWNER, ADMIN)


def can_remove(actor: str, actor_role: str, target: str, target_role: str) -> bool:
    """A member may leave (but the owner must hand over first); owners and admins remove
    members of lower rank (an admin cannot remove another admin or the owner)."""
    if actor == target:
        return target_role != OWNER
    return actor_role in (OWNER, ADMIN) and _RANK[actor_role] > _RANK.get(target_role, 0)


def can_set_role(actor_role: str, target_role: str, new_role: str) -> bool:
    """Only the owner changes roles: between admin and member, or hands ownership over
    (`owner`), after which the previous owner is an admin."""
    return actor_role == OWNER and target_role != OWNER and new_role in (OWNER, ADMIN, MEMBER)
