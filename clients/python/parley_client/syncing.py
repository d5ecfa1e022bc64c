"""Sync rounds (rule 7 of :mod:`parley_client.core`): pure functions over a Sequencer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .ordering import Sequencer
from .wire import JsonObject

log = logging.getLogger("parley_client.ws")

#: Sync rounds in a row without progress after which a sync stops.
SYNC_MAX_STALLS = 3
#: The pause before round ``n`` of a stall is ``n`` times this, in seconds.
SYNC_STALL_STEP = 0.1


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


@dataclass
class SyncRun:
    """One sync, possibly over several rounds: its ``limit``, result and stall count."""

    limit: int | None
    result: SyncResult = field(default_factory=SyncResult)
    stalls: int = 0


def sync_frame(sequencer: Sequencer, run: SyncRun) -> JsonObject:
    """The next round's ``sync`` frame: the non-zero cursors, and ``limit`` if set."""
    frame: JsonObject = {
        "action": "sync",
        # an absent cursor means 0: leave those out to keep the frame small
        "cursors": {c: s for c, s in sequencer.export_cursors().items() if s},
    }
    if run.limit:
        frame["limit"] = run.limit
    return frame


def apply_sync_reply(
    sequencer: Sequencer, run: SyncRun, reply: JsonObject
) -> tuple[list[JsonObject], float | None]:
    """Apply one ``sync`` reply: the messages to deliver, and the pause before the next
    round (``0.0``: at once) or ``None`` when the sync is over.

    Each conversation's messages go through :meth:`Sequencer.synced` (with the
    conversation id and ``type: message`` added, as servers may leave them out). A
    reply that is not ``complete`` and moved no cursor is a stall; the sync stops
    after :data:`SYNC_MAX_STALLS` of them in a row, with ``complete = False``.
    """
    result = run.result
    result.rounds += 1
    progressed = False
    delivered: list[JsonObject] = []
    conversations = reply.get("conversations")
    for conv in conversations if isinstance(conversations, list) else []:
        if not isinstance(conv, dict) or not isinstance(conv.get("conversationId"), str):
            continue
        conversation_id: str = conv["conversationId"]
        raw = conv.get("messages")
        messages = [
            {**m, "type": "message", "conversationId": conversation_id}
            for m in (raw if isinstance(raw, list) else [])
            if isinstance(m, dict) and isinstance(m.get("seq"), int)
        ]
        before = sequencer.cursor(conversation_id)
        now_deliverable = sequencer.synced(conversation_id, messages)
        if sequencer.cursor(conversation_id) != before:
            progressed = True
        delivered.extend(now_deliverable)
        result.messages.extend(now_deliverable)
        result.conversations[conversation_id] = {k: v for k, v in conv.items() if k != "messages"}
    if reply.get("complete") is True:
        return delivered, None
    run.stalls = 0 if progressed else run.stalls + 1
    if run.stalls >= SYNC_MAX_STALLS:
        log.warning("sync: server keeps answering incomplete without progress")
        result.complete = False
        return delivered, None
    return delivered, SYNC_STALL_STEP * run.stalls
