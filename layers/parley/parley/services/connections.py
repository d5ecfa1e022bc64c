"""Connection lifecycle: `$connect`, `$disconnect`, and closing a login's sockets."""

from __future__ import annotations

from dataclasses import dataclass

from parley.clock import Clock
from parley.ports import ConnectionGateway, Connections, Users
from parley.records import Connection


@dataclass(eq=False, kw_only=True)
class ConnectionService:
    """Records live connections so fan-out can find them by user."""

    connections: Connections
    users: Users
    gateway: ConnectionGateway | None
    clock: Clock
    ttl_seconds: int

    def connect(
        self,
        connection_id: str,
        user_id: str,
        session_id: str,
        token_expires_at: int,
        source_ip: str | None,
    ) -> None:
        """Store the connection with a TTL a little past API Gateway's 2-hour limit."""
        now_ms = self.clock.now_ms()
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
        return self.connections.delete(connection_id) or record

    def close_session(self, user_id: str, session_id: str) -> int:
        """Close every open socket of one login (logout, refresh-token reuse)."""
        if self.gateway is None:
            return 0
        closed = 0
        for conn in self.connections.by_user(user_id, self.clock.now_ms() // 1000):
            if conn.get("sessionId") == session_id:
                if not self.gateway.close(conn["connectionId"]):
                    self.connections.delete(conn["connectionId"])
                closed += 1
        return closed
