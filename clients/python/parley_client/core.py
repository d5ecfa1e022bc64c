"""The sans-I/O core of the Parley WebSocket client: every rule, no I/O.

:class:`ClientCore` is a plain state machine, in the manner of python-websockets'
``Protocol``. It never touches a socket, never sleeps and never reads a clock: the
shell (:class:`~parley_client.ParleyClient`, asyncio) feeds it what happened and the
current time, and carries out what it asks for:

* **Inputs** — :meth:`~ClientCore.receive_data` (a frame from the socket),
  :meth:`~ClientCore.connection_opened` / :meth:`~ClientCore.connection_lost`
  (with ``now``, monotonic seconds), and the outcome of each request, send, sync
  and renewal the shell carried out.
* **Outputs** — :meth:`~ClientCore.events_received` drains, in order:
  :class:`Reply` (resolve the waiter of that request id), :class:`ReplyLost`
  (fail it: the socket went away), :class:`Deliver` (hand the event to the app)
  and :class:`SyncNeeded` (run a ``sync``, after ``delay`` seconds). Frames to
  send come back from :meth:`~ClientCore.request` as :class:`Outgoing`.
* **Timers** — every wait is a delay the core returns (send retry, reconnect
  backoff, sync stall, gap retry, token renewal); the shell sleeps it and reports
  back.

Call :meth:`~ClientCore.events_received` after every input, as with websockets'
``events_received`` after ``receive_data``. The rules below are the client's
behaviour; an SDK in another language ports this module and writes its own shell.

Rules:

1. **Frames** are compact JSON (no spaces, non-ASCII verbatim). A frame over
   32 KiB of UTF-8 is refused locally with error 1006 and never sent.
2. **Requests** get the id ``<8 hex of a random uuid>-<counter from 1>`` unless
   the frame carries one. A frame of type ``ack``, ``sync``, ``presence``, ``ok``,
   ``pong`` or ``error`` whose ``id`` is awaited is that request's reply. A
   non-``error`` reply to an id no longer awaited (timed out, cancelled) is
   dropped; such an ``error`` is delivered to the app as an event. When the
   socket is lost, every awaited request fails (:class:`ReplyLost`).
3. **Sending** picks one ``clientMsgId`` (uuid4 hex) per message and repeats the
   same frame, with a new request id, after a timeout, a lost socket or a
   retryable error code (2001 by default), up to ``send_attempts`` tries. Before
   try ``k`` (0-based, ``k >= 1``) it waits ``full_jitter(k - 1, 0.2, 5.0)`` seconds,
   at least the server's ``retryAfterMs``. Other error codes, and any error once
   the client is closed, end the send at once.
4. **A request refused with 1003** (token expired on an open socket) is retried
   once, after presenting a fresh token (``auth``), unless it was itself ``ping``
   or ``auth``.
5. **Ordering** is the :class:`~parley_client.ordering.Sequencer`'s: repeats are
   dropped, a message ahead of the cursor is held; own acked seqs move the cursor.
   Messages without a ``conversationId`` and integer ``seq`` are delivered as is.
6. **Gaps**: when messages are held, the core asks for a sync after ``gap_grace``
   seconds (one gap fill at a time). After a sync that left a gap (or failed with
   a server error) it waits ``gap_grace * 2**n`` (``n`` = failures so far) and
   tries again; after ``gap_retries`` such syncs it delivers past the gap.
7. **Sync** sends the non-zero cursors (and ``limit``), applies each
   conversation's messages through the sequencer and asks again until the reply
   says ``complete``. A round that moves no cursor is a stall: the next round
   waits ``0.1 * stalls`` seconds, and after 3 stalls in a row the sync stops with
   ``complete = False``.
8. **Reconnection** waits ``full_jitter(attempt, backoff_base, backoff_cap)``
   before each attempt; ``attempt`` counts attempts since the last stable
   connection (one that stayed up ``stable_after`` seconds). After
   ``max_reconnect_attempts`` failures in a row it gives up. After a
   reconnection it asks for a sync (``sync_on_reconnect``).
9. **Token renewal** happens ``renew_margin`` seconds before the token's JWT
   ``exp``, only with a token whose ``exp`` is later; after ``n`` failed renewals
   it waits at least ``min(60, 2**n)`` seconds, and never less than 0.05 s.
10. **Current state** is the :class:`~parley_client.state.MessageStore`'s: every
    delivered message, and each own acked send (built from its frame and ack,
    ``senderId`` the token's ``sub``), is held (``max_held_messages`` per
    conversation) and, when it is an edit, delete or reaction of a held message,
    applied to it; each change is delivered right after the message as
    ``{type: "updated", conversationId, seq, message, event}``.
"""

from __future__ import annotations

import itertools
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .backoff import full_jitter
from .errors import (
    ErrorCode,
    ParleyClientError,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from .options import ClientOptions
from .ordering import Sequencer
from .schedules import ReconnectSchedule, RenewalSchedule
from .state import MessageStore
from .syncing import SyncResult, SyncRun, apply_sync_reply, sync_frame
from .tokens import jwt_claims
from .wire import JsonObject, decode_frame, encode_frame, text_body

__all__ = [
    "ClientCore",
    "Deliver",
    "Outgoing",
    "Output",
    "PendingSend",
    "Reply",
    "ReplyLost",
    "SyncNeeded",
    "SyncResult",
    "SyncRun",
]

log = logging.getLogger("parley_client.ws")

#: Frame types that answer a request (they carry the request's ``id``).
REPLY_TYPES = frozenset({"ack", "sync", "presence", "ok", "pong", "error"})
#: Send retries: full-jitter backoff from this ceiling, doubling up to the cap.
SEND_RETRY_BASE = 0.2
SEND_RETRY_CAP = 5.0


# ----------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Outgoing:
    """A request frame to write to the socket: its id and its encoded text."""

    request_id: str
    data: str


@dataclass(frozen=True)
class Reply:
    """The reply frame to request ``request_id`` (``type`` may be ``error``)."""

    request_id: str
    frame: JsonObject


@dataclass(frozen=True)
class ReplyLost:
    """Request ``request_id`` will get no reply: the socket it went out on is gone."""

    request_id: str


@dataclass(frozen=True)
class Deliver:
    """An event for the application (a message in order, a receipt, typing, ...)."""

    event: JsonObject


@dataclass(frozen=True)
class SyncNeeded:
    """Run a ``sync`` after ``delay`` seconds: after (re)connecting, or to fill a gap."""

    reason: Literal["connect", "reconnect", "gap"]
    delay: float = 0.0


Output = Reply | ReplyLost | Deliver | SyncNeeded


# -------------------------------------------------------------- sub-states


@dataclass
class PendingSend:
    """One message being sent: the same frame (and ``clientMsgId``) for every try.

    Attributes:
        client_msg_id: the idempotency key, fixed for the life of the send.
        frame: the ``send`` frame without a request id.
        attempts: how many tries are allowed.
        attempt: how many tries were made so far.
        last_error: why the last try failed, if it did.
    """

    client_msg_id: str
    frame: JsonObject
    attempts: int
    attempt: int = 0
    last_error: ParleyClientError | None = None


# -------------------------------------------------------------------- core


class ClientCore:
    """The state of one client and the rules that move it (see the module docstring).

    Args:
        options: the client's :class:`~parley_client.ClientOptions`.
        cursors: initial ``{conversationId: lastSeenSeq}``.
        rng: the random source of the jittered delays (seed it in tests).
        id_prefix: the request id prefix (default: 8 hex digits of a uuid4).
    """

    def __init__(
        self,
        options: ClientOptions,
        *,
        cursors: Mapping[str, int] | None = None,
        rng: random.Random | None = None,
        id_prefix: str | None = None,
    ) -> None:
        self.options = options
        self.sequencer = Sequencer(cursors, backfill_unknown=options.backfill_unknown)
        self.messages = MessageStore(options.max_held_messages)
        """The messages held in their current state (rule 10)."""
        self._rng = rng or random.Random()
        self._id_prefix = id_prefix or uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._awaiting: set[str] = set()
        self._sends: dict[str, PendingSend] = {}
        self._out: list[Output] = []
        self._gap_fill_active = False
        self._gap_failures = 0
        self._reconnects = ReconnectSchedule(options, self._rng)
        self._renewals = RenewalSchedule(options.renew_margin)
        self.connection_count = 0
        """How many times a connection was opened (1 + reconnections)."""
        self.token: str | None = None
        """The access token last presented (handshake or ``auth``)."""

    # ---------------------------------------------------------------- output

    def events_received(self) -> list[Output]:
        """Take the outputs produced since the last call, oldest first."""
        out, self._out = self._out, []
        return out

    # -------------------------------------------------------------- requests

    def request(self, frame: Mapping[str, Any]) -> Outgoing:
        """Give ``frame`` a request id (unless it has one), encode it and await its reply.

        Raises:
            ParleyError: 1006 when the frame is too big (nothing is awaited).
        """
        request_id = str(frame.get("id") or f"{self._id_prefix}-{next(self._ids)}")
        data = encode_frame({**frame, "id": request_id})
        self._awaiting.add(request_id)
        return Outgoing(request_id, data)

    def forget(self, request_id: str) -> None:
        """Stop awaiting ``request_id`` (its waiter timed out or was cancelled)."""
        self._awaiting.discard(request_id)

    @property
    def awaiting(self) -> frozenset[str]:
        """The request ids whose reply is awaited."""
        return frozenset(self._awaiting)

    @staticmethod
    def renews_on(error: BaseException, frame: Mapping[str, Any]) -> bool:
        """Whether ``error`` on ``frame`` calls for a token renewal and one more try (rule 4)."""
        return (
            isinstance(error, ParleyError)
            and error.code == ErrorCode.UNAUTHENTICATED
            and frame.get("action") not in ("ping", "auth")
        )

    # ----------------------------------------------------------------- sends

    def begin_send(
        self,
        body: str | Mapping[str, Any],
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        client_msg_id: str | None = None,
        attempts: int | None = None,
    ) -> PendingSend:
        """Register a message to send (rule 3); the shell then tries :meth:`send_try`.

        Raises:
            ValueError: not exactly one of ``to`` and ``conversation_id``.
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
        pending = PendingSend(frame["clientMsgId"], frame, attempts or self.options.send_attempts)
        self._sends[pending.client_msg_id] = pending
        return pending

    def send_try(self, pending: PendingSend) -> JsonObject:
        """Count one more try of ``pending`` and return its frame (request it as is)."""
        pending.attempt += 1
        return pending.frame

    def send_failed(
        self, pending: PendingSend, error: ParleyClientError, *, closed: bool
    ) -> float | None:
        """Seconds to wait before trying ``pending`` again, or ``None`` to give up.

        On ``None`` the send is over: raise ``error`` to the caller.
        """
        pending.last_error = error
        retryable = (
            error.code in self.options.retry_codes
            if isinstance(error, ParleyError)
            else isinstance(error, ParleyTimeoutError | ParleyConnectionError)
            and not isinstance(error, ParleyClosedError)
        )
        if closed or not retryable or pending.attempt >= pending.attempts:
            self.end_send(pending)
            return None
        delay = full_jitter(pending.attempt - 1, SEND_RETRY_BASE, SEND_RETRY_CAP, self._rng)
        if isinstance(error, ParleyError) and error.retry_after_ms:
            delay = max(delay, error.retry_after_ms / 1000)
        log.info(
            "send %s: retry %d in %.2f s (%s)", pending.client_msg_id, pending.attempt, delay, error
        )
        return delay

    def send_acked(self, pending: PendingSend, ack: JsonObject) -> None:
        """``pending`` was stored: move the cursor past our own seq (rule 5)."""
        self.end_send(pending)
        conversation_id, seq = ack.get("conversationId"), ack.get("seq")
        if not isinstance(conversation_id, str) or not isinstance(seq, int):
            return
        self._deliver(self.sequencer.acked(conversation_id, seq))
        own: JsonObject = {
            "type": "message",
            "conversationId": conversation_id,
            "seq": seq,
            "messageId": ack.get("messageId"),
            "senderId": self.user_id,
            "clientMsgId": pending.client_msg_id,
            "body": pending.frame.get("body"),
            "ts": ack.get("ts"),
        }
        self._out.extend(Deliver(update.as_event()) for update in self.messages.add(own))
        self._check_gaps()

    def end_send(self, pending: PendingSend) -> None:
        """Drop ``pending`` from the table (idempotent)."""
        self._sends.pop(pending.client_msg_id, None)

    @property
    def pending_sends(self) -> dict[str, PendingSend]:
        """``{clientMsgId: PendingSend}`` of the sends not finished yet."""
        return dict(self._sends)

    # -------------------------------------------------------------- incoming

    def receive_data(self, raw: str | bytes) -> None:
        """Take one frame from the socket (rule 2 for replies, 5 and 6 for messages)."""
        frame = decode_frame(raw)
        if frame is None:
            log.warning("ignoring a frame that is not a JSON object: %.200r", raw)
            return
        kind = frame.get("type")
        request_id = frame.get("id")
        if kind in REPLY_TYPES and isinstance(request_id, str):
            if request_id in self._awaiting:
                self._awaiting.discard(request_id)
                self._out.append(Reply(request_id, frame))
                return
            if kind != "error":
                log.debug("dropping a late %s reply to %s", kind, request_id)
                return
        if kind != "message":
            self._out.append(Deliver(frame))
            return
        try:
            deliverable = self.sequencer.push(frame)
        except ValueError:
            log.warning("message without conversationId/seq delivered as is: %.200r", frame)
            deliverable = [frame]
        self._deliver(deliverable)
        self._check_gaps()

    # ------------------------------------------------------------------ sync

    def begin_sync(self, limit: int | None = None) -> SyncRun:
        """Start a sync (rule 7); request :meth:`sync_frame` until it is done."""
        return SyncRun(limit or self.options.sync_limit)

    def sync_frame(self, run: SyncRun) -> JsonObject:
        """The next round's ``sync`` frame, from the current cursors."""
        return sync_frame(self.sequencer, run)

    def sync_replied(self, run: SyncRun, reply: JsonObject) -> float | None:
        """Apply one ``sync`` reply (its messages become :class:`Deliver` outputs);
        ``None`` when the sync is over, else the pause before the next round."""
        delivered, pause = apply_sync_reply(self.sequencer, run, reply)
        self._deliver(delivered)
        return pause

    # ------------------------------------------------------------------ gaps

    def has_gaps(self) -> bool:
        """True while messages are held behind a missing ``seq``."""
        return self.sequencer.has_gaps()

    def gap_sync_done(self, *, ok: bool) -> float | None:
        """After one gap-filling sync (``ok``: it got a reply): the pause before the
        next, or ``None`` when the gap fill is over (filled, or delivered past)."""
        if ok and not self.sequencer.has_gaps():
            return None
        self._gap_failures += 1
        if self._gap_failures >= self.options.gap_retries:
            log.warning("sync did not fill gaps %s; delivering past them", self.sequencer.gaps())
            self._deliver(self.sequencer.flush_gaps())
            return None
        return float(self.options.gap_grace * 2**self._gap_failures)

    def gap_fill_finished(self) -> None:
        """The shell's gap fill ended; a later gap starts a new one."""
        self._gap_fill_active = False

    # ------------------------------------------------------------ connection

    def connection_opened(self, now: float) -> SyncNeeded | None:
        """A socket is open (``now``: monotonic seconds); returns the sync to run, if any."""
        self.connection_count += 1
        self._reconnects.opened(now)
        if self.connection_count == 1:
            return SyncNeeded("connect") if self.options.sync_on_connect else None
        return SyncNeeded("reconnect") if self.options.resync_on_reconnect else None

    def connection_lost(self, now: float) -> bool:
        """The socket is gone: fail the awaited requests; returns whether to reconnect."""
        for request_id in sorted(self._awaiting):
            self._out.append(ReplyLost(request_id))
        self._awaiting.clear()
        self._reconnects.lost(now)
        return self.options.reconnect

    def reconnect_delay(self) -> float | None:
        """The pause before the next connection attempt, or ``None``: give up (rule 8)."""
        return self._reconnects.next_delay()

    def reconnect_failed(self) -> None:
        """One connection attempt failed (they count towards ``max_reconnect_attempts``)."""
        self._reconnects.failed()

    @property
    def reconnect_failures(self) -> int:
        """Failed connection attempts since the socket was lost."""
        return self._reconnects.failures

    # ---------------------------------------------------------------- tokens

    def token_presented(self, token: str) -> None:
        """``token`` was sent (handshake or ``auth``); renewals now aim at its expiry."""
        self.token = token

    @property
    def user_id(self) -> str | None:
        """The ``sub`` of :attr:`token` (unverified), if any."""
        sub = jwt_claims(self.token).get("sub") if self.token else None
        return sub if isinstance(sub, str) else None

    def renewal_delay(self, wall_now: float) -> float | None:
        """Seconds until the token should be renewed (``wall_now``: epoch seconds), or
        ``None`` when it has no expiry to anticipate (rule 9)."""
        return self._renewals.delay(self.token, wall_now)

    @staticmethod
    def renews_to(current: str, candidate: str) -> bool:
        """Whether ``candidate`` is worth presenting in place of ``current`` (later ``exp``)."""
        return RenewalSchedule.improves(current, candidate)

    def renewal_done(self, *, ok: bool) -> None:
        """Record one renewal outcome (failures lengthen the next wait)."""
        self._renewals.done(ok=ok)

    # ------------------------------------------------------------- internals

    def _deliver(self, events: list[JsonObject]) -> None:
        for event in events:
            self._out.append(Deliver(event))
            if event.get("type") == "message":
                self._out.extend(Deliver(update.as_event()) for update in self.messages.add(event))

    def _check_gaps(self) -> None:
        if self.sequencer.has_gaps() and not self._gap_fill_active:
            self._gap_fill_active = True
            self._gap_failures = 0
            self._out.append(SyncNeeded("gap", self.options.gap_grace))
