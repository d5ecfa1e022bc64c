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

The same write returns the window's total, which picks the lane of the message's fan-out
work: a sender past `bulk_share` of the budget goes to the bulk push queue, with its own
(smaller) fanout concurrency, so a burst of up to a minute's budget waits behind itself
instead of at the head of the queue every other group's work shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.clock import Clock
from parley.errors import RateLimited
from parley.features import NO_FLAGS, Features
from parley.ports import AbuseCounters
from parley.records import Lane

WINDOW_MS = 60_000


@dataclass(eq=False, kw_only=True)
class FanoutBudget:
    """Member deliveries per sender per minute, charged before a large group's send; the
    charge also picks the push lane of the message's fan-out work."""

    counters: AbuseCounters
    clock: Clock
    per_minute: int = 50_000
    free_members: int = 50
    # Past this share of `per_minute` already spent in the window, a sender's fan-out work
    # goes to the bulk lane (its own queue and concurrency): a flood queues behind itself.
    bulk_share: float = 0.2
    # Issue 17: the `fanoutDeliveriesPerMinute` flag may override `per_minute` per sender.
    features: Features = NO_FLAGS

    def charge(self, sender: str, member_count: int) -> Lane:
        """Take the deliveries of one message into a group of `member_count` members
        (everyone but the sender), or raise 1005 with the wait until the window ends.

        The lane: `bulk` if the sender had already spent more than `bulk_share` of the
        budget in this window before this message, else `normal` (a sender's first message
        of a window is always `normal`, whatever the group's size). Small groups are pushed
        inline, not queued: `normal`, uncounted."""
        if member_count <= self.free_members:
            return "normal"
        deliveries = member_count - 1
        per_minute = self.features.fanout_budget(
            sender, self.per_minute, conversationType="group", conversationSize=member_count
        )
        spent = self.counters.spend(
            f"fanout#{sender}", deliveries, per_minute, WINDOW_MS, self.clock.now_ms()
        )
        if spent.wait is not None:
            raise RateLimited(
                f"fan-out budget spent ({per_minute} member deliveries a minute); "
                f"retry in {spent.wait} ms",
                retry_after_ms=spent.wait,
            )
        before = spent.total - deliveries
        return "bulk" if before > per_minute * self.bulk_share else "normal"
