"""In-memory abuse counters and flags (the same contract as `parley.repositories.abuse`
and `parley.repositories.flags`), each call atomic under one lock."""

from __future__ import annotations

import threading

from parley.ports import Flag, Spent


class AbuseCounters:
    """Windowed amounts and sets, keyed like the limits table's items."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.amounts: dict[str, int] = {}
        self.sets: dict[str, set[str]] = {}

    def take(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> int | None:
        return self.spend(key, amount, limit, window_ms, now_ms).wait

    def spend(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> Spent:
        start = now_ms - now_ms % window_ms
        item = f"{key}#{start}"
        with self.lock:
            if self.amounts.get(item, 0) + amount > limit:
                return Spent(max(1, start + window_ms - now_ms), 0)
            self.amounts[item] = total = self.amounts.get(item, 0) + amount
        return Spent(None, total)

    def distinct(
        self, key: str, member: str, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        start = now_ms - now_ms % window_ms
        if self.join(f"{key}#{start}", member, limit, 0):
            return None
        return max(1, start + window_ms - now_ms)

    def join(self, key: str, member: str, limit: int, expires_at: int) -> bool:
        with self.lock:
            found = self.sets.setdefault(key, set())
            if member not in found and len(found) >= limit:
                return False
            found.add(member)
        return True

    def leave(self, key: str, members: set[str]) -> None:
        with self.lock:
            self.sets.get(key, set()).difference_update(members)

    def members(self, key: str) -> set[str]:
        with self.lock:
            return set(self.sets.get(key, set()))

    def nonempty(self, keys: list[str], now_s: int) -> set[str]:
        with self.lock:
            return {k for k in keys if self.sets.get(k)}


class Flags:
    """Flagged users by userId."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, Flag] = {}

    def flag(self, user_id: str, reason: str, at: int) -> None:
        with self.lock:
            self.rows[user_id] = {"userId": user_id, "reason": reason, "at": at}

    def clear(self, user_id: str) -> None:
        with self.lock:
            self.rows.pop(user_id, None)

    def all(self, limit: int) -> list[Flag]:
        with self.lock:
            return [self.rows[u] for u in sorted(self.rows)][:limit]
