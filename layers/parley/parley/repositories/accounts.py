"""Account lifecycle (protocol 12): the deleted mark, the markers of groups left, export
records (all in the Users table, beside the profile), a sender's messages (the Messages
table), and the account jobs queue.

Users table items besides the profile and the blocks (docs/architecture.md, "Account
erasure and export"):

* `sk` = `left#<conversationId>`: the user left or was removed from that group (written in
  the transaction that deletes the member row), so an erasure still finds the group;
* `sk` = `export#<exportId>`: an export, `status` pending or ready, TTL `expiresAt`.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

from parley import ddb
from parley.records import AccountJob, ExportRecord, Message
from parley.repositories.base import (
    AwsClient,
    Repository,
    Sleep,
    conditional,
    get_item,
    query_all,
    translate,
)
from parley.repositories.messages import decode_message

__all__ = [
    "EXPORT",
    "LEFT",
    "AccountJobsQueue",
    "AccountsRepository",
    "SentMessagesRepository",
    "job_body",
]

PROFILE = "profile"
BLOCK = "block#"
LEFT = "left#"
EXPORT = "export#"


def job_body(job: AccountJob) -> str:
    """The queue message of a job (compact JSON: ids and a cursor, never content)."""
    return json.dumps(job, separators=(",", ":"))


class AccountsRepository(Repository):
    """The Users table's account lifecycle items."""

    def mark_deleted(self, user_id: str, now: int) -> bool:
        """The commit of an account's deletion: the profile stays (the userId stays taken)
        without its password hash, names, last seen or suspension, with `deletedAt`.
        False for an unknown user or one already deleted."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=PROFILE),
            UpdateExpression="SET deletedAt = :now REMOVE passwordHash, displayName, lastSeen, "
            "identityProvider, suspended, suspendedReason",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deletedAt)",
            ExpressionAttributeValues=ddb.encode({":now": now}),
        )

    def is_deleted(self, user_id: str) -> bool:
        """Whether the profile carries the deleted mark (strongly consistent)."""
        item = get_item(
            self.client,
            self.table,
            ddb.key(pk=user_id, sk=PROFILE),
            ProjectionExpression="deletedAt",
            ConsistentRead=True,
        )
        return item is not None and "deletedAt" in item

    def _suffixes(self, user_id: str, prefix: str) -> list[str]:
        items = query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :u AND begins_with(sk, :p)",
            ExpressionAttributeValues=ddb.encode({":u": user_id, ":p": prefix}),
            ProjectionExpression="sk",
        )
        return [ddb.decode(i)["sk"][len(prefix) :] for i in items]

    def blocked_users(self, user_id: str) -> list[str]:
        """Every userId `user_id` blocks."""
        return self._suffixes(user_id, BLOCK)

    def left_groups(self, user_id: str) -> list[str]:
        """Every group the user left or was removed from (since markers exist)."""
        return self._suffixes(user_id, LEFT)

    def put_export(self, user_id: str, record: ExportRecord) -> None:
        """Store a new export record (pending)."""
        item = {"pk": user_id, "sk": EXPORT + record["exportId"], **record}
        with translate():
            self.client.put_item(TableName=self.table, Item=ddb.encode(item))

    def exports(self, user_id: str) -> list[ExportRecord]:
        """The user's export records (a few: they expire after a day)."""
        items = query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :u AND begins_with(sk, :p)",
            ExpressionAttributeValues=ddb.encode({":u": user_id, ":p": EXPORT}),
        )
        return [self._record(ddb.decode(i)) for i in items]

    def get_export(self, user_id: str, export_id: str) -> ExportRecord | None:
        """One of the user's export records, or None (another user's id is None too)."""
        item = get_item(
            self.client, self.table, ddb.key(pk=user_id, sk=EXPORT + export_id), ConsistentRead=True
        )
        return self._record(item) if item is not None else None

    def export_ready(self, user_id: str, export_id: str, key: str) -> bool:
        """Mark the record ready with its object's key; False when it is gone (expired)."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(pk=user_id, sk=EXPORT + export_id),
            UpdateExpression="SET #s = :ready, objectKey = :k",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=ddb.encode({":ready": "ready", ":k": key}),
        )

    @staticmethod
    def _record(item: dict[str, Any]) -> ExportRecord:
        fields = ("exportId", "status", "createdAt", "expiresAt", "objectKey")
        return cast(ExportRecord, {k: item[k] for k in fields if k in item})


class SentMessagesRepository(Repository):
    """A sender's messages in one conversation, in seq order, a page at a time."""

    def sent_page(
        self, conversation_id: str, sender: str, after_seq: int, limit: int
    ) -> tuple[list[Message], int | None]:
        """The messages of `sender` among the next `limit` items after `after_seq` (a Query
        filtered on senderId: the filter saves the transfer, not the read), and the seq to
        continue after, None at the end of the conversation."""
        with translate():
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="conversationId = :c AND seq > :s",
                FilterExpression="senderId = :u",
                ExpressionAttributeValues=ddb.encode(
                    {":c": conversation_id, ":s": after_seq, ":u": sender}
                ),
                Limit=limit,
            )
        found = [decode_message(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return found, (int(last["seq"]["N"]) if last else None)


class AccountJobsQueue(AwsClient):
    """The account jobs queue (SQS): erasures (delivered after a delay longer than the
    request that scheduled one can last), their continuations and exports."""

    service = "sqs"

    def __init__(
        self,
        queue_url: str,
        erase_delay_seconds: int,
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.queue_url = queue_url
        self.erase_delay_seconds = erase_delay_seconds

    def send(self, job: AccountJob, *, delayed: bool = False) -> None:
        """SendMessage; with `delayed`, held back for the erase delay. Throttling and faults
        raise :class:`parley.errors.Unavailable`."""
        with translate():
            self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=job_body(job),
                DelaySeconds=self.erase_delay_seconds if delayed else 0,
            )
