"""App admins (protocol 12): the userIds of the `AdminUsers` parameter, and what only they
may read. Every `/admin/*` route starts with :meth:`AdminService.require_admin`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from parley.errors import Forbidden
from parley.ports import Flag, Flags

# One page of flags: a flag is rare (a user past a spam limit), so this bounds the read.
MAX_FLAGS = 1000


class FlagList(TypedDict):
    """The body of `GET /admin/flags`."""

    flags: list[Flag]


@dataclass(eq=False, kw_only=True)
class AdminService:
    """What app admins may do; everyone else gets 1004."""

    admins: frozenset[str]
    flags: Flags | None  # None: no flags table, so nobody was ever flagged

    def is_admin(self, user_id: str) -> bool:
        """Whether `user_id` is an app admin (`GET /me`'s `admin`)."""
        return user_id in self.admins

    def require_admin(self, user_id: str) -> None:
        """1004 unless `user_id` is an app admin."""
        if not self.is_admin(user_id):
            raise Forbidden("app admins only")

    def list_flags(self, caller: str) -> FlagList:
        """`GET /admin/flags`: the flagged users, with the latest reason and when (ms)."""
        self.require_admin(caller)
        return {"flags": self.flags.all(MAX_FLAGS) if self.flags is not None else []}
