"""`GET /health`: 200 once the function can run (no dependency is called: it must stay cheap)."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": '{"status":"ok"}',
    }
