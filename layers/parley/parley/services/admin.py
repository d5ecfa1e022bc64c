"""App admins (protocol 12): the userIds of the `AdminUsers` parameter, and what only they
may read. Every `/admin/*` route starts with :meth:`AdminService.require_admin`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from parley import ids
from parley.errors import Forbidden, InvalidParam, NotFound
from parley.observability import logger
from parley.ports import Flag, Flags

if TYPE_CHECKING:
    from parley.services.auth import AuthService
    from parley.services.messages import MessageService

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
    # Built on first use: reading the flags needs no auth service.
    auth: Callable[[], AuthService] | None = None
    messages: Callable[[], MessageService] | None = None

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

    def clear_flag(self, caller: str, user_id: str) -> None:
        """`DELETE /admin/flags/{userId}`: the user leaves the flag list (idempotent) until
        a limit flags them again; audited like every admin action."""
        self.require_admin(caller)
        _check_user_id(user_id)
        if self.flags is not None:
            self.flags.clear(user_id)
        audit(caller, "clear_flag", f"user:{user_id}", None)

    def suspend(self, caller: str, user_id: str, reason: str | None) -> None:
        """`POST /admin/users/{userId}/suspend`: no login, refresh or token of the user
        works from then on and their sockets close; 1002 for an unknown user."""
        self.require_admin(caller)
        _check_user_id(user_id)
        ended = self._auth().suspend(user_id, reason or "")
        audit(caller, "suspend", f"user:{user_id}", reason, loginsEnded=ended)

    def unsuspend(self, caller: str, user_id: str) -> None:
        """`DELETE /admin/users/{userId}/suspend`: the user may log in again."""
        self.require_admin(caller)
        _check_user_id(user_id)
        self._auth().unsuspend(user_id)
        audit(caller, "unsuspend", f"user:{user_id}", None)

    def delete_message(self, caller: str, conversation_id: str, seq: str) -> None:
        """`DELETE /admin/conversations/{id}/messages/{seq}`: a `delete` event by the admin
        (no member needed), pushed like any; 2003 for an unknown conversation or seq, 1001
        for a message already deleted."""
        self.require_admin(caller)
        # A seq that is no positive integer names no message.
        if not (seq.isascii() and seq.isdigit()) or len(seq) > 16 or int(seq) < 1:
            raise NotFound("no such message in this conversation")
        if self.messages is None:
            raise RuntimeError("this function has no message service")
        sent = self.messages().moderate_delete(caller, conversation_id, int(seq))
        target = f"message:{conversation_id}/{seq}"
        audit(caller, "delete_message", target, None, eventSeq=sent.message["seq"])

    def _auth(self) -> AuthService:
        if self.auth is None:
            raise RuntimeError("this function has no auth service")
        return self.auth()


def _check_user_id(user_id: str) -> None:
    """1001 for a malformed userId (as every `{userId}` path parameter)."""
    if not ids.is_user_id(user_id):
        raise InvalidParam("userId is malformed")


def audit(admin: str, action: str, target: str, reason: str | None, **detail: object) -> None:
    """One structured line per admin action (protocol 12), written after it succeeded:
    who, what, on what, and why. Operators find them with `audit = "admin"`."""
    logger.info(
        "admin action",
        extra={
            "audit": "admin",
            "admin": admin,
            "action": action,
            "target": target,
            "reason": reason or "",
            **detail,
        },
    )
