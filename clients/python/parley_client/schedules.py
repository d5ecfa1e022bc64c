"""When to reconnect and when to renew the token (rules 8 and 9 of :mod:`parley_client.core`).

Pure bookkeeping: times come in as arguments, delays go out as return values.
"""

from __future__ import annotations

import random

from .backoff import full_jitter
from .options import ClientOptions
from .tokens import token_expiry

#: Token renewal: the longest pause between failed renewals, and the shortest wait.
RENEW_FAILURE_CAP = 60.0
RENEW_MIN_DELAY = 0.05


class ReconnectSchedule:
    """Full-jitter backoff across reconnections, reset by a stable connection.

    The ``n``-th attempt since the last stable connection waits
    ``full_jitter(n, backoff_base, backoff_cap)``. A connection that stayed up at
    least ``stable_after`` seconds restarts ``n`` at 0 when it is lost. After
    ``max_reconnect_attempts`` failures in a row (if set) :meth:`next_delay` gives up.
    """

    def __init__(self, options: ClientOptions, rng: random.Random) -> None:
        self.options = options
        self._rng = rng
        self._attempt = 0
        self._connected_at: float | None = None
        self.failures = 0
        """Failed attempts since the socket was lost."""

    def opened(self, now: float) -> None:
        """A connection opened at ``now`` (monotonic seconds)."""
        self._connected_at = now
        self.failures = 0

    def lost(self, now: float) -> None:
        """The connection was lost at ``now``."""
        if self._connected_at is not None and now - self._connected_at >= (
            self.options.stable_after
        ):
            self._attempt = 0
        self._connected_at = None

    def next_delay(self) -> float | None:
        """The pause before the next attempt, or ``None``: give up."""
        limit = self.options.max_reconnect_attempts
        if limit is not None and self.failures >= limit:
            return None
        delay = full_jitter(
            self._attempt, self.options.backoff_base, self.options.backoff_cap, self._rng
        )
        self._attempt += 1
        return delay

    def failed(self) -> None:
        """One attempt failed."""
        self.failures += 1


class RenewalSchedule:
    """Renew ``renew_margin`` seconds before ``exp``; back off after failures.

    After ``n`` failed renewals in a row the wait is at least ``min(60, 2**n)``
    seconds; it is never under 0.05 s. Only a token with a later ``exp`` is worth
    presenting.
    """

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self.failures = 0

    def delay(self, token: str | None, wall_now: float) -> float | None:
        """Seconds until ``token`` should be renewed (``wall_now``: epoch seconds), or
        ``None`` when it has no readable ``exp``."""
        exp = token_expiry(token)
        if exp is None:
            return None
        delay = exp - wall_now - self.margin
        if self.failures:
            delay = max(delay, min(RENEW_FAILURE_CAP, 2.0**self.failures))
        return max(delay, RENEW_MIN_DELAY)

    @staticmethod
    def improves(current: str, candidate: str) -> bool:
        """Whether ``candidate`` expires later than ``current`` (both need an ``exp``)."""
        old, new = token_expiry(current), token_expiry(candidate)
        return old is not None and new is not None and new > old

    def done(self, *, ok: bool) -> None:
        """Record one renewal outcome."""
        self.failures = 0 if ok else self.failures + 1
