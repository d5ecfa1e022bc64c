"""Rate limits (protocol section 7), answered with 1005 and `retryAfterMs`.

Counters are fixed windows in DynamoDB (exact across every Lambda container; expired by
TTL). A token bucket of `rate` per second with `burst` is approximated by a window of
`burst / rate` seconds admitting `burst` frames: the same long-run rate and the same
largest burst, with one conditional write per frame instead of a read and a write.
"""

from __future__ import annotations

from parley.clock import Clock
from parley.errors import RateLimited
from parley.ports import Limits


class RateLimiter:
    """Every limit Parley enforces, keyed by connection, user or source address."""

    def __init__(
        self,
        *,
        limits: Limits,
        clock: Clock,
        frames_per_second: int,
        frame_burst: int,
        sends_per_minute: int,
        failed_logins: int,
        connects_per_minute: int,
        window_seconds: int,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.frame_window_ms = max(1000, frame_burst * 1000 // frames_per_second)
        self.frame_burst = frame_burst
        self.sends_per_minute = sends_per_minute
        self.failed_logins = failed_logins
        self.connects_per_minute = connects_per_minute
        self.window_ms = window_seconds * 1000

    def _hit(self, key: str, limit: int, window_ms: int, what: str) -> None:
        wait = self.limits.hit(key, limit, window_ms, self.clock.now_ms())
        if wait is not None:
            raise RateLimited(f"too many {what}; retry in {wait} ms", retry_after_ms=wait)

    def frame(self, connection_id: str) -> None:
        """One WebSocket frame on `connection_id` (the socket stays open when limited)."""
        self._hit(f"frame#{connection_id}", self.frame_burst, self.frame_window_ms, "frames")

    def send(self, user_id: str) -> None:
        """One message sent by `user_id`, across all of the user's devices.

        The same conditional write also holds the user's sends to the frame burst
        (`frame_burst` per frame window, across devices: stricter than per connection), so
        the send route does not count its frame separately: one limits write per send.
        """
        wait = self.limits.hit(
            f"send#{user_id}",
            self.sends_per_minute,
            60_000,
            self.clock.now_ms(),
            burst=self.frame_burst,
            burst_window_ms=self.frame_window_ms,
        )
        if wait is not None:
            raise RateLimited(f"too many messages; retry in {wait} ms", retry_after_ms=wait)

    def connect(self, source_ip: str | None) -> None:
        """One WebSocket connect from `source_ip`."""
        if source_ip:
            self._hit(f"connect#{source_ip}", self.connects_per_minute, 60_000, "connects")

    def check_login(self, source_ip: str | None) -> None:
        """Refuse logins from an address that failed too often in this window."""
        if not source_ip:
            return
        hits, wait = self.limits.count(f"login#{source_ip}", self.window_ms, self.clock.now_ms())
        if hits >= self.failed_logins:
            raise RateLimited(f"too many failed logins; retry in {wait} ms", retry_after_ms=wait)

    def login_failed(self, source_ip: str | None) -> None:
        """Count a failed login against `source_ip` (never raises for being over)."""
        if source_ip:
            self.limits.hit(f"login#{source_ip}", 1_000_000, self.window_ms, self.clock.now_ms())
