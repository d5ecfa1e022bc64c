"""What every repository shares: lazy clients and the translation of AWS errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from parley import aws
from parley.errors import Unavailable

# Codes that mean "did not take effect, try again later": surfaced as 2001-class errors.
RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
}


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def translate() -> Iterator[None]:
    """Turn throttling and service faults into :class:`Unavailable`; let the rest through."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if error_code(exc) in RETRYABLE:
            raise Unavailable() from exc
        raise
    except BotoCoreError as exc:  # timeouts, connection resets after retries
        raise Unavailable() from exc


class Repository:
    """A table-backed repository with an injectable low-level DynamoDB client."""

    def __init__(self, table: str, client: Any | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client


def query_all(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query, following `LastEvaluatedKey`."""
    while True:
        with translate():
            page = client.query(**kwargs)
        yield from page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def batch_get(client: Any, table: str, keys: list[dict[str, Any]], **extra: Any) -> list[Any]:
    """BatchGetItem in chunks of 100, retrying `UnprocessedKeys` (bounded)."""
    out: list[Any] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], **extra}}
        for _ in range(8):
            with translate():
                page = client.batch_get_item(RequestItems=request)
            out.extend(page.get("Responses", {}).get(table, []))
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise Unavailable()
    return out


def batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25 (DynamoDB's limit), retrying `UnprocessedItems`."""
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        for _ in range(8):
            with translate():
                page = client.batch_write_item(RequestItems=pending)
            pending = page.get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise Unavailable()
