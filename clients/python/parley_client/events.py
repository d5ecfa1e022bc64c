"""Delivered events: a bounded buffer with predicate-based waiting, plus listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from .errors import ParleyClientError, ParleyClosedError, ParleyTimeoutError
from .wire import JsonObject

log = logging.getLogger("parley_client.events")

EventPredicate = Callable[[JsonObject], bool]
#: A callback run, inline in the reader, for every delivered event. Keep it short and
#: non-blocking; exceptions it raises are logged and ignored.
EventListener = Callable[[JsonObject], None]


class EventBuffer:
    """FIFO of events; consumers may take the next one or the first matching one.

    When more than ``maxlen`` events are waiting, the oldest are dropped (counted in
    :attr:`dropped`), so an application that only uses callbacks never grows memory.
    After :meth:`close`, waiting consumers drain what is left and then get
    :class:`~parley_client.ParleyClosedError` (or the error passed to ``close``).
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be positive")
        self._items: deque[JsonObject] = deque()
        self._maxlen = maxlen
        self._changed = asyncio.Event()
        self._closed: BaseException | None = None
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed is not None

    def put(self, event: JsonObject) -> None:
        """Append one event (ignored after close)."""
        if self._closed is not None:
            return
        self._items.append(event)
        if len(self._items) > self._maxlen:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event buffer full: %d old events dropped so far", self.dropped)
        self._changed.set()

    def close(self, error: BaseException | None = None) -> None:
        """Stop accepting events; consumers finish the backlog, then get ``error``."""
        if self._closed is None:
            self._closed = error or ParleyClosedError("client closed")
            self._changed.set()

    def clear(self) -> None:
        """Discard the waiting events."""
        self._items.clear()

    def take_nowait(self, predicate: EventPredicate | None = None) -> JsonObject | None:
        """Remove and return the first (matching) waiting event, or ``None``."""
        for index, event in enumerate(self._items):
            if predicate is None or predicate(event):
                del self._items[index]
                return event
        return None

    async def take(
        self, predicate: EventPredicate | None = None, timeout: float | None = None
    ) -> JsonObject:
        """Wait for and remove the first (matching) event; others stay in place.

        Raises:
            TimeoutError: nothing matched within ``timeout`` seconds.
            ParleyClosedError: the buffer was closed and nothing matching is left.
        """
        async with asyncio.timeout(timeout):
            while True:
                event = self.take_nowait(predicate)
                if event is not None:
                    return event
                if self._closed is not None:
                    raise self._closed
                self._changed.clear()
                await self._changed.wait()


class EventStream:
    """Where delivered events go: every listener, then the buffer for iterators.

    This is the application side of :class:`~parley_client.ParleyClient`; the client
    delegates its event methods here.
    """

    def __init__(self, maxlen: int, listener: EventListener | None = None) -> None:
        self.buffer = EventBuffer(maxlen)
        self._listeners: list[EventListener] = [listener] if listener else []

    def emit(self, event: JsonObject) -> None:
        """Queue ``event`` and run the listeners on it (their errors are logged)."""
        self.buffer.put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every delivered event; returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def iterate(self) -> AsyncIterator[JsonObject]:
        """Yield events until the buffer is closed; a close with an error raises it."""
        while True:
            try:
                event = await self.buffer.take()
            except ParleyClosedError:
                return
            yield event

    async def next_event(
        self,
        event_type: str | None,
        predicate: EventPredicate | None,
        timeout: float | None,
        fields: dict[str, Any],
    ) -> JsonObject:
        """Wait for and remove the first event of ``event_type`` whose ``fields`` match.

        Raises:
            ParleyTimeoutError: nothing matched within ``timeout`` seconds.
            ParleyClosedError: the buffer was closed and nothing matching is left.
        """

        def matches(event: JsonObject) -> bool:
            if event_type is not None and event.get("type") != event_type:
                return False
            if any(event.get(k) != v for k, v in fields.items()):
                return False
            return predicate is None or predicate(event)

        try:
            return await self.buffer.take(matches, timeout)
        except TimeoutError as exc:
            if isinstance(exc, ParleyClientError):
                raise
            raise ParleyTimeoutError(
                f"no {event_type or 'event'} matching within {timeout} s"
            ) from None
