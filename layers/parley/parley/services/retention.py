"""Message retention (protocol 12, `MessageRetentionDays`): what reads still show, and when a
stored message may expire (docs/architecture.md, "Retention").

A conversation's next seq, its running count `n` and a direct conversation's `own` map are
read from its newest stored message, so that message must never expire: if DynamoDB's TTL
removed the newest message of an idle conversation, the next send would reuse a seq that
clients already saw. A message is therefore stored without a TTL, and only once a later
message is stored does the one before it (the *previous newest*, whose `ts` the writer has
already read) get `expiresAt` = its `ts` + the retention. The newest message (the anchor)
stays in the table until the next message arrives; reads hide it, and every message past
retention that TTL has not removed yet (deletion is lazy), by its `ts`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from parley.clock import Clock
from parley.concurrency import submit
from parley.ports import Messages, Newest

__all__ = ["DAY_MS", "EXPIRY_FAILED_METRIC", "Retention"]

DAY_MS = 86_400_000
EXPIRY_FAILED_METRIC = "RetentionExpiryFailed"
"""Counted when a previous newest message could not be given its `expiresAt`."""

Logger = Callable[..., None]
Metric = Callable[[str, float], None]


@dataclass(eq=False, kw_only=True)
class Retention:
    """`days` of retention (0: forever, and no read or write changes at all)."""

    days: int
    messages: Messages
    clock: Clock
    on_error: Logger | None = None
    metric: Metric | None = None

    @property
    def enabled(self) -> bool:
        """True when messages expire."""
        return self.days > 0

    def cutoff_ms(self) -> int:
        """The oldest `ts` a read still shows (0: every message is kept)."""
        if not self.enabled:
            return 0
        return max(0, self.clock.now_ms() - self.days * DAY_MS)

    def hidden(self, ts: int, cutoff_ms: int | None = None) -> bool:
        """True when a message stored at `ts` is past retention (whether TTL removed it yet
        or not)."""
        cutoff = self.cutoff_ms() if cutoff_ms is None else cutoff_ms
        return ts < cutoff

    def expire_previous(self, conversation_id: str, previous: Newest) -> Future[None] | None:
        """Once message `previous.seq + 1` is stored, give `previous` (the newest message the
        writer read before its write) its `expiresAt`, on the I/O pool: the caller runs its
        push meanwhile and then waits on the future, which never raises (a failure is logged
        and counted: the message then stays until a later cleanup, hidden from reads all the
        same). None when retention is off or there was no previous message."""
        if not self.enabled or previous.seq <= 0 or previous.ts is None:
            return None
        expires_at = previous.ts // 1000 + self.days * DAY_MS // 1000
        return submit(self._expire, conversation_id, previous.seq, expires_at)

    def _expire(self, conversation_id: str, seq: int, expires_at: int) -> None:
        try:
            self.messages.expire(conversation_id, seq, expires_at)
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(
                    "retention: could not set expiresAt",
                    extra={"conversationId": conversation_id, "seq": seq},
                    exc_info=exc,
                )
            if self.metric is not None:
                self.metric(EXPIRY_FAILED_METRIC, 1)
