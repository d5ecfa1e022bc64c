"""AuthService with the fakes: register, login, refresh rotation and reuse, logout."""

from __future__ import annotations

from typing import Any

import pytest
from parley import passwords, tokens
from parley.errors import Conflict, Unauthenticated, UserNotFound
from parley.models import RegisterBody, validate
from parley.services import auth as auth_module
from parley.services.auth import AuthService

from tests.fakes.repos import FakeRepos, FixedClock

KEYS = tokens.Keys.from_secret("unit-test-secret")
NOW_MS = 1_700_000_000_000


class Harness:
    def __init__(self) -> None:
        self.repos = FakeRepos(FixedClock(NOW_MS))
        self.logouts: list[tuple[str, str]] = []
        self.auth = AuthService(
            users=self.repos.users,
            sessions=self.repos.sessions,
            keys=lambda: KEYS,
            clock=self.repos.clock,
            issuer="parley",
            audience="parley-clients",
            access_ttl=900,
            refresh_ttl=3600,
            on_logout=lambda user, session: self.logouts.append((user, session)),
        )

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.repos.clock, FixedClock)
        return self.repos.clock


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return passwords.hash_password("alice-password")


@pytest.fixture
def h(alice_hash: str) -> Harness:
    # Access tokens are checked against the real time by PyJWT: pin the service clock to it.
    import time

    harness = Harness()
    harness.clock.set(int(time.time()) * 1000)
    harness.repos.users.create("alice", alice_hash, "Alice", 0)
    return harness


def register(h: Harness, user_id: str, password: str = "pw-123456", name: str | None = None) -> Any:  # noqa: S107
    body: dict[str, Any] = {"userId": user_id, "password": password}
    if name is not None:
        body["displayName"] = name
    return h.auth.register(validate(RegisterBody, body))


# ---- register and me ---------------------------------------------------------------------


def test_register_stores_a_hash_not_the_password(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a new user id
    # WHEN it is registered
    # THEN the answer is {userId}, the stored hash verifies and is not the password
    monkeypatch.setattr(auth_module, "hash_password", lambda p: "scrypt$hash-of-" + str(len(p)))
    assert register(h, "bob", name="Bobby") == {"userId": "bob"}
    stored = h.repos.users.get("bob")
    assert stored is not None
    assert stored["passwordHash"] == "scrypt$hash-of-9"
    assert stored["displayName"] == "Bobby"


def test_register_defaults_display_name_to_user_id(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no display name
    # WHEN a user registers
    # THEN /me shows the userId as display name
    monkeypatch.setattr(auth_module, "hash_password", lambda p: "h")
    register(h, "bob")
    assert h.auth.me("bob") == {"userId": "bob", "displayName": "bob"}


def test_register_taken_id_is_conflict(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN alice exists
    # WHEN someone registers "alice"
    # THEN it is 1008 and her hash is unchanged
    monkeypatch.setattr(auth_module, "hash_password", lambda p: "other")
    before = h.repos.users.get("alice")
    with pytest.raises(Conflict):
        register(h, "alice")
    assert h.repos.users.get("alice") == before


def test_me_of_unknown_user_is_1002(h: Harness) -> None:
    # GIVEN no such user
    # WHEN /me is asked for them
    # THEN it is 1002
    with pytest.raises(UserNotFound):
        h.auth.me("ghost")


# ---- login -------------------------------------------------------------------------------


def test_login_returns_a_token_pair(h: Harness) -> None:
    # GIVEN alice's password
    # WHEN she logs in
    # THEN she gets a Bearer access token for her, a generation-1 refresh token, expiresIn
    pair = h.auth.login("alice", "alice-password")
    assert pair["tokenType"] == "Bearer"
    assert pair["expiresIn"] == 900
    principal = h.auth.authenticate(pair["accessToken"])
    assert principal.user_id == "alice"
    session_id, generation = tokens.parse_refresh_token(KEYS, pair["refreshToken"])
    assert (session_id, generation) == (principal.session_id, 1)
    session = h.repos.sessions.get(session_id)
    assert session is not None
    assert (session["userId"], session["gen"], session["revoked"]) == ("alice", 1, False)
    assert session["expiresAt"] == h.clock.now_ms() // 1000 + 3600


def test_each_login_is_its_own_session(h: Harness) -> None:
    # GIVEN alice logging in twice
    # WHEN the sessions are compared
    # THEN they differ
    a = h.auth.authenticate(h.auth.login("alice", "alice-password")["accessToken"])
    b = h.auth.authenticate(h.auth.login("alice", "alice-password")["accessToken"])
    assert a.session_id != b.session_id


def test_wrong_password_and_unknown_user_get_the_same_answer(h: Harness) -> None:
    # GIVEN a wrong password for alice, and an unknown user
    # WHEN each logs in
    # THEN both are 1003 with the same message, and no session is created
    with pytest.raises(Unauthenticated) as wrong:
        h.auth.login("alice", "not-her-password")
    with pytest.raises(Unauthenticated) as unknown:
        h.auth.login("nobody", "not-her-password")
    assert wrong.value.message == unknown.value.message == auth_module.BAD_LOGIN
    assert h.repos.sessions.times("create") == 0


@pytest.mark.parametrize("user_id", ["nobody", "NOT A USER ID", ""])
def test_login_of_unknown_user_still_runs_the_kdf(
    h: Harness, monkeypatch: pytest.MonkeyPatch, user_id: str
) -> None:
    # GIVEN an unknown (or malformed) user id
    # WHEN it logs in
    # THEN the password is still checked, against the dummy hash, so timing matches
    calls: list[tuple[str, str]] = []

    def spy(password: str, stored: str) -> bool:
        calls.append((password, stored))
        return True  # even a "match" must not let an unknown user in

    monkeypatch.setattr(auth_module, "verify_password", spy)
    with pytest.raises(Unauthenticated):
        h.auth.login(user_id, "whatever")
    assert calls == [("whatever", passwords.DUMMY_HASH)]


def test_login_of_known_user_checks_the_stored_hash(
    h: Harness, monkeypatch: pytest.MonkeyPatch, alice_hash: str
) -> None:
    # GIVEN alice
    # WHEN she logs in
    # THEN her stored hash is the one checked
    calls: list[str] = []
    monkeypatch.setattr(auth_module, "verify_password", lambda p, s: calls.append(s) or False)
    with pytest.raises(Unauthenticated):
        h.auth.login("alice", "x")
    assert calls == [alice_hash]


# ---- refresh -----------------------------------------------------------------------------


def test_refresh_rotates_the_pair(h: Harness) -> None:
    # GIVEN a login
    # WHEN its refresh token is used
    # THEN a new pair for the same session at generation 2 comes back
    first = h.auth.login("alice", "alice-password")
    second = h.auth.refresh(first["refreshToken"])
    sid1, gen1 = tokens.parse_refresh_token(KEYS, first["refreshToken"])
    sid2, gen2 = tokens.parse_refresh_token(KEYS, second["refreshToken"])
    assert (sid2, gen2) == (sid1, gen1 + 1)
    assert h.auth.authenticate(second["accessToken"]).user_id == "alice"
    assert h.auth.refresh(second["refreshToken"])["refreshToken"].split(".")[1] == "3"


def test_reusing_a_spent_refresh_token_revokes_the_login(h: Harness) -> None:
    # GIVEN a refresh token that was already used
    # WHEN it is presented again
    # THEN it is 1003, the session is revoked, on_logout runs, and the newest tokens die too
    first = h.auth.login("alice", "alice-password")
    second = h.auth.refresh(first["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(first["refreshToken"])
    sid, _ = tokens.parse_refresh_token(KEYS, first["refreshToken"])
    session = h.repos.sessions.get(sid)
    assert session is not None
    assert session["revoked"] is True
    assert h.logouts == [("alice", sid)]
    with pytest.raises(Unauthenticated):
        h.auth.refresh(second["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(second["accessToken"])


def test_reuse_revokes_only_that_login(h: Harness) -> None:
    # GIVEN two logins of alice
    # WHEN one of them is revoked by reuse
    # THEN the other still works
    a = h.auth.login("alice", "alice-password")
    b = h.auth.login("alice", "alice-password")
    h.auth.refresh(a["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(a["refreshToken"])
    assert h.auth.authenticate(b["accessToken"]).user_id == "alice"
    assert h.auth.refresh(b["refreshToken"])["tokenType"] == "Bearer"


def test_future_generation_is_treated_as_reuse(h: Harness) -> None:
    # GIVEN a correctly MAC'd token for a generation the server never issued
    # WHEN it is presented
    # THEN the login is revoked
    pair = h.auth.login("alice", "alice-password")
    sid, _ = tokens.parse_refresh_token(KEYS, pair["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(tokens.issue_refresh_token(KEYS, sid, 5))
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])


def test_refresh_after_expiry_is_refused_without_revoking(h: Harness) -> None:
    # GIVEN a login whose refresh lifetime has passed
    # WHEN it is refreshed
    # THEN it is 1003 and on_logout is not called
    pair = h.auth.login("alice", "alice-password")
    h.clock.advance(3601 * 1000)
    with pytest.raises(Unauthenticated):
        h.auth.refresh(pair["refreshToken"])
    assert h.logouts == []


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c"])
def test_refresh_with_a_forged_token_is_refused(h: Harness, token: str) -> None:
    # GIVEN a token that is not an authentic refresh token
    # WHEN it is presented
    # THEN it is 1003 and no session is touched
    with pytest.raises(Unauthenticated):
        h.auth.refresh(token)
    assert h.repos.sessions.times("get") == 0


def test_refresh_of_unknown_session_is_refused(h: Harness) -> None:
    # GIVEN an authentic token for a session that does not exist
    # WHEN it is presented
    # THEN it is 1003
    with pytest.raises(Unauthenticated):
        h.auth.refresh(tokens.issue_refresh_token(KEYS, tokens.new_session_id(), 1))


def test_lost_rotation_race_is_reuse(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a refresh token whose rotation loses to a concurrent rotation
    # WHEN it is presented
    # THEN the login is revoked (two holders of one token)
    pair = h.auth.login("alice", "alice-password")
    monkeypatch.setattr(h.repos.sessions, "rotate", lambda *a, **k: False)
    with pytest.raises(Unauthenticated):
        h.auth.refresh(pair["refreshToken"])
    assert len(h.logouts) == 1


# ---- logout and authenticate -------------------------------------------------------------


def test_logout_ends_the_login(h: Harness) -> None:
    # GIVEN a login
    # WHEN it logs out with its refresh token
    # THEN its access and refresh tokens are refused and on_logout ran for its session
    pair = h.auth.login("alice", "alice-password")
    principal = h.auth.authenticate(pair["accessToken"])
    h.auth.logout(pair["refreshToken"])
    assert h.logouts == [("alice", principal.session_id)]
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(pair["refreshToken"])


def test_logout_with_forged_or_unknown_token_is_refused(h: Harness) -> None:
    # GIVEN a forged token and one for an unknown session
    # WHEN each logs out
    # THEN both are 1003 and nothing is revoked
    with pytest.raises(Unauthenticated):
        h.auth.logout("forged")
    with pytest.raises(Unauthenticated):
        h.auth.logout(tokens.issue_refresh_token(KEYS, tokens.new_session_id(), 1))
    assert h.logouts == []


def test_authenticate_checks_the_session(h: Harness) -> None:
    # GIVEN a valid access token whose session was revoked, or deleted
    # WHEN it is authenticated (with and without the revocation check)
    # THEN it is refused only when the check runs
    pair = h.auth.login("alice", "alice-password")
    principal = h.auth.authenticate(pair["accessToken"])
    h.repos.sessions.revoke(principal.session_id, 0)
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])
    assert h.auth.authenticate(pair["accessToken"], check_revoked=False).user_id == "alice"
    with h.repos.store.lock:
        del h.repos.store.sessions[principal.session_id]
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])


def test_authenticate_refuses_a_session_of_another_user(h: Harness) -> None:
    # GIVEN a correctly signed token whose sid belongs to bob's login
    # WHEN it is authenticated
    # THEN it is refused
    h.repos.sessions.create("bob-session-id-0000000", "bob", 0, 2**40)
    import time

    token = tokens.issue_access_token(
        KEYS,
        user_id="alice",
        session_id="bob-session-id-0000000",
        now=int(time.time()),
        ttl=60,
        issuer="parley",
        audience="parley-clients",
    )
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(token)


def test_authenticate_refuses_bad_tokens(h: Harness) -> None:
    # GIVEN tokens that fail verification
    # WHEN authenticated
    # THEN 1003 without touching the sessions table
    for token in ("", "x.y.z"):
        with pytest.raises(Unauthenticated):
            h.auth.authenticate(token)
    assert h.repos.sessions.times("get") == 0
