"""Frames on the wire: compact JSON, the frame size limit, decoding, the token in the URL.

Pure functions with no I/O, shared by the sans-I/O core (:mod:`parley_client.core`),
the HTTP client and the CLI's formatting, so JSON is written one way everywhere.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from .errors import ErrorCode, ParleyError

JsonObject = dict[str, Any]

#: API Gateway's WebSocket frame limit; bigger frames get the socket closed (1009), so
#: the client refuses them up front with ``ParleyError`` 1006.
MAX_FRAME_BYTES = 32 * 1024


def compact_json(value: Any) -> str:
    """Compact JSON (no spaces), non-ASCII kept as is (4 emoji are 16 bytes, not 48)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_frame(frame: JsonObject) -> str:
    """``frame`` as compact JSON, checked against :data:`MAX_FRAME_BYTES` (UTF-8 bytes).

    Raises:
        ParleyError: 1006 when the encoded frame is over the limit; nothing is sent.
    """
    data = compact_json(frame)
    size = len(data.encode("utf-8"))
    if size > MAX_FRAME_BYTES:
        raise ParleyError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"frame is {size} bytes; the WebSocket frame limit is {MAX_FRAME_BYTES}",
        )
    return data


def decode_frame(raw: str | bytes) -> JsonObject | None:
    """A received frame as a JSON object, or ``None`` when it is not one (to be ignored)."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def text_body(text: str) -> JsonObject:
    """The message body ``{"type": "text", "text": text}``."""
    return {"type": "text", "text": text}


def with_token(url: str, token: str) -> str:
    """``url`` with its ``token`` query parameter set to ``token`` (others kept)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
