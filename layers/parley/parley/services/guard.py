"""Checks every WebSocket frame passes before its action runs: the connection's token is
still valid (or was renewed with `auth`) and the connection is within its frame rate."""

from __future__ import annotations

from dataclasses import dataclass

from parley import frames
from parley.clock import Clock
from parley.errors import ParleyError, Unauthenticated
from parley.ports import ConnectionGateway, Connections
from parley.services.auth import AuthService
from parley.services.limits import RateLimiter
from parley.wire import compact_bytes


@dataclass(eq=False, kw_only=True)
class WsGuard:
    """Token lifetime on open sockets, token renewal, and per-connection frame limits."""

    connections: Connections
    gateway: ConnectionGateway | None
    auth: AuthService
    limiter: RateLimiter | None
    clock: Clock

    def check(self, connection_id: str, token_expires_at: int, *, count_frame: bool = True) -> None:
        """Raise 1003 (and close the socket) after the token expired unless it was renewed;
        raise 1005 when the connection sends too fast (`count_frame=False` on the send
        route, whose send limit also bounds the frame burst: one write per send)."""
        now_s = self.clock.now_ms() // 1000
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
