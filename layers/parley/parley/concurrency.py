"""The container's I/O pool: independent AWS calls issued in parallel.

Services overlap independent reads (membership, newest seq, rate limit) and repositories
fan requests out (BatchGetItem chunks, per-conversation queries); both share one bounded
pool per container, created on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@cache
def pool() -> ThreadPoolExecutor:
    """One bounded pool per container for independent I/O issued in parallel."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="parley-io")


def submit(fn: Callable[..., R], *args: Any) -> Future[R]:
    """Start `fn(*args)` on the shared I/O pool, for a call that overlaps the caller's work
    (the caller waits on the future; pool tasks never wait on each other)."""
    return pool().submit(fn, *args)


def parallel_map(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """`map` that runs I/O-bound calls concurrently (sequential for one item)."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    return list(pool().map(fn, items))


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls concurrently; their results in order (the first error raises)."""
    return parallel_map(lambda call: call(), list(calls))
