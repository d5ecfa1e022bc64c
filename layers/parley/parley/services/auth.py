"""Accounts and logins: register (rationed per address, optionally behind a proof-of-work
challenge), login (brute force bounded per account and per address), refresh with rotation,
reuse detection and a grace window, logout, logout everywhere, password change, and
verification of access tokens (signature, claims, and that the login is still active).

Tokens of an external OpenID Connect issuer (when one is configured) are verified by that
issuer's keys only; their users are provisioned on first use, without a password. Such
tokens have no Parley login behind them: they cannot be refreshed or logged out here, and
revoking them is the identity provider's business (short lifetimes there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from parley import ids, tokens
from parley.clock import Clock
from parley.errors import Forbidden, Unauthenticated, UserNotFound
from parley.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from parley.ports import Limits, Sessions, Users
from parley.records import Session
from parley.services.limits import LoginAttempt, RateLimiter

if TYPE_CHECKING:
    from parley.models import RegisterBody

BAD_LOGIN = "invalid user id or password"
SUSPENDED = "this account is suspended"


class Registered(TypedDict):
    """The body of `POST /auth/register`."""

    userId: str


class TokenPair(TypedDict):
    """The body of `POST /auth/login` and `/auth/refresh`."""

    accessToken: str
    refreshToken: str
    tokenType: str
    expiresIn: int


class ChallengeBody(TypedDict):
    """The body of `GET /auth/challenge` (protocol 13)."""

    challenge: str
    difficulty: int
    expiresIn: int


class Me(TypedDict):
    """The body of `GET /users/me`."""

    userId: str
    displayName: str


@dataclass(frozen=True, kw_only=True)
class ChallengePolicy:
    """The registration challenge: its difficulty (zero bits), lifetime, and where used
    challenges are remembered until they expire."""

    difficulty: int
    ttl: int
    used: Limits


@dataclass(eq=False, kw_only=True)
class AuthService:
    """Every rule about identities and tokens."""

    users: Users
    sessions: Sessions
    keys: Callable[[], tokens.Keys]
    clock: Clock
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    on_logout: Callable[[str, str], None] | None = None
    # Closes every socket of a user except those of the given login (None: all of them).
    on_revoke_user: Callable[[str, str | None], None] | None = None
    limiter: RateLimiter | None = None
    external: tokens.ExternalVerifier | None = None
    refresh_grace: int = 0
    max_lifetime: int = 0
    challenge: ChallengePolicy | None = None

    # ---- accounts ---------------------------------------------------------------------

    def issue_challenge(self) -> ChallengeBody:
        """A signed registration challenge (nothing stored); 1002 when none is required."""
        if self.challenge is None:
            raise UserNotFound("this server asks no registration challenge")
        policy = self.challenge
        return {
            "challenge": tokens.issue_challenge(
                self.keys(),
                now=self.clock.now_ms() // 1000,
                ttl=policy.ttl,
                difficulty=policy.difficulty,
            ),
            "difficulty": policy.difficulty,
            "expiresIn": policy.ttl,
        }

    def register(self, body: RegisterBody, source_ip: str | None = None) -> Registered:
        """Create an account; 1001 for a missing, wrong, expired or reused challenge (when
        one is required), 1005 past the address's registrations, 1008 when the userId is
        taken."""
        if self.challenge is not None:
            self._spend_challenge(body.challenge, body.solution)
        if self.limiter is not None:
            self.limiter.register(source_ip)
        self.users.create(
            body.userId,
            hash_password(body.password),
            body.displayName or body.userId,
            self.clock.now_ms(),
        )
        return {"userId": body.userId}

    def _spend_challenge(self, challenge: str | None, solution: str | None) -> None:
        from parley.errors import InvalidParam

        assert self.challenge is not None
        now = self.clock.now_ms() // 1000
        solved = tokens.check_challenge(self.keys(), challenge, solution, now=now)
        # Single use: the first registration to claim the nonce wins, until it expires.
        if not self.challenge.used.claim(f"challenge#{solved.nonce}", solved.expires_at):
            raise InvalidParam("challenge was already used; get a new one")

    def login(self, user_id: str, password: str, source_ip: str | None = None) -> TokenPair:
        """Check the password (same time and answer for unknown users) and start a login.

        The attempt is counted against the account and the address before the password is
        checked (protocol 13); past either budget the answer is 1005 until the window
        passes, whatever the password. A right password gives the attempt back. A hash of
        older parameters (or scrypt) is replaced by a fresh Argon2id one. A suspended user
        (protocol 12) gets 1004, only once the password is right: the answer tells nobody
        else that the account exists.
        """
        stored = self._check_password(user_id, password, source_ip, refuse_suspended=True)
        if needs_rehash(stored):
            # Conditional on the hash just verified: a concurrent password change wins.
            self.users.replace_password_hash(user_id, stored, hash_password(password))
        now = self.clock.now_ms() // 1000
        session_id = tokens.new_session_id()
        ends_at = now + self.max_lifetime if self.max_lifetime else 0
        self.sessions.create(
            session_id, user_id, now, self._refresh_expiry(now, ends_at), ends_at=ends_at
        )
        return self._pair(user_id, session_id, 1, now, ends_at)

    def change_password(
        self,
        user_id: str,
        session_id: str,
        old_password: str,
        new_password: str,
        source_ip: str | None = None,
    ) -> int:
        """Replace the password (the old one checked like a login: same budgets) and end
        every other login of the user, sockets included; how many logins ended."""
        stored = self._check_password(user_id, old_password, source_ip)
        if not self.users.replace_password_hash(user_id, stored, hash_password(new_password)):
            raise Unauthenticated("the password was changed meanwhile")
        return self.revoke_user(user_id, keep_session=session_id or None)

    def verify_password(self, user_id: str, password: str, source_ip: str | None = None) -> None:
        """Check `password` as a login does (the same budgets and the same 1003 for any
        mismatch), without starting a login: `DELETE /me` (protocol 12)."""
        self._check_password(user_id, password, source_ip)

    def _check_password(
        self,
        user_id: str,
        password: str,
        source_ip: str | None,
        *,
        refuse_suspended: bool = False,
    ) -> str:
        """The stored hash once `password` matches it; 1003 otherwise, 1005 past a budget,
        1004 for a suspended user with `refuse_suspended`."""
        known_id = ids.is_user_id(user_id)
        attempt: LoginAttempt | None = None
        if self.limiter is not None:
            attempt = self.limiter.begin_login(user_id if known_id else None, source_ip)
        user = self.users.get(user_id) if known_id else None
        # Externally provisioned users have no password: they fail like unknown users, after
        # the same full KDF run.
        stored = (user.get("passwordHash") if user else None) or DUMMY_HASH
        if not verify_password(password, stored) or stored == DUMMY_HASH:
            raise Unauthenticated(BAD_LOGIN)
        if self.limiter is not None and attempt is not None:
            self.limiter.login_succeeded(attempt)
        if refuse_suspended and user is not None and "suspended" in user:
            raise Forbidden(SUSPENDED)
        return stored

    # ---- logins -----------------------------------------------------------------------

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is spent; a spent one presented again ends the login,
        unless it is the one spent last and within the grace window: then the pair it
        was exchanged for is answered again (two tabs, or a retry after a lost reply)."""
        session_id, generation = tokens.parse_refresh_token(self.keys(), refresh_token)
        now = self.clock.now_ms() // 1000
        session = self.sessions.get(session_id)
        if session is None or not self._active(session, now):
            raise Unauthenticated("refresh token expired or revoked")
        # A suspension revokes every login, but a login that raced it (password checked
        # before the flag was set, session stored after the revocation listed them) must
        # not live on: refresh, rare next to requests, pays the one read that closes it.
        if self._suspended(session["userId"]):
            self._revoke(session_id, session["userId"], now)
            raise Unauthenticated(SUSPENDED)
        ends_at = int(session.get("endsAt", 0))
        if generation == int(session["gen"]):
            expiry = self._refresh_expiry(now, ends_at)
            if self.sessions.rotate(session_id, generation, now, expiry):
                return self._pair(session["userId"], session_id, generation + 1, now, ends_at)
            # Another refresh with this token won the conditional write a moment ago.
            session = self.sessions.get(session_id)
            if session is None:
                raise Unauthenticated("refresh token expired or revoked")
        if self._in_grace(session, generation, now):
            at = int(session["refreshedAt"])
            return self._pair(session["userId"], session_id, generation + 1, at, ends_at)
        # Reuse of a spent token: someone else may hold the login. End it everywhere.
        self._revoke(session_id, session["userId"], now)
        raise Unauthenticated("refresh token reused; the login has been revoked")

    def _in_grace(self, session: Session, generation: int, now: int) -> bool:
        refreshed_at = session.get("refreshedAt")
        return (
            self.refresh_grace > 0
            and refreshed_at is not None
            and not session.get("revoked")
            and generation == int(session["gen"]) - 1
            and now - int(refreshed_at) <= self.refresh_grace
        )

    def _refresh_expiry(self, now: int, ends_at: int) -> int:
        """Sliding expiry of the refresh token, never past the login's absolute end."""
        return min(now + self.refresh_ttl, ends_at) if ends_at else now + self.refresh_ttl

    @staticmethod
    def _active(session: Session, now: int) -> bool:
        ends_at = int(session.get("endsAt", 0))
        return (
            not session.get("revoked")
            and int(session["expiresAt"]) > now
            and not (ends_at and ends_at <= now)
        )

    def logout(self, refresh_token: str) -> None:
        """End the login of this refresh token: its tokens are refused, its sockets closed."""
        session_id, _ = tokens.parse_refresh_token(self.keys(), refresh_token)
        session = self.sessions.get(session_id)
        if session is None:
            raise Unauthenticated("unknown login")
        self._revoke(session_id, session["userId"], self.clock.now_ms() // 1000)

    def _suspended(self, user_id: str) -> bool:
        """Suspended, or deleted (protocol 12: a deletion's logins end like a suspension's)."""
        user = self.users.get(user_id)
        return user is not None and ("suspended" in user or "deletedAt" in user)

    def suspend(self, user_id: str, reason: str) -> int:
        """Suspend `user_id` (protocol 12): flag the profile first, so no new login or
        refresh succeeds, then end every login and close every socket; how many logins
        ended. 1002 for an unknown user."""
        if not self.users.set_suspended(user_id, reason, self.clock.now_ms()):
            raise UserNotFound()
        return self.revoke_user(user_id)

    def unsuspend(self, user_id: str) -> None:
        """Lift a suspension: the user may log in again (idempotent); 1002 for an unknown
        user."""
        if not self.users.clear_suspended(user_id):
            raise UserNotFound()

    def revoke_user(self, user_id: str, keep_session: str | None = None) -> int:
        """End every login of `user_id` but `keep_session` and close their sockets (log out
        everywhere, password change, suspension); how many logins ended."""
        now = self.clock.now_ms() // 1000
        ended = [s for s in self.sessions.by_user(user_id) if s != keep_session]
        for session_id in ended:
            self.sessions.revoke(session_id, now)
        if self.on_revoke_user is not None:
            self.on_revoke_user(user_id, keep_session)
        return len(ended)

    def authenticate(self, access_token: str, check_revoked: bool = True) -> tokens.Principal:
        """Verify an access token and that its login is still active.

        A token naming the configured external issuer is verified by that issuer's JWKS
        alone (and its user provisioned on first use); every other token by Parley's key.
        """
        if self.external is not None and self.external.claims(access_token):
            principal = self.external.verify(access_token)
            self._provision(principal.user_id, access_token)
            return principal
        principal = tokens.verify_access_token(
            self.keys(), access_token, issuer=self.issuer, audience=self.audience
        )
        if check_revoked:
            session = self.sessions.get(principal.session_id)
            if session is None or session.get("revoked") or session["userId"] != principal.user_id:
                raise Unauthenticated("login revoked")
            ends_at = int(session.get("endsAt", 0))
            if ends_at and ends_at <= self.clock.now_ms() // 1000:
                raise Unauthenticated("login reached its maximum lifetime")
        return principal

    def me(self, user_id: str) -> Me:
        """The caller's profile."""
        user = self.users.get(user_id)
        if user is None or "deletedAt" in user:
            raise UserNotFound()
        return {"userId": user_id, "displayName": user.get("displayName", user_id)}

    def _provision(self, user_id: str, access_token: str) -> None:
        """Create the profile of an external user on first use; refuse a userId that belongs
        to a password account or to another issuer (no silent account merge)."""
        assert self.external is not None
        issuer = self.external.issuer
        user = self.users.get(user_id)
        if user is None:
            user = self.users.provision(
                user_id, self._external_name(access_token, user_id), issuer, self.clock.now_ms()
            )
        if user.get("passwordHash") or user.get("identityProvider") != issuer:
            raise Unauthenticated("this userId belongs to another account")

    @staticmethod
    def _external_name(access_token: str, user_id: str) -> str:
        """The token's `name` claim as a clean display name (already verified), else the id."""
        import jwt

        # Imported here: the authorizer verifies Parley tokens without loading pydantic.
        from parley.models import clean_display_name

        claims = jwt.decode(access_token, options={"verify_signature": False})
        name = claims.get("name")
        try:
            return clean_display_name(name) if isinstance(name, str) else user_id
        except ValueError:
            return user_id

    def _pair(
        self, user_id: str, session_id: str, generation: int, now: int, ends_at: int = 0
    ) -> TokenPair:
        """The pair of refresh generation `generation` issued at `now`: the same arguments
        give the same tokens (the grace window relies on it). The access token never
        outlives the login's absolute end."""
        keys = self.keys()
        ttl = max(1, min(self.access_ttl, ends_at - now)) if ends_at else self.access_ttl
        return {
            "accessToken": tokens.issue_access_token(
                keys,
                user_id=user_id,
                session_id=session_id,
                now=now,
                ttl=ttl,
                issuer=self.issuer,
                audience=self.audience,
                token_id=tokens.refresh_token_id(keys, session_id, generation),
            ),
            "refreshToken": tokens.issue_refresh_token(keys, session_id, generation),
            "tokenType": "Bearer",
            "expiresIn": ttl,
        }

    def _revoke(self, session_id: str, user_id: str, now: int) -> None:
        self.sessions.revoke(session_id, now)
        if self.on_logout is not None:
            self.on_logout(user_id, session_id)
