"""Block lists: a blocked user cannot open or write to a direct conversation with the
blocker, nor signal them, and learns nothing beyond a plain 1004."""

from __future__ import annotations

from dataclasses import dataclass

from parley import ids
from parley.clock import Clock
from parley.errors import InvalidParam, UserNotFound
from parley.ports import Members, Users


@dataclass(eq=False, kw_only=True)
class UserService:
    """Per-user settings that other users' actions must respect."""

    users: Users
    members: Members
    clock: Clock

    def block(self, blocker: str, blocked: str) -> None:
        """`blocker` blocks `blocked`; an existing direct conversation is closed to them."""
        self._check(blocker, blocked)
        self.users.block(blocker, blocked, self.clock.now_ms())
        # The flag on the blocked user's member row lets `send` refuse with the read it
        # already makes (no extra lookup per message).
        self.members.set_blocked(ids.dm_id(blocker, blocked), blocked, True)

    def unblock(self, blocker: str, blocked: str) -> None:
        """Lift a block (idempotent)."""
        self._check(blocker, blocked)
        self.users.unblock(blocker, blocked)
        self.members.set_blocked(ids.dm_id(blocker, blocked), blocked, False)

    def _check(self, blocker: str, blocked: str) -> None:
        ids.check_user_id(blocked)
        if blocked == blocker:
            raise InvalidParam("cannot block yourself")
        if not self.users.existing([blocked]):
            raise UserNotFound(f"user {blocked!r} does not exist")
