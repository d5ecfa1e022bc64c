"""Property tests (hypothesis) for the login limiter's atomicity (protocol 13): attempts are
taken before the password check, so however guesses interleave, at most the budget of
failures reaches the check per window; right passwords give their attempt back exactly.

The model-based test runs the real conditional writes against moto (the Limits table of
the template); the concurrent one runs the limiter over the in-memory store, whose every
call is atomic like a DynamoDB request.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley import runtime
from parley.errors import RateLimited
from parley.services.limits import RateLimiter

from tests.fakes.repos import FakeRepos, FixedClock
from tests.integration.conftest import Harness

T0 = 1_700_000_100_000  # 15-minute and 1-minute windows start together here
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_keys = itertools.count()


def limiter(limits: object, clock: FixedClock, budget: int) -> RateLimiter:
    return RateLimiter(
        limits=limits,  # type: ignore[arg-type]
        clock=clock,
        frames_per_second=50,
        frame_burst=100,
        sends_per_minute=600,
        failed_logins=1_000_000,
        connects_per_minute=60,
        window_seconds=60,
        failed_logins_per_account=budget,
        login_window_seconds=900,
    )


@PROPERTY
@given(
    budget=st.integers(min_value=1, max_value=6),
    outcomes=st.lists(st.booleans(), min_size=1, max_size=30),
)
def test_the_limits_table_admits_exactly_what_the_model_admits(
    app: Harness, budget: int, outcomes: list[bool]
) -> None:
    # GIVEN a budget and a sequence of login attempts, each right (True) or wrong
    clock = FixedClock(T0)
    rl = limiter(runtime.limits(), clock, budget)
    user = f"user{next(_keys)}"
    failures = 0
    for right in outcomes:
        # WHEN each is taken from the account's budget in DynamoDB, then settled
        admitted_by_model = failures < budget
        try:
            attempt = rl.begin_login(user, None)
        except RateLimited as refused:
            # THEN DynamoDB refuses exactly when the model's failures fill the budget
            wait = refused.retry_after_ms or 0
            assert not admitted_by_model and 0 < wait <= 900_000
            continue
        assert admitted_by_model
        if right:
            rl.login_succeeded(attempt)
        else:
            failures += 1
    # AND the stored counter is the failures admitted, never below zero
    hits, _ = runtime.limits().count(f"login-user#{user}", 900_000, clock.now_ms())
    assert hits == failures <= budget


@settings(max_examples=30, deadline=None)
@given(
    budget=st.integers(min_value=1, max_value=10),
    outcomes=st.lists(st.booleans(), min_size=1, max_size=60),
)
def test_concurrent_attempts_never_let_more_failures_through_than_the_budget(
    budget: int, outcomes: list[bool]
) -> None:
    # GIVEN a budget and many attempts at once, each from its own thread
    repos = FakeRepos(FixedClock(T0))
    assert isinstance(repos.clock, FixedClock)
    rl = limiter(repos.limits, repos.clock, budget)
    lock = threading.Lock()
    checked_wrong: list[int] = []
    start = threading.Barrier(len(outcomes))

    def login(n: int, right: bool) -> None:
        start.wait()
        try:
            attempt = rl.begin_login("alice", f"198.51.100.{n}")
        except RateLimited:
            return
        # The password check: a wrong one keeps the attempt, a right one gives it back.
        if right:
            rl.login_succeeded(attempt)
        else:
            with lock:
                checked_wrong.append(n)

    threads = [threading.Thread(target=login, args=item) for item in enumerate(outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN no more wrong passwords reached the check than the budget, and the counter
    # holds exactly those
    assert len(checked_wrong) <= budget
    hits, _ = repos.limits.count("login-user#alice", 900_000, T0)
    assert hits == len(checked_wrong)
    # AND when every attempt was wrong, the budget was used up to the last one
    if not any(outcomes):
        assert len(checked_wrong) == min(budget, len(outcomes))


@pytest.mark.parametrize("refunds", [1, 3])
def test_a_refund_never_takes_the_counter_below_zero(app: Harness, refunds: int) -> None:
    limits = runtime.limits()
    limits.hit("login-user#carol", 5, 900_000, T0)
    for _ in range(refunds):
        limits.refund("login-user#carol", 900_000, T0)
    assert limits.count("login-user#carol", 900_000, T0)[0] == 0
    # A refund of a window that never counted stays absent.
    limits.refund("login-user#nobody", 900_000, T0)
    assert limits.count("login-user#nobody", 900_000, T0)[0] == 0
