"""The events port in memory: an event's target with its internal state, and the commit of
the event with its target's change as one transaction under the store's lock (each item on
its condition, as `TransactWriteItems` does)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from parley.ports import Change, EventOutcome
from parley.records import Message, StoredMessage, erased_edit

from parley_memory.store import Access, Repository, Store, Write, stored_message


class Events(Repository):
    """Events on the Messages table (and the attachment a delete erases)."""

    table = "MessagesTable"

    def __init__(self, store: Store | None = None) -> None:
        super().__init__(store)
        # Runs (outside the lock) before each commit: tests change the target meanwhile.
        self.before_commit: Callable[[Message, Change], None] | None = None

    def target(self, conversation_id: str, seq: int) -> StoredMessage | None:
        """The message `seq` with its version and edit seqs (like the consistent GetItem)."""
        self._called("target", conversation_id, seq)
        with self.store.lock:
            found = self.store.messages.get(conversation_id, {}).get(seq)
            target = copy.deepcopy(found) if found is not None else None
        self._read("GetItem", [found], consistent=True)
        if target is not None:
            target.setdefault("ver", 0)
        return target

    def commit(
        self, event: Message, own: dict[str, int] | None, n: int | None, change: Change
    ) -> EventOutcome:
        """Store `event` and apply `change`, all or nothing."""
        self._called("commit", event["conversationId"], event["seq"])
        if self.before_commit is not None:
            self.before_commit(event, change)
        cid = event["conversationId"]
        with self.store.lock:
            log = self.store.messages.get(cid, {})
            if event["seq"] in log:
                return EventOutcome.SEQ_TAKEN
            target = log.get(change.seq)
            if target is None or target.get("ver", 0) != change.version:
                return EventOutcome.TARGET_CHANGED
            writes: list[Write] = [Write(None, stored_message(event, own, n), True)]
            before = copy.deepcopy(target)
            self.store.put_message(stored_message(event, own, n))
            target["body"] = copy.deepcopy(change.body)
            target["ver"] = change.version + 1
            for name, value in (
                ("edited", change.edited),
                ("deleted", change.deleted),
                ("reactions", change.reactions),
                ("edits", change.edits),
            ):
                if value is None:
                    target.pop(name, None)  # type: ignore[misc]
                else:
                    target[name] = copy.deepcopy(value)  # type: ignore[literal-required]
            writes.append(Write(before, copy.deepcopy(target), True))
            for edit_seq in change.erase_edits:
                old = copy.deepcopy(log[edit_seq])
                log[edit_seq]["body"] = erased_edit(change.seq)
                writes.append(Write(old, copy.deepcopy(log[edit_seq]), True))
            if change.erase_attachment is not None:
                row = self.store.attachments.setdefault(
                    change.erase_attachment, {"attachmentId": change.erase_attachment}
                )
                old_row = copy.deepcopy(row)
                row["state"] = "erased"
                row["erasedAt"] = event["ts"]
                for gone in ("name", "contentType", "expiresAt"):
                    row.pop(gone, None)
                writes.append(Write(old_row, copy.deepcopy(row), True))
        if self.store.probe is not None:
            self.store.report(
                Access("dynamodb", "TransactWriteItems", self.table, writes=tuple(writes))
            )
        return EventOutcome.STORED
