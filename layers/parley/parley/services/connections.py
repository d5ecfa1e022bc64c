"""Connection lifecycle: `$connect`, `$disconnect`, and closing a login's sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from parley.clock import Clock
from parley.ports import ConnectionGateway, Connections, Users
from parley.records import Connection
from parley.services.abuse import AbuseLimits

# A revoked login's sockets: up to 3 closes, 50 then 100 ms apart.
CLOSE_ATTEMPTS = 3
CLOSE_BACKOFF_SECONDS = 0.05


@dataclass(eq=False, kw_only=True)
class ConnectionService:
    """Records live connections so fan-out can find them by user."""

    connections: Connections
    users: Users
    gateway: ConnectionGateway | None
    clock: Clock
    ttl_seconds: int
    abuse: AbuseLimits | None = None  # protocol 13: live connections per user

    def connect(
        self,
        connection_id: str,
        user_id: str,
        session_id: str,
        token_expires_at: int,
        source_ip: str | None,
    ) -> None:
        """Store the connection with a TTL a little past API Gateway's 2-hour limit; 1005
        (the handshake's 429) past the user's live connections."""
        now_ms = self.clock.now_ms()
        if self.abuse is not None:
            self.abuse.connection_opened(
                user_id,
                connection_id,
                lambda: {
                    c["connectionId"] for c in self.connections.by_user(user_id, now_ms // 1000)
                },
            )
        self.connections.put(
            {
                "connectionId": connection_id,
                "userId": user_id,
                "sessionId": session_id,
                "connectedAt": now_ms,
                "sourceIp": source_ip,
                "tokenExp": token_expires_at,
                "ttl": now_ms // 1000 + self.ttl_seconds,
            }
        )

    def disconnect(self, connection_id: str) -> Connection | None:
        """Forget the connection and remember when its user was last seen.

        lastSeen is written before the record goes, so a presence query never sees the
        user offline without a lastSeen in between; an unknown connection changes nothing.
        """
        record = self.connections.get(connection_id)
        if record is not None:
            self.users.set_last_seen(record["userId"], self.clock.now_ms())
            if self.abuse is not None:
                self.abuse.connection_closed(record["userId"], connection_id)
        return self.connections.delete(connection_id) or record

    def close_session(self, user_id: str, session_id: str) -> int:
        """Close every open socket of one login (logout, refresh-token reuse)."""
        return self._close(user_id, lambda conn: conn.get("sessionId") == session_id)

    def close_user(self, user_id: str, keep_session: str | None = None) -> int:
        """Close every open socket of `user_id` but those of `keep_session` (log out
        everywhere, password change, suspension)."""
        return self._close(
            user_id, lambda conn: keep_session is None or conn.get("sessionId") != keep_session
        )

    def _close(self, user_id: str, chosen: Callable[[Connection], bool]) -> int:
        if self.gateway is None:
            return 0
        closed = 0
        for conn in self.connections.by_user(user_id, self.clock.now_ms() // 1000):
            if chosen(conn):
                closed += self._close_one(conn["connectionId"])
        return closed

    def _close_one(self, connection_id: str) -> int:
        """Close one socket, retried with backoff when API Gateway throttles or fails (a
        revoked login's socket must not stay open); 1 when closed or already gone. A socket
        still open after the retries is caught by the frame guard's session re-check."""
        assert self.gateway is not None
        for attempt in range(CLOSE_ATTEMPTS):
            try:
                if not self.gateway.close(connection_id):
                    self.connections.delete(connection_id)
                return 1
            except Exception:  # throttled, unavailable: retried, then left to the guard
                if attempt + 1 < CLOSE_ATTEMPTS:
                    time.sleep(CLOSE_BACKOFF_SECONDS * 2**attempt)
        from parley.observability import logger

        logger.warning(
            "socket of a revoked login not closed", extra={"connectionId": connection_id}
        )
        return 0
