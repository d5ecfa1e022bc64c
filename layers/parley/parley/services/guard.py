"""Checks every WebSocket frame passes before its action runs: the connection's token is
still valid (or was renewed with `auth`), its login was not revoked (re-read at most every
`recheck_seconds` per container), and the connection is within its frame rate."""

from __future__ import annotations

from dataclasses import dataclass, field

from parley import frames
from parley.clock import Clock
from parley.errors import ParleyError, Unauthenticated
from parley.ports import ConnectionGateway, Connections, Sessions
from parley.services.auth import AuthService
from parley.services.limits import RateLimiter
from parley.wire import compact_bytes

# Logins remembered as checked per container (a warm container serves a few thousand).
MAX_REMEMBERED = 10_000


@dataclass(eq=False, kw_only=True)
class WsGuard:
    """Token lifetime on open sockets, token renewal, and per-connection frame limits."""

    connections: Connections
    gateway: ConnectionGateway | None
    auth: AuthService
    limiter: RateLimiter | None
    clock: Clock
    sessions: Sessions | None = None
    recheck_seconds: int = 30
    # When each login (or renewed connection) is next re-read; per container, bounded.
    _next_check: dict[str, int] = field(default_factory=dict, repr=False)

    def check(
        self,
        connection_id: str,
        token_expires_at: int,
        *,
        session_id: str = "",
        count_frame: bool = True,
    ) -> None:
        """Raise 1003 (and close the socket) after the token expired unless it was renewed,
        or once its login is revoked or past its end; raise 1005 when the connection sends
        too fast (`count_frame=False` on the send route, whose send limit also bounds the
        frame burst: one write per send)."""
        now_s = self.clock.now_ms() // 1000
        if session_id and self.sessions is not None:
            self._check_login(connection_id, session_id, now_s)
        if token_expires_at and now_s >= token_expires_at:
            # The authorizer's context is fixed for the connection's life; a renewal is
            # recorded on the connection item, read only once the first token has run out.
            record = self.connections.get(connection_id)
            if record is None or int(record.get("tokenExp", 0)) <= now_s:
                error = Unauthenticated("token expired; renew it with the auth action")
                self.expel(connection_id, error)
                raise error
        if count_frame and self.limiter is not None:
            self.limiter.frame(connection_id)

    def _check_login(self, connection_id: str, session_id: str, now_s: int) -> None:
        """The backstop behind revocation's socket closes: a socket whose close was lost
        is refused at its next frame after at most `recheck_seconds` (one GetItem per
        login per container per interval, not one per frame)."""
        for key in (session_id, f"conn#{connection_id}"):
            if self._next_check.get(key, 0) > now_s:
                return
        if self._login_active(session_id, now_s):
            self._remember(session_id, now_s)
            return
        # `auth` may have moved this socket to another login of the same user.
        record = self.connections.get(connection_id)
        renewed = record.get("sessionId") if record else None
        if renewed and renewed != session_id and self._login_active(renewed, now_s):
            self._remember(f"conn#{connection_id}", now_s)
            return
        error = Unauthenticated("login revoked")
        self.expel(connection_id, error)
        raise error

    def _login_active(self, session_id: str, now_s: int) -> bool:
        """False once the login is revoked or past its absolute end. A login item that is
        gone was removed by its TTL after the refresh token expired: the socket's access
        token (checked above on every frame) bounds it, as it did at `$connect`."""
        assert self.sessions is not None
        session = self.sessions.get(session_id)
        if session is None:
            return True
        ends_at = int(session.get("endsAt", 0))
        return not session.get("revoked") and not (ends_at and ends_at <= now_s)

    def _remember(self, key: str, now_s: int) -> None:
        if len(self._next_check) >= MAX_REMEMBERED:
            self._next_check.clear()
        self._next_check[key] = now_s + self.recheck_seconds

    def expel(self, connection_id: str, error: ParleyError) -> None:
        """Tell the client why, then close its connection (best effort: the route response
        would be dropped once the socket is gone)."""
        if self.gateway is None:
            return
        try:
            self.gateway.post(connection_id, compact_bytes(frames.error(error.payload(), None)))
            self.gateway.close(connection_id)
        except Exception:
            return

    def renew(self, user_id: str, connection_id: str, token: str) -> int:
        """Accept a fresh access token for the same user on an open socket; its expiry."""
        principal = self.auth.authenticate(token)
        if principal.user_id != user_id:
            raise Unauthenticated("token belongs to another user")
        record = self.connections.get(connection_id)
        if record is None:
            raise Unauthenticated("connection is closed")
        record["tokenExp"] = principal.expires_at
        record["sessionId"] = principal.session_id
        self.connections.put(record)
        return principal.expires_at
