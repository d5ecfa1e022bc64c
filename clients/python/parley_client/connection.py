"""The asyncio shell of the Parley WebSocket client: it moves frames and runs timers.

Every decision (request ids and reply matching, send retries, ordering and gaps,
sync rounds, reconnect backoff, token renewal timing) is made by the sans-I/O
:class:`~parley_client.core.ClientCore`. :class:`Connection` owns what the core
cannot: the socket, the tasks, the callers' futures and the sleeps the core asks
for. :class:`~parley_client.ParleyClient` adds the protocol's actions on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .core import ClientCore, Deliver, Reply, ReplyLost, SyncNeeded
from .errors import (
    ErrorCode,
    ParleyClientError,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from .events import EventListener, EventStream
from .options import ClientOptions
from .syncing import SyncResult
from .tokens import TokenProvider, static_token
from .transport import open_connection
from .wire import JsonObject

log = logging.getLogger("parley_client.ws")


class Connection:
    """The connection machinery of :class:`~parley_client.ParleyClient` (see there).

    It connects, reads frames into the core, reconnects, keeps the socket alive,
    renews the token, fills gaps and syncs; requests wait here for their replies.
    """

    def __init__(
        self,
        ws_url: str,
        token_provider: TokenProvider | str,
        options: ClientOptions | None = None,
        *,
        cursors: Mapping[str, int] | None = None,
        on_event: EventListener | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(ws_url)
        if parsed.scheme not in ("ws", "wss") or not parsed.netloc:
            raise ValueError(f"not a ws(s) URL: {ws_url!r}")
        self.ws_url = ws_url
        self.options = options or ClientOptions()
        self._token_provider: TokenProvider = (
            static_token(token_provider) if isinstance(token_provider, str) else token_provider
        )
        self._core = ClientCore(self.options, cursors=cursors)
        self._events = EventStream(self.options.max_buffered_events, on_event)

        self._ws: ClientConnection | None = None
        self._wake = asyncio.Event()  # set while connected, or once stopping
        self._started = False
        self._closing = False
        self._closed = asyncio.Event()
        self._fatal: BaseException | None = None
        self._pending: dict[str, asyncio.Future[JsonObject]] = {}
        self._sync_lock = asyncio.Lock()
        self._renew_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
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
            need_sync = self._attach(await self._open())
            self._supervisor = asyncio.create_task(self._supervise(), name="parley-supervisor")
            if self.options.ping_interval:
                self._spawn(self._keepalive(self.options.ping_interval), "parley-keepalive")
            if self.options.auto_renew:
                self._spawn(self._renew_before_expiry(), "parley-token-renewal")
            if need_sync is not None:
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
        self._events.buffer.close(self._fatal)
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
    def connection_count(self) -> int:
        """How many times a connection was opened (1 + reconnections)."""
        return self._core.connection_count

    @property
    def user_id(self) -> str | None:
        """The ``sub`` of the access token last used to connect (unverified), if any."""
        return self._core.user_id

    @property
    def _token(self) -> str | None:
        return self._core.token

    # ------------------------------------------------------- catching up

    async def sync(self, *, limit: int | None = None) -> SyncResult:
        """Fetch everything above the cursors, looping until the server says ``complete``.

        Messages go through the dedupe/ordering path (so they are emitted as
        ``message`` events exactly once) and advance the cursors. Concurrent calls
        run one after the other.
        """
        async with self._sync_lock:
            run = self._core.begin_sync(limit)
            while True:
                reply = await self._request(self._core.sync_frame(run))
                pause = self._core.sync_replied(run, reply)
                self._pump()
                if pause is None:
                    return run.result
                if pause:
                    await asyncio.sleep(pause)

    async def ping(self) -> float:
        """Send ``ping``; return the round-trip time in seconds."""
        started = time.monotonic()
        await self._request({"action": "ping"})
        return time.monotonic() - started

    async def auth(self, access_token: str) -> None:
        """Present a new access token on the open socket (``{"action": "auth"}`` → ``ok``).

        The token is also used for later reconnections until the provider gives
        another one.
        """
        await self._request({"action": "auth", "token": access_token})
        self._core.token_presented(access_token)

    # ------------------------------------------------------------ requests

    async def _request(self, frame: JsonObject, timeout: float | None = None) -> JsonObject:
        token = self._core.token
        try:
            return await self._request_once(frame, timeout)
        except ParleyError as exc:
            if not self._core.renews_on(exc, frame):
                raise
            log.info("request refused with 1003; renewing the token on the socket")
            try:
                await self._renew_unless_changed(token)
            except ParleyClientError as renew_exc:
                log.warning("token renewal failed: %s", renew_exc)
                raise exc from renew_exc
        return await self._request_once(frame, timeout)

    async def _request_once(self, frame: JsonObject, timeout: float | None) -> JsonObject:
        limit = self.options.request_timeout if timeout is None else timeout
        future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        request_id: str | None = None
        try:
            async with asyncio.timeout(limit):
                ws = await self._wait_connected(None)
                outgoing = self._core.request(frame)
                request_id = outgoing.request_id
                self._pending[request_id] = future
                await self._write(ws, outgoing.data)
                reply = await future
        except TimeoutError as exc:
            if isinstance(exc, ParleyClientError):
                raise
            action = frame.get("action")
            raise ParleyTimeoutError(f"no reply to {action!r} within {limit} s") from None
        finally:
            if request_id is not None:
                self._pending.pop(request_id, None)
                self._core.forget(request_id)
        if reply.get("type") == "error":
            raise ParleyError.from_body(reply, request_id=request_id)
        return reply

    async def _renew_unless_changed(self, stale: str | None) -> str:
        async with self._renew_lock:
            current = self._core.token
            if current is not None and current != stale:
                return current  # another request renewed it meanwhile
            token = await self._token_provider(True)
            await self.auth(token)
            return token

    async def _write(self, ws: ClientConnection, data: str | bytes) -> None:
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
        for request_id, future in pending.items():
            self._core.forget(request_id)
            _fail(future, error)

    # ------------------------------------------------------- core outputs

    def _pump(self) -> None:
        """Carry out what the core asked for since the last call."""
        for output in self._core.events_received():
            if isinstance(output, Deliver):
                self._events.emit(output.event)
            elif isinstance(output, Reply):
                future = self._pending.pop(output.request_id, None)
                if future is not None and not future.done():
                    future.set_result(output.frame)
            elif isinstance(output, ReplyLost):
                future = self._pending.pop(output.request_id, None)
                if future is not None:
                    _fail(future, ParleyConnectionError("connection lost before the reply"))
            elif isinstance(output, SyncNeeded) and not self.closed:
                # only gaps come this way; (re)connect syncs are returned by _attach
                self._spawn(self._fill_gaps(output.delay), "parley-gap-fill")

    async def _fill_gaps(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            while self._core.has_gaps() and not self.closed:
                log.debug("filling gaps %s with sync", self._core.sequencer.gaps())
                try:
                    await self.sync()
                    ok = True
                except (ParleyClosedError, ParleyError) as exc:
                    if isinstance(exc, ParleyClosedError) or self.closed:
                        return
                    log.warning("sync to fill a gap failed: %s", exc)
                    ok = False
                except ParleyClientError as exc:
                    # connection trouble: the post-reconnect sync will do the job
                    log.debug("sync to fill a gap failed (%s); waiting for the connection", exc)
                    with contextlib.suppress(ParleyClientError):
                        await self._wait_connected(None)
                    continue
                pause = self._core.gap_sync_done(ok=ok)
                self._pump()
                if pause is None:
                    return
                await asyncio.sleep(pause)
        finally:
            self._core.gap_fill_finished()

    async def _resync(self) -> None:
        try:
            await self.sync()
        except ParleyClientError as exc:
            log.warning("sync after reconnecting failed: %s", exc)

    # ---------------------------------------------------------- connection

    async def _open(self) -> ClientConnection:
        return await open_connection(
            self.ws_url, self._token_provider, self.options, self._core.token_presented
        )

    def _attach(self, ws: ClientConnection) -> SyncNeeded | None:
        self._ws = ws
        need_sync = self._core.connection_opened(time.monotonic())
        self._wake.set()
        log.info("connected to %s (connection %d)", self.ws_url, self._core.connection_count)
        return need_sync

    def _detach(self, ws: ClientConnection) -> bool:
        if self._ws is ws:
            self._ws = None
        if not self._closing and self._fatal is None:
            self._wake.clear()
        reconnect = self._core.connection_lost(time.monotonic())
        self._pump()
        return reconnect

    async def _supervise(self) -> None:
        """Read frames; on disconnection, reconnect with backoff and resync."""
        try:
            while True:
                ws = self._ws
                assert ws is not None
                try:
                    async for raw in ws:
                        self._core.receive_data(raw)
                        self._pump()
                except ConnectionClosed:
                    pass
                reconnect = self._detach(ws)
                if self._closing:
                    return
                log.warning(
                    "connection closed (code %s, reason %r)", ws.close_code, ws.close_reason or ""
                )
                if not reconnect:
                    raise ParleyConnectionError(
                        f"connection closed (code {ws.close_code}) and reconnect is off"
                    )
                need_sync = self._attach(await self._reconnect())
                if need_sync is not None:
                    self._spawn(self._resync(), "parley-resync")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._die(exc)

    async def _reconnect(self) -> ClientConnection:
        while True:
            if self._closing:
                raise ParleyClosedError("client closed")
            delay = self._core.reconnect_delay()
            if delay is None:
                raise ParleyConnectionError(
                    f"gave up reconnecting to {self.ws_url} "
                    f"after {self._core.reconnect_failures} attempts"
                )
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
            self._core.reconnect_failed()

    async def _keepalive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            ws = self._ws
            if ws is None:
                continue
            try:
                await self.ping()
            except ParleyTimeoutError:
                log.warning(
                    "no pong within %s s; dropping the connection", self.options.request_timeout
                )
                if self._ws is ws:
                    await ws.close(code=1011, reason="keepalive timeout")
            except ParleyClosedError:
                return
            except ParleyClientError as exc:
                log.debug("keepalive ping failed: %s", exc)

    async def _renew_before_expiry(self) -> None:
        while True:
            current = self._core.token
            delay = self._core.renewal_delay(time.time())
            if current is None or delay is None:
                return  # no expiry to anticipate
            await asyncio.sleep(delay)
            if self._core.token != current:
                continue  # reconnected meanwhile, with another token
            try:
                token = await self._token_provider(False)
                if token == current:
                    token = await self._token_provider(True)
                if not self._core.renews_to(current, token):
                    log.info("the token provider gives no later token; not renewing")
                    return
                await self._wait_connected(self.options.request_timeout)
                await self.auth(token)
                self._core.renewal_done(ok=True)
                log.debug("token renewed on the open socket")
            except ParleyClosedError:
                return
            except ParleyError as exc:
                if exc.code == ErrorCode.UNKNOWN_ACTION:
                    log.info("the server has no 'auth' action; not renewing tokens")
                    return
                self._core.renewal_done(ok=False)
                log.warning("token renewal failed: %s", exc)
            except ParleyClientError as exc:
                self._core.renewal_done(ok=False)
                log.warning("token renewal failed: %s", exc)

    def _die(self, error: BaseException) -> None:
        log.error("client stopped: %s", error)
        self._fatal = error
        self._wake.set()
        self._fail_pending(error)
        self._events.buffer.close(error)
        for task in list(self._background):
            task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _fail(future: asyncio.Future[JsonObject], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
        future.exception()  # mark retrieved: the waiter may be gone
