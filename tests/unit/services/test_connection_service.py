"""ConnectionService with the fakes: $connect, $disconnect and closing one login's sockets."""

from __future__ import annotations

import pytest
from parley.services.connections import ConnectionService

from tests.fakes.gateway import FakeGateway
from tests.fakes.repos import FakeRepos, FixedClock

NOW_MS = 1_700_000_000_123


@pytest.fixture
def repos() -> FakeRepos:
    repos = FakeRepos(FixedClock(NOW_MS))
    repos.users.add("alice")
    return repos


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def service(repos: FakeRepos, gateway: FakeGateway) -> ConnectionService:
    return ConnectionService(
        connections=repos.connections,
        users=repos.users,
        gateway=gateway,
        clock=repos.clock,
        ttl_seconds=7800,
    )


def test_connect_stores_the_connection_with_a_ttl(
    service: ConnectionService, repos: FakeRepos
) -> None:
    # GIVEN a new socket
    # WHEN it connects
    # THEN its record names user, session, source, token expiry and a TTL of now + ttl_seconds
    service.connect("conn-1", "alice", "sess-1", 1_700_000_900, "203.0.113.1")
    assert repos.connections.get("conn-1") == {
        "connectionId": "conn-1",
        "userId": "alice",
        "sessionId": "sess-1",
        "connectedAt": NOW_MS,
        "sourceIp": "203.0.113.1",
        "tokenExp": 1_700_000_900,
        "ttl": NOW_MS // 1000 + 7800,
    }
    assert [c["connectionId"] for c in repos.connections.by_user("alice", NOW_MS // 1000)] == [
        "conn-1"
    ]


def test_connection_is_not_live_after_its_ttl(service: ConnectionService, repos: FakeRepos) -> None:
    # GIVEN a stored connection
    # WHEN time passes its TTL
    # THEN it no longer counts as live
    service.connect("conn-1", "alice", "s", 0, None)
    ttl = NOW_MS // 1000 + 7800
    assert repos.connections.by_user("alice", ttl - 1)
    assert repos.connections.by_user("alice", ttl) == []


def test_disconnect_forgets_the_connection_and_sets_last_seen(
    service: ConnectionService, repos: FakeRepos
) -> None:
    # GIVEN a connected socket
    # WHEN it disconnects later
    # THEN the record is gone, returned, and alice's lastSeen is the disconnect time
    service.connect("conn-1", "alice", "s", 0, None)
    assert isinstance(repos.clock, FixedClock)
    repos.clock.advance(60_000)
    record = service.disconnect("conn-1")
    assert record is not None
    assert record["userId"] == "alice"
    assert repos.connections.get("conn-1") is None
    assert repos.users.profiles(["alice"])["alice"]["lastSeen"] == NOW_MS + 60_000


def test_disconnect_of_unknown_connection_is_a_no_op(
    service: ConnectionService, repos: FakeRepos
) -> None:
    # GIVEN no such connection
    # WHEN it disconnects (a repeated $disconnect)
    # THEN nothing happens and lastSeen is not written
    assert service.disconnect("nope") is None
    assert repos.users.times("set_last_seen") == 0


def test_close_session_closes_only_that_sessions_sockets(
    service: ConnectionService, repos: FakeRepos, gateway: FakeGateway
) -> None:
    # GIVEN alice with two sockets of login A and one of login B, and bob with login A's id
    # WHEN login A is closed
    # THEN only alice's two A sockets are closed
    service.connect("a-1", "alice", "login-A", 0, None)
    service.connect("a-2", "alice", "login-A", 0, None)
    service.connect("b-1", "alice", "login-B", 0, None)
    repos.users.add("bob")
    service.connect("x-1", "bob", "login-A", 0, None)
    assert service.close_session("alice", "login-A") == 2
    assert sorted(gateway.closed) == ["a-1", "a-2"]
    assert repos.connections.get("b-1") is not None


def test_close_session_deletes_records_of_sockets_already_gone(
    service: ConnectionService, repos: FakeRepos, gateway: FakeGateway
) -> None:
    # GIVEN one socket already gone (410 on close) and one live
    # WHEN the login is closed
    # THEN the gone one's record is deleted; the live one is left for its $disconnect
    service.connect("dead", "alice", "L", 0, None)
    service.connect("live", "alice", "L", 0, None)
    gateway.gone.add("dead")
    assert service.close_session("alice", "L") == 2
    assert repos.connections.get("dead") is None
    assert repos.connections.get("live") is not None


def test_close_session_without_gateway_does_nothing(repos: FakeRepos) -> None:
    # GIVEN a service without a gateway (a function that cannot post)
    # WHEN a login is closed
    # THEN it answers 0
    service = ConnectionService(
        connections=repos.connections,
        users=repos.users,
        gateway=None,
        clock=repos.clock,
        ttl_seconds=60,
    )
    service.connect("c", "alice", "L", 0, None)
    assert service.close_session("alice", "L") == 0
