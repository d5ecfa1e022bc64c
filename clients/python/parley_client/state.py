"""The current state of the messages a client holds (protocol 1.1 §9.2). No I/O.

History and sync return each message as it is now; pushed ``message`` frames carry
events (edit, delete, reaction), which the client applies to the target it holds.
:class:`MessageStore` does that, beside the :class:`~parley_client.ordering.Sequencer`:

1. Every message the client delivers (pushed, synced, its own acked sends) or is
   given (:meth:`MessageStore.add`, e.g. a history page) is held, at most
   ``limit`` per conversation; past it the lowest seqs are forgotten.
2. An event whose target is held changes it:

   * ``edit``: ``body.text`` becomes the new text and ``edited`` is
     ``{seq, ts}`` of the edit; an edit older than the target's ``edited.seq``,
     or on a deleted or non-text target, changes nothing;
   * ``delete``: ``body`` becomes ``{type: "deleted"}`` (text, caption, file
     fields, replyTo and mentions go) and ``deleted`` is ``{seq, ts, by}``; the
     held edits of that target, earlier or later, lose their text
     (``{type: "edit", target}``);
   * ``reaction``: the sender's userId is added to (``on``) or removed from
     ``reactions[key]``; a key left with no user disappears. A deleted target
     takes no reaction.

3. Applying is idempotent: an event already applied to its target, or whose
   effect a synced target already shows (a later ``edited.seq``, ``deleted``, the
   user already in or out of ``reactions[key]``), changes nothing.
4. An event whose target is not held is kept (at most ``limit`` per conversation)
   and applied if the target arrives later (out of order, or from history), so
   the app may fetch the target afterwards.
5. Each held message that changed is reported as an :class:`Updated`, which the
   client delivers as an ``updated`` event:
   ``{type: "updated", conversationId, seq, message, event}``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from .bodies import EVENT_TYPES
from .wire import JsonObject

__all__ = ["MessageStore", "Updated", "event_target"]

DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Updated:
    """Held message ``seq`` of ``conversation_id`` changed because of ``event``.

    Attributes:
        conversation_id: the conversation.
        seq: the changed message's seq.
        message: a copy of its current state.
        event: the event message that changed it.
    """

    conversation_id: str
    seq: int
    message: JsonObject
    event: JsonObject

    def as_event(self) -> JsonObject:
        """The ``updated`` event delivered to the app."""
        return {
            "type": "updated",
            "conversationId": self.conversation_id,
            "seq": self.seq,
            "message": self.message,
            "event": self.event,
        }


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _key(message: JsonObject) -> tuple[str, int] | None:
    conversation_id, seq = message.get("conversationId"), _int(message.get("seq"))
    if not isinstance(conversation_id, str) or seq is None:
        return None
    return conversation_id, seq


def event_target(message: JsonObject) -> int | None:
    """The ``target`` seq of an edit, delete or reaction message, else ``None``."""
    body = message.get("body")
    if not isinstance(body, dict) or body.get("type") not in EVENT_TYPES:
        return None
    return _int(body.get("target"))


class MessageStore:
    """Messages held in their current state, per conversation (see the module docstring).

    Args:
        limit: messages (and pending events) held per conversation; ``0`` holds none.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._held: dict[str, dict[int, JsonObject]] = {}
        self._applied: dict[tuple[str, int], set[int]] = {}
        self._orphans: dict[str, dict[int, JsonObject]] = {}

    # ---------------------------------------------------------------- reading

    def get(self, conversation_id: str, seq: int) -> JsonObject | None:
        """A copy of held message ``seq`` in its current state, ``None`` if not held."""
        message = self._held.get(conversation_id, {}).get(seq)
        return copy.deepcopy(message) if message is not None else None

    def holds(self, conversation_id: str, seq: int) -> bool:
        """Whether message ``seq`` of ``conversation_id`` is held."""
        return seq in self._held.get(conversation_id, {})

    def messages(self, conversation_id: str) -> list[JsonObject]:
        """Copies of the held messages of one conversation, ascending seq."""
        held = self._held.get(conversation_id, {})
        return [copy.deepcopy(held[seq]) for seq in sorted(held)]

    def pending_events(self, conversation_id: str) -> list[JsonObject]:
        """Events kept because their target is not held yet, ascending seq."""
        orphans = self._orphans.get(conversation_id, {})
        return [copy.deepcopy(orphans[seq]) for seq in sorted(orphans)]

    def forget(self, conversation_id: str | None = None) -> None:
        """Drop what is held for one conversation (every conversation when ``None``)."""
        if conversation_id is None:
            self._held.clear()
            self._applied.clear()
            self._orphans.clear()
            return
        self._held.pop(conversation_id, None)
        self._orphans.pop(conversation_id, None)
        for key in [k for k in self._applied if k[0] == conversation_id]:
            del self._applied[key]

    # ---------------------------------------------------------------- writing

    def add(self, message: JsonObject) -> list[Updated]:
        """Hold ``message`` and apply it if it is an event; returns what changed.

        A message already held is not replaced (it is the same seq), but a copy
        showing newer state (deleted, or a later ``edited.seq``) updates it.
        Messages without a ``conversationId`` and an integer ``seq`` are ignored.
        """
        key = _key(message)
        if key is None or self.limit == 0:
            return []
        conversation_id, seq = key
        held = self._held.setdefault(conversation_id, {})
        out: list[Updated] = []
        if seq in held:
            self._merge(conversation_id, seq, message, out)
            return out
        held[seq] = copy.deepcopy(message)
        self._trim(conversation_id)
        target = event_target(message)
        if target is not None:
            if target in held:
                self._apply(conversation_id, target, held.get(seq) or copy.deepcopy(message), out)
            else:
                self._keep_orphan(conversation_id, seq, message)
        # events that came before this message (out of order, or from a newer page)
        orphans = self._orphans.get(conversation_id, {})
        for event_seq in sorted(s for s, e in orphans.items() if event_target(e) == seq):
            self._apply(conversation_id, seq, orphans.pop(event_seq), out)
        return out

    def add_all(self, messages: Iterable[JsonObject]) -> list[Updated]:
        """:meth:`add` each message (e.g. a history page, ascending); every change."""
        out: list[Updated] = []
        for message in messages:
            out.extend(self.add(message))
        return out

    # -------------------------------------------------------------- internals

    def _trim(self, conversation_id: str) -> None:
        held = self._held[conversation_id]
        while len(held) > self.limit:
            oldest = min(held)
            del held[oldest]
            self._applied.pop((conversation_id, oldest), None)

    def _keep_orphan(self, conversation_id: str, seq: int, event: JsonObject) -> None:
        orphans = self._orphans.setdefault(conversation_id, {})
        orphans[seq] = copy.deepcopy(event)
        while len(orphans) > self.limit:
            del orphans[min(orphans)]

    def _merge(self, conversation_id: str, seq: int, copy_: JsonObject, out: list[Updated]) -> None:
        current = self._held[conversation_id][seq]
        changed = False
        if isinstance(copy_.get("deleted"), dict) and not isinstance(current.get("deleted"), dict):
            current["deleted"] = copy.deepcopy(copy_["deleted"])
            current["body"] = {"type": "deleted"}
            changed = True
        elif _edit_seq(copy_) > _edit_seq(current) and not isinstance(current.get("deleted"), dict):
            current["edited"] = copy.deepcopy(copy_["edited"])
            current["body"] = copy.deepcopy(copy_.get("body"))
            changed = True
        if changed:
            out.append(Updated(conversation_id, seq, copy.deepcopy(current), copy_))

    def _apply(
        self, conversation_id: str, target: int, event: JsonObject, out: list[Updated]
    ) -> None:
        key = _key(event)
        body = event.get("body")
        message = self._held.get(conversation_id, {}).get(target)
        if key is None or not isinstance(body, dict) or message is None:
            return
        applied = self._applied.setdefault((conversation_id, target), set())
        if key[1] in applied:
            return
        applied.add(key[1])
        kind = body.get("type")
        if kind == "edit":
            changed = _apply_edit(message, event, body)
            if isinstance(message.get("deleted"), dict):
                # an edit of a deleted message keeps no text either (§9.2)
                held_edit = self._held.get(conversation_id, {}).get(key[1], {})
                for edit_body in (body, held_edit.get("body")):
                    if isinstance(edit_body, dict):
                        edit_body.pop("text", None)
        elif kind == "delete":
            changed = _apply_delete(message, event, body)
            if changed:
                self._erase_edits(conversation_id, target, event, out)
        else:
            changed = _apply_reaction(message, event, body)
        if changed:
            out.append(Updated(conversation_id, target, copy.deepcopy(message), event))

    def _erase_edits(
        self, conversation_id: str, target: int, event: JsonObject, out: list[Updated]
    ) -> None:
        for seq, held in self._held.get(conversation_id, {}).items():
            body = held.get("body")
            if event_target(held) == target and isinstance(body, dict) and "text" in body:
                held["body"] = {"type": "edit", "target": target}
                out.append(Updated(conversation_id, seq, copy.deepcopy(held), event))
        for orphan in self._orphans.get(conversation_id, {}).values():
            body = orphan.get("body")
            if event_target(orphan) == target and isinstance(body, dict) and "text" in body:
                orphan["body"] = {"type": "edit", "target": target}


def _edit_seq(message: JsonObject) -> int:
    edited = message.get("edited")
    seq = _int(edited.get("seq")) if isinstance(edited, dict) else None
    return seq if seq is not None else 0


def _apply_edit(message: JsonObject, event: JsonObject, body: JsonObject) -> bool:
    target_body = message.get("body")
    text = body.get("text")
    seq = _int(event.get("seq")) or 0
    if (
        not isinstance(target_body, dict)
        or target_body.get("type") != "text"
        or isinstance(message.get("deleted"), dict)
        or not isinstance(text, str)
        or _edit_seq(message) >= seq
    ):
        return False
    target_body["text"] = text
    message["edited"] = {"seq": seq, "ts": event.get("ts")}
    return True


def _apply_delete(message: JsonObject, event: JsonObject, body: JsonObject) -> bool:
    if isinstance(message.get("deleted"), dict):
        return False
    by = body.get("by") if isinstance(body.get("by"), str) else event.get("senderId")
    message["body"] = {"type": "deleted"}
    message["deleted"] = {"seq": event.get("seq"), "ts": event.get("ts"), "by": by}
    return True


def _apply_reaction(message: JsonObject, event: JsonObject, body: JsonObject) -> bool:
    user, key, on = event.get("senderId"), body.get("key"), body.get("on")
    if (
        not isinstance(user, str)
        or not isinstance(key, str)
        or not isinstance(on, bool)
        or isinstance(message.get("deleted"), dict)
    ):
        return False
    reactions = message.get("reactions")
    if not isinstance(reactions, dict):
        reactions = {}
    users = list(reactions.get(key) or [])
    if on == (user in users):
        return False
    if on:
        users.append(user)
        reactions[key] = users
    elif users == [user]:
        reactions.pop(key, None)
    else:
        users.remove(user)
        reactions[key] = users
    if reactions:
        message["reactions"] = reactions
    else:
        message.pop("reactions", None)
    return True
