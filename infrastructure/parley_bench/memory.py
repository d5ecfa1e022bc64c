"""The in-memory data layer (`parley_memory`) with DynamoDB-like latency and metering, for
the large fan-out runs.

moto in one process answers a `byUser` Query by looking at every item of the table, so a
10,000-member fan-out (10,000 such queries over 10,000 connections) takes minutes. The
in-memory store keeps the tables' indexes, and here it

* sleeps a fixed latency per call (5 ms per DynamoDB call, 20 ms per `@connections` post,
  10 ms per SQS call by default), outside any lock, so concurrency behaves as with the
  real services: calls overlap in threads and release the GIL while "on the network";
* reports every call it stands for to an :class:`~parley_bench.meter.AwsMeter` as a
  :class:`~parley_bench.meter.Call` with its DynamoDB units computed from the items the
  call read and wrote, in the form the real repositories store them, so costs are
  counted by the same rules as the moto runs (:class:`MeterProbe`).

It is the same implementation the unit tests run the services on (`tests/fakes`). The
services and handlers on top are the real ones: :func:`patched_runtime` makes
``parley.runtime`` hand these out instead of the DynamoDB repositories.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import parley_memory
from parley import ddb
from parley.records import Message
from parley.repositories.messages import encode_message
from parley_memory import Access, Memory, Store

from parley_bench.capacity import Units, item_size, read_cost, write_cost
from parley_bench.meter import AwsMeter, Call
from parley_bench.template import tables

__all__ = ["Latency", "MeterProbe", "Repos", "memory", "patched_runtime"]

Repos = Memory


@dataclass
class Latency(parley_memory.Latency):
    """Seconds per call of each kind (what an in-region Lambda sees, roughly)."""

    dynamodb: float = 0.005
    post: float = 0.020
    sqs: float = 0.010


def _item(table: str | None, row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`row` as the DynamoDB item the real repository stores (a message's body as JSON
    text and its `own` map as a map of numbers)."""
    if row is None:
        return None
    if table == "MessagesTable":
        message: Message = {
            "conversationId": row["conversationId"],
            "seq": row["seq"],
            "messageId": row["messageId"],
            "senderId": row["senderId"],
            "clientMsgId": row["clientMsgId"],
            "body": row["body"],
            "ts": row["ts"],
        }
        return encode_message(message, row.get("own"))
    return ddb.encode(row)


class MeterProbe:
    """Prices each call of the store by DynamoDB's rules and records it to `meter`."""

    def __init__(self, meter: AwsMeter) -> None:
        self.meter = meter
        self.schemas = tables()

    def __call__(self, access: Access) -> None:
        if not self.meter.active:
            return
        units = Units()
        params: dict[str, Any] = dict(access.params)
        if access.service == "dynamodb":
            table = access.table
            params["TableName"] = table
            if access.index is not None:
                params["IndexName"] = access.index
            if access.writes:
                schema = self.schemas[str(table)]
                for w in access.writes:
                    units.add(
                        write_cost(
                            schema,
                            _item(table, w.old),
                            _item(table, w.new),
                            applied=w.applied,
                            transactional=w.transactional,
                        )
                    )
            else:
                sizes = [item_size(_item(table, r)) for r in access.read]
                units = read_cost(sizes, access.consistent)
        now = time.perf_counter()
        self.meter.record(
            Call(
                service=access.service,
                operation=access.operation,
                params=params,
                start=now,
                end=now,
                thread=threading.current_thread().name,
                units=units,
            )
        )


def memory(latency: Latency | None = None, meter: AwsMeter | None = None) -> Memory:
    """A store with `latency` per call (metered to `meter` when given), and everything on it."""
    probe = MeterProbe(meter) if meter is not None else None
    return Memory(Store(latency=latency or Latency(), probe=probe))


@contextmanager
def patched_runtime(repos: Memory, *, per_thread_push: bool = True) -> Iterator[None]:
    """Make `parley.runtime` build the real services over `repos`.

    Each thread (an emulated Lambda container) gets its own PushService (its own post
    thread pool of `PARLEY_FANOUT_THREADS`) and its own `parallel_map` pool, as separate
    containers would; the rate limiter is off.
    """
    from parley import concurrency, runtime

    runtime.reset()
    replacements: dict[str, object] = {
        "users": repos.users,
        "sessions": repos.sessions,
        "connections": repos.connections,
        "conversations": repos.conversations,
        "members": repos.members,
        "messages": repos.messages,
        "events": repos.events,
        "membership": repos.membership,
        "push_queue": repos.queue,
        "gateway": repos.gateway,
        "limiter": None,
    }
    names = [*replacements, "push_service"]
    saved = {name: getattr(runtime, name) for name in names}
    saved_pool = concurrency.pool
    local = threading.local()
    pools: list[ThreadPoolExecutor] = []
    build_push = runtime.push_service.__wrapped__

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

    for name, value in replacements.items():
        setattr(runtime, name, lambda value=value: value)
    if per_thread_push:
        setattr(runtime, "push_service", push_service)  # noqa: B010 - a module attribute
    setattr(concurrency, "pool", thread_pool)  # noqa: B010 - a module attribute
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(runtime, name, value)
        setattr(concurrency, "pool", saved_pool)  # noqa: B010 - a module attribute
        runtime.reset()
        for pool in pools:
            pool.shutdown(wait=False)
