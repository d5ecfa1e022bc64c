"""Helpers of the local cloud's integration tests."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from parley_local import LocalCloud

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "localcloud"
TEMPLATE = FIXTURE / "template.yaml"
STAGE = "test"

T = TypeVar("T")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_and_check(cloud: LocalCloud) -> None:
    """Stop `cloud`; fail if any process it started is still there."""
    pids = cloud.child_pids(ever=True)
    cloud.stop()
    left = [pid for pid in pids if pid_alive(pid)]
    assert not left, f"processes left behind: {left}"


def make_cloud(template: Path = TEMPLATE, **kwargs: Any) -> LocalCloud:
    return LocalCloud(template, log_stream=io.StringIO(), verbose=True, **kwargs)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """The first truthy result of `check()`, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def ws_url(
    cloud: LocalCloud,
    token: str | None = "allow-alice",  # noqa: S107 - a fixture token
    path: str = f"/{STAGE}",
) -> str:
    query = f"?token={token}" if token is not None else ""
    return f"{cloud.ws_url}{path}{query}"


def recorded_event(cloud: LocalCloud, kind: str, connection_id: str) -> dict[str, Any] | None:
    """The event a fixture handler stored (`connect` / `disconnect`), if any."""
    table = cloud.ref("Table")
    item = cloud.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"{kind}#{connection_id}"}, "sk": {"S": "event"}}
    )
    if "Item" not in item:
        return None
    event: dict[str, Any] = json.loads(item["Item"]["event"]["S"])
    return event
