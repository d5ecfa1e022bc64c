"""``ParleyClient``: the protocol's actions over the asyncio :class:`Connection`.

The rules (retries, ordering, gaps, reconnection) are in :mod:`parley_client.core`;
the socket and the timers in :mod:`parley_client.connection`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .bodies import (
    check_caption,
    delete_body,
    edit_body,
    file_body,
    reaction_body,
    rich_text_body,
)
from .connection import Connection
from .errors import ErrorCode, ParleyClientError, ParleyError
from .events import EventListener, EventPredicate
from .formatting import dm_conversation_id
from .options import ClientOptions
from .state import MessageStore
from .syncing import SyncResult
from .wire import MAX_FRAME_BYTES, JsonObject, compact_json, encode_frame, text_body

if TYPE_CHECKING:
    from .http_client import HttpClient

__all__ = [
    "MAX_FRAME_BYTES",
    "ClientOptions",
    "EventListener",
    "JsonObject",
    "ParleyClient",
    "SyncResult",
    "text_body",
]


class ParleyClient(Connection):
    """One user's live connection to the Parley WebSocket API.

    Use it as an async context manager (or call :meth:`connect` / :meth:`close`)::

        http = HttpClient("http://127.0.0.1:3000")
        await http.login("alice", "correct horse")
        async with ParleyClient("ws://127.0.0.1:3001", http.token_provider) as client:
            ack = await client.send("hello", to="bob")
            async for event in client:
                print(event)

    **Requests** (:meth:`send`, :meth:`sync`, :meth:`read`, ...) wait for the reply
    with the same request ``id``, at most ``options.request_timeout`` seconds (this
    includes waiting for a reconnection if the socket is down). Server errors raise
    :class:`~parley_client.ParleyError`. A request refused with 1003 (token expired on
    an open socket) is retried once after renewing the token with :meth:`auth`.

    **Sending** is idempotent: :meth:`send` picks a ``clientMsgId`` once and repeats
    the same frame after a timeout, a lost connection or error 2001, up to
    ``options.send_attempts`` times; the server stores the message once and answers
    every repeat with the first ``ack``.

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
    reconnects with full-jitter exponential backoff, then syncs to catch up. Before
    every connection attempt it asks ``token_provider(False)`` for a token; when the
    handshake is refused with HTTP 401 it asks ``token_provider(True)`` (refresh) and
    tries once more. A second 401, or the provider raising ``ParleyError`` 1003, ends
    the client: pending and future calls, and the event iterator, raise that error.
    A ``ping`` is sent every ``ping_interval`` seconds to stay under API Gateway's
    10-minute idle limit; a ping without ``pong`` drops the socket (and reconnects).

    The rules themselves are written down in :mod:`parley_client.core`.

    Args:
        ws_url: the WebSocket URL (``ws://`` or ``wss://``); ``?token=`` is added.
        token_provider: ``async (force_refresh: bool) -> str``, e.g.
            :meth:`HttpClient.token_provider`, or a fixed token string.
        options: the tunables (:class:`~parley_client.ClientOptions`; defaults if
            ``None``).
        cursors: initial ``{conversationId: lastSeenSeq}``.
        on_event: a listener to add right away (see :meth:`add_listener`).
    """

    # -------------------------------------------------------------- cursors

    def export_cursors(self) -> dict[str, int]:
        """``{conversationId: highest contiguous seq delivered}``, for persisting."""
        return self._core.sequencer.export_cursors()

    def import_cursors(self, cursors: Mapping[str, int], *, replace: bool = False) -> None:
        """Set cursors (e.g. restored from disk); ``replace`` forgets all others."""
        self._core.sequencer.import_cursors(cursors, replace=replace)

    def cursor(self, conversation_id: str) -> int | None:
        """One conversation's cursor, ``None`` if the client has not seen it."""
        return self._core.sequencer.cursor(conversation_id)

    # -------------------------------------------------------- current state

    @property
    def messages(self) -> MessageStore:
        """The messages this client holds, in their current state (protocol §9.2).

        Every delivered message and every own acked send is held (at most
        ``options.max_held_messages`` per conversation); edits, deletes and
        reactions are applied to the messages they target, and each change is
        delivered as an ``updated`` event ``{type, conversationId, seq, message,
        event}``. Add pages of history with ``client.messages.add_all(page)``.
        """
        return self._core.messages

    def message(self, conversation_id: str, seq: int) -> JsonObject | None:
        """A copy of held message ``seq`` in its current state, ``None`` if not held."""
        return self._core.messages.get(conversation_id, seq)

    # --------------------------------------------------------------- events

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every delivered event; returns a remover."""
        return self._events.add_listener(listener)

    def __aiter__(self) -> AsyncIterator[JsonObject]:
        return self.events()

    def events(self) -> AsyncIterator[JsonObject]:
        """Iterate over delivered events until the client is closed.

        Only one consumer should iterate; events are removed as they are yielded.

        Raises:
            ParleyError: the client ended on a fatal error (e.g. revoked login).
            ParleyConnectionError: it gave up reconnecting.
        """
        return self._events.iterate()

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
        return await self._events.next_event(event_type, predicate, timeout, fields)

    def pending_events(self) -> int:
        """How many delivered events are waiting to be consumed."""
        return len(self._events.buffer)

    @property
    def dropped_events(self) -> int:
        """Events discarded because more than ``max_buffered_events`` were waiting."""
        return self._events.buffer.dropped

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
        pending = self._core.begin_send(
            body,
            to=to,
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            attempts=attempts,
        )
        try:
            while True:
                frame = self._core.send_try(pending)
                try:
                    ack = await self._request(frame, timeout)
                except ParleyClientError as exc:
                    delay = self._core.send_failed(pending, exc, closed=self.closed)
                    if delay is None:
                        raise
                    await asyncio.sleep(delay)
                    continue
                self._core.send_acked(pending, ack)
                self._pump()
                return ack
        finally:
            self._core.end_send(pending)

    async def reply(
        self,
        conversation_id: str,
        seq: int,
        text: str,
        *,
        mentions: Iterable[str] | None = None,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Send ``text`` as a reply to message ``seq`` (``replyTo``), with optional
        ``mentions`` (1-50 distinct userIds); returns the ``ack``.

        Raises:
            ParleyError: 1001/1006 before sending when the body breaks §9.1's rules.
        """
        body = rich_text_body(text, reply_to=seq, mentions=mentions)
        return await self.send(
            body,
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            timeout=timeout,
            attempts=attempts,
        )

    async def edit(
        self,
        conversation_id: str,
        target: int,
        text: str,
        *,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Replace the text of your text message ``target``; returns the edit's ``ack``."""
        return await self.send(
            edit_body(target, text),
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            timeout=timeout,
            attempts=attempts,
        )

    async def delete(
        self,
        conversation_id: str,
        target: int,
        *,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Delete (erase) message ``target``: yours, or any as a group owner or admin."""
        return await self.send(
            delete_body(target),
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            timeout=timeout,
            attempts=attempts,
        )

    async def react(
        self,
        conversation_id: str,
        target: int,
        key: str,
        on: bool = True,
        *,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Add (``on``) or remove your reaction ``key`` (1-32 UTF-8 bytes) on ``target``."""
        return await self.send(
            reaction_body(target, key, on),
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            timeout=timeout,
            attempts=attempts,
        )

    async def send_file(
        self,
        http: HttpClient,
        source: str | os.PathLike[str] | bytes,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        caption: str | None = None,
        name: str | None = None,
        content_type: str | None = None,
        client_msg_id: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> JsonObject:
        """Upload a file with ``http`` and send it as ``{type: "file", attachmentId,
        caption?}``; returns the ``ack``.

        ``source`` is a path or the file's bytes (then give ``name``). Give exactly
        one of ``to`` (a userId: the direct conversation) or ``conversation_id``.
        The caption and the attachment's name, size and type are checked before
        anything goes out (see :meth:`HttpClient.upload_attachment`).
        """
        if (to is None) == (conversation_id is None):
            raise ValueError("give exactly one of to= or conversation_id=")
        check_caption(caption)
        if conversation_id is None:
            me = self.user_id or http.user_id
            if me is None or to is None:
                raise ParleyError(ErrorCode.UNAUTHENTICATED, "not logged in")
            conversation_id = dm_conversation_id(me, to)
        created = await http.upload_attachment(
            conversation_id, source, name=name, content_type=content_type
        )
        return await self.send(
            file_body(str(created["attachmentId"]), caption),
            to=to,
            conversation_id=None if to is not None else conversation_id,
            client_msg_id=client_msg_id,
            timeout=timeout,
            attempts=attempts,
        )

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
        data = encode_frame({"action": "typing", "conversationId": conversation_id, "state": state})
        await self._write(await self._wait_connected(self.options.request_timeout), data)

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

    async def renew_token(self) -> str:
        """Get a fresh token from the provider (forcing a refresh) and :meth:`auth` with it."""
        return await self._renew_unless_changed(self._core.token)

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
        ws = await self._wait_connected(self.options.request_timeout)
        await self._write(ws, frame if isinstance(frame, str | bytes) else compact_json(frame))
