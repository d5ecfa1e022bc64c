"""Limits table: fixed-window counters (`pk` = `<scope>#<key>#<windowStart>`), TTL-expired."""

from __future__ import annotations

from parley import ddb
from parley.repositories.base import Repository, conditional, error_code, translate


class LimitsRepository(Repository):
    """Atomic counters; one conditional UpdateItem per hit, no Scan, no cleanup job."""

    def hit(
        self,
        key: str,
        limit: int,
        window_ms: int,
        now_ms: int,
        *,
        burst: int | None = None,
        burst_window_ms: int = 1000,
    ) -> int | None:
        """Count one hit in the current window; None if allowed, else ms until it reopens.

        With `burst`, the same item also counts hits per `burst_window_ms` slice of the
        window (attribute `b<slice>`) and refuses past `burst` in a slice: two limits in
        one conditional write.
        """
        from botocore.exceptions import ClientError

        start = now_ms - now_ms % window_ms
        update = "SET expiresAt = :exp ADD n :one"
        condition = "attribute_not_exists(n) OR n < :limit"
        values: dict[str, int] = {
            ":one": 1,
            ":limit": limit,
            ":exp": (start + window_ms) // 1000 + 60,
        }
        extra: dict[str, object] = {}
        slice_end = start + window_ms
        if burst is not None:
            slot = (now_ms - start) // burst_window_ms
            slice_end = min(start + window_ms, start + (slot + 1) * burst_window_ms)
            update += ", #b :one"
            condition = f"({condition}) AND (attribute_not_exists(#b) OR #b < :burst)"
            values[":burst"] = burst
            extra = {
                "ExpressionAttributeNames": {"#b": f"b{slot}"},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        try:
            with translate():
                self.client.update_item(
                    TableName=self.table,
                    Key=ddb.key(pk=f"{key}#{start}"),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=ddb.encode(values),
                    **extra,
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if burst is None:
                return max(1, start + window_ms - now_ms)
            old = getattr(exc, "response", {}).get("Item") or {}
            window_full = int(old.get("n", {}).get("N", "0")) >= limit
            return max(1, (start + window_ms if window_full else slice_end) - now_ms)
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

    def refund(self, key: str, window_ms: int, now_ms: int) -> None:
        """Give back one hit taken at `now_ms` (never below zero; a window that already
        expired stays absent)."""
        start = now_ms - now_ms % window_ms
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=f"{key}#{start}"),
            UpdateExpression="ADD n :minus",
            ConditionExpression="n > :zero",
            ExpressionAttributeValues=ddb.encode({":minus": -1, ":zero": 0}),
        )

    def claim(self, key: str, expires_at: int) -> bool:
        """Mark `key` used until `expires_at` (seconds; the TTL removes it); False when it
        already was (single use, one conditional PutItem)."""
        return conditional(
            self.client.put_item,
            TableName=self.table,
            Item=ddb.encode({"pk": key, "expiresAt": expires_at}),
            ConditionExpression="attribute_not_exists(pk)",
        )
