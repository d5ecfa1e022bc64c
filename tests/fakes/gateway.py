"""A recording stand-in for the `@connections` API (moto never answers 410)."""

from __future__ import annotations

import json
from typing import Any

from parley_memory import Delivery, Gateway


class FakeGateway(Gateway):
    """The in-memory gateway, keeping each delivered frame parsed, per connection: ids in
    `gone` answer 410, ids in `throttled` 429, ids in `failing` fail."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: dict[str, list[dict[str, Any]]] = {}

    def delivered(self, delivery: Delivery) -> None:
        with self.lock:
            self.posts.setdefault(delivery.connection_id, []).append(json.loads(delivery.data))
        super().delivered(delivery)

    def frames(self, connection_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The frames delivered to one connection (of one `type`), in order."""
        with self.lock:
            frames = list(self.posts.get(connection_id, []))
        return [f for f in frames if kind is None or f.get("type") == kind]
