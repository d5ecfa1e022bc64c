"""AttachmentsTable: `attachmentId` (S); a pending record expires (TTL `expiresAt`).

The claim of a `file` message is one `TransactWriteItems` of two items (see
docs/architecture.md, "The file send"): the message's conditional Put, exactly as a text
message's PutItem (`attribute_not_exists(seq)`), and the attachment's conditional Update
(pending, uploaded by the sender, for this conversation -> used by that seq, TTL removed).
Either both are written or neither is, so a failed claim takes no seq and a lost seq race
claims nothing.
"""

from __future__ import annotations

import time
from typing import Any, cast

from parley import ddb
from parley.errors import Unavailable
from parley.ports import ClaimOutcome
from parley.records import Attachment, Message
from parley.repositories.base import (
    Repository,
    Sleep,
    conditional,
    error_code,
    get_item,
    translate,
)
from parley.repositories.messages import encode_message

__all__ = ["AttachmentsRepository"]


class AttachmentsRepository(Repository):
    """Attachment records, and the message put that claims one."""

    def __init__(
        self,
        table: str,
        messages_table: str,
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(table, client, sleep=sleep)
        self.messages_table = messages_table

    def create(self, attachment: Attachment) -> None:
        """Store a new pending record (a fresh ULID: no condition needed)."""
        with translate():
            self.client.put_item(TableName=self.table, Item=ddb.encode(attachment))

    def get(self, attachment_id: str) -> Attachment | None:
        """The record, strongly consistent (send checks it just before the claim)."""
        found = get_item(
            self.client, self.table, ddb.key(attachmentId=attachment_id), ConsistentRead=True
        )
        return cast(Attachment, found) if found else None

    def remove_erased(self, attachment_id: str) -> bool:
        """DeleteItem on condition `state = erased`: the erase function's last step, after
        the object is gone (a redelivered erasure finds no record and stops)."""
        return conditional(
            self.client.delete_item,
            TableName=self.table,
            Key=ddb.key(attachmentId=attachment_id),
            ConditionExpression="#state = :erased",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=ddb.encode({":erased": "erased"}),
        )

    def put_message_claiming(
        self, message: Message, own: dict[str, int] | None, attachment_id: str, n: int | None = None
    ) -> ClaimOutcome:
        """Put `message` and mark the attachment used by it, in one transaction."""
        from botocore.exceptions import ClientError

        claim = {
            "TableName": self.table,
            "Key": ddb.key(attachmentId=attachment_id),
            "UpdateExpression": "SET #state = :used, seq = :seq REMOVE expiresAt",
            "ConditionExpression": (
                "#state = :pending AND uploaderId = :me AND conversationId = :c"
            ),
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": ddb.encode(
                {
                    ":used": "used",
                    ":pending": "pending",
                    ":seq": message["seq"],
                    ":me": message["senderId"],
                    ":c": message["conversationId"],
                }
            ),
        }
        put = {
            "TableName": self.messages_table,
            "Item": encode_message(message, own, n),
            "ConditionExpression": "attribute_not_exists(seq)",
        }
        try:
            with translate():
                self.client.transact_write_items(TransactItems=[{"Put": put}, {"Update": claim}])
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            return _cancelled(exc)
        return ClaimOutcome.STORED


def _cancelled(exc: Any) -> ClaimOutcome:
    """Why the transaction was cancelled: the seq (retry), the claim (refuse), or a
    concurrent transaction on one of the items (retryable, as throttling is)."""
    reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
    seq_reason, claim_reason = [*reasons, "None", "None"][:2]
    if seq_reason == "ConditionalCheckFailed":
        # Whatever the claim said: another message took the seq, and the retry re-reads
        # the dedupe index first (a concurrent copy of this very send may hold the claim).
        return ClaimOutcome.SEQ_TAKEN
    if claim_reason == "ConditionalCheckFailed":
        return ClaimOutcome.REFUSED
    if "TransactionConflict" in reasons:
        return ClaimOutcome.SEQ_TAKEN
    raise Unavailable() from exc
