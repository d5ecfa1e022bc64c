"""Connections table: `connectionId`; GSI `byUser` (userId, connectionId)."""

from __future__ import annotations

from typing import cast

from parley import ddb
from parley.concurrency import parallel_map
from parley.records import Connection
from parley.repositories.base import Repository, get_item, query_all, translate

BY_USER = "byUser"


class ConnectionsRepository(Repository):
    """Live WebSocket connections, found by id or by user (never by Scan)."""

    def put(self, connection: Connection) -> None:
        """Store a connection record (it carries a TTL as a backstop for lost $disconnects)."""
        with translate():
            self.client.put_item(TableName=self.table, Item=ddb.encode(connection))

    def get(self, connection_id: str) -> Connection | None:
        """One connection record, or None."""
        key = ddb.key(connectionId=connection_id)
        return cast("Connection | None", get_item(self.client, self.table, key))

    def delete(self, connection_id: str) -> Connection | None:
        """Remove a connection; returns the removed record (None if it was already gone)."""
        with translate():
            page = self.client.delete_item(
                TableName=self.table,
                Key=ddb.key(connectionId=connection_id),
                ReturnValues="ALL_OLD",
            )
        old = page.get("Attributes")
        return cast(Connection, ddb.decode(old)) if old else None

    def by_user(self, user_id: str, now: int) -> list[Connection]:
        """The user's live connections; expired records (TTL not yet swept) are left out."""
        items = query_all(
            self.client,
            TableName=self.table,
            IndexName=BY_USER,
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues=ddb.encode({":u": user_id}),
        )
        rows = cast(list[Connection], ddb.decode_all(items))
        return [c for c in rows if int(c.get("ttl", now + 1)) > now]

    def by_users(self, user_ids: list[str], now: int) -> dict[str, list[Connection]]:
        """Live connections of several users, looked up in parallel."""
        unique = sorted(set(user_ids))
        found = parallel_map(lambda u: self.by_user(u, now), unique)
        return dict(zip(unique, found, strict=True))
