"""Abuse counters on the limits table (protocol 13): amounts and sets, each one atomic
conditional UpdateItem, expired by TTL."""

from __future__ import annotations

from parley import ddb
from parley.ports import Spent
from parley.repositories.base import (
    Repository,
    batch_get,
    conditional,
    error_code,
    get_item,
    translate,
)


class AbuseCountersRepository(Repository):
    """Counters that take more than one at a time, and sets of distinct members."""

    def take(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> int | None:
        """Add `amount` to the current fixed window unless it would pass `limit`; None if
        taken, else ms until the window ends."""
        return self.spend(key, amount, limit, window_ms, now_ms).wait

    def spend(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> Spent:
        """`take`, also returning the window's count after the add: the same conditional
        UpdateItem, whose `ReturnValues` carries the new count (no second call)."""
        from botocore.exceptions import ClientError

        start = now_ms - now_ms % window_ms
        end = start + window_ms
        if amount > limit:
            return Spent(max(1, end - now_ms), 0)
        try:
            with translate():
                reply = self.client.update_item(
                    TableName=self.table,
                    Key=ddb.key(pk=f"{key}#{start}"),
                    UpdateExpression="SET expiresAt = :exp ADD n :k",
                    ConditionExpression="attribute_not_exists(n) OR n <= :room",
                    ExpressionAttributeValues=ddb.encode(
                        {":k": amount, ":room": limit - amount, ":exp": end // 1000 + 60}
                    ),
                    ReturnValues="UPDATED_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return Spent(max(1, end - now_ms), 0)
            raise
        total = int(reply.get("Attributes", {}).get("n", {}).get("N", amount))
        return Spent(None, total)

    def distinct(
        self, key: str, member: str, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        """Add `member` to the window's set unless the set already holds `limit` others;
        None if admitted (a member already in the set always is)."""
        start = now_ms - now_ms % window_ms
        end = start + window_ms
        admitted = self.join(f"{key}#{start}", member, limit, end // 1000 + 60)
        return None if admitted else max(1, end - now_ms)

    def join(self, key: str, member: str, limit: int, expires_at: int) -> bool:
        """Add `member` to a windowless set unless it holds `limit` others; False if full."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=key),
            UpdateExpression="SET expiresAt = :exp ADD s :m",
            ConditionExpression="attribute_not_exists(s) OR size(s) < :limit OR contains(s, :one)",
            ExpressionAttributeValues={
                ":m": {"SS": [member]},
                ":one": {"S": member},
                ":limit": {"N": str(limit)},
                ":exp": {"N": str(expires_at)},
            },
        )

    def leave(self, key: str, members: set[str]) -> None:
        """Remove `members` from a windowless set (idempotent)."""
        if not members:
            return
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=key),
            UpdateExpression="DELETE s :m",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":m": {"SS": sorted(members)}},
        )

    def nonempty(self, keys: list[str], now_s: int) -> set[str]:
        """Which of these windowless sets hold a member and have not expired (eventually
        consistent: one BatchGetItem per 100 keys)."""
        rows = batch_get(
            self.client,
            self.table,
            [ddb.key(pk=k) for k in sorted(set(keys))],
            sleep=self.sleep,
            ProjectionExpression="pk, s, expiresAt",
        )
        return {
            str(row["pk"])
            for row in map(ddb.decode, rows)
            if row.get("s") and int(row.get("expiresAt", 0)) > now_s
        }

    def members(self, key: str) -> set[str]:
        """The members of a windowless set (strongly consistent)."""
        item = get_item(self.client, self.table, ddb.key(pk=key), ConsistentRead=True)
        return set(item.get("s") or ()) if item else set()
