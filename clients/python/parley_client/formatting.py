"""Human-readable one-line renderings of Parley events and messages (used by the CLI)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from .errors import code_name
from .wire import JsonObject, compact_json


def dm_conversation_id(user_a: str, user_b: str) -> str:
    """The direct conversation of two users: ``dm:<a>:<b>`` with the ids sorted."""
    first, second = sorted((user_a, user_b))
    return f"dm:{first}:{second}"


def format_time(ts: Any, *, now: float | None = None) -> str:
    """``HH:MM:SS`` for today's server times (ms), ``YYYY-MM-DD HH:MM`` for older ones."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "--:--:--"
    moment = datetime.fromtimestamp(ts / 1000)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def format_size(size: Any) -> str:
    """A byte count for people: ``512 B``, ``1.5 KB``, ``25.0 MB`` (1024-based)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "? B"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def describe_body(body: Any, sender: str = "?") -> str:
    """A message body as text: the text (``↪ #12`` for a reply, ``@user`` mentions),
    ``📎 name (size, id attachmentId)``, an event (``✎ edited #12: ...``), ``message deleted``,
    ``<custom> {...}``, or a system line."""
    if not isinstance(body, dict):
        return compact_json(body)
    kind = body.get("type")
    if kind == "text":
        text = str(body.get("text", ""))
        if isinstance(body.get("replyTo"), int):
            text = f"↪ #{body['replyTo']} {text}"
        mentions = [str(u) for u in body.get("mentions") or []]
        if mentions:
            text += " (" + " ".join(f"@{u}" for u in mentions) + ")"
        return text
    if kind == "file":
        name = body.get("name")
        # the id is what `parley download` takes
        line = (
            f"📎 {name} ({format_size(body.get('size'))}, id {body.get('attachmentId', '?')})"
            if isinstance(name, str)
            else f"📎 attachment {body.get('attachmentId', '?')}"
        )
        caption = body.get("caption")
        return f"{line} {caption}" if isinstance(caption, str) and caption else line
    if kind == "edit":
        new_text = body.get("text")
        edited = f"✎ edited #{body.get('target', '?')}"
        return f"{edited}: {new_text}" if isinstance(new_text, str) else edited
    if kind == "delete":
        return f"🗑 deleted #{body.get('target', '?')}"
    if kind == "reaction":
        if body.get("on") is False:
            return f"removed {body.get('key', '?')} from #{body.get('target', '?')}"
        return f"reacted {body.get('key', '?')} to #{body.get('target', '?')}"
    if kind == "deleted":
        return "message deleted"
    if kind == "custom":
        return f"<custom> {compact_json(body.get('data'))}"
    if kind == "system":
        return "* " + describe_system(body)
    return compact_json(body)


def describe_state(message: JsonObject) -> str:
    """What a message's current-state fields add: `` (edited)`` and ``  👍 alice, bob``."""
    extra = ""
    if isinstance(message.get("edited"), dict) and not isinstance(message.get("deleted"), dict):
        extra += " (edited)"
    reactions = message.get("reactions")
    if isinstance(reactions, dict):
        for key, users in reactions.items():
            if isinstance(users, list) and users:
                extra += f"  {key} {', '.join(str(u) for u in users)}"
    return extra


def describe_system(body: JsonObject) -> str:
    """``{type: system, event, by, userIds?, role?}`` as a sentence."""
    by = body.get("by", "?")
    users = ", ".join(str(u) for u in body.get("userIds") or [])
    event = body.get("event")
    if event == "group_created":
        return f"{by} created the group" + (f" with {users}" if users else "")
    if event == "members_added":
        return f"{by} added {users}"
    if event == "member_removed":
        return f"{by} removed {users}"
    if event == "member_left":
        return f"{users or by} left"
    if event == "role_changed":
        return f"{by} made {users} {body.get('role', '?')}"
    return f"{event}: {compact_json(body)}"


def format_message(message: JsonObject, *, with_conversation: bool = True) -> str:
    """``12:30:01 [dm:alice:bob #5] alice: hello``."""
    sender = str(message.get("senderId", "?"))
    where = f"{message.get('conversationId', '?')} " if with_conversation else ""
    head = f"{format_time(message.get('ts'))} [{where}#{message.get('seq', '?')}]"
    body = message.get("body")
    if isinstance(body, dict) and body.get("type") == "system":
        return f"{head} {describe_body(body, sender)}"
    return f"{head} {sender}: {describe_body(body, sender)}{describe_state(message)}"


def format_chat_line(message: JsonObject) -> str:
    """``[alice] hello`` (system messages as ``* alice added bob``)."""
    body = message.get("body")
    if isinstance(body, dict) and body.get("type") == "system":
        return describe_body(body)
    return f"[{message.get('senderId', '?')}] {describe_body(body)}{describe_state(message)}"


def format_update(event: JsonObject, *, with_conversation: bool = True) -> str:
    """An ``updated`` event as one line: ``[dm:alice:bob #12] ↻ bob: new text (edited)``."""
    message = event.get("message")
    if not isinstance(message, dict):
        message = {}
    where = f"{event.get('conversationId', '?')} " if with_conversation else ""
    sender = str(message.get("senderId", "?"))
    body = describe_body(message.get("body"), sender)
    return f"[{where}#{event.get('seq', '?')}] ↻ {sender}: {body}{describe_state(message)}"


def format_event(event: JsonObject) -> str:
    """One readable line for any server-pushed event."""
    kind = event.get("type")
    if kind == "message":
        return format_message(event)
    if kind == "updated":
        return format_update(event)
    if kind == "receipt":
        return (
            f"[{event.get('conversationId')}] {event.get('userId')} "
            f"read up to #{event.get('readSeq')}"
        )
    if kind == "typing":
        doing = "is typing..." if event.get("state") == "start" else "stopped typing"
        return f"[{event.get('conversationId')}] {event.get('userId')} {doing}"
    if kind == "signal":
        line = (
            f"signal {event.get('kind')} from {event.get('from')} "
            f"(call {event.get('callId')}, connection {event.get('fromConnection')})"
        )
        if event.get("payload") is not None:
            line += f": {compact_json(event.get('payload'))}"
        return line
    if kind == "error":
        code = event.get("code")
        name = code_name(code) if isinstance(code, int) else "UNKNOWN"
        return f"error {code} {name}: {event.get('message')}"
    return f"{kind}: {compact_json(event)}"
