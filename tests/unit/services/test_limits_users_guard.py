"""RateLimiter, UserService (block lists) and WsGuard with the fakes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from parley import passwords, tokens
from parley.errors import Forbidden, InvalidParam, RateLimited, Unauthenticated, UserNotFound
from parley.models import SendFrame, parse_frame
from parley.services.auth import AuthService
from parley.services.guard import WsGuard
from parley.services.limits import RateLimiter
from parley.services.users import UserService

from tests.fakes.gateway import FakeGateway
from tests.fakes.repos import FakeRepos, FixedClock
from tests.unit.services.conftest import World

KEYS = tokens.Keys.from_secret("guard-secret")
T0 = 1_700_000_040_000  # on a 60 s window boundary


def limiter(repos: FakeRepos, **overrides: int) -> RateLimiter:
    settings = {
        "frames_per_second": 50,
        "frame_burst": 100,
        "sends_per_minute": 5,
        "failed_logins": 3,
        "connects_per_minute": 2,
        "window_seconds": 60,
    }
    settings.update(overrides)
    return RateLimiter(limits=repos.limits, clock=repos.clock, **settings)


@pytest.fixture
def repos() -> FakeRepos:
    return FakeRepos(FixedClock(T0))


def clock_of(repos: FakeRepos) -> FixedClock:
    assert isinstance(repos.clock, FixedClock)
    return repos.clock


# ---- RateLimiter -------------------------------------------------------------------------


def test_frame_burst_then_1005_with_retry_after(repos: FakeRepos) -> None:
    # GIVEN 50 frames/s with bursts of 100 (a 2 s window of 100 frames)
    # WHEN 101 frames arrive at once on one connection
    # THEN the first 100 pass, the 101st is 1005 with retryAfterMs until the window ends;
    # another connection is unaffected
    rl = limiter(repos)
    for _ in range(100):
        rl.frame("conn-1")
    with pytest.raises(RateLimited) as caught:
        rl.frame("conn-1")
    assert caught.value.code == 1005
    assert caught.value.retry_after_ms == 2000 - T0 % 2000
    assert caught.value.payload()["retryAfterMs"] == caught.value.retry_after_ms
    rl.frame("conn-2")


def test_frame_window_reopens(repos: FakeRepos) -> None:
    # GIVEN a connection that used its burst
    # WHEN the window passes
    # THEN frames are accepted again
    rl = limiter(repos, frame_burst=2, frames_per_second=1)
    rl.frame("c")
    rl.frame("c")
    with pytest.raises(RateLimited) as caught:
        rl.frame("c")
    clock_of(repos).advance(caught.value.retry_after_ms or 0)
    rl.frame("c")


def test_sends_are_limited_per_user_across_devices(repos: FakeRepos) -> None:
    # GIVEN 5 sends per minute
    # WHEN a user sends 6 times (from any device)
    # THEN the 6th is 1005; another user is unaffected
    rl = limiter(repos)
    for _ in range(5):
        rl.send("alice")
    with pytest.raises(RateLimited):
        rl.send("alice")
    rl.send("bob")


def test_connects_are_limited_per_address(repos: FakeRepos) -> None:
    # GIVEN 2 connects per minute per address
    # WHEN an address connects 3 times, and an unknown address many times
    # THEN the third is 1005; without an address nothing is counted
    rl = limiter(repos)
    rl.connect("203.0.113.1")
    rl.connect("203.0.113.1")
    with pytest.raises(RateLimited):
        rl.connect("203.0.113.1")
    for _ in range(10):
        rl.connect(None)
    assert repos.limits.times("hit") == 3


def test_failed_logins_lock_the_address_until_the_window_passes(repos: FakeRepos) -> None:
    # GIVEN 3 failed logins allowed per address per 60 s
    # WHEN an address fails 3 times (each attempt counted before the password check)
    # THEN its next attempt is 1005 with the time left; other addresses pass; after the
    # window it passes again
    rl = limiter(repos)
    for user in ("u1", "u2", "u3"):
        rl.begin_login(user, "198.51.100.7")
    with pytest.raises(RateLimited) as caught:
        rl.begin_login("u4", "198.51.100.7")
    assert caught.value.retry_after_ms == 60_000
    rl.begin_login("u4", "198.51.100.8")
    rl.begin_login("u5", None)
    clock_of(repos).advance(60_000)
    rl.begin_login("u6", "198.51.100.7")


def test_failed_logins_lock_the_account_whatever_the_address(repos: FakeRepos) -> None:
    # GIVEN 2 failed logins allowed per account per 15 minutes
    # WHEN alice's account takes 2 failed attempts from two addresses
    # THEN a third attempt from a third address is 1005 until the 15 minutes pass, and a
    # refused attempt takes nothing from the address's budget
    rl = limiter(repos, failed_logins_per_account=2, login_window_seconds=900)
    rl.begin_login("alice", "198.51.100.1")
    rl.begin_login("alice", "198.51.100.2")
    with pytest.raises(RateLimited) as caught:
        rl.begin_login("alice", "198.51.100.3")
    assert 0 < (caught.value.retry_after_ms or 0) <= 900_000
    assert repos.limits.count("login#198.51.100.3", 60_000, repos.clock.now_ms())[0] == 0
    rl.begin_login("bob", "198.51.100.3")
    clock_of(repos).advance(900_000)
    rl.begin_login("alice", "198.51.100.3")


def test_a_successful_login_gives_its_attempt_back(repos: FakeRepos) -> None:
    # GIVEN 2 attempts allowed per account
    # WHEN alice logs in rightly many times (each attempt refunded), then fails twice
    # THEN only the failures count: the third failure is refused
    rl = limiter(repos, failed_logins_per_account=2, failed_logins=100)
    for _ in range(5):
        rl.login_succeeded(rl.begin_login("alice", "198.51.100.1"))
    rl.begin_login("alice", "198.51.100.1")
    rl.begin_login("alice", "198.51.100.1")
    with pytest.raises(RateLimited):
        rl.begin_login("alice", "198.51.100.1")


def test_registrations_are_rationed_per_address(repos: FakeRepos) -> None:
    # GIVEN 2 registrations allowed per address per hour
    # WHEN an address registers 3 times
    # THEN the third is 1005 until the hour passes; other addresses are not affected
    rl = limiter(repos, registrations_per_hour=2)
    rl.register("198.51.100.1")
    rl.register("198.51.100.1")
    with pytest.raises(RateLimited):
        rl.register("198.51.100.1")
    rl.register("198.51.100.2")
    rl.register(None)
    clock_of(repos).advance(3_600_000)
    rl.register("198.51.100.1")


# ---- login with the limiter --------------------------------------------------------------


def test_login_is_locked_after_failures_even_with_the_right_password(repos: FakeRepos) -> None:
    # GIVEN alice, and an address that failed the allowed number of times
    # WHEN alice logs in correctly from that address, and from another
    # THEN the first is 1005, the second succeeds
    clock_of(repos).set(int(time.time()) * 1000)
    repos.users.create("alice", passwords.hash_password("right-password"), "Alice", 0)
    auth = AuthService(
        users=repos.users,
        sessions=repos.sessions,
        keys=lambda: KEYS,
        clock=repos.clock,
        issuer="parley",
        audience="parley-clients",
        access_ttl=900,
        refresh_ttl=3600,
        limiter=limiter(repos, failed_logins=2),
    )
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.login("alice", "wrong", "203.0.113.5")
    with pytest.raises(RateLimited):
        auth.login("alice", "right-password", "203.0.113.5")
    assert auth.login("alice", "right-password", "203.0.113.6")["tokenType"] == "Bearer"


def test_user_without_password_cannot_log_in(repos: FakeRepos, monkeypatch: Any) -> None:
    # GIVEN an externally provisioned user (no password hash)
    # WHEN someone logs in as them with any password
    # THEN it is 1003 after checking the dummy hash (same time as an unknown user)
    from parley.services import auth as auth_module

    repos.users.provision("ext-user", "Ext", "https://idp.example", 0)
    checked: list[str] = []
    monkeypatch.setattr(auth_module, "verify_password", lambda p, s: checked.append(s) or True)
    auth = AuthService(
        users=repos.users,
        sessions=repos.sessions,
        keys=lambda: KEYS,
        clock=repos.clock,
        issuer="parley",
        audience="parley-clients",
        access_ttl=900,
        refresh_ttl=3600,
    )
    with pytest.raises(Unauthenticated):
        auth.login("ext-user", "anything")
    assert checked == [passwords.DUMMY_HASH]


# ---- UserService: block lists ------------------------------------------------------------


def send(world: World, sender: str, to: str, cid: str) -> dict[str, Any]:
    frame = parse_frame(
        json.dumps(
            {"action": "send", "to": to, "clientMsgId": cid, "body": {"type": "text", "text": "x"}}
        )
    )
    assert isinstance(frame, SendFrame)
    return world.send(sender, frame)


def user_service(world: World) -> UserService:
    return UserService(
        users=world.repos.users,
        members=world.repos.members,
        clock=world.clock,
    )


def test_block_closes_an_existing_dm_to_the_blocked_user(world: World) -> None:
    # GIVEN alice and bob already talking
    # WHEN bob blocks alice
    # THEN alice can no longer write (1004) while bob still can; unblocking reopens it
    send(world, "alice", "bob", "1")
    users = user_service(world)
    users.block("bob", "alice")
    assert world.repos.users.is_blocked("bob", "alice")
    with pytest.raises(Forbidden):
        send(world, "alice", "bob", "2")
    assert send(world, "bob", "alice", "3")["seq"] == 2
    users.unblock("bob", "alice")
    assert send(world, "alice", "bob", "4")["seq"] == 3


def test_blocked_user_cannot_write_in_a_dm_the_blocker_opens(world: World) -> None:
    # GIVEN bob blocks alice before they ever talked
    # WHEN bob opens the conversation, then alice answers
    # THEN bob's message is stored and alice is refused (1004)
    user_service(world).block("bob", "alice")
    assert send(world, "bob", "alice", "1")["seq"] == 1
    with pytest.raises(Forbidden):
        send(world, "alice", "bob", "2")
    assert world.repos.messages.seqs("dm:alice:bob") == [1]


def test_block_rules(world: World) -> None:
    # GIVEN alice
    # WHEN she blocks herself, an unknown user, a malformed id
    # THEN 1001, 1002, 1001; blocking twice is idempotent
    users = user_service(world)
    with pytest.raises(InvalidParam):
        users.block("alice", "alice")
    with pytest.raises(UserNotFound):
        users.block("alice", "ghost")
    with pytest.raises(InvalidParam):
        users.block("alice", "Not Valid")
    users.block("alice", "bob")
    users.block("alice", "bob")
    users.unblock("alice", "bob")
    users.unblock("alice", "bob")
    assert not world.repos.users.is_blocked("alice", "bob")


# ---- WsGuard -----------------------------------------------------------------------------


class GuardHarness:
    def __init__(self, repos: FakeRepos, limiter: RateLimiter | None = None) -> None:
        self.repos = repos
        self.gateway = FakeGateway()
        self.auth = AuthService(
            users=repos.users,
            sessions=repos.sessions,
            keys=lambda: KEYS,
            clock=repos.clock,
            issuer="parley",
            audience="parley-clients",
            access_ttl=900,
            refresh_ttl=3600,
        )
        self.guard = WsGuard(
            connections=repos.connections,
            gateway=self.gateway,
            auth=self.auth,
            limiter=limiter,
            clock=repos.clock,
        )

    def token(self, user: str, session: str) -> str:
        now = int(time.time())
        self.repos.sessions.create(session, user, now, now + 3600)
        return tokens.issue_access_token(
            KEYS,
            user_id=user,
            session_id=session,
            now=now,
            ttl=900,
            issuer="parley",
            audience="parley-clients",
        )


def test_guard_passes_a_valid_token(repos: FakeRepos) -> None:
    # GIVEN a connection whose token expires later
    # WHEN a frame is checked
    # THEN it passes without reading the connection record
    h = GuardHarness(repos)
    h.guard.check("c1", T0 // 1000 + 60)
    h.guard.check("c1", 0)  # no expiry known
    assert repos.connections.times("get") == 0


def test_guard_expels_an_expired_connection(repos: FakeRepos) -> None:
    # GIVEN a connection whose token has expired and was not renewed
    # WHEN a frame is checked
    # THEN it is 1003, the client is told with an error frame and the socket is closed
    h = GuardHarness(repos)
    repos.connections.put({"connectionId": "c1", "userId": "alice", "tokenExp": T0 // 1000 - 1})
    with pytest.raises(Unauthenticated):
        h.guard.check("c1", T0 // 1000 - 1)
    [frame] = h.gateway.frames("c1")
    assert (frame["type"], frame["code"]) == ("error", 1003)
    assert h.gateway.closed == ["c1"]


def test_guard_accepts_a_renewed_connection(repos: FakeRepos) -> None:
    # GIVEN a connection whose first token expired but whose record holds a renewed expiry
    # WHEN a frame is checked
    # THEN it passes
    h = GuardHarness(repos)
    repos.connections.put({"connectionId": "c1", "userId": "alice", "tokenExp": T0 // 1000 + 600})
    h.guard.check("c1", T0 // 1000 - 1)
    assert h.gateway.closed == []


def test_guard_applies_the_frame_limit(repos: FakeRepos) -> None:
    # GIVEN a limiter of 1 frame per second, burst 1
    # WHEN two frames are checked at once
    # THEN the second is 1005 and the socket stays open
    h = GuardHarness(repos, limiter(repos, frames_per_second=1, frame_burst=1))
    h.guard.check("c1", 0)
    with pytest.raises(RateLimited):
        h.guard.check("c1", 0)
    assert h.gateway.closed == []


def test_renew_records_the_new_expiry_and_session(repos: FakeRepos) -> None:
    # GIVEN alice's open connection
    # WHEN she renews with a fresh token of hers
    # THEN the record carries the new expiry and session, and the expiry is returned
    h = GuardHarness(repos)
    repos.connections.put({"connectionId": "c1", "userId": "alice", "tokenExp": 1})
    token = h.token("alice", "S" * 22)
    expires = h.guard.renew("alice", "c1", token)
    record = repos.connections.get("c1")
    assert record is not None
    assert (record["tokenExp"], record["sessionId"]) == (expires, "S" * 22)


def test_renew_refuses_another_users_token_or_a_closed_connection(repos: FakeRepos) -> None:
    # GIVEN bob's token, and a connection that is gone
    # WHEN alice renews with bob's token, or with hers on the closed connection
    # THEN both are 1003 and nothing is written
    h = GuardHarness(repos)
    repos.connections.put({"connectionId": "c1", "userId": "alice", "tokenExp": 1})
    with pytest.raises(Unauthenticated):
        h.guard.renew("alice", "c1", h.token("bob", "B" * 22))
    with pytest.raises(Unauthenticated):
        h.guard.renew("alice", "gone", h.token("alice", "A" * 22))
    record = repos.connections.get("c1")
    assert record is not None
    assert record["tokenExp"] == 1
