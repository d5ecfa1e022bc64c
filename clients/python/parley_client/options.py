"""The tunables of :class:`~parley_client.ParleyClient`, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ErrorCode


@dataclass(frozen=True, kw_only=True)
class ClientOptions:
    """How a :class:`~parley_client.ParleyClient` behaves; every field has a default.

    Build one with keywords (``ClientOptions(request_timeout=30.0)``) and derive
    variants with :meth:`replace`. Invalid values raise ``ValueError`` at once.

    Attributes:
        request_timeout: seconds to wait for each reply (including the wait for a
            reconnection if the socket is down).
        send_attempts: how many times ``send`` tries before giving up.
        retry_codes: error codes ``send`` retries (default: 2001 only).
        ping_interval: seconds between keepalive ``ping`` actions (``None``: off).
        ws_ping_interval: seconds between WebSocket protocol pings, which detect a
            dead TCP connection (``None``: off).
        reconnect: reconnect after an unexpected disconnection.
        backoff_base: first reconnect delay ceiling, in seconds.
        backoff_cap: largest reconnect delay ceiling, in seconds.
        max_reconnect_attempts: give up after this many failed attempts in a row
            (``None``: never); giving up ends the client with ``ParleyConnectionError``.
        stable_after: seconds a connection must have stayed up for the next
            disconnection to restart the backoff from ``backoff_base``.
        sync_on_connect: sync right after connecting (``connect()`` returns once
            caught up).
        sync_on_reconnect: sync after every reconnection (``None``: as
            ``sync_on_connect``).
        auto_renew: present a fresh token with ``auth`` ``renew_margin`` seconds
            before the current one expires (JWT ``exp``), so a long-lived socket keeps
            a valid token; stops by itself if the server has no ``auth`` action.
        renew_margin: see ``auto_renew``.
        sync_limit: ``limit`` sent with each ``sync`` (server default when ``None``).
        backfill_unknown: on a message in a conversation with no cursor, sync its
            older messages (see :class:`~parley_client.ordering.Sequencer`).
        gap_grace: seconds to wait for a late push before syncing to fill a gap.
        gap_retries: syncs tried before delivering past a gap that sync cannot fill.
        open_timeout: seconds allowed for each WebSocket handshake.
        max_buffered_events: events kept for the iterator; the oldest are dropped
            past it.
        max_held_messages: messages held per conversation in their current state
            (:class:`~parley_client.state.MessageStore`); the lowest seqs are
            dropped past it, ``0`` holds none.
    """

    request_timeout: float = 10.0
    send_attempts: int = 5
    retry_codes: frozenset[int] = frozenset({ErrorCode.MESSAGE_SEND_FAILED})
    ping_interval: float | None = 300.0
    ws_ping_interval: float | None = 20.0
    reconnect: bool = True
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_reconnect_attempts: int | None = None
    stable_after: float = 10.0
    sync_on_connect: bool = True
    sync_on_reconnect: bool | None = None
    auto_renew: bool = True
    renew_margin: float = 60.0
    sync_limit: int | None = None
    backfill_unknown: bool = True
    gap_grace: float = 0.2
    gap_retries: int = 3
    open_timeout: float = 10.0
    max_buffered_events: int = 10_000
    max_held_messages: int = 500

    def __post_init__(self) -> None:
        if self.send_attempts < 1:
            raise ValueError("send_attempts must be >= 1")
        if self.max_buffered_events < 1:
            raise ValueError("max_buffered_events must be >= 1")
        if self.max_held_messages < 0:
            raise ValueError("max_held_messages must be >= 0")
        # accept any iterable of codes, stored as a frozenset of ints
        object.__setattr__(self, "retry_codes", frozenset(int(c) for c in self.retry_codes))

    @property
    def resync_on_reconnect(self) -> bool:
        """Whether a reconnection is followed by a ``sync`` (``sync_on_reconnect`` resolved)."""
        return self.sync_on_connect if self.sync_on_reconnect is None else self.sync_on_reconnect

    def replace(self, **changes: Any) -> ClientOptions:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
