"""AuthService with the fakes (issue 15): per-account login budgets counted before the
password check, rehash on login, the refresh grace window, the absolute session lifetime,
logging out everywhere, password change, and the registration challenge."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from typing import Any

import pytest
from parley import passwords, tokens
from parley.errors import InvalidParam, RateLimited, Unauthenticated, UserNotFound
from parley.models import RegisterBody, validate
from parley.services import auth as auth_module
from parley.services.auth import AuthService, ChallengePolicy
from parley.services.limits import RateLimiter

from tests.fakes.repos import FakeRepos, FixedClock

KEYS = tokens.Keys.from_secret("unit-test-secret")
PASSWORD = "alice-password"


class Harness:
    """An AuthService over the fakes, on a clock pinned to real time (PyJWT checks `exp`
    against it), recording the sockets it was asked to close."""

    def __init__(self, **options: Any) -> None:
        now = int(time.time()) * 1000
        self.repos = FakeRepos(FixedClock(now - now % 900_000 + 1))
        self.closed_logins: list[tuple[str, str]] = []
        self.closed_users: list[tuple[str, str | None]] = []
        self.limiter = RateLimiter(
            limits=self.repos.limits,
            clock=self.repos.clock,
            frames_per_second=50,
            frame_burst=100,
            sends_per_minute=600,
            failed_logins=1000,
            connects_per_minute=60,
            window_seconds=60,
            failed_logins_per_account=options.pop("per_account", 10),
            login_window_seconds=900,
            registrations_per_hour=options.pop("registrations", 10),
        )
        self.auth = AuthService(
            users=self.repos.users,
            sessions=self.repos.sessions,
            keys=lambda: KEYS,
            clock=self.repos.clock,
            issuer="parley",
            audience="parley-clients",
            access_ttl=900,
            refresh_ttl=3600,
            on_logout=lambda user, session: self.closed_logins.append((user, session)),
            on_revoke_user=lambda user, keep: self.closed_users.append((user, keep)),
            limiter=self.limiter,
            **options,
        )

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.repos.clock, FixedClock)
        return self.repos.clock


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return passwords.hash_password(PASSWORD)


def harness(alice_hash: str, **options: Any) -> Harness:
    h = Harness(**options)
    h.repos.users.create("alice", alice_hash, "Alice", 0)
    return h


def session_of(pair: dict[str, Any]) -> str:
    return tokens.parse_refresh_token(KEYS, pair["refreshToken"])[0]


# ---- brute force --------------------------------------------------------------------------


def test_the_account_locks_after_its_failures_even_for_the_right_password(
    alice_hash: str,
) -> None:
    # GIVEN 3 failed logins allowed per account
    h = harness(alice_hash, per_account=3)
    # WHEN 3 wrong passwords come from 3 addresses
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        with pytest.raises(Unauthenticated):
            h.auth.login("alice", "wrong password", ip)
    # THEN the right password is 1005 with retryAfterMs, from any address, until the
    # window passes
    with pytest.raises(RateLimited) as caught:
        h.auth.login("alice", PASSWORD, "198.51.100.9")
    assert 0 < (caught.value.retry_after_ms or 0) <= 900_000
    h.clock.advance(900_000)
    assert h.auth.login("alice", PASSWORD, "198.51.100.9")["tokenType"] == "Bearer"


def test_concurrent_guesses_never_reach_the_password_check_past_the_budget(
    alice_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 10 failed logins allowed per account, and a password check that is slow
    h = harness(alice_hash, per_account=10)
    checked: list[str] = []
    lock = threading.Lock()

    def slow_verify(password: str, stored: str) -> bool:
        with lock:
            checked.append(password)
        time.sleep(0.01)
        return False

    monkeypatch.setattr(auth_module, "verify_password", slow_verify)
    outcomes: list[str] = []
    start = threading.Barrier(100)

    def guess(n: int) -> None:
        start.wait()
        try:
            h.auth.login("alice", f"guess {n}", f"203.0.113.{n}")
        except (Unauthenticated, RateLimited) as err:
            with lock:
                outcomes.append(type(err).__name__)

    # WHEN 100 guesses arrive at once
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly the budget reached the check; the rest were refused before it
    assert len(checked) == 10
    assert outcomes.count("Unauthenticated") == 10
    assert outcomes.count("RateLimited") == 90


def test_a_malformed_user_id_takes_no_account_budget(alice_hash: str) -> None:
    h = harness(alice_hash, per_account=1)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            h.auth.login("Not Valid!", "x", "198.51.100.1")
    assert h.auth.login("alice", PASSWORD, "198.51.100.1")["accessToken"]


def test_registrations_are_rationed_per_address(alice_hash: str) -> None:
    h = harness(alice_hash, registrations=2)
    for user in ("bob", "carol"):
        h.auth.register(validate(RegisterBody, {"userId": user, "password": "p" * 8}), "1.2.3.4")
    with pytest.raises(RateLimited):
        h.auth.register(validate(RegisterBody, {"userId": "dave", "password": "p" * 8}), "1.2.3.4")
    assert h.repos.users.get("dave") is None


# ---- rehash -------------------------------------------------------------------------------


def legacy_scrypt(password: str) -> str:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"scrypt$16384$8$1${b64(salt)}${b64(key)}"


def test_a_legacy_scrypt_hash_logs_in_and_is_replaced_by_argon2id(alice_hash: str) -> None:
    # GIVEN bob, stored by an older release with scrypt
    h = harness(alice_hash)
    h.repos.users.create("bob", legacy_scrypt("bob-password"), "Bob", 0)
    # WHEN bob logs in
    assert h.auth.login("bob", "bob-password")["accessToken"]
    # THEN his hash is Argon2id with today's parameters, and it still opens
    stored = (h.repos.users.get("bob") or {}).get("passwordHash", "")
    assert stored.startswith("$argon2id$") and not passwords.needs_rehash(stored)
    assert h.auth.login("bob", "bob-password")["accessToken"]
    # AND a current hash is not rewritten at login
    h.auth.login("alice", PASSWORD)
    assert (h.repos.users.get("alice") or {}).get("passwordHash") == alice_hash


# ---- refresh grace window -----------------------------------------------------------------


def test_the_same_refresh_token_within_the_grace_window_gets_the_same_pair(
    alice_hash: str,
) -> None:
    # GIVEN a 30 s grace window and a refreshed login
    h = harness(alice_hash, refresh_grace=30)
    first = h.auth.login("alice", PASSWORD)
    second = h.auth.refresh(first["refreshToken"])
    # WHEN the spent token comes again 10 s later (the other tab, or a retry)
    h.clock.advance(10_000)
    again = h.auth.refresh(first["refreshToken"])
    # THEN the very same pair comes back, and the login lives on
    assert again == second
    assert h.auth.authenticate(again["accessToken"]).user_id == "alice"
    assert h.closed_logins == []
    third = h.auth.refresh(second["refreshToken"])
    assert h.auth.authenticate(third["accessToken"]).session_id == session_of(first)


def test_a_spent_refresh_token_after_the_grace_window_revokes_the_login(
    alice_hash: str,
) -> None:
    h = harness(alice_hash, refresh_grace=30)
    first = h.auth.login("alice", PASSWORD)
    second = h.auth.refresh(first["refreshToken"])
    h.clock.advance(31_000)
    with pytest.raises(Unauthenticated):
        h.auth.refresh(first["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(second["refreshToken"])
    assert h.closed_logins == [("alice", session_of(first))]


def test_a_token_two_generations_old_is_reuse_even_within_the_window(alice_hash: str) -> None:
    h = harness(alice_hash, refresh_grace=30)
    first = h.auth.login("alice", PASSWORD)
    second = h.auth.refresh(first["refreshToken"])
    h.auth.refresh(second["refreshToken"])
    with pytest.raises(Unauthenticated):
        h.auth.refresh(first["refreshToken"])
    assert len(h.closed_logins) == 1


def test_two_concurrent_refreshes_with_one_token_both_get_the_new_pair(
    alice_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a grace window, and a refresh whose rotation loses to a concurrent one with the
    # same token (both read generation 1; the other wrote generation 2 first)
    h = harness(alice_hash, refresh_grace=30)
    first = h.auth.login("alice", PASSWORD)
    real_rotate = h.repos.sessions.rotate
    winner: list[Any] = []

    def rotate_after_the_other(session_id: str, gen: int, now: int, exp: int) -> bool:
        monkeypatch.setattr(h.repos.sessions, "rotate", real_rotate)
        winner.append(h.auth.refresh(first["refreshToken"]))
        return real_rotate(session_id, gen, now, exp)

    monkeypatch.setattr(h.repos.sessions, "rotate", rotate_after_the_other)
    # WHEN the loser finishes
    loser = h.auth.refresh(first["refreshToken"])
    # THEN both hold the same new pair and the login is not revoked
    assert loser == winner[0]
    assert h.closed_logins == []


# ---- absolute lifetime --------------------------------------------------------------------


def test_a_login_ends_at_its_absolute_lifetime_however_often_refreshed(alice_hash: str) -> None:
    # GIVEN logins that last at most 2 hours (refresh tokens slide by 1 hour)
    h = harness(alice_hash, max_lifetime=7200)
    pair = h.auth.login("alice", PASSWORD)
    # WHEN it is refreshed at 50 minutes and at 1 h 48 min
    h.clock.advance(3000_000)
    pair = h.auth.refresh(pair["refreshToken"])
    h.clock.advance(3500_000)
    pair = h.auth.refresh(pair["refreshToken"])
    # THEN the last access token ends with the login (700 s left, not 900), and at the end
    # no refresh works
    assert pair["expiresIn"] == 700
    h.clock.advance(700_000)
    with pytest.raises(Unauthenticated):
        h.auth.refresh(pair["refreshToken"])


# ---- logout everywhere, password change ---------------------------------------------------


def test_revoke_user_ends_every_login_and_closes_every_socket(alice_hash: str) -> None:
    h = harness(alice_hash)
    pairs = [h.auth.login("alice", PASSWORD) for _ in range(3)]
    bob = h.repos.users.create("bob", alice_hash, "Bob", 0)
    assert bob is None
    bobs = h.auth.login("bob", PASSWORD)
    assert h.auth.revoke_user("alice") == 3
    for pair in pairs:
        with pytest.raises(Unauthenticated):
            h.auth.authenticate(pair["accessToken"])
        with pytest.raises(Unauthenticated):
            h.auth.refresh(pair["refreshToken"])
    assert h.closed_users == [("alice", None)]
    assert h.auth.authenticate(bobs["accessToken"]).user_id == "bob"


def test_password_change_keeps_this_login_and_ends_the_others(alice_hash: str) -> None:
    # GIVEN alice logged in twice
    h = harness(alice_hash)
    here, elsewhere = h.auth.login("alice", PASSWORD), h.auth.login("alice", PASSWORD)
    # WHEN she changes her password from the first login
    h.auth.change_password("alice", session_of(here), PASSWORD, "a new password")
    # THEN the first login lives, the other is revoked (its sockets closed), the old password
    # no longer opens and the new one does
    assert h.auth.authenticate(here["accessToken"]).user_id == "alice"
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(elsewhere["accessToken"])
    assert h.closed_users == [("alice", session_of(here))]
    with pytest.raises(Unauthenticated):
        h.auth.login("alice", PASSWORD)
    assert h.auth.login("alice", "a new password")["accessToken"]


def test_password_change_with_a_wrong_old_password_changes_nothing(alice_hash: str) -> None:
    h = harness(alice_hash, per_account=2)
    here = h.auth.login("alice", PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            h.auth.change_password("alice", session_of(here), "not it", "a new password")
    # The old password is guessed under the same budget as logins.
    with pytest.raises(RateLimited):
        h.auth.change_password("alice", session_of(here), PASSWORD, "a new password")
    assert (h.repos.users.get("alice") or {}).get("passwordHash") == alice_hash
    assert h.closed_users == []


# ---- registration challenge ---------------------------------------------------------------


def challenged(alice_hash: str, difficulty: int = 8) -> Harness:
    h = Harness()
    policy = ChallengePolicy(difficulty=difficulty, ttl=300, used=h.repos.limits)
    h.auth.challenge = policy
    return h


def body(user: str, **extra: Any) -> RegisterBody:
    return validate(RegisterBody, {"userId": user, "password": "p" * 8, **extra})


def test_a_solved_challenge_registers_once(alice_hash: str) -> None:
    # GIVEN a challenge and its solution
    h = challenged(alice_hash)
    issued = h.auth.issue_challenge()
    assert (issued["difficulty"], issued["expiresIn"]) == (8, 300)
    solution = tokens.solve_challenge(issued["challenge"], issued["difficulty"])
    # WHEN bob registers with it, and carol with the same one
    h.auth.register(body("bob", challenge=issued["challenge"], solution=solution))
    # THEN bob exists; the reused challenge is 1001
    assert h.repos.users.get("bob") is not None
    with pytest.raises(InvalidParam, match="already used"):
        h.auth.register(body("carol", challenge=issued["challenge"], solution=solution))


@pytest.mark.parametrize("case", ["missing", "no solution", "wrong", "forged", "expired"])
def test_a_bad_challenge_is_1001_and_registers_nothing(alice_hash: str, case: str) -> None:
    h = challenged(alice_hash, difficulty=12)
    issued = h.auth.issue_challenge()["challenge"]
    solution = tokens.solve_challenge(issued, 12)
    extra: dict[str, Any] = {
        "missing": {},
        "no solution": {"challenge": issued},
        "wrong": {
            "challenge": issued,
            "solution": next(
                s
                for s in map(str, range(10**6))
                if s != solution
                and tokens.leading_zero_bits(hashlib.sha256((issued + s).encode()).digest()) < 12
            ),
        },
        "forged": {
            "challenge": issued[:-1] + ("A" if issued[-1] != "A" else "B"),
            "solution": solution,
        },
        "expired": {"challenge": issued, "solution": solution},
    }[case]
    if case == "expired":
        h.clock.advance(301_000)
    with pytest.raises(InvalidParam):
        h.auth.register(body("bob", **extra))
    assert h.repos.users.get("bob") is None


def test_no_challenge_is_issued_when_none_is_asked(alice_hash: str) -> None:
    with pytest.raises(UserNotFound):
        Harness().auth.issue_challenge()


def test_leading_zero_bits() -> None:
    assert tokens.leading_zero_bits(b"\x00\x00\xff") == 16
    assert tokens.leading_zero_bits(b"\x00\x10") == 11
    assert tokens.leading_zero_bits(b"\x80") == 0
    assert tokens.leading_zero_bits(b"\x00") == 8


def test_the_challenge_settings_are_checked_at_cold_start() -> None:
    # A challenge needs the limits table (used challenges live there), and is pow or off.
    from parley.config import Settings, SettingsError

    with pytest.raises(SettingsError, match="needs PARLEY_LIMITS_TABLE"):
        Settings.from_mapping({"registration_challenge": "pow"})
    with pytest.raises(SettingsError, match="must be off or pow"):
        Settings.from_mapping({"registration_challenge": "captcha", "limits_table": "t"})
    assert Settings.from_mapping({"registration_challenge": "pow", "limits_table": "t"})
