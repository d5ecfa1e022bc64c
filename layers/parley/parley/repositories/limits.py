"""Limits table: fixed-window counters (`pk` = `<scope>#<key>#<windowStart>`), TTL-expired."""

from __future__ import annotations

from parley import ddb
from parley.repositories.base import Repository, error_code, translate


class LimitsRepository(Repository):
    """Atomic counters; one conditional UpdateItem per hit, no Scan, no cleanup job."""

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int | None:
        """Count one hit in the current window; None if allowed, else ms until it reopens."""
        from botocore.exceptions import ClientError

        start = now_ms - now_ms % window_ms
        try:
            with translate():
                self.client.update_item(
                    TableName=self.table,
                    Key=ddb.key(pk=f"{key}#{start}"),
                    UpdateExpression="SET expiresAt = :exp ADD n :one",
                    ConditionExpression="attribute_not_exists(n) OR n < :limit",
                    ExpressionAttributeValues=ddb.encode(
                        {":one": 1, ":limit": limit, ":exp": (start + window_ms) // 1000 + 60}
                    ),
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return max(1, start + window_ms - now_ms)
            raise
        return None

    def count(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Hits so far in the current window and ms until it ends."""
        start = now_ms - now_ms % window_ms
        with translate():
            page = self.client.get_item(
                TableName=self.table, Key=ddb.key(pk=f"{key}#{start}"), ConsistentRead=True
            )
        item = page.get("Item")
        hits = int(item["n"]["N"]) if item and "n" in item else 0
        return hits, max(1, start + window_ms - now_ms)
