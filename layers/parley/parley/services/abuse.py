"""Per-account abuse limits (protocol 13) and the flags they raise for app admins.

Each limit is one atomic write on the limits table (exact across every Lambda container;
expired by TTL), made where the action already writes, so a normal text send pays one
extra conditional write run beside its other first reads (no extra round trip):

* groups created per user per day, members added per user per hour (creation included);
* new direct conversations opened per user per hour (counted when a first message creates
  one; tripping it also flags the user);
* one text sent into different conversations: a keyed hash of the normalised text (never
  the text) names a set of conversation ids for the window; the set is refused past the
  limit and the user is flagged;
* live connections per user: a set of connection ids, reconciled against the live
  connections when full (a `$disconnect` API Gateway never delivered cannot lock a user out).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from parley.clock import Clock
from parley.errors import RateLimited
from parley.ports import AbuseCounters, Flags

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# A connection lives at most 2 hours (API Gateway): its id outlives it by an hour at most.
CONNECTION_SET_TTL = 3 * 3600


def text_digest(key: bytes, user_id: str, text: str) -> str:
    """The hash one text is counted under: case and whitespace ignored, bound to the sender
    so equal texts of different users never share a counter, and keyed (HMAC-SHA256 with a
    key derived from the stack's signing secret) so that someone who can read the limits
    table cannot confirm a guessed text by hashing it. The text itself is never stored."""
    normal = " ".join(text.casefold().split())
    return hmac.new(key, f"{user_id}\x00{normal}".encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(eq=False, kw_only=True)
class AbuseLimits:
    """The protocol 13 per-user limits; each past its budget raises 1005 with retryAfterMs."""

    counters: AbuseCounters
    flags: Flags | None  # None: limits still hold, nobody is flagged
    clock: Clock
    groups_per_day: int = 50
    members_per_hour: int = 2000
    direct_per_hour: int = 30
    repeated_texts: int = 10
    repeat_window_seconds: int = 600
    connections_per_user: int = 20
    # The repeated-text hash key, read on the first text (functions that never count a text
    # never read the secret).
    text_key: Callable[[], bytes] | None = None

    def _take(self, key: str, amount: int, limit: int, window_ms: int, what: str) -> None:
        wait = self.counters.take(key, amount, limit, window_ms, self.clock.now_ms())
        if wait is not None:
            raise RateLimited(f"too many {what}; retry in {wait} ms", retry_after_ms=wait)

    def group_created(self, user_id: str, members: int) -> None:
        """One group created by `user_id` with `members` others in it; refused, it takes
        nothing from either budget (the members taken first are given back)."""
        self.members_added(user_id, members)
        try:
            self._take(f"groups#{user_id}", 1, self.groups_per_day, DAY_MS, "groups created")
        except RateLimited:
            if members > 0:
                # A negative amount always fits: the members' budget is restored.
                self.counters.take(
                    f"added#{user_id}",
                    -members,
                    self.members_per_hour,
                    HOUR_MS,
                    self.clock.now_ms(),
                )
            raise

    def members_added(self, user_id: str, members: int) -> None:
        """`members` users added by `user_id`, over all of their groups."""
        if members > 0:
            self._take(f"added#{user_id}", members, self.members_per_hour, HOUR_MS, "members added")

    def direct_opened(self, user_id: str) -> None:
        """A new direct conversation opened by `user_id`'s first message; past the budget
        the user is flagged too (opening many is how spam reaches strangers)."""
        try:
            self._take(
                f"dms#{user_id}", 1, self.direct_per_hour, HOUR_MS, "new direct conversations"
            )
        except RateLimited:
            self._flag(user_id, "new direct conversations over the hourly limit")
            raise

    def text_sent(self, user_id: str, conversation_id: str, text: str) -> None:
        """One text sent by `user_id` into `conversation_id` (the same text into the same
        conversation again counts once)."""
        window_ms = self.repeat_window_seconds * 1000
        if self.text_key is None:
            raise RuntimeError("repeated texts are counted only with a text_key")
        key = f"text#{user_id}#{text_digest(self.text_key(), user_id, text)}"
        wait = self.counters.distinct(
            key, conversation_id, self.repeated_texts, window_ms, self.clock.now_ms()
        )
        if wait is not None:
            self._flag(user_id, "same text sent into too many conversations")
            raise RateLimited(
                f"the same text went to too many conversations; retry in {wait} ms",
                retry_after_ms=wait,
            )

    def _flag(self, user_id: str, reason: str) -> None:
        if self.flags is not None:
            self.flags.flag(user_id, reason, self.clock.now_ms())

    def connection_opened(
        self, user_id: str, connection_id: str, alive: Callable[[], set[str]]
    ) -> None:
        """Count `connection_id` among the user's live connections; when the set is full,
        forget the ids `alive()` no longer lists and try once more. 1005 past the limit."""
        key = f"live#{user_id}"
        expires_at = self.clock.now_ms() // 1000 + CONNECTION_SET_TTL
        limit = self.connections_per_user
        if self.counters.join(key, connection_id, limit, expires_at):
            return
        stale = self.counters.members(key) - alive() - {connection_id}
        if stale:
            self.counters.leave(key, stale)
            if self.counters.join(key, connection_id, limit, expires_at):
                return
        raise RateLimited(f"at most {limit} live connections per user", retry_after_ms=60_000)

    def online(self, user_ids: list[str]) -> set[str]:
        """Which of these users hold a live connection, from their connection sets: one
        BatchGetItem per 100 users instead of an index Query per user (presence)."""
        if not user_ids:
            return set()
        keys = {f"live#{u}": u for u in user_ids}
        return {keys[k] for k in self.counters.nonempty(list(keys), self.clock.now_ms() // 1000)}

    def connection_closed(self, user_id: str, connection_id: str) -> None:
        """Forget a closed connection (idempotent)."""
        self.counters.leave(f"live#{user_id}", {connection_id})
