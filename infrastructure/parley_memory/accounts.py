"""In-memory account lifecycle ports (protocol 12), with the DynamoDB repositories' semantics
(`parley.repositories.accounts`): the deleted mark, blocks and `left#` markers beside the
profile in the store's users table, a sender's messages a page at a time, the account jobs
queue and the export objects. Not priced by the benchmarks."""

from __future__ import annotations

import copy
from typing import cast

from parley.records import AccountJob, ExportRecord, Message

from parley_memory.store import Repository, protocol_message

__all__ = ["AccountJobsOutbox", "Accounts", "ExportBucket", "SentMessages"]

PROFILE = "profile"
BLOCK = "block#"
LEFT = "left#"
EXPORT = "export#"
_GONE = ("passwordHash", "displayName", "lastSeen", "identityProvider", "suspended")


class Accounts(Repository):
    """The users table's account lifecycle items."""

    def mark_deleted(self, user_id: str, now: int) -> bool:
        self._called("mark_deleted", user_id)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is None or "deletedAt" in row:
                return False
            for name in (*_GONE, "suspendedReason"):
                row.pop(name, None)
            row["deletedAt"] = now
            return True

    def is_deleted(self, user_id: str) -> bool:
        self._called("is_deleted", user_id)
        with self.store.lock:
            return "deletedAt" in self.store.users.get((user_id, PROFILE), {})

    def _suffixes(self, user_id: str, prefix: str) -> list[str]:
        with self.store.lock:
            return sorted(
                sk[len(prefix) :]
                for pk, sk in self.store.users
                if pk == user_id and sk.startswith(prefix)
            )

    def blocked_users(self, user_id: str) -> list[str]:
        self._called("blocked_users", user_id)
        return self._suffixes(user_id, BLOCK)

    def left_groups(self, user_id: str) -> list[str]:
        self._called("left_groups", user_id)
        return self._suffixes(user_id, LEFT)

    def put_export(self, user_id: str, record: ExportRecord) -> None:
        self._called("put_export", user_id, record["exportId"])
        with self.store.lock:
            item = {"pk": user_id, "sk": EXPORT + record["exportId"], **record}
            self.store.users[(user_id, EXPORT + record["exportId"])] = item

    def exports(self, user_id: str) -> list[ExportRecord]:
        self._called("exports", user_id)
        return [
            found
            for export_id in self._suffixes(user_id, EXPORT)
            if (found := self._record(user_id, export_id)) is not None
        ]

    def get_export(self, user_id: str, export_id: str) -> ExportRecord | None:
        self._called("get_export", user_id, export_id)
        return self._record(user_id, export_id)

    def export_ready(self, user_id: str, export_id: str, key: str) -> bool:
        self._called("export_ready", user_id, export_id)
        with self.store.lock:
            row = self.store.users.get((user_id, EXPORT + export_id))
            if row is None:
                return False
            row.update(status="ready", objectKey=key)
            return True

    def _record(self, user_id: str, export_id: str) -> ExportRecord | None:
        with self.store.lock:
            row = self.store.users.get((user_id, EXPORT + export_id))
            if row is None:
                return None
            fields = ("exportId", "status", "createdAt", "expiresAt", "objectKey")
            return cast(ExportRecord, {k: copy.deepcopy(row[k]) for k in fields if k in row})


class SentMessages(Repository):
    """A sender's messages among the next `limit` of a conversation (a filtered Query)."""

    def sent_page(
        self, conversation_id: str, sender: str, after_seq: int, limit: int
    ) -> tuple[list[Message], int | None]:
        self._called("sent_page", conversation_id, sender, after_seq)
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            seqs = sorted(s for s in log if s > after_seq)
            page, more = seqs[:limit], len(seqs) > limit
            found = [protocol_message(log[s]) for s in page if log[s]["senderId"] == sender]
        return found, (page[-1] if more and page else None)


class AccountJobsOutbox:
    """The account jobs queue: what was sent, in order, with whether it was delayed."""

    def __init__(self) -> None:
        self.sent: list[tuple[AccountJob, bool]] = []
        self.fail: Exception | None = None

    def send(self, job: AccountJob, *, delayed: bool = False) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((copy.deepcopy(job), delayed))


class ExportBucket:
    """Export objects by key; a link names its key and lifetime."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    def download_url(self, key: str, name: str, content_type: str, expires_in: int) -> str:
        return f"memory://{key}?name={name}&expires={expires_in}"
