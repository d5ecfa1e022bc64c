"""What every repository shares: lazy clients and the translation of AWS errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from parley import aws
from parley.errors import Unavailable

Sleep = Callable[[float], None]

# Batch retries (UnprocessedKeys, failed SQS entries): AWS advises exponential backoff; the
# first retry waits up to 25 ms, later ones up to 1 s, and the request gives up (2001) after
# `BATCH_ATTEMPTS` calls rather than hold the Lambda invocation.
BACKOFF_BASE = 0.025
BACKOFF_CAP = 1.0
BATCH_ATTEMPTS = 8

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
    """The AWS error code of a botocore `ClientError` ("" for any other exception)."""
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


def backoff(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before retry `attempt` (0-based): capped exponential backoff with
    full jitter, uniform in [0, min(cap, base * 2**attempt)], so clients retrying the same
    throttled partition spread out instead of retrying in step."""
    return random.uniform(0, min(cap, base * 2**attempt))


class Repository:
    """A table-backed repository with an injectable low-level DynamoDB client (and the
    sleep its batch retries wait with, so tests need not wait)."""

    def __init__(self, table: str, client: Any | None = None, *, sleep: Sleep = time.sleep) -> None:
        self.table = table
        self._client = client
        self.sleep = sleep

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


def batch_get(
    client: Any,
    table: str,
    keys: list[dict[str, Any]],
    *,
    sleep: Sleep = time.sleep,
    **extra: Any,
) -> list[dict[str, Any]]:
    """BatchGetItem in chunks of 100, retrying `UnprocessedKeys` with backoff (bounded)."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], **extra}}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                sleep(backoff(attempt - 1))
            with translate():
                page = client.batch_get_item(RequestItems=request)
            out.extend(page.get("Responses", {}).get(table, []))
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise Unavailable()
    return out
