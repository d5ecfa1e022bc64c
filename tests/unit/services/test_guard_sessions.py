"""Revocation reaches open sockets (issue 15): closes are retried, and frames re-check their
login at most every `recheck_seconds` per container."""

from __future__ import annotations

import pytest
from parley import tokens
from parley.errors import Unauthenticated
from parley.services import connections as connections_module
from parley.services.auth import AuthService
from parley.services.connections import ConnectionService
from parley.services.guard import WsGuard

from tests.fakes.gateway import FakeGateway
from tests.fakes.repos import FakeRepos, FixedClock

KEYS = tokens.Keys.from_secret("guard-secret")
T0 = 1_700_000_040_000


@pytest.fixture
def repos() -> FakeRepos:
    return FakeRepos(FixedClock(T0))


def guard(repos: FakeRepos, gateway: FakeGateway, recheck: int = 30) -> WsGuard:
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
    return WsGuard(
        connections=repos.connections,
        gateway=gateway,
        auth=auth,
        limiter=None,
        clock=repos.clock,
        sessions=repos.sessions,
        recheck_seconds=recheck,
    )


def open_socket(repos: FakeRepos, connection: str, session: str, user: str = "alice") -> None:
    now = T0 // 1000
    if repos.sessions.get(session) is None:
        repos.sessions.create(session, user, now, now + 3600)
    repos.connections.put(
        {
            "connectionId": connection,
            "userId": user,
            "sessionId": session,
            "connectedAt": T0,
            "sourceIp": None,
            "tokenExp": now + 900,
            "ttl": now + 7200,
        }
    )


def test_a_revoked_logins_socket_is_refused_within_the_recheck_interval(
    repos: FakeRepos,
) -> None:
    # GIVEN a socket of login s1 whose frames pass (the login read once)
    gateway = FakeGateway()
    g = guard(repos, gateway, recheck=30)
    open_socket(repos, "c1", "s1")
    before = repos.sessions.times("get")
    exp = T0 // 1000 + 900
    g.check("c1", exp, session_id="s1")
    g.check("c1", exp, session_id="s1")
    assert repos.sessions.times("get") == before + 1
    # WHEN the login is revoked and its close was lost
    repos.sessions.revoke("s1", T0 // 1000)
    # THEN frames within the interval still pass without reading (the cost bound) ...
    g.check("c1", exp, session_id="s1")
    assert repos.sessions.times("get") == before + 1
    # ... and the first frame after it is 1003, the socket told why and closed
    assert isinstance(repos.clock, FixedClock)
    repos.clock.advance(30_000)
    with pytest.raises(Unauthenticated):
        g.check("c1", exp, session_id="s1")
    assert gateway.closed == ["c1"]
    assert gateway.frames("c1", "error")[0]["code"] == 1003


def test_a_socket_renewed_onto_another_live_login_stays(repos: FakeRepos) -> None:
    # GIVEN a socket opened with login s1 that renewed its token with login s2
    gateway = FakeGateway()
    g = guard(repos, gateway)
    open_socket(repos, "c1", "s2")
    repos.sessions.create("s1", "alice", T0 // 1000, T0 // 1000 + 3600)
    # WHEN s1 is revoked
    repos.sessions.revoke("s1", T0 // 1000)
    # THEN the socket's frames pass (its live login is s2), and are then remembered
    g.check("c1", T0 // 1000 + 900, session_id="s1")
    reads = repos.sessions.times("get")
    g.check("c1", T0 // 1000 + 900, session_id="s1")
    assert repos.sessions.times("get") == reads
    assert gateway.closed == []


def test_no_session_means_no_recheck(repos: FakeRepos) -> None:
    # External (OIDC) tokens have no Parley login: nothing to re-read.
    g = guard(repos, FakeGateway())
    open_socket(repos, "c1", "s1")
    before = repos.sessions.times("get")
    g.check("c1", T0 // 1000 + 900, session_id="")
    assert repos.sessions.times("get") == before


class FlakyGateway(FakeGateway):
    """Closes fail `failures` times (throttled, 5xx), then work."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def close(self, connection_id: str) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("throttled")
        return super().close(connection_id)


def service(repos: FakeRepos, gateway: FakeGateway) -> ConnectionService:
    return ConnectionService(
        connections=repos.connections,
        users=repos.users,
        gateway=gateway,
        clock=repos.clock,
        ttl_seconds=7200,
    )


def test_closes_are_retried_until_they_work(
    repos: FakeRepos, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two sockets of alice's logins s1 and s2, and a gateway failing twice
    monkeypatch.setattr(connections_module, "CLOSE_BACKOFF_SECONDS", 0)
    gateway = FlakyGateway(failures=2)
    open_socket(repos, "c1", "s1")
    open_socket(repos, "c2", "s2")
    # WHEN every socket but s2's is closed
    closed = service(repos, gateway).close_user("alice", keep_session="s2")
    # THEN c1 closed on the third try; c2 is untouched
    assert (closed, gateway.closed) == (1, ["c1"])


def test_a_close_that_keeps_failing_does_not_fail_the_revocation(
    repos: FakeRepos, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections_module, "CLOSE_BACKOFF_SECONDS", 0)
    gateway = FlakyGateway(failures=100)
    open_socket(repos, "c1", "s1")
    assert service(repos, gateway).close_user("alice") == 0
    assert gateway.failures == 100 - connections_module.CLOSE_ATTEMPTS


def test_a_login_removed_by_its_ttl_leaves_the_token_expiry_in_charge(repos: FakeRepos) -> None:
    # GIVEN a socket whose login item is gone (TTL, after its refresh token expired)
    gateway = FakeGateway()
    g = guard(repos, gateway)
    # WHEN it sends a frame while its access token is still valid
    g.check("c1", T0 // 1000 + 900, session_id="gone")
    # THEN it passes (the access token's expiry, checked on every frame, bounds it)
    assert gateway.closed == []
    with pytest.raises(Unauthenticated):
        g.check("c1", T0 // 1000 - 1, session_id="gone")
