"""Events on the Messages table: an edit, delete or reaction and its target's new state,
written together (docs/architecture.md, "Events and current state").

One `TransactWriteItems` holds:

1. the event's Put, on `attribute_not_exists(seq)` exactly as a text message's PutItem
   (so events keep the gap-free order and take no seq when anything below fails);
2. the target's Update to its next state, on its version (`ver`): a concurrent event on the
   same target cancels this one, which re-reads and re-plans;
3. for a delete: each edit event of the target, its body reduced to `{type, target}`, and the
   attachment of a file, marked `erased` with its name and content type removed.

Either all of it is written or none, so an acked delete leaves no text behind, and a
refused or lost event leaves nothing at all.
"""

from __future__ import annotations

import time
from typing import Any

from parley import ddb
from parley.errors import Unavailable
from parley.ports import Change, EventOutcome
from parley.records import Message, StoredMessage, erased_edit
from parley.repositories.base import AttrItem, Repository, Sleep, error_code, translate
from parley.repositories.messages import decode_stored, encode_message
from parley.wire import compact_json

__all__ = ["EventsRepository"]


class EventsRepository(Repository):
    """Reads an event's target with its internal state and commits the event with it."""

    def __init__(
        self,
        table: str,
        attachments_table: str,
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(table, client, sleep=sleep)
        self.attachments_table = attachments_table

    def target(self, conversation_id: str, seq: int) -> StoredMessage | None:
        """The message `seq` with its version and edit seqs (strongly consistent)."""
        with translate():
            found = self.client.get_item(
                TableName=self.table,
                Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
                ConsistentRead=True,
            )
        item = found.get("Item")
        return decode_stored(item) if item else None

    def commit(
        self, event: Message, own: dict[str, int] | None, n: int | None, change: Change
    ) -> EventOutcome:
        """Store `event` at its seq and `change` on its target, all or nothing."""
        from botocore.exceptions import ClientError

        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": encode_message(event, own, n),
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            },
            {"Update": self._target_update(event["conversationId"], change)},
        ]
        for edit_seq in change.erase_edits:
            items.append({"Update": self._erase_edit(event["conversationId"], edit_seq, change)})
        if change.erase_attachment is not None:
            items.append({"Update": self._erase_attachment(change.erase_attachment, event["ts"])})
        try:
            with translate():
                self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            return _cancelled(exc)
        return EventOutcome.STORED

    def _target_update(self, conversation_id: str, change: Change) -> dict[str, Any]:
        values: AttrItem = {
            ":body": {"S": compact_json(change.body)},
            ":next": {"N": str(change.version + 1)},
        }
        sets = ["body = :body", "ver = :next"]
        removes: list[str] = []
        state: dict[str, Any] = {
            "edited": change.edited,
            "deleted": change.deleted,
            "reactions": change.reactions,
        }
        for name, value in state.items():
            if value is None:
                removes.append(name)
            else:
                values[f":{name}"] = {"S": compact_json(value)}
                sets.append(f"{name} = :{name}")
        if change.edits is None:
            removes.append("edits")
        else:
            values[":edits"] = {"L": [{"N": str(s)} for s in change.edits]}
            sets.append("edits = :edits")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        if change.version:
            condition = "ver = :ver"
            values[":ver"] = {"N": str(change.version)}
        else:
            condition = "attribute_exists(seq) AND attribute_not_exists(ver)"
        return {
            "TableName": self.table,
            "Key": ddb.encode({"conversationId": conversation_id, "seq": change.seq}),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }

    def _erase_edit(self, conversation_id: str, edit_seq: int, change: Change) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": ddb.encode({"conversationId": conversation_id, "seq": edit_seq}),
            "UpdateExpression": "SET body = :body",
            "ConditionExpression": "attribute_exists(seq)",
            "ExpressionAttributeValues": {":body": {"S": compact_json(erased_edit(change.seq))}},
        }

    def _erase_attachment(self, attachment_id: str, now: int) -> dict[str, Any]:
        # No condition: a record that is somehow gone comes back only as an `erased` stub
        # without name or type, which the erasure queue then removes with the object.
        return {
            "TableName": self.attachments_table,
            "Key": ddb.key(attachmentId=attachment_id),
            "UpdateExpression": (
                "SET #state = :erased, erasedAt = :now REMOVE #name, contentType, expiresAt"
            ),
            "ExpressionAttributeNames": {"#state": "state", "#name": "name"},
            "ExpressionAttributeValues": ddb.encode({":erased": "erased", ":now": now}),
        }


def _cancelled(exc: Any) -> EventOutcome:
    """Why the transaction was cancelled: the seq was taken (re-read the newest), the target
    changed under us (re-read it), or a concurrent transaction touched an item (retry)."""
    reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
    seq_reason, target_reason = [*reasons, "None", "None"][:2]
    if seq_reason == "ConditionalCheckFailed":
        return EventOutcome.SEQ_TAKEN
    if target_reason == "ConditionalCheckFailed":
        return EventOutcome.TARGET_CHANGED
    if "TransactionConflict" in reasons:
        return EventOutcome.TARGET_CHANGED
    raise Unavailable() from exc
