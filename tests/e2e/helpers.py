"""Helpers of the end-to-end suite: users, clients, raw sockets and table look-ups.

Every test drives the real protocol against a `LocalCloud` running `template.yaml`:
HTTP through `HttpClient`, WebSocket through `ParleyClient` (or a bare socket where a
test needs malformed frames or wire-level assertions). Waits are bounded by `TIMEOUT`,
which is generous because CI machines are noisy; nothing sleeps for a fixed time where
an event can be awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from parley_client import ClientOptions, HttpClient, ParleyClient
from parley_local import LocalCloud
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PASSWORD = "correct horse battery"
#: Upper bound of every single await (a reply, a pushed event, a state change).
TIMEOUT = 20.0
#: Upper bound of a whole test body.
TEST_TIMEOUT = 90.0

#: Template parameters of every e2e cloud. All tests connect from 127.0.0.1, so the
#: per-address connect limit (60 a minute by default) would refuse handshakes of a fast
#: suite; it has its own tests in tests/integration.
BASE_PARAMETERS = {"ConnectsPerMinute": "100000"}


def make_cloud(**kwargs: Any) -> LocalCloud:
    """A LocalCloud of the real template on free ports, small and quiet (log kept in memory)."""
    import io

    overrides = {**BASE_PARAMETERS, **kwargs.pop("parameter_overrides", {})}
    options: dict[str, Any] = {"workers": 2, "reload": False, "log_stream": io.StringIO()}
    options.update(kwargs)
    return LocalCloud(TEMPLATE, parameter_overrides=overrides, **options)


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (no psutil needed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (the pid was reused)
        return True
    return True


def stop_and_check(cloud: LocalCloud) -> None:
    """Stop `cloud` and fail if any process it ever started is still alive."""
    pids = cloud.child_pids(ever=True)
    cloud.stop()
    deadline = time.monotonic() + 5.0
    left = [pid for pid in pids if pid_alive(pid)]
    while left and time.monotonic() < deadline:  # reaping can trail stop() by a moment
        time.sleep(0.05)
        left = [pid for pid in left if pid_alive(pid)]
    assert not left, f"processes left behind by the local cloud: {left}"


def run(coro: Coroutine[Any, Any, T], timeout: float = TEST_TIMEOUT) -> T:
    """Run an async test body on a fresh event loop, bounded by `timeout` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def uid(prefix: str) -> str:
    """A userId no other test uses (3-32 chars of a-z 0-9 _ . -)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def call_id() -> str:
    return uuid.uuid4().hex


async def eventually(
    check: Callable[[], Any], *, timeout: float = TIMEOUT, what: str = "condition"
) -> Any:
    """The first truthy result of `check()`, polling every 0.1 s until `timeout`.

    `check` may be a coroutine function; a plain function runs in a thread (it may call
    boto3). Only for state with no event to await (a table row that disappears, presence
    turning offline after `$disconnect`).
    """
    deadline = time.monotonic() + timeout
    while True:
        if inspect.iscoroutinefunction(check):
            value = await check()
        else:
            value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------ users and clients


@dataclass
class User:
    """A registered user with one login (`http` keeps its token pair)."""

    user_id: str
    http: HttpClient
    cloud: LocalCloud

    @property
    def token(self) -> str:
        assert self.http.access_token is not None
        return self.http.access_token

    async def another_login(self) -> HttpClient:
        """A second, independent login of this user (another device)."""
        http = HttpClient(self.cloud.http_url, timeout=TIMEOUT)
        await http.login(self.user_id, PASSWORD)
        return http

    def client(
        self,
        http: HttpClient | None = None,
        *,
        cursors: dict[str, int] | None = None,
        **options: Any,
    ) -> ParleyClient:
        """A (not yet connected) `ParleyClient` of this user, with generous timeouts."""
        settings: dict[str, Any] = {"request_timeout": TIMEOUT, "open_timeout": TIMEOUT}
        settings.update(options)
        return ParleyClient(
            self.cloud.ws_url,
            (http or self.http).token_provider,
            ClientOptions(**settings),
            cursors=cursors,
        )


async def sign_up(cloud: LocalCloud, prefix: str) -> User:
    """Register a fresh user (unique id starting with `prefix`) and log in."""
    http = HttpClient(cloud.http_url, timeout=TIMEOUT)
    user_id = uid(prefix)
    await http.register(user_id, PASSWORD)
    await http.login(user_id, PASSWORD)
    return User(user_id, http, cloud)


async def sign_up_all(cloud: LocalCloud, *prefixes: str) -> list[User]:
    return list(await asyncio.gather(*(sign_up(cloud, p) for p in prefixes)))


async def connect_all(
    stack: contextlib.AsyncExitStack, *clients: ParleyClient
) -> tuple[ParleyClient, ...]:
    """Connect clients (one after the other: connection order is then predictable);
    each is closed when `stack` closes."""
    for client in clients:
        await stack.enter_async_context(client)
    return clients


def dm(a: str, b: str) -> str:
    """The direct conversation id of two users."""
    first, second = sorted((a, b))
    return f"dm:{first}:{second}"


def text_of(message: dict[str, Any]) -> str:
    body = message.get("body") or {}
    return str(body.get("text"))


# ----------------------------------------------------------------------- raw sockets


class RawSocket:
    """A bare WebSocket to Parley that records every frame it receives, in order.

    For wire-level assertions (which frames did *this* socket get?) and malformed input
    that `ParleyClient` would refuse to send.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, cloud: LocalCloud, token: str | None) -> RawSocket:
        return cls(await raw_connect(cloud, token))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    frame = {"unparsed": raw}
                self.frames.append(frame if isinstance(frame, dict) else {"unparsed": frame})
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self._changed.set()

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        data = frame if isinstance(frame, str | bytes) else json.dumps(frame, ensure_ascii=False)
        await self.ws.send(data)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """The first frame received so far or later that matches (frames are not consumed)."""
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                if self._reader.done():
                    raise AssertionError(f"socket closed ({self.ws.close_code}); got {self.frames}")
                self._changed.clear()
                await self._changed.wait()

    async def request(self, frame: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        """Send `frame` with a fresh `id` and return the reply carrying that id."""
        request_id = uuid.uuid4().hex
        await self.send({**frame, "id": request_id})
        return await self.wait_for(lambda f: f.get("id") == request_id, timeout)

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait until the server closed the socket; its close code."""
        async with asyncio.timeout(timeout):
            await self.ws.wait_closed()
        return self.ws.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(BaseException):
            await self._reader

    async def __aenter__(self) -> RawSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def raw_connect(cloud: LocalCloud, token: str | None) -> ClientConnection:
    query = f"?{urllib.parse.urlencode({'token': token})}" if token is not None else ""
    return await ws_connect(
        cloud.ws_url + query, open_timeout=TIMEOUT, max_size=None, proxy=None, ping_interval=None
    )


# ---------------------------------------------------------------------------- tables

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def encode(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def decode(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def count_items(cloud: LocalCloud, logical_id: str, **query: Any) -> int:
    """Items in a table (Scan), or in one query when key conditions are given."""
    client = cloud.client("dynamodb")
    operation = client.query if query else client.scan
    args: dict[str, Any] = {"TableName": cloud.ref(logical_id), "Select": "COUNT", **query}
    total = 0
    while True:
        page = operation(**args)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stored_messages(cloud: LocalCloud, conversation_id: str | None = None) -> int:
    """How many messages the messages table holds (in one conversation, or in all)."""
    if conversation_id is None:
        return count_items(cloud, "MessagesTable")
    return count_items(
        cloud,
        "MessagesTable",
        KeyConditionExpression="conversationId = :c",
        ExpressionAttributeValues={":c": {"S": conversation_id}},
    )


def connection_records(cloud: LocalCloud, user_id: str) -> list[dict[str, Any]]:
    """The user's rows in the connections table (through its `byUser` index)."""
    page = cloud.client("dynamodb").query(
        TableName=cloud.ref("ConnectionsTable"),
        IndexName="byUser",
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"S": user_id}},
    )
    return [decode(item) for item in page["Items"]]


def connection_ids(cloud: LocalCloud, user_id: str) -> set[str]:
    return {str(record["connectionId"]) for record in connection_records(cloud, user_id)}


async def wait_connections(cloud: LocalCloud, user_id: str, count: int) -> set[str]:
    """Wait until the user has exactly `count` connection records; their ids."""

    def check() -> set[str] | None:
        found = connection_ids(cloud, user_id)
        return found if len(found) == count else None

    if count == 0:
        await eventually(lambda: not connection_ids(cloud, user_id), what="no connections")
        return set()
    found: set[str] = await eventually(check, what=f"{count} connection(s) of {user_id}")
    return found
