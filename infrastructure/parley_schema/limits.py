"""Protocol sections 6 and 7 as data: the error codes and the limits, from the runtime.

Limits that JSON Schema can state (lengths, counts, ranges) are in the schemas themselves;
this table also carries those it cannot (byte sizes of compact JSON, rates) and the
defaults of the template parameters, read from :class:`parley.config.Settings` so that a
changed default changes the documents.
"""

from __future__ import annotations

from typing import Any

from parley import models
from parley.config import Settings
from parley.errors import HTTP_STATUS, Code
from parley.services.conversations import SYNC_REPLY_BUDGET
from parley.services.groups import CHUNK
from parley.web import MAX_HTTP_BODY

from parley_schema.enums import ERROR_WHEN

# The WebSocket close code API Gateway uses for a frame over its size limit.
CLOSE_MESSAGE_TOO_BIG = 1009


def error_codes() -> list[dict[str, Any]]:
    """Protocol section 6: every code with its name, HTTP status and meaning."""
    return [
        {
            "code": int(code),
            "name": code.name,
            "httpStatus": HTTP_STATUS[code],
            "when": ERROR_WHEN[code],
        }
        for code in Code
    ]


def error_code_schema() -> dict[str, Any]:
    """The `ErrorCode` schema: an integer enum with names and meanings for code generators
    (`x-enum-varnames` and `x-enum-descriptions` are read by openapi-typescript and
    openapi-generator)."""
    lines = [f"{int(c)} {c.name} (HTTP {HTTP_STATUS[c]}): {ERROR_WHEN[c]}." for c in Code]
    return {
        "type": "integer",
        "title": "ErrorCode",
        "description": "Protocol error codes, shared by WebSocket `error` frames and HTTP "
        "error bodies.\n\n" + "\n".join(f"* {line}" for line in lines),
        "enum": [int(c) for c in Code],
        "x-enum-varnames": [c.name for c in Code],
        "x-enum-descriptions": [ERROR_WHEN[c] for c in Code],
    }


def _limit(value: int, unit: str, past_it: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, "unit": unit, "pastIt": past_it, "description": description, **extra}


def limits() -> dict[str, dict[str, Any]]:
    """Protocol section 7 (and the sizes of sections 3-5); `parameter` marks a default that
    a deployment may change with a template parameter."""
    defaults = Settings()
    return {
        "frameBytes": _limit(
            models.MAX_FRAME_BYTES,
            "bytes",
            f"the socket is closed with {CLOSE_MESSAGE_TOO_BIG}",
            "One WebSocket frame (API Gateway's limit); a larger message in smaller frames "
            "gets 1006.",
        ),
        "httpBodyBytes": _limit(MAX_HTTP_BODY, "bytes", "413 1006", "One HTTP request body."),
        "textCodePoints": _limit(
            models.MAX_TEXT_CHARS, "Unicode code points", "1006", "A text message body."
        ),
        "customDataBytes": _limit(
            models.MAX_CUSTOM_BYTES,
            "bytes of compact UTF-8 JSON",
            "1006",
            "The `data` of a custom message body.",
        ),
        "signalPayloadBytes": _limit(
            models.MAX_SIGNAL_PAYLOAD_BYTES,
            "bytes of compact UTF-8 JSON",
            "1006",
            "The `payload` of a signal.",
        ),
        "presenceUserIds": _limit(
            models.MAX_PRESENCE_IDS, "userIds", "1001", "Users asked about in one `presence`."
        ),
        "displayNameChars": _limit(
            models.MAX_DISPLAY_NAME,
            "characters",
            "1001",
            "A displayName or group name, after control characters are removed and white "
            "space is folded.",
        ),
        "syncReplyBytes": _limit(
            SYNC_REPLY_BUDGET + 1,
            "bytes",
            "the reply stops short with complete: false",
            "One `sync` reply stays under this size.",
        ),
        "systemMessageUsers": _limit(
            CHUNK, "userIds", "split", "Users named by one `members_added` system message."
        ),
        "groupMembers": _limit(
            defaults.max_group_size, "members", "1006", "Members of one group.", parameter=True
        ),
        "framesPerSecond": _limit(
            defaults.frames_per_second,
            "frames per second per connection",
            "1005; the socket stays open",
            "Frames of one connection, long-run rate.",
            parameter=True,
        ),
        "frameBurst": _limit(
            defaults.frame_burst,
            "frames per connection",
            "1005; the socket stays open",
            "Frames of one connection in a burst (sends: per user, shared by all devices).",
            parameter=True,
        ),
        "sendsPerMinute": _limit(
            defaults.sends_per_minute,
            "sends per minute per user",
            "1005 with retryAfterMs",
            "Messages one user sends (prod: 300).",
            parameter=True,
        ),
        "failedLoginsPerWindow": _limit(
            defaults.failed_logins_per_window,
            f"failed logins per {defaults.rate_window_seconds} s per source address",
            "429 1005 until the window passes",
            "Failed `POST /auth/login` from one address; past it even a correct password "
            "is refused.",
            parameter=True,
        ),
        "connectsPerMinute": _limit(
            defaults.connects_per_minute,
            "WebSocket connects per minute per source address",
            "the handshake is refused with HTTP 429",
            "New WebSocket connections from one address.",
            parameter=True,
        ),
        "relayMembers": _limit(
            defaults.inline_fanout_max,
            "members",
            "not relayed",
            "Largest conversation whose typing and receipts reach the other members (larger "
            "groups: receipts go to the reader's own other connections only).",
            parameter=True,
        ),
        "accessTokenSeconds": _limit(
            defaults.access_token_ttl,
            "seconds",
            "1003; renew with `auth` or `POST /auth/refresh`",
            "Access token lifetime.",
            parameter=True,
        ),
        "refreshTokenSeconds": _limit(
            defaults.refresh_token_ttl,
            "seconds",
            "401 1003: log in again",
            "Refresh token lifetime.",
            parameter=True,
        ),
    }
