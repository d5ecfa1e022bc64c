"""Rate limits (protocol sections 7 and 13), answered with 1005 and `retryAfterMs`.

Logins take from their budgets before the password is checked and give the attempt back
when it was right: counting first is what bounds concurrent guesses (a check-then-count
lets a burst through before the first failure is written).

Counters are fixed windows in DynamoDB (exact across every Lambda container; expired by
TTL). A token bucket of `rate` per second with `burst` is approximated by a window of
`burst / rate` seconds admitting `burst` frames: the same long-run rate and the same
largest burst, with one conditional write per frame instead of a read and a write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.clock import Clock
from parley.errors import RateLimited
from parley.ports import Limits

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class LoginAttempt:
    """The counters one login attempt took (refunded when the password is right)."""

    now_ms: int
    taken: tuple[tuple[str, int], ...] = field(default=())


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
        failed_logins_per_account: int = 10,
        login_window_seconds: int = 900,
        registrations_per_hour: int = 10,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.frame_window_ms = max(1000, frame_burst * 1000 // frames_per_second)
        self.frame_burst = frame_burst
        self.sends_per_minute = sends_per_minute
        self.failed_logins = failed_logins
        self.connects_per_minute = connects_per_minute
        self.window_ms = window_seconds * 1000
        self.failed_logins_per_account = failed_logins_per_account
        self.login_window_ms = login_window_seconds * 1000
        self.registrations_per_hour = registrations_per_hour

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

    def register(self, source_ip: str | None) -> None:
        """One registration from `source_ip` (protocol 13): each account multiplies every
        per-user limit, so accounts are rationed per address."""
        if source_ip:
            self._hit(f"register#{source_ip}", self.registrations_per_hour, HOUR_MS, "accounts")

    def begin_login(self, user_id: str | None, source_ip: str | None) -> LoginAttempt:
        """Take one attempt from the account's and the address's budgets, BEFORE the
        password is checked (protocol 13): each take is one conditional write, so of any
        number of concurrent guesses at most the budget reaches the check.

        Past either budget the login answers 1005 with `retryAfterMs`, whatever the
        password. The attempt stays counted unless :meth:`login_succeeded` refunds it.
        """
        now = self.clock.now_ms()
        budgets: list[tuple[str, int, int]] = []
        if user_id:  # None for a malformed userId, which no password opens
            budgets.append(
                (f"login-user#{user_id}", self.failed_logins_per_account, self.login_window_ms)
            )
        if source_ip:
            budgets.append((f"login#{source_ip}", self.failed_logins, self.window_ms))
        taken: list[tuple[str, int]] = []
        for key, limit, window_ms in budgets:
            wait = self.limits.hit(key, limit, window_ms, now)
            if wait is not None:
                # The attempt is refused as a whole: give back what it took so far.
                self._refund(LoginAttempt(now, tuple(taken)))
                raise RateLimited(
                    f"too many failed logins; retry in {wait} ms", retry_after_ms=wait
                )
            taken.append((key, window_ms))
        return LoginAttempt(now, tuple(taken))

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        """A right password: the attempt was not a failure, so it is given back (a user who
        logs in often never locks their own account; only failures accumulate)."""
        self._refund(attempt)

    def _refund(self, attempt: LoginAttempt) -> None:
        for key, window_ms in attempt.taken:
            self.limits.refund(key, window_ms, attempt.now_ms)
