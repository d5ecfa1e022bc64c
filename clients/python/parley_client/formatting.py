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


def describe_body(body: Any, sender: str = "?") -> str:
    """A message body as text: the text itself, ``<custom> {...}``, or a system line."""
    if not isinstance(body, dict):
        return compact_json(body)
    kind = body.get("type")
    if kind == "text":
        return str(body.get("text", ""))
    if kind == "custom":
        return f"<custom> {compact_json(body.get('data'))}"
    if kind == "system":
        return "* " + describe_system(body)
    return compact_json(body)


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
    return f"{head} {sender}: {describe_body(body, sender)}"


def format_chat_line(message: JsonObject) -> str:
    """``[alice] hello`` (system messages as ``* alice added bob``)."""
    body = message.get("body")
    if isinstance(body, dict) and body.get("type") == "system":
        return describe_body(body)
    return f"[{message.get('senderId', '?')}] {describe_body(body)}"


def format_event(event: JsonObject) -> str:
    """One readable line for any server-pushed event."""
    kind = event.get("type")
    if kind == "message":
        return format_message(event)
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
