"""The per-sender fan-out budget (issue 15, "group amplification").

Every message into a group costs one delivery per member: a single account posting into a
10,000-member group makes 10,000 connection lookups and posts per message, through the
push queue every large group shares. The send limiter bounds messages, not deliveries, so
the budget counts deliveries: each sender may cause at most `per_minute` member deliveries
per minute over all groups, and a send past it answers 1005 with `retryAfterMs` before
anything is stored.

Groups of at most `free_members` (the inline fan-out's size) are not counted: their
deliveries are posted from the send itself and are bounded by the send limiter already,
and counting them would add a write to every small-group send. A counted send pays one
conditional UpdateItem on the limits table, after the conversation's member count, which
is read beside the send's first reads (docs/architecture.md, "Fan-out budget").
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.clock import Clock
from parley.errors import RateLimited
from parley.ports import AbuseCounters

WINDOW_MS = 60_000


@dataclass(eq=False, kw_only=True)
class FanoutBudget:
    """Member deliveries per sender per minute, charged before a large group's send."""

    counters: AbuseCounters
    clock: Clock
    per_minute: int = 50_000
    free_members: int = 50

    def charge(self, sender: str, member_count: int) -> None:
        """Take the deliveries of one message into a group of `member_count` members
        (everyone but the sender), or raise 1005 with the wait until the window ends."""
        if member_count <= self.free_members:
            return
        deliveries = member_count - 1
        wait = self.counters.take(
            f"fanout#{sender}", deliveries, self.per_minute, WINDOW_MS, self.clock.now_ms()
        )
        if wait is not None:
            raise RateLimited(
                f"fan-out budget spent ({self.per_minute} member deliveries a minute); "
                f"retry in {wait} ms",
                retry_after_ms=wait,
            )
