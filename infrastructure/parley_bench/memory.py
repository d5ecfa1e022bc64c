"""An in-memory Parley data layer with DynamoDB-like latency, for the large fan-out runs.

moto in one process answers a `byUser` Query by looking at every item of the table, so a
10,000-member fan-out (10,000 such queries over 10,000 connections) takes minutes. This
model keeps the same repository interfaces the services call (``MembersRepository.page``,
``ConnectionsRepository.by_users`` and so on), with indexes, and

* sleeps a fixed latency per call (5 ms per DynamoDB call, 20 ms per `@connections` post,
  10 ms per SQS call by default), outside any lock, so concurrency behaves as with the
  real services: calls overlap in threads and release the GIL while "on the network";
* reports every call it stands for to an :class:`~parley_bench.meter.AwsMeter` as a
  :class:`~parley_bench.meter.Call` with its DynamoDB units computed from the item shapes
  the real repositories write, so costs are counted by the same rules as the moto runs.

(`tests/fakes/repos.py` has the same interfaces for unit tests, but finds a user's
connections by scanning every row under one lock: right for tests, quadratic at 10,000.)

The services and handlers on top are the real ones: :func:`patched_runtime` makes
``parley.runtime`` hand these out instead of the DynamoDB repositories.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from parley import ddb
from parley.concurrency import parallel_map
from parley.repositories.gateway import PostResult
from parley.repositories.messages import dedupe_key, encode_message

from parley_bench.capacity import Units, item_size, read_cost, write_cost
from parley_bench.meter import AwsMeter, Call
from parley_bench.template import tables

Row = dict[str, Any]


@dataclass
class Latency:
    """Seconds per call of each kind (what an in-region Lambda sees, roughly)."""

    dynamodb: float = 0.005
    post: float = 0.020
    sqs: float = 0.010


class Model:
    """The shared store behind the repositories, and the meter they report to."""

    def __init__(self, latency: Latency | None = None, meter: AwsMeter | None = None) -> None:
        self.latency = latency or Latency()
        self.meter = meter
        self.lock = threading.Lock()
        self.members: dict[str, dict[str, Row]] = {}  # conversationId -> userId -> row
        self.member_order: dict[str, list[str]] = {}  # conversationId -> sorted userIds
        self.conversations: dict[str, Row] = {}
        self.connections: dict[str, Row] = {}
        self.user_connections: dict[str, set[str]] = {}
        self.messages: dict[str, dict[int, Row]] = {}
        self.dedupe: dict[tuple[str, str], int] = {}
        self.schemas = tables()

    # -- plumbing --------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def report(
        self, service: str, operation: str, params: dict[str, Any], units: Units | None = None
    ) -> None:
        if self.meter is None or not self.meter.active:
            return
        now = time.perf_counter()
        self.meter.record(
            Call(
                service=service,
                operation=operation,
                params=params,
                start=now,
                end=now,
                thread=threading.current_thread().name,
                units=units or Units(),
            )
        )

    def metering(self) -> bool:
        return self.meter is not None and self.meter.active

    # -- seeding (no latency, not metered) --------------------------------------------------
    def add_conversation(self, row: Row) -> None:
        self.conversations[row["conversationId"]] = dict(row)

    def add_member(self, row: Row) -> None:
        cid, uid = row["conversationId"], row["userId"]
        rows = self.members.setdefault(cid, {})
        if uid not in rows:
            order = self.member_order.setdefault(cid, [])
            order.append(uid)
            order.sort()
        rows[uid] = dict(row)

    def add_connection(self, row: Row) -> None:
        self.connections[row["connectionId"]] = dict(row)
        self.user_connections.setdefault(row["userId"], set()).add(row["connectionId"])

    def add_message(self, message: Row) -> None:
        stored = json.loads(json.dumps(message))
        self.messages.setdefault(message["conversationId"], {})[int(message["seq"])] = stored
        key = dedupe_key(message["senderId"], message["clientMsgId"])
        self.dedupe[(message["conversationId"], key)] = int(message["seq"])


def _size(row: Row | None) -> int:
    return item_size(ddb.encode(row)) if row else 0


class MembersModel:
    def __init__(self, model: Model) -> None:
        self.m = model
        self.schema = model.schemas["MembersTable"]

    def get(self, conversation_id: str, user_id: str) -> Row | None:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            row = self.m.members.get(conversation_id, {}).get(user_id)
            row = dict(row) if row else None
        if self.m.metering():
            self.m.report(
                "dynamodb", "GetItem", {"TableName": "MembersTable"}, read_cost([_size(row)], True)
            )
        return row

    def page(
        self, conversation_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[Row], str | None]:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            order = self.m.member_order.get(conversation_id, [])
            start = 0
            if start_after is not None:
                import bisect

                start = bisect.bisect_right(order, start_after)
            chosen = order[start : start + limit]
            rows = self.m.members.get(conversation_id, {})
            full = [rows[u] for u in chosen]
            more = start + limit < len(order)
        if self.m.metering():
            self.m.report(
                "dynamodb",
                "Query",
                {"TableName": "MembersTable"},
                read_cost([_size(r) for r in full], False),
            )
        out: list[Row] = [
            {k: r[k] for k in ("userId", "role", "joinedSeq") if k in r} for r in full
        ]
        return out, (chosen[-1] if more and chosen else None)

    def advance_read(self, conversation_id: str, user_id: str, seq: int) -> bool:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            row = self.m.members.get(conversation_id, {}).get(user_id)
            old = dict(row) if row else None
            applied = row is not None and int(row.get("readSeq", 0)) < seq
            if applied and row is not None:
                row["readSeq"] = seq
            new = dict(row) if row else None
        if self.m.metering():
            units = write_cost(
                self.schema,
                ddb.encode(old) if old else None,
                ddb.encode(new) if new else None,
                applied=applied,
            )
            self.m.report("dynamodb", "UpdateItem", {"TableName": "MembersTable"}, units)
        return applied


class ConversationsModel:
    def __init__(self, model: Model) -> None:
        self.m = model

    def get(self, conversation_id: str) -> Row | None:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            row = self.m.conversations.get(conversation_id)
            row = dict(row) if row else None
        if self.m.metering():
            units = read_cost([_size(row)], False)
            self.m.report("dynamodb", "GetItem", {"TableName": "ConversationsTable"}, units)
        return row


class MessagesModel:
    def __init__(self, model: Model) -> None:
        self.m = model
        self.schema = model.schemas["MessagesTable"]

    def last_seq(self, conversation_id: str) -> int:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            log = self.m.messages.get(conversation_id, {})
            top = max(log, default=0)
            row = log.get(top)
        if self.m.metering():
            size = _size_message(row)
            self.m.report(
                "dynamodb", "Query", {"TableName": "MessagesTable"}, read_cost([size], True)
            )
        return top

    def find_by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> Row | None:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            seq = self.m.dedupe.get((conversation_id, dedupe_key(sender_id, client_msg_id)))
            row = self.m.messages.get(conversation_id, {}).get(seq) if seq else None
            row = json.loads(json.dumps(row)) if row else None
        if self.m.metering():
            units = read_cost([_size_message(row)], True)
            self.m.report(
                "dynamodb",
                "Query",
                {"TableName": "MessagesTable", "IndexName": "byClientMsgId"},
                units,
            )
        return row

    def put_if_absent(self, message: Row) -> bool:
        self.m.wait(self.m.latency.dynamodb)
        cid, seq = message["conversationId"], int(message["seq"])
        with self.m.lock:
            log = self.m.messages.setdefault(cid, {})
            old = log.get(seq)
            applied = old is None
        if applied:
            self.m.add_message(message)
        if self.m.metering():
            new = encode_message(message)
            old_item = encode_message(old) if old else None
            units = write_cost(self.schema, old_item, new, applied=applied)
            self.m.report("dynamodb", "PutItem", {"TableName": "MessagesTable"}, units)
        return applied


def _size_message(row: Row | None) -> int:
    return item_size(encode_message(row)) if row else 0


class ConnectionsModel:
    def __init__(self, model: Model) -> None:
        self.m = model
        self.schema = model.schemas["ConnectionsTable"]

    def get(self, connection_id: str) -> Row | None:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            row = self.m.connections.get(connection_id)
            row = dict(row) if row else None
        if self.m.metering():
            units = read_cost([_size(row)], False)
            self.m.report("dynamodb", "GetItem", {"TableName": "ConnectionsTable"}, units)
        return row

    def delete(self, connection_id: str) -> Row | None:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            row = self.m.connections.pop(connection_id, None)
            if row is not None:
                self.m.user_connections.get(row["userId"], set()).discard(connection_id)
        if self.m.metering():
            old = ddb.encode(row) if row else None
            units = write_cost(self.schema, old, None)
            self.m.report("dynamodb", "DeleteItem", {"TableName": "ConnectionsTable"}, units)
        return row

    def by_user(self, user_id: str, now: int) -> list[Row]:
        self.m.wait(self.m.latency.dynamodb)
        with self.m.lock:
            ids = sorted(self.m.user_connections.get(user_id, ()))
            rows = [dict(self.m.connections[c]) for c in ids]
        if self.m.metering():
            units = read_cost([_size(r) for r in rows], False)
            params = {"TableName": "ConnectionsTable", "IndexName": "byUser"}
            self.m.report("dynamodb", "Query", params, units)
        return [c for c in rows if int(c.get("ttl", now + 1)) > now]

    def by_users(self, user_ids: list[str], now: int) -> dict[str, list[Row]]:
        unique = sorted(set(user_ids))
        found = parallel_map(lambda u: self.by_user(u, now), unique)
        return dict(zip(unique, found, strict=True))


class UsersModel:
    """Only what a group send can touch (nothing, on the happy path)."""

    def __init__(self, model: Model) -> None:
        self.m = model

    def existing(self, user_ids: list[str]) -> set[str]:
        return set(user_ids)

    def is_blocked(self, blocker: str, blocked: str) -> bool:
        return False


class Sqs:
    """The push queue: a FIFO of message bodies with SQS-like call latency."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.items: deque[str] = deque()
        self.cond = threading.Condition()
        self.sent = 0

    def send_all(self, items: list[Row]) -> None:
        """As `parley.repositories.queue.PushQueue.send_all`: batches of 10."""
        for start in range(0, len(items), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(item, separators=(",", ":"))}
                for i, item in enumerate(items[start : start + 10])
            ]
            self.m.wait(self.m.latency.sqs)
            self.m.report("sqs", "SendMessageBatch", {"Entries": entries})
            with self.cond:
                self.items.extend(e["MessageBody"] for e in entries)
                self.sent += len(entries)
                self.cond.notify_all()

    def receive(self, max_records: int, timeout: float) -> list[str]:
        """Up to `max_records` bodies (waiting up to `timeout` for the first)."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while not self.items:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return []
                self.cond.wait(left)
            got = [self.items.popleft() for _ in range(min(max_records, len(self.items)))]
        self.m.wait(self.m.latency.sqs)
        return got


@dataclass
class Delivery:
    connection_id: str
    at: float
    frame: bytes


class CountingGateway:
    """`@connections` stand-in: every post takes `latency.post` and is counted and timed."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.gone: set[str] = set()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.on_delivery: Callable[[Delivery], None] | None = None

    def post(self, connection_id: str, data: bytes) -> PostResult:
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self.m.wait(self.m.latency.post)
        finally:
            with self.lock:
                self.in_flight -= 1
        self.m.report(
            "apigatewaymanagementapi",
            "PostToConnection",
            {"ConnectionId": connection_id, "Data": data},
        )
        if connection_id in self.gone:
            return PostResult.GONE
        delivery = Delivery(connection_id, time.perf_counter(), data)
        with self.lock:
            self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return PostResult.DELIVERED

    def close(self, connection_id: str) -> bool:
        return True


@dataclass
class Repos:
    """One model and a repository of each kind over it."""

    model: Model
    members: MembersModel = field(init=False)
    conversations: ConversationsModel = field(init=False)
    messages: MessagesModel = field(init=False)
    connections: ConnectionsModel = field(init=False)
    users: UsersModel = field(init=False)
    queue: Sqs = field(init=False)
    gateway: CountingGateway = field(init=False)

    def __post_init__(self) -> None:
        self.members = MembersModel(self.model)
        self.conversations = ConversationsModel(self.model)
        self.messages = MessagesModel(self.model)
        self.connections = ConnectionsModel(self.model)
        self.users = UsersModel(self.model)
        self.queue = Sqs(self.model)
        self.gateway = CountingGateway(self.model)


_RUNTIME_NAMES = (
    "members",
    "conversations",
    "messages",
    "connections",
    "users",
    "push_queue",
    "gateway",
    "limiter",
    "membership",
    "sessions",
    "push_service",
)


@contextmanager
def patched_runtime(repos: Repos, *, per_thread_push: bool = True) -> Iterator[None]:
    """Make `parley.runtime` build the real services over `repos`.

    Each thread (an emulated Lambda container) gets its own PushService (its own post
    thread pool of `PARLEY_FANOUT_THREADS`) and its own `parallel_map` pool, as separate
    containers would; the rate limiter is off.
    """
    from concurrent.futures import ThreadPoolExecutor

    from parley import concurrency, runtime

    runtime.reset()
    saved = {name: getattr(runtime, name) for name in _RUNTIME_NAMES if hasattr(runtime, name)}
    saved_pool = concurrency.pool
    local = threading.local()
    pools: list[ThreadPoolExecutor] = []
    build_push = runtime.push_service.__wrapped__  # type: ignore[attr-defined]

    def thread_pool() -> ThreadPoolExecutor:
        pool = getattr(local, "pool", None)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="parley-io")
            local.pool = pool
            pools.append(pool)
        return pool

    def push_service() -> Any:
        service = getattr(local, "push", None)
        if service is None:
            service = build_push()
            local.push = service
        return service

    runtime.members = lambda: repos.members  # type: ignore[assignment]
    runtime.conversations = lambda: repos.conversations  # type: ignore[assignment]
    runtime.messages = lambda: repos.messages  # type: ignore[assignment]
    runtime.connections = lambda: repos.connections  # type: ignore[assignment]
    runtime.users = lambda: repos.users  # type: ignore[assignment]
    runtime.push_queue = lambda: repos.queue  # type: ignore[assignment]
    runtime.gateway = lambda: repos.gateway  # type: ignore[assignment]
    runtime.limiter = lambda: None  # type: ignore[assignment]
    runtime.membership = lambda: None  # type: ignore[assignment]
    runtime.sessions = lambda: None  # type: ignore[assignment]
    if per_thread_push:
        runtime.push_service = push_service  # type: ignore[assignment]
    concurrency.pool = thread_pool  # type: ignore[assignment]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(runtime, name, value)
        concurrency.pool = saved_pool  # type: ignore[assignment]
        runtime.reset()
        for pool in pools:
            pool.shutdown(wait=False)
