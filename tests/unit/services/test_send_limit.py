"""The send limit's single write also bounds the burst of sends (performance issue: one
limits write per send instead of a frame count plus a send count)."""

from __future__ import annotations

import pytest
from parley.errors import RateLimited
from parley.services.limits import RateLimiter

from tests.fakes.repos import FakeRepos, FixedClock

T0 = 1_700_000_040_000  # on a 60 s window boundary


def limiter(repos: FakeRepos, *, sends: int = 600, burst: int = 3, rate: int = 2) -> RateLimiter:
    return RateLimiter(
        limits=repos.limits,
        clock=repos.clock,
        frames_per_second=rate,
        frame_burst=burst,
        sends_per_minute=sends,
        failed_logins=3,
        connects_per_minute=2,
        window_seconds=60,
    )


def test_sends_past_the_frame_burst_wait_for_the_next_slice_not_the_minute() -> None:
    # GIVEN bursts of 3 frames per 1.5 s and a generous per-minute send limit
    repos = FakeRepos(FixedClock(T0))
    rl = limiter(repos)
    # WHEN a user sends 4 messages at once
    for _ in range(3):
        rl.send("alice")
    with pytest.raises(RateLimited) as caught:
        rl.send("alice")
    # THEN the 4th waits until the 1.5 s slice ends, with one counter hit per send
    assert caught.value.retry_after_ms == 1500
    assert repos.limits.times("hit") == 4
    assert isinstance(repos.clock, FixedClock)
    repos.clock.advance(1500)
    rl.send("alice")


def test_the_per_minute_limit_still_holds_across_slices() -> None:
    # GIVEN 4 sends per minute, bursts of 3
    repos = FakeRepos(FixedClock(T0))
    assert isinstance(repos.clock, FixedClock)
    rl = limiter(repos, sends=4)
    for _ in range(3):
        rl.send("alice")
    repos.clock.advance(2000)
    rl.send("alice")
    repos.clock.advance(2000)
    # WHEN a 5th send comes in a fresh slice of the same minute
    with pytest.raises(RateLimited) as caught:
        rl.send("alice")
    # THEN it waits for the minute's end; another user is not affected
    assert caught.value.retry_after_ms == 60_000 - 4000
    rl.send("bob")
