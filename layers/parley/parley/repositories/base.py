"""What every repository shares: lazy clients and the translation of AWS errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from parley import aws, ddb
from parley.errors import Unavailable

Sleep = Callable[[float], None]
AttrItem = dict[str, Any]  # an item or key in DynamoDB's wire form: {"name": {"S": "..."}}

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


class AwsClient:
    """A lazily created, injectable boto3 client of one service (tests pass a stubbed one),
    and the sleep its retries wait with (tests pass one that does not wait)."""

    service = "dynamodb"

    def __init__(
        self,
        client: Any | None = None,
        *,
        endpoint_url: str | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._client = client
        self.endpoint_url = endpoint_url
        self.sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            if self.endpoint_url is None:
                self._client = aws.client(self.service)
            else:
                self._client = aws.client(self.service, self.endpoint_url)
        return self._client


class Repository(AwsClient):
    """A repository of one DynamoDB table."""

    def __init__(self, table: str, client: Any | None = None, *, sleep: Sleep = time.sleep) -> None:
        super().__init__(client, sleep=sleep)
        self.table = table


def get_item(client: Any, table: str, key: AttrItem, **extra: Any) -> dict[str, Any] | None:
    """One item by key, decoded; None when there is none."""
    with translate():
        page = client.get_item(TableName=table, Key=key, **extra)
    item = page.get("Item")
    return ddb.decode(item) if item else None


def conditional(write: Callable[..., object], **request: Any) -> bool:
    """Make one conditional write; False when its condition failed (other errors raise)."""
    from botocore.exceptions import ClientError

    try:
        with translate():
            write(**request)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def query_all(client: Any, **kwargs: Any) -> Iterator[AttrItem]:
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
    keys: list[AttrItem],
    *,
    sleep: Sleep = time.sleep,
    **extra: Any,
) -> list[AttrItem]:
    """BatchGetItem in chunks of 100, retrying `UnprocessedKeys` with backoff (bounded)."""
    out: list[AttrItem] = []
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
