"""Per-conversation cursors, duplicate dropping and in-order delivery of messages.

Pure bookkeeping with no I/O, so every method is synchronous and atomic with
respect to the event loop; :class:`~parley_client.ParleyClient` feeds it pushed
messages, sync results and its own acks, and emits what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .wire import JsonObject


class Sequencer:
    """Tracks, per conversation, the highest contiguous ``seq`` delivered (the cursor).

    * a message at or below the cursor is a repeat and is dropped;
    * the message right after the cursor is delivered, followed by any buffered
      messages that now continue the run;
    * a message further ahead is buffered, and :meth:`has_gaps` turns true until a
      sync fills the hole (or :meth:`flush_gaps` gives up on it).

    Messages coming from ``sync`` are authoritative: the server returns every visible
    message above the cursor, so a jump there (e.g. the first message a new group
    member may see) moves the cursor without waiting.

    Sequence numbers the client acked for its own sends are not delivered (the
    sending connection gets the ``ack`` instead of a push) but do move the cursor.

    Args:
        cursors: initial cursors, ``{conversationId: lastSeenSeq}``.
        backfill_unknown: for a conversation with no cursor yet, treat the cursor as 0
            (so a first push with ``seq`` > 1 triggers a sync of the older messages).
            When false, the first message seen in such a conversation starts it.
    """

    def __init__(
        self, cursors: Mapping[str, int] | None = None, *, backfill_unknown: bool = True
    ) -> None:
        self._cursors: dict[str, int] = {}
        self._pending: dict[str, dict[int, JsonObject | None]] = {}
        self.backfill_unknown = backfill_unknown
        if cursors:
            self.import_cursors(cursors)

    # ---------------------------------------------------------------- cursors

    def cursor(self, conversation_id: str) -> int | None:
        """The cursor of one conversation, ``None`` if never seen."""
        return self._cursors.get(conversation_id)

    def export_cursors(self) -> dict[str, int]:
        """A copy of every cursor, ``{conversationId: seq}``, for the app to persist."""
        return dict(self._cursors)

    def import_cursors(self, cursors: Mapping[str, int], *, replace: bool = False) -> None:
        """Set cursors (e.g. loaded from disk). ``replace`` forgets the others first.

        Buffered messages at or below a new cursor are discarded.
        """
        if replace:
            self._cursors.clear()
            self._pending.clear()
        for conversation_id, seq in cursors.items():
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise ValueError(f"bad cursor for {conversation_id!r}: {seq!r}")
            self._cursors[conversation_id] = seq
            pending = self._pending.get(conversation_id)
            if pending:
                for stale in [s for s in pending if s <= seq]:
                    del pending[stale]

    # ------------------------------------------------------------------ input

    def push(self, message: JsonObject) -> list[JsonObject]:
        """Take a pushed ``message``; return the messages now deliverable, in order."""
        conversation_id, seq = _key(message)
        cursor = self._cursors.get(conversation_id)
        if cursor is None:
            cursor = 0 if self.backfill_unknown else seq - 1
            self._cursors[conversation_id] = cursor
        if seq <= cursor:
            return []
        pending = self._pending.setdefault(conversation_id, {})
        if seq in pending:
            return []
        pending[seq] = message
        return self._flush(conversation_id)

    def acked(self, conversation_id: str, seq: int) -> list[JsonObject]:
        """Record that our own send was stored at ``seq``; return newly deliverable messages."""
        cursor = self._cursors.get(conversation_id)
        if cursor is None:
            cursor = 0 if self.backfill_unknown else seq - 1
            self._cursors[conversation_id] = cursor
        if seq <= cursor:
            return []
        self._pending.setdefault(conversation_id, {})[seq] = None
        return self._flush(conversation_id)

    def synced(self, conversation_id: str, messages: Iterable[JsonObject]) -> list[JsonObject]:
        """Take one conversation's ``sync`` messages (ascending); return what to deliver."""
        out: list[JsonObject] = []
        pending = self._pending.setdefault(conversation_id, {})
        cursor = self._cursors.get(conversation_id, 0)
        for message in sorted(messages, key=lambda m: _key(m)[1]):
            seq = _key(message)[1]
            if seq <= cursor:
                continue
            # Everything visible between the cursor and seq is in this reply, so
            # a hole here is not a gap (e.g. messages from before we joined).
            for skipped in [s for s in pending if s < seq]:
                held = pending.pop(skipped)
                if held is not None:
                    out.append(held)
            own = seq in pending and pending[seq] is None
            pending.pop(seq, None)
            if not own:
                out.append(message)
            cursor = seq
            self._cursors[conversation_id] = cursor
        self._cursors.setdefault(conversation_id, cursor)
        out.extend(self._flush(conversation_id))
        return out

    # ------------------------------------------------------------------- gaps

    def has_gaps(self) -> bool:
        """True while some conversation holds messages beyond a missing ``seq``."""
        return any(self._pending.values())

    def gaps(self) -> dict[str, tuple[int, int]]:
        """``{conversationId: (cursor, lowest buffered seq)}`` for conversations with a hole."""
        return {
            conv: (self._cursors.get(conv, 0), min(pending))
            for conv, pending in self._pending.items()
            if pending
        }

    def flush_gaps(self) -> list[JsonObject]:
        """Give up on the holes: deliver everything buffered, in order, and jump the cursors."""
        out: list[JsonObject] = []
        for conversation_id, pending in self._pending.items():
            for seq in sorted(pending):
                held = pending[seq]
                if held is not None:
                    out.append(held)
                self._cursors[conversation_id] = max(self._cursors.get(conversation_id, 0), seq)
            pending.clear()
        return out

    # -------------------------------------------------------------- internals

    def _flush(self, conversation_id: str) -> list[JsonObject]:
        pending = self._pending.get(conversation_id)
        cursor = self._cursors.get(conversation_id, 0)
        out: list[JsonObject] = []
        while pending and cursor + 1 in pending:
            cursor += 1
            held = pending.pop(cursor)
            if held is not None:
                out.append(held)
        self._cursors[conversation_id] = cursor
        if pending is not None and not pending:
            del self._pending[conversation_id]
        return out


def _key(message: JsonObject) -> tuple[str, int]:
    conversation_id = message.get("conversationId")
    seq = message.get("seq")
    if not isinstance(conversation_id, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError("message without a string conversationId and an integer seq")
    return conversation_id, seq
