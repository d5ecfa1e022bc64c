"""A recording stand-in for the `@connections` API (moto never answers 410)."""

from __future__ import annotations

import json
import threading
from typing import Any

from parley.repositories.gateway import PostResult


class FakeGateway:
    """Records posts per connection; ids in `gone` answer 410, ids in `failing` fail."""

    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()
        self.failing: set[str] = set()
        self.closed: list[str] = []
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> PostResult:
        with self._lock:
            if connection_id in self.gone:
                return PostResult.GONE
            if connection_id in self.failing:
                return PostResult.FAILED
            self.posts.setdefault(connection_id, []).append(json.loads(data))
            return PostResult.DELIVERED

    def close(self, connection_id: str) -> bool:
        with self._lock:
            self.closed.append(connection_id)
            return connection_id not in self.gone

    def frames(self, connection_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            frames = list(self.posts.get(connection_id, []))
        return [f for f in frames if kind is None or f.get("type") == kind]
