"""Flags table (protocol 13): users flagged for app admins, one partition (`pk` = `flags`)
with one item per user (`userId`), so the admins' list is one Query."""

from __future__ import annotations

from parley import ddb
from parley.ports import Flag
from parley.repositories.base import Repository, query_all, translate

PARTITION = "flags"


class FlagsRepository(Repository):
    """One item per flagged user: the latest reason and when."""

    def flag(self, user_id: str, reason: str, at: int) -> None:
        """Flag `user_id` (again: the newest reason and time replace the older)."""
        item = {"pk": PARTITION, "userId": user_id, "reason": reason, "at": at}
        with translate():
            self.client.put_item(TableName=self.table, Item=ddb.encode(item))

    def clear(self, user_id: str) -> None:
        """Remove `user_id`'s flag (idempotent: no flag, no error)."""
        key = {"pk": PARTITION, "userId": user_id}
        with translate():
            self.client.delete_item(TableName=self.table, Key=ddb.encode(key))

    def all(self, limit: int) -> list[Flag]:
        """Up to `limit` flagged users, in userId order (one Query, paged)."""
        out: list[Flag] = []
        for raw in query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=ddb.encode({":pk": PARTITION}),
            Limit=limit,
        ):
            row = ddb.decode(raw)
            out.append(
                {"userId": str(row["userId"]), "reason": str(row["reason"]), "at": int(row["at"])}
            )
            if len(out) >= limit:
                break
        return out
