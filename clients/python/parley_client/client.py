"""Async WebSocket client for Parley: sending, syncing, receiving, reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from ._net import is_loopback_url
from .backoff import full_jitter
from .errors import (
    ErrorCode,
    ParleyClientError,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from .events import EventBuffer, EventPredicate
from .ordering import Sequencer
from .tokens import TokenProvider, jwt_claims, static_token

__all__ = [
    "MAX_FRAME_BYTES",
    "EventListener",
    "JsonObject",
    "ParleyClient",
    "SyncResult",
    "text_body",
]

log = logging.getLogger("parley_client.ws")

JsonObject = dict[str, Any]
#: A callback run, inline in the reader, for every delivered event. Keep it short and
#: non-blocking; exceptions it raises are logged and ignored.
EventListener = Callable[[JsonObject], None]

#: API Gateway's WebSocket frame limit; bigger frames get the socket closed (1009), so
#: the client refuses them up front with ``ParleyError`` 1006.
MAX_FRAME_BYTES = 32 * 1024

_REPLY_TYPES = frozenset({"ack", "sync", "presence", "ok", "pong", "error"})


def text_body(text: str) -> JsonObject:
    """The message body ``{"type": "text", "text": text}``."""
    return {"type": "text", "text": text}


@dataclass
class SyncResult:
    """What one :meth:`ParleyClient.sync` call brought.

    Attributes:
        messages: the messages it delivered (also emitted as events), in delivery order.
        conversations: per conversation seen, the last summary the server sent
            (``conversationId, type, lastSeq, readSeq, hasMore``; no messages).
        rounds: how many ``sync`` requests it took to reach ``complete``.
        complete: false only when the server kept answering ``complete: false``
            without any progress and the client stopped asking.
    """

    messages: list[JsonObject] = field(default_factory=list)
    conversations: dict[str, JsonObject] = field(default_factory=dict)
    rounds: int = 0
    complete: bool = True


class ParleyClient:
    """One user's live connection to the Parley WebSocket API.

    Use it as an async context manager (or call :meth:`connect` / :meth:`close`)::

        http = HttpClient("http://127.0.0.1:3000")
        await http.login("alice", "correct horse")
        async with ParleyClient("ws://127.0.0.1:3001", http.token_provider) as client:
            ack = await client.send("hello", to="bob")
            async for event in client:
                print(event)

    **Requests** (:meth:`send`, :meth:`sync`, :meth:`read`, ...) wait for the reply
    with the same request ``id``, at most ``request_timeout`` seconds (this includes
    waiting for a reconnection if the socket is down). Server errors raise
    :class:`~parley_client.ParleyError`. A request refused with 1003 (token expired on
    an open socket) is retried once after renewing the token with :meth:`auth`.

    **Sending** is idempotent: :meth:`send` picks a ``clientMsgId`` once and repeats
    the same frame after a timeout, a lost connection or error 2001, up to
    ``send_attempts`` times; the server stores the message once and answers every
    repeat with the first ``ack``.

    **Receiving**: every server-pushed event (``message``, ``receipt``, ``typing``,
    ``signal``, unmatched ``error``) is delivered through the async iterator
    (``async for event in client``), :meth:`next_event`, and listeners added with
    :meth:`add_listener`. Messages pass through a per-conversation sequencer first:
    repeats of a ``(conversationId, seq)`` are dropped, and when a ``seq`` arrives
    ahead of the cursor the message is held back, a ``sync`` fills the hole (after
    ``gap_grace`` seconds, in case the missing push is just late) and everything is
    delivered in ``seq`` order. Messages brought by ``sync`` are delivered as
    ``message`` events too. Messages this client sent itself are not delivered (you
    got the ``ack``), but move the cursor. Cursors live in memory; persist them with
    :meth:`export_cursors` and restore them with ``cursors=`` / :meth:`import_cursors`.

    **Connection**: when the socket drops (not after :meth:`close`), the client
    reconnects with full-jitter exponential backoff (``backoff_base`` doubling up to
    ``backoff_cap`` seconds), then syncs to catch up. Before every connection
    attempt it asks ``token_provider(False)`` for a token; when the handshake is
    refused with HTTP 401 it asks ``token_provider(True)`` (refresh) and tries once
    more. A second 401, or the provider raising ``ParleyError`` 1003, ends the
    client: pending and future calls, and the event iterator, raise that error.
    A ``ping`` is sent every ``ping_interval`` seconds to stay under API Gateway's
    10-minute idle limit; a ping without ``pong`` drops the socket (and reconnects).

    Args:
        ws_url: the WebSocket URL (``ws://`` or ``wss://``); ``?token=`` is added.
        token_provider: ``async (force_refresh: bool) -> str``, e.g.
            :meth:`HttpClient.token_provider`, or a fixed token string.
        request_timeout: seconds to wait for each reply.
        send_attempts: how many times :meth:`send` tries before giving up.
        retry_codes: error codes :meth:`send` retries (default: 2001 only).
        ping_interval: seconds between keepalive ``ping`` actions (``None``: off).
        ws_ping_interval: seconds between WebSocket protocol pings, which detect a
            dead TCP connection (``None``: off).
        reconnect: reconnect after an unexpected disconnection.
        backoff_base: first reconnect delay ceiling, in seconds.
        backoff_cap: largest reconnect delay ceiling, in seconds.
        max_reconnect_attempts: give up after this many failed attempts in a row
            (``None``: never); giving up ends the client with ``ParleyConnectionError``.
        cursors: initial ``{conversationId: lastSeenSeq}``.
        sync_on_connect: sync right after connecting (``connect()`` returns once caught
            up).
        sync_on_reconnect: sync after every reconnection (default: ``sync_on_connect``).
        auto_renew: present a fresh token with :meth:`auth` ``renew_margin`` seconds
            before the current one expires (JWT ``exp``), so a long-lived socket keeps
            a valid token; stops by itself if the server has no ``auth`` action.
        renew_margin: see ``auto_renew``.
        sync_limit: ``limit`` sent with each ``sync`` (server default when ``None``).
        backfill_unknown: on a message in a conversation with no cursor, sync its older
            messages (see :class:`~parley_client.ordering.Sequencer`).
        gap_grace: seconds to wait for a late push before syncing to fill a gap.
        gap_retries: syncs tried before delivering past a gap that sync cannot fill.
        open_timeout: seconds allowed for each WebSocket handshake.
        max_buffered_events: events kept for the iterator; the oldest are dropped past it.
        on_event: a listener to add right away (see :meth:`add_listener`).
    """

    def __init__(
        self,
        ws_url: str,
        token_provider: TokenProvider | str,
        *,
        request_timeout: float = 10.0,
        send_attempts: int = 5,
        retry_codes: frozenset[int] = frozenset({ErrorCode.MESSAGE_SEND_FAILED}),
        ping_interval: float | None = 300.0,
        ws_ping_interval: float | None = 20.0,
        reconnect: bool = True,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_reconnect_attempts: int | None = None,
        cursors: Mapping[str, int] | None = None,
        sync_on_connect: bool = True,
        sync_on_reconnect: bool | None = None,
        auto_renew: bool = True,
        renew_margin: float = 60.0,
        sync_limit: int | None = None,
        backfill_unknown: bool = True,
        gap_grace: float = 0.2,
        gap_retries: int = 3,
        open_timeout: float = 10.0,
        max_buffered_events: int = 10_000,
        on_event: EventListener | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(ws_url)
        if parsed.scheme not in ("ws", "wss") or not parsed.netloc:
            raise ValueError(f"not a ws(s) URL: {ws_url!r}")
        if send_attempts < 1:
            raise ValueError("send_attempts must be >= 1")
        self.ws_url = ws_url
        self._token_provider: TokenProvider = (
            static_token(token_provider) if isinstance(token_provider, str) else token_provider
        )
        self.request_timeout = request_timeout
        self.send_attempts = send_attempts
        self.retry_codes = frozenset(retry_codes)
        self.ping_interval = ping_interval
        self.ws_ping_interval = ws_ping_interval
        self.reconnect = reconnect
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_reconnect_attempts = max_reconnect_attempts
        self.sync_on_connect = sync_on_connect
        self.sync_on_reconnect = sync_on_connect if sync_on_reconnect is None else sync_on_reconnect
        self.auto_renew = auto_renew
        self.renew_margin = renew_margin
        self.sync_limit = sync_limit
        self.gap_grace = gap_grace
        self.gap_retries = gap_retries
        self.open_timeout = open_timeout
        self.stable_after = 10.0  # a connection up this long resets the backoff
        self._rng = random.Random()

        self._sequencer = Sequencer(cursors, backfill_unknown=backfill_unknown)
        self._events = EventBuffer(max_buffered_events)
        self._listeners: list[EventListener] = [on_event] if on_event else []

        self._ws: ClientConnection | None = None
        self._token: str | None = None
        self._wake = asyncio.Event()  # set while connected, or once stopping
        self._started = False
        self._closing = False
        self._closed = asyncio.Event()
        self._fatal: BaseException | None = None
        self._pending: dict[str, asyncio.Future[JsonObject]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:8]
        self._sync_lock = asyncio.Lock()
        self._renew_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._gap_task: asyncio.Task[None] | None = None
        self._connected_at = 0.0
        self._backoff_attempt = 0
        self.connection_count = 0
        """How many times a connection was opened (1 + reconnections)."""

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ParleyClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection and (with ``sync_on_connect``) sync until caught up.

        Raises:
            ParleyError: 1003 when the token is refused even after a refresh.
            ParleyConnectionError: the server cannot be reached.
            ParleyTimeoutError: the initial sync got no reply in time.
        """
        if self._started:
            raise RuntimeError("connect() was already called on this client")
        if self._closing:
            raise ParleyClosedError("client closed")
        self._started = True
        try:
            self._attach(await self._open())
            self._supervisor = asyncio.create_task(self._supervise(), name="parley-supervisor")
            if self.ping_interval:
                self._spawn(self._keepalive(self.ping_interval), "parley-keepalive")
            if self.auto_renew:
                self._spawn(self._renew_before_expiry(), "parley-token-renewal")
            if self.sync_on_connect:
                await self.sync()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection for good. Idempotent; no reconnection follows.

        Pending requests fail with :class:`~parley_client.ParleyClosedError`; the event
        iterator ends once the events already received are consumed.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._wake.set()
        self._fail_pending(ParleyClosedError("client closed"))
        self._events.close(self._fatal)
        tasks = [t for t in (self._supervisor, *self._background) if t is not None]
        others = [t for t in tasks if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        ws, self._ws = self._ws, None
        try:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()
            if others:
                await asyncio.gather(*others, return_exceptions=True)
        finally:
            self._closed.set()

    @property
    def connected(self) -> bool:
        """True while a socket is open."""
        return self._ws is not None and not self._closing and self._fatal is None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`, or after a fatal error ended the client."""
        return self._closing or self._fatal is not None

    @property
    def user_id(self) -> str | None:
        """The ``sub`` of the access token last used to connect (unverified), if any."""
        if self._token is None:
            return None
        sub = jwt_claims(self._token).get("sub")
        return sub if isinstance(sub, str) else None

    # -------------------------------------------------------------- cursors

    def export_cursors(self) -> dict[str, int]:
        """``{conversationId: highest contiguous seq delivered}``, for persisting."""
        return self._sequencer.export_cursors()

    def import_cursors(self, cursors: Mapping[str, int], *, replace: bool = False) -> None:
        """Set cursors (e.g. restored from disk); ``replace`` forgets all others."""
        self._sequencer.import_cursors(cursors, replace=replace)

    def cursor(self, conversation_id: str) -> int | None:
        """One conversation's cursor, ``None`` if the client has not seen it."""
        return self._sequencer.cursor(conversation_id)

    # --------------------------------------------------------------- events

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every delivered event; returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def __aiter__(self) -> AsyncIterator[JsonObject]:
        return self.events()

    async def events(self) -> AsyncIterator[JsonObject]:
        """Iterate over delivered events until the client is closed.

        Only one consumer should iterate; events are removed as they are yielded.

        Raises:
            ParleyError: the client ended on a fatal error (e.g. revoked login).
            ParleyConnectionError: it gave up reconnecting.
        """
        while True:
            try:
                event = await self._events.take()
            except ParleyClosedError:
                return
            yield event

    async def next_event(
        self,
        event_type: str | None = None,
        *,
        predicate: EventPredicate | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> JsonObject:
        """Wait for the first waiting or future event that matches, and remove it.

        ``event_type`` matches ``event["type"]``; each keyword must equal the event's
        field of that name (``next_event("receipt", userId="bob")``); ``predicate``
        is any further test. Events that do not match stay queued, in order.

        Raises:
            ParleyTimeoutError: nothing matched within ``timeout`` seconds.
            ParleyClosedError: the client was closed and nothing matching is left.
        """

        def matches(event: JsonObject) -> bool:
            if event_type is not None and event.get("type") != event_type:
                return False
            if any(event.get(k) != v for k, v in fields.items()):
                return False
            return predicate is None or predicate(event)

        try:
            return await self._events.take(matches, timeout)
        except TimeoutError as exc:
            if isinstance(exc, ParleyClientError):
                raise
            raise ParleyTimeoutError(
                f"no {event_type or 'event'} matching within {timeout} s"
            ) from None

    def pending_events(self) -> int:
        """How many delivered events are waiting to be consumed."""
        return len(self._events)

    @property
    def dropped_events(self) -> int:
        """Events discarded because more than ``max_buffered_events`` were waiting."""
        return self._events.dropped

    # ------------------------------------------------------------- actions

    async def send(
        self,
        body: str | Mapping[str, Any],
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Send a message and return its ``ack``.

        ``body`` is a ``str`` (sent as a text body) or a full body mapping
        (``{"type": "custom", "data": ...}``). Give exactly one of ``to`` (a userId,
        for the direct conversation) or ``conversation_id``. ``client_msg_id``
        defaults to a fresh uuid4 hex; the same value is used for every retry, so
        the message is stored once whatever happens to the connection.

        Returns:
            ``{type: "ack", id, conversationId, seq, messageId, clientMsgId, ts}``.

        Raises:
            ParleyError: a non-retryable error (1001, 1004, 1006, ...), or the last
                retryable one when all attempts failed.
            ParleyTimeoutError / ParleyConnectionError: every attempt timed out or
                lost its connection.
            ParleyClosedError: the client is closed.
        """
        if (to is None) == (conversation_id is None):
            raise ValueError("give exactly one of to= or conversation_id=")
        frame: JsonObject = {"action": "send"}
        if to is not None:
            frame["to"] = to
        else:
            frame["conversationId"] = conversation_id
        frame["clientMsgId"] = client_msg_id or uuid.uuid4().hex
        frame["body"] = text_body(body) if isinstance(body, str) else dict(body)
        tries = attempts or self.send_attempts
        last: ParleyClientError | None = None
        for attempt in range(tries):
            if attempt:
                delay = full_jitter(attempt - 1, 0.2, 5.0, self._rng)
                if isinstance(last, ParleyError) and last.retry_after_ms:
                    delay = max(delay, last.retry_after_ms / 1000)
                log.info(
                    "send %s: retry %d in %.2f s (%s)", frame["clientMsgId"], attempt, delay, last
                )
                await asyncio.sleep(delay)
            try:
                ack = await self._request(frame, timeout)
            except ParleyClosedError:
                raise
            except (ParleyTimeoutError, ParleyConnectionError) as exc:
                if self.closed:
                    raise
                last = exc
                continue
            except ParleyError as exc:
                if exc.code not in self.retry_codes or self.closed:
                    raise
                last = exc
                continue
            self._on_ack(ack)
            return ack
        assert last is not None
        raise last

    async def sync(self, *, limit: int | None = None) -> SyncResult:
        """Fetch everything above the cursors, looping until the server says ``complete``.

        Messages go through the dedupe/ordering path (so they are emitted as
        ``message`` events exactly once) and advance the cursors. Concurrent calls
        run one after the other.
        """
        result = SyncResult()
        stalls = 0
        async with self._sync_lock:
            while True:
                frame: JsonObject = {
                    "action": "sync",
                    # an absent cursor means 0: leave those out to keep the frame small
                    "cursors": {c: s for c, s in self._sequencer.export_cursors().items() if s},
                }
                if limit or self.sync_limit:
                    frame["limit"] = limit or self.sync_limit
                reply = await self._request(frame)
                result.rounds += 1
                progressed = False
                conversations = reply.get("conversations")
                for conv in conversations if isinstance(conversations, list) else []:
                    if not isinstance(conv, dict) or not isinstance(
                        conv.get("conversationId"), str
                    ):
                        continue
                    conversation_id: str = conv["conversationId"]
                    raw = conv.get("messages")
                    messages = [
                        {**m, "type": "message", "conversationId": conversation_id}
                        for m in (raw if isinstance(raw, list) else [])
                        if isinstance(m, dict) and isinstance(m.get("seq"), int)
                    ]
                    before = self._sequencer.cursor(conversation_id)
                    delivered = self._sequencer.synced(conversation_id, messages)
                    if self._sequencer.cursor(conversation_id) != before:
                        progressed = True
                    for message in delivered:
                        self._emit(message)
                    result.messages.extend(delivered)
                    result.conversations[conversation_id] = {
                        k: v for k, v in conv.items() if k != "messages"
                    }
                if reply.get("complete") is True:
                    return result
                stalls = 0 if progressed else stalls + 1
                if stalls >= 3:
                    log.warning("sync: server keeps answering incomplete without progress")
                    result.complete = False
                    return result
                if stalls:
                    await asyncio.sleep(0.1 * stalls)

    async def read(self, conversation_id: str, seq: int) -> None:
        """Mark ``conversation_id`` read up to ``seq`` (the server never moves it back)."""
        await self._request({"action": "read", "conversationId": conversation_id, "seq": seq})

    async def typing(
        self, conversation_id: str, state: Literal["start", "stop"] | bool = "start"
    ) -> None:
        """Tell the other members you started (``"start"``/``True``) or stopped typing.

        There is no reply on success; an error comes back as an ``error`` event.
        """
        if isinstance(state, bool):
            state = "start" if state else "stop"
        await self._send_json(
            await self._wait_connected(self.request_timeout),
            {"action": "typing", "conversationId": conversation_id, "state": state},
        )

    async def presence(self, user_ids: list[str]) -> list[JsonObject]:
        """Who is online → ``[{userId, online, lastSeen}]`` (at most 100 ids)."""
        reply = await self._request({"action": "presence", "userIds": list(user_ids)})
        users = reply.get("users")
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    async def signal(
        self,
        to: str,
        call_id: str,
        kind: str,
        payload: Any = None,
        to_connection: str | None = None,
    ) -> None:
        """Relay a call-signalling frame to ``to`` (one connection of theirs if given).

        ``kind`` is one of ``invite ringing accept reject offer answer candidate hangup``.
        """
        frame: JsonObject = {"action": "signal", "to": to, "callId": call_id, "kind": kind}
        if payload is not None:
            frame["payload"] = payload
        if to_connection is not None:
            frame["toConnection"] = to_connection
        await self._request(frame)

    async def ping(self) -> float:
        """Send ``ping``; return the round-trip time in seconds."""
        started = time.monotonic()
        await self._request({"action": "ping"}, renew=False)
        return time.monotonic() - started

    async def auth(self, access_token: str) -> None:
        """Present a new access token on the open socket (``{"action": "auth"}`` → ``ok``).

        The token is also used for later reconnections until the provider gives
        another one.
        """
        await self._request({"action": "auth", "token": access_token}, renew=False)
        self._token = access_token

    async def renew_token(self) -> str:
        """Get a fresh token from the provider (forcing a refresh) and :meth:`auth` with it."""
        return await self._renew_unless_changed(self._token)

    async def _renew_unless_changed(self, stale: str | None) -> str:
        async with self._renew_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another request renewed it meanwhile
            token = await self._token_provider(True)
            await self.auth(token)
            return token

    async def request(
        self, frame: Mapping[str, Any], *, timeout: float | None = None
    ) -> JsonObject:
        """Send any frame with a fresh request ``id`` and return the reply frame.

        Raises ``ParleyError`` for an ``error`` reply. Meant for tools and tests; the
        named methods are the supported API.
        """
        return await self._request(dict(frame), timeout)

    async def send_frame(self, frame: Mapping[str, Any] | str | bytes) -> None:
        """Send a raw frame as is (no ``id``, no size check, no reply awaited).

        A ``str``/``bytes`` is sent verbatim (for testing malformed input); a mapping is
        JSON-encoded. Replies, if any, arrive as events.
        """
        ws = await self._wait_connected(self.request_timeout)
        data = frame if isinstance(frame, str | bytes) else _dumps(dict(frame))
        try:
            await ws.send(data)
        except ConnectionClosed as exc:
            raise ParleyConnectionError(f"connection lost while sending: {exc}") from exc

    # ------------------------------------------------------------ requests

    async def _request(
        self, frame: JsonObject, timeout: float | None = None, *, renew: bool = True
    ) -> JsonObject:
        token = self._token
        try:
            return await self._request_once(frame, timeout)
        except ParleyError as exc:
            if not renew or exc.code != ErrorCode.UNAUTHENTICATED:
                raise
            log.info("request refused with 1003; renewing the token on the socket")
            try:
                await self._renew_unless_changed(token)
            except ParleyClientError as renew_exc:
                log.warning("token renewal failed: %s", renew_exc)
                raise exc from renew_exc
        return await self._request_once(frame, timeout)

    async def _request_once(self, frame: JsonObject, timeout: float | None) -> JsonObject:
        limit = self.request_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        request_id = str(frame.get("id") or f"{self._id_prefix}-{next(self._ids)}")
        future: asyncio.Future[JsonObject] = loop.create_future()
        try:
            async with asyncio.timeout(limit):
                ws = await self._wait_connected(None)
                self._pending[request_id] = future
                await self._send_json(ws, {**frame, "id": request_id})
                reply = await future
        except TimeoutError as exc:
            if isinstance(exc, ParleyClientError):
                raise
            action = frame.get("action")
            raise ParleyTimeoutError(f"no reply to {action!r} within {limit} s") from None
        finally:
            self._pending.pop(request_id, None)
        if reply.get("type") == "error":
            raise ParleyError.from_body(reply, request_id=request_id)
        return reply

    async def _send_json(self, ws: ClientConnection, frame: JsonObject) -> None:
        data = _dumps(frame)
        size = len(data.encode("utf-8"))
        if size > MAX_FRAME_BYTES:
            raise ParleyError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"frame is {size} bytes; the WebSocket frame limit is {MAX_FRAME_BYTES}",
            )
        try:
            await ws.send(data)
        except ConnectionClosed as exc:
            raise ParleyConnectionError(f"connection lost while sending: {exc}") from exc

    async def _wait_connected(self, timeout: float | None) -> ClientConnection:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._raise_if_stopped()
                    ws = self._ws
                    if ws is not None and self._wake.is_set():
                        return ws
                    await self._wake.wait()
        except TimeoutError as exc:
            if isinstance(exc, ParleyClientError):
                raise
            raise ParleyTimeoutError(f"not connected within {timeout} s") from None

    def _raise_if_stopped(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise ParleyClosedError("client closed")
        if not self._started:
            raise ParleyClosedError("not connected: call connect() first")

    def _fail_pending(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: the waiter may be gone

    # ------------------------------------------------------------ incoming

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("ignoring a frame that is not JSON: %.200r", raw)
            return
        if not isinstance(frame, dict):
            log.warning("ignoring a frame that is not an object: %.200r", raw)
            return
        kind = frame.get("type")
        request_id = frame.get("id")
        if kind in _REPLY_TYPES and isinstance(request_id, str):
            future = self._pending.pop(request_id, None)
            if future is not None:
                if not future.done():
                    future.set_result(frame)
                return
            if kind != "error":
                log.debug("dropping a late %s reply to %s", kind, request_id)
                return
        if kind == "message":
            self._on_message(frame)
        else:
            self._emit(frame)

    def _on_message(self, frame: JsonObject) -> None:
        try:
            deliverable = self._sequencer.push(frame)
        except ValueError:
            log.warning("message without conversationId/seq delivered as is: %.200r", frame)
            deliverable = [frame]
        for message in deliverable:
            self._emit(message)
        if self._sequencer.has_gaps():
            self._schedule_gap_fill()

    def _on_ack(self, ack: JsonObject) -> None:
        conversation_id, seq = ack.get("conversationId"), ack.get("seq")
        if not isinstance(conversation_id, str) or not isinstance(seq, int):
            return
        for message in self._sequencer.acked(conversation_id, seq):
            self._emit(message)
        if self._sequencer.has_gaps():
            self._schedule_gap_fill()

    def _emit(self, event: JsonObject) -> None:
        self._events.put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def _schedule_gap_fill(self) -> None:
        if self._closing or self._fatal is not None:
            return
        if self._gap_task is None or self._gap_task.done():
            self._gap_task = self._spawn(self._fill_gaps(), "parley-gap-fill")

    async def _fill_gaps(self) -> None:
        await asyncio.sleep(self.gap_grace)
        unfilled = 0
        while self._sequencer.has_gaps() and not self.closed:
            log.debug("filling gaps %s with sync", self._sequencer.gaps())
            try:
                await self.sync()
            except (ParleyClosedError, ParleyError) as exc:
                if isinstance(exc, ParleyClosedError) or self.closed:
                    return
                log.warning("sync to fill a gap failed: %s", exc)
                unfilled += 1
            except ParleyClientError as exc:
                # connection trouble: the post-reconnect sync will do the job
                log.debug("sync to fill a gap failed (%s); waiting for the connection", exc)
                with contextlib.suppress(ParleyClientError):
                    await self._wait_connected(None)
                continue
            else:
                if not self._sequencer.has_gaps():
                    return
                unfilled += 1
            if unfilled >= self.gap_retries:
                log.warning(
                    "sync did not fill gaps %s; delivering past them", self._sequencer.gaps()
                )
                for message in self._sequencer.flush_gaps():
                    self._emit(message)
                return
            await asyncio.sleep(self.gap_grace * 2**unfilled)

    # ---------------------------------------------------------- connection

    async def _open(self) -> ClientConnection:
        """One connection attempt, with a forced token renewal after a 401."""
        token = await self._token_provider(False)
        try:
            return await self._dial(token)
        except InvalidStatus as exc:
            if exc.response.status_code != 401:
                raise _handshake_error(exc) from exc
        log.info("handshake refused with 401; asking the token provider for a fresh token")
        token = await self._token_provider(True)
        try:
            return await self._dial(token)
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise ParleyError(
                    ErrorCode.UNAUTHENTICATED,
                    "WebSocket handshake refused with HTTP 401, also with a renewed token",
                    401,
                ) from exc
            raise _handshake_error(exc) from exc

    async def _dial(self, token: str) -> ClientConnection:
        self._token = token
        url = _with_token(self.ws_url, token)
        try:
            return await ws_connect(
                url,
                open_timeout=self.open_timeout,
                ping_interval=self.ws_ping_interval,
                ping_timeout=self.ws_ping_interval,
                close_timeout=5,
                max_size=4 * 2**20,
                proxy=None if is_loopback_url(self.ws_url) else True,
                user_agent_header="parley-client/0.1 (python)",
            )
        except InvalidStatus:
            raise
        except InvalidURI as exc:
            raise ValueError(f"bad WebSocket URL {self.ws_url!r}: {exc}") from exc
        except TimeoutError as exc:
            raise ParleyConnectionError(
                f"cannot connect to {self.ws_url}: handshake timed out"
            ) from exc
        except (OSError, WebSocketException) as exc:
            raise ParleyConnectionError(f"cannot connect to {self.ws_url}: {exc}") from exc

    def _attach(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._connected_at = time.monotonic()
        self.connection_count += 1
        self._wake.set()
        log.info("connected to %s (connection %d)", self.ws_url, self.connection_count)

    def _detach(self, ws: ClientConnection) -> None:
        if self._ws is ws:
            self._ws = None
        if not self._closing and self._fatal is None:
            self._wake.clear()
        self._fail_pending(ParleyConnectionError("connection lost before the reply"))

    async def _supervise(self) -> None:
        """Read frames; on disconnection, reconnect with backoff and resync."""
        try:
            while True:
                ws = self._ws
                assert ws is not None
                try:
                    async for raw in ws:
                        self._dispatch(raw)
                except ConnectionClosed:
                    pass
                self._detach(ws)
                if self._closing:
                    return
                log.warning(
                    "connection closed (code %s, reason %r)", ws.close_code, ws.close_reason or ""
                )
                if not self.reconnect:
                    raise ParleyConnectionError(
                        f"connection closed (code {ws.close_code}) and reconnect is off"
                    )
                if time.monotonic() - self._connected_at >= self.stable_after:
                    self._backoff_attempt = 0
                self._attach(await self._reconnect())
                if self.sync_on_reconnect:
                    self._spawn(self._resync(), "parley-resync")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._die(exc)

    async def _reconnect(self) -> ClientConnection:
        failures = 0
        while True:
            if self._closing:
                raise ParleyClosedError("client closed")
            if self.max_reconnect_attempts is not None and failures >= self.max_reconnect_attempts:
                raise ParleyConnectionError(
                    f"gave up reconnecting to {self.ws_url} after {failures} attempts"
                )
            delay = full_jitter(
                self._backoff_attempt, self.backoff_base, self.backoff_cap, self._rng
            )
            self._backoff_attempt += 1
            log.info("reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)
            try:
                return await self._open()
            except ParleyError as exc:
                if exc.code == ErrorCode.UNAUTHENTICATED:
                    raise
                log.warning("reconnect failed: %s", exc)
            except Exception as exc:  # e.g. the token provider's own network error
                log.warning("reconnect failed: %s: %s", type(exc).__name__, exc)
            failures += 1

    async def _resync(self) -> None:
        try:
            await self.sync()
        except ParleyClientError as exc:
            log.warning("sync after reconnecting failed: %s", exc)

    async def _keepalive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            ws = self._ws
            if ws is None:
                continue
            try:
                await self.ping()
            except ParleyTimeoutError:
                log.warning("no pong within %s s; dropping the connection", self.request_timeout)
                if self._ws is ws:
                    await ws.close(code=1011, reason="keepalive timeout")
            except ParleyClosedError:
                return
            except ParleyClientError as exc:
                log.debug("keepalive ping failed: %s", exc)

    async def _renew_before_expiry(self) -> None:
        failures = 0
        while True:
            current = self._token
            exp = _token_exp(current)
            if current is None or exp is None:
                return  # no expiry to anticipate
            delay = exp - time.time() - self.renew_margin
            if failures:
                delay = max(delay, min(60.0, 2.0**failures))
            await asyncio.sleep(max(delay, 0.05))
            if self._token != current:
                continue  # reconnected meanwhile, with another token
            try:
                token = await self._token_provider(False)
                if token == current:
                    token = await self._token_provider(True)
                new_exp = _token_exp(token)
                if new_exp is None or new_exp <= exp:
                    log.info("the token provider gives no later token; not renewing")
                    return
                await self._wait_connected(self.request_timeout)
                await self.auth(token)
                failures = 0
                log.debug("token renewed on the open socket")
            except ParleyClosedError:
                return
            except ParleyError as exc:
                if exc.code == ErrorCode.UNKNOWN_ACTION:
                    log.info("the server has no 'auth' action; not renewing tokens")
                    return
                failures += 1
                log.warning("token renewal failed: %s", exc)
            except ParleyClientError as exc:
                failures += 1
                log.warning("token renewal failed: %s", exc)

    def _die(self, error: BaseException) -> None:
        log.error("client stopped: %s", error)
        self._fatal = error
        self._wake.set()
        self._fail_pending(error)
        self._events.close(error)
        for task in list(self._background):
            task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _token_exp(token: str | None) -> float | None:
    exp = jwt_claims(token).get("exp") if token else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _dumps(frame: JsonObject) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _with_token(url: str, token: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _handshake_error(exc: InvalidStatus) -> ParleyConnectionError:
    return ParleyConnectionError(
        f"WebSocket handshake refused with HTTP {exc.response.status_code}"
    )
