"""Accounts and logins: register, login, refresh with rotation and reuse detection, logout,
and verification of access tokens (signature, claims, and that the login is not revoked).

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
from parley.errors import Unauthenticated, UserNotFound
from parley.passwords import DUMMY_HASH, hash_password, verify_password
from parley.ports import Sessions, Users
from parley.services.limits import RateLimiter

if TYPE_CHECKING:
    from parley.models import RegisterBody

BAD_LOGIN = "invalid user id or password"


class Registered(TypedDict):
    """The body of `POST /auth/register`."""

    userId: str


class TokenPair(TypedDict):
    """The body of `POST /auth/login` and `/auth/refresh`."""

    accessToken: str
    refreshToken: str
    tokenType: str
    expiresIn: int


class Me(TypedDict):
    """The body of `GET /users/me`."""

    userId: str
    displayName: str


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
    limiter: RateLimiter | None = None
    external: tokens.ExternalVerifier | None = None

    def register(self, body: RegisterBody) -> Registered:
        """Create an account; 1008 when the userId is taken."""
        self.users.create(
            body.userId,
            hash_password(body.password),
            body.displayName or body.userId,
            self.clock.now_ms(),
        )
        return {"userId": body.userId}

    def login(self, user_id: str, password: str, source_ip: str | None = None) -> TokenPair:
        """Check the password (same time and answer for unknown users) and start a login.

        Failed logins are counted per source address; past the limit the address gets 1005
        until the window passes, whatever the password (brute-force protection).
        """
        if self.limiter is not None:
            self.limiter.check_login(source_ip)
        user = self.users.get(user_id) if ids.is_user_id(user_id) else None
        # Externally provisioned users have no password: they fail like unknown users, after
        # the same full KDF run.
        stored = (user.get("passwordHash") if user else None) or DUMMY_HASH
        if not verify_password(password, stored) or stored == DUMMY_HASH:
            if self.limiter is not None:
                self.limiter.login_failed(source_ip)
            raise Unauthenticated(BAD_LOGIN)
        now = self.clock.now_ms() // 1000
        session_id = tokens.new_session_id()
        self.sessions.create(session_id, user_id, now, now + self.refresh_ttl)
        return self._pair(user_id, session_id, 1, now)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is spent; a spent one presented again ends the login."""
        session_id, generation = tokens.parse_refresh_token(self.keys(), refresh_token)
        now = self.clock.now_ms() // 1000
        session = self.sessions.get(session_id)
        if session is None or session.get("revoked") or int(session["expiresAt"]) <= now:
            raise Unauthenticated("refresh token expired or revoked")
        if generation != int(session["gen"]) or not self.sessions.rotate(
            session_id, generation, now, now + self.refresh_ttl
        ):
            # Reuse of a spent token: someone else may hold the login. End it everywhere.
            self._revoke(session_id, session["userId"], now)
            raise Unauthenticated("refresh token reused; the login has been revoked")
        return self._pair(session["userId"], session_id, generation + 1, now)

    def logout(self, refresh_token: str) -> None:
        """End the login of this refresh token: its tokens are refused, its sockets closed."""
        session_id, _ = tokens.parse_refresh_token(self.keys(), refresh_token)
        session = self.sessions.get(session_id)
        if session is None:
            raise Unauthenticated("unknown login")
        self._revoke(session_id, session["userId"], self.clock.now_ms() // 1000)

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
        return principal

    def me(self, user_id: str) -> Me:
        """The caller's profile."""
        user = self.users.get(user_id)
        if user is None:
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

    def _pair(self, user_id: str, session_id: str, generation: int, now: int) -> TokenPair:
        keys = self.keys()
        return {
            "accessToken": tokens.issue_access_token(
                keys,
                user_id=user_id,
                session_id=session_id,
                now=now,
                ttl=self.access_ttl,
                issuer=self.issuer,
                audience=self.audience,
            ),
            "refreshToken": tokens.issue_refresh_token(keys, session_id, generation),
            "tokenType": "Bearer",
            "expiresIn": self.access_ttl,
        }

    def _revoke(self, session_id: str, user_id: str, now: int) -> None:
        self.sessions.revoke(session_id, now)
        if self.on_logout is not None:
            self.on_logout(user_id, session_id)
