"""The wire's plain-JSON helpers, free of pydantic: compact JSON, JSON objects, request ids.

Every function on a cold path (the authorizer, `$connect`, `$disconnect`, fanout) and every
repository uses these; keeping them out of :mod:`parley.models` keeps pydantic out of those
functions' cold starts.
"""

from __future__ import annotations

import json
from typing import Any

from parley.errors import InvalidParam, PayloadTooLarge


def compact_json(value: Any) -> str:
    """The canonical compact UTF-8 JSON form used for size limits, storage and frames."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compact_bytes(value: Any) -> bytes:
    """:func:`compact_json` as UTF-8 bytes (what a socket or a size limit sees)."""
    return compact_json(value).encode()


def json_size(value: Any) -> int:
    """The size in bytes of `value` as compact UTF-8 JSON."""
    return len(compact_bytes(value))


def parse_json_object(raw: str | bytes | None, *, limit: int | None = None) -> dict[str, Any]:
    """Parse a JSON object, enforcing an optional byte limit (1006) before parsing."""
    if raw is None or raw == "":
        raise InvalidParam("body must be a JSON object")
    try:
        size = len(raw.encode() if isinstance(raw, str) else raw)
    except UnicodeEncodeError:
        # A lone surrogate: not text any client could have sent as UTF-8 (found by fuzzing).
        raise InvalidParam("body must be UTF-8 text") from None
    if limit is not None and size > limit:
        raise PayloadTooLarge(f"frame is over {limit} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidParam("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidParam("body must be a JSON object")
    return value


def request_id_of(raw: str | bytes | None) -> str | None:
    """Best-effort: the `id` of a frame, so that even an error reply can carry it."""
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        rid = data.get("id")
        if isinstance(rid, str) and 1 <= len(rid) <= 64:
            return rid
    return None
