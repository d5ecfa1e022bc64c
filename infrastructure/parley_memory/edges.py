"""The `@connections` API and the push queue, in memory (with the store's hooks)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from parley.errors import Unavailable
from parley.ports import PostResult
from parley.records import NotifyItem, WorkItem

from parley_memory.store import Access, Store


@dataclass(frozen=True)
class Delivery:
    """One successful post: where, when (`time.perf_counter()`), and the frame's bytes."""

    connection_id: str
    at: float
    data: bytes


class Gateway:
    """Posts succeed unless the connection id is in `gone` (410), `throttled` or `failing`.

    Every post waits `latency.post` (outside any lock) and is reported; `deliveries` keeps
    the successful ones in order, `on_delivery` is told of each, `closed` lists the
    connections closed, and `peak_in_flight` the most posts that were waiting at once.
    """

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.gone: set[str] = set()
        self.throttled: set[str] = set()
        self.failing: set[str] = set()
        self.closed: list[str] = []
        self.deliveries: list[Delivery] = []
        self.on_delivery: Callable[[Delivery], None] | None = None
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> PostResult:
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self.store.wait("post")
        finally:
            with self.lock:
                self.in_flight -= 1
        if self.store.probing:
            params = {"ConnectionId": connection_id, "Data": data}
            self.store.report(Access("apigatewaymanagementapi", "PostToConnection", params=params))
        with self.lock:
            if connection_id in self.gone:
                return PostResult.GONE
            if connection_id in self.throttled:
                return PostResult.THROTTLED
            if connection_id in self.failing:
                return PostResult.FAILED
        delivery = Delivery(connection_id, time.perf_counter(), data)
        self.delivered(delivery)
        return PostResult.DELIVERED

    def delivered(self, delivery: Delivery) -> None:
        """Record a successful post (subclasses keep more)."""
        with self.lock:
            self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    def close(self, connection_id: str) -> bool:
        with self.lock:
            self.closed.append(connection_id)
            return connection_id not in self.gone


def _send_batches(store: Store, items: Sequence[Mapping[str, object]]) -> Iterator[list[str]]:
    """The JSON bodies of `items` in SQS batches of 10, each after the SQS latency and
    reported as one SendMessageBatch (when a probe is listening)."""
    for start in range(0, len(items), 10):
        bodies = [json.dumps(i, separators=(",", ":")) for i in items[start : start + 10]]
        store.wait("sqs")
        if store.probing:
            entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
            store.report(Access("sqs", "SendMessageBatch", params={"Entries": entries}))
        yield bodies


class PushQueue:
    """A FIFO of work items sent in SQS batches of 10 (each batch waits `latency.sqs` and is
    reported); `items` keeps every item sent, as the JSON the queue carried.

    `receive` hands the pending bodies to a consumer (the fan-out benchmark's event source);
    with `fail` set, `send_all` raises :class:`Unavailable` as the DynamoDB-backed queue
    does after its retries.
    """

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.items: list[WorkItem] = []
        self.pending: deque[str] = deque()
        self.fail = False
        self.calls = 0
        self.cond = threading.Condition()

    def send_all(self, items: list[WorkItem]) -> None:
        with self.cond:
            self.calls += 1
            if self.fail:
                raise Unavailable("push queue unavailable")
        for bodies in _send_batches(self.store, items):
            with self.cond:
                self.items.extend(json.loads(b) for b in bodies)
                self.pending.extend(bodies)
                self.cond.notify_all()

    def receive(self, max_records: int, timeout: float) -> list[str]:
        """Up to `max_records` pending bodies (waiting up to `timeout` for the first)."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while not self.pending:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return []
                self.cond.wait(left)
            got = [self.pending.popleft() for _ in range(min(max_records, len(self.pending)))]
        self.store.wait("sqs")
        return got

    def of_kind(self, kind: str) -> list[WorkItem]:
        """The items sent of one kind."""
        with self.cond:
            return [i for i in self.items if i.get("kind") == kind]


class NotifyOutbox:
    """The NotifyQueue as the fan-out sees it: `items` keeps every notify work item sent;
    with `fail` set, `send_all` raises :class:`Unavailable` as the SQS client does when
    an entry is refused."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.items: list[NotifyItem] = []
        self.fail = False
        self._lock = threading.Lock()

    def send_all(self, items: list[NotifyItem]) -> None:
        if self.fail:
            raise Unavailable("notify queue unavailable")
        for bodies in _send_batches(self.store, items):
            with self._lock:
                self.items.extend(json.loads(b) for b in bodies)

    def users(self) -> list[str]:
        """Every user named by the items sent, in order."""
        with self._lock:
            return [u for item in self.items for u in item["userIds"]]
