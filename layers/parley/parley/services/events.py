"""The rules of events (protocol 9.1): what an edit, a delete or a reaction does to its target.

An event is a message of its own (its own seq, acked, pushed and synced like text) that
changes an earlier message, its *target*. :func:`plan` checks the caller's right to the
target and computes the target's next state from the state just read; the repository writes
the event and that state in one transaction conditioned on the target's version, so a
concurrent event on the same target makes this one re-read and re-plan instead of
overwriting it (docs/architecture.md, "Events and current state").

Nothing here does I/O: every rule is a function of the target as read, the caller and the
event, so the unit tests cover every refusal without a table.
"""

from __future__ import annotations

from typing import Any

from parley.errors import Forbidden, InvalidParam, NotFound
from parley.ports import Change
from parley.records import StoredMessage, is_countable
from parley.roles import ADMIN, OWNER
from parley.wire import json_size

MAX_REACTION_KEYS = 20
"""Distinct reaction keys on one message (protocol 9.1)."""

MAX_EDITS = 50
"""Edits of one message. A delete erases every edit's text in the same transaction as the
delete itself (at most 100 items): this bound keeps that transaction within the limit."""

MAX_REACTIONS_BYTES = 128 * 1024
"""The reactions of one message, as compact JSON: DynamoDB items stop at 400 KB, so a very
large group's reactions on one message are bounded here (1001) rather than failing the
write (3001). About 5,000 reactions with typical user ids."""


def visible(target: StoredMessage | None, joined_seq: int) -> StoredMessage:
    """The target if the caller can see it (at or after their join), else 2003."""
    if target is None or target["seq"] < joined_seq:
        raise NotFound("no such message in this conversation")
    return target


def plan(
    body: dict[str, Any],
    target: StoredMessage,
    *,
    caller: str,
    role: str,
    group: bool,
    event_seq: int,
    now: int,
    app_admin: bool = False,
) -> Change:
    """The change `body` (an edit, delete or reaction) makes to `target`, or the refusal:
    1004 for a message the caller may not change, 1001 for one in the wrong state. An
    `app_admin` (protocol 12) may delete any message, member or not."""
    kind = body["type"]
    if kind == "edit":
        return _edit(body, target, caller, event_seq, now)
    if kind == "delete":
        return _delete(target, caller, role, group, event_seq, now, app_admin=app_admin)
    return _reaction(body, target, caller)


def _unchanged(target: StoredMessage, **changes: Any) -> Change:
    current: dict[str, Any] = {
        "seq": target["seq"],
        "version": target.get("ver", 0),
        "body": target["body"],
        "edited": target.get("edited"),
        "deleted": target.get("deleted"),
        "reactions": target.get("reactions"),
        "edits": target.get("edits"),
    }
    current.update(changes)
    return Change(**current)


def _edit(
    body: dict[str, Any], target: StoredMessage, caller: str, event_seq: int, now: int
) -> Change:
    if target["senderId"] != caller:
        raise Forbidden("only the sender can edit a message")
    if target["body"].get("type") != "text" or "deleted" in target:
        raise InvalidParam("only a text message that is not deleted can be edited")
    edits = [*target.get("edits", []), event_seq]
    if len(edits) > MAX_EDITS:
        raise InvalidParam(f"a message can be edited at most {MAX_EDITS} times")
    return _unchanged(
        target,
        body={**target["body"], "text": body["text"]},
        edited={"seq": event_seq, "ts": now},
        edits=edits,
    )


def _delete(
    target: StoredMessage,
    caller: str,
    role: str,
    group: bool,
    event_seq: int,
    now: int,
    *,
    app_admin: bool = False,
) -> Change:
    moderator = app_admin or (group and role in (OWNER, ADMIN))
    if target["senderId"] != caller and not moderator:
        raise Forbidden("only the sender or a group's owner or admin can delete a message")
    if "deleted" in target:
        raise InvalidParam("the message is already deleted")
    if not is_countable(target["body"]):
        raise InvalidParam("only a text, file or custom message can be deleted")
    attachment = target["body"].get("attachmentId") if target["body"]["type"] == "file" else None
    return Change(
        seq=target["seq"],
        version=target.get("ver", 0),
        body={"type": "deleted"},
        edited=None,
        deleted={"seq": event_seq, "ts": now, "by": caller},
        reactions=None,
        edits=None,
        erase_edits=list(target.get("edits", [])),
        erase_attachment=str(attachment) if attachment else None,
    )


def _reaction(body: dict[str, Any], target: StoredMessage, caller: str) -> Change:
    if "deleted" in target or not is_countable(target["body"]):
        raise InvalidParam(
            "only a text, file or custom message that is not deleted takes reactions"
        )
    key: str = body["key"]
    reactions = {k: list(users) for k, users in target.get("reactions", {}).items()}
    users = reactions.get(key, [])
    if body["on"]:
        if caller in users:
            raise InvalidParam("that reaction is already there")
        if key not in reactions and len(reactions) >= MAX_REACTION_KEYS:
            raise InvalidParam(f"a message takes at most {MAX_REACTION_KEYS} reaction keys")
        reactions[key] = sorted([*users, caller])
        if json_size(reactions) > MAX_REACTIONS_BYTES:
            raise InvalidParam("the message has too many reactions")
    else:
        if caller not in users:
            raise InvalidParam("there is no such reaction to remove")
        remaining = [u for u in users if u != caller]
        if remaining:
            reactions[key] = remaining
        else:
            del reactions[key]
    return _unchanged(target, reactions=reactions or None)
