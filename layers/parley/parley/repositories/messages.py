"""Messages table: `conversationId` + `seq` (N); LSI `byClientMsgId` on `dedupeKey`.

The LSI shares the table's partition and so supports strongly consistent reads: that is
what lets a single conditional PutItem be both ordered and idempotent (see
docs/architecture.md, "The send write").

A direct-conversation message also carries `own`, a map from each member who has sent in
the conversation to the seq of their newest message (as of this message): the newest
item's map gives every sender's readSeq without a write per send (docs/architecture.md,
"The sender's readSeq"). It is internal: :func:`decode_message` leaves it out of every
message handed to a client.
"""

from __future__ import annotations

import json
from typing import Any

from parley import ddb
from parley.concurrency import parallel_map
from parley.ports import Newest
from parley.records import Message, StoredMessage, is_countable
from parley.repositories.base import AttrItem, Repository, batch_get, conditional, translate
from parley.wire import compact_json

__all__ = [
    "BY_CLIENT_MSG_ID",
    "MessagesRepository",
    "Newest",
    "decode_message",
    "decode_stored",
    "dedupe_key",
    "encode_message",
]

BY_CLIENT_MSG_ID = "byClientMsgId"


def dedupe_key(sender_id: str, client_msg_id: str) -> str:
    """The `byClientMsgId` sort key: one sender's clientMsgId within a conversation."""
    return f"{sender_id}#{client_msg_id}"


def encode_message(
    message: Message, own: dict[str, int] | None = None, n: int | None = None
) -> AttrItem:
    """A message as a DynamoDB item: the body kept as compact JSON text, a direct message's
    `own` as a map of N, the running count `n` when given (protocol 9.2's unread)."""
    item = {
        "conversationId": message["conversationId"],
        "seq": message["seq"],
        "messageId": message["messageId"],
        "senderId": message["senderId"],
        "clientMsgId": message["clientMsgId"],
        "dedupeKey": dedupe_key(message["senderId"], message["clientMsgId"]),
        "body": compact_json(message["body"]),
        "ts": message["ts"],
        "n": n,
    }
    encoded = ddb.encode(item)
    if own is not None:
        encoded["own"] = {"M": {user: {"N": str(int(seq))} for user, seq in own.items()}}
    return encoded


STATE_FIELDS = ("edited", "deleted", "reactions")
"""A message's current-state attributes (protocol 9.2), each stored as compact JSON text."""


def decode_own(item: AttrItem) -> dict[str, int]:
    """The `own` map of a stored item; {} for messages stored without one (groups, and
    direct messages written before the map existed)."""
    raw = item.get("own", {}).get("M", {})
    return {user: int(value["N"]) for user, value in raw.items()}


def decode_n(item: AttrItem) -> int | None:
    """The running count of countable messages; None for an item stored before counts."""
    raw = item.get("n")
    return int(raw["N"]) if raw is not None else None


def decode_message(item: AttrItem) -> Message:
    """A stored item as the protocol's `message` fields in its current state (never the
    internal `own`, `n`, `edits` or `ver`)."""
    message: Message = {
        "conversationId": item["conversationId"]["S"],
        "seq": int(item["seq"]["N"]),
        "messageId": item["messageId"]["S"],
        "senderId": item["senderId"]["S"],
        "clientMsgId": item["clientMsgId"]["S"],
        "body": json.loads(item["body"]["S"]),
        "ts": int(item["ts"]["N"]),
    }
    for name in STATE_FIELDS:
        if name in item:
            message[name] = json.loads(item[name]["S"])  # type: ignore[literal-required]
    return message


def decode_stored(item: AttrItem) -> StoredMessage:
    """A stored item with its internal attributes (an event's target, read before its
    update: `edits` to erase on delete, `ver` to condition the update on)."""
    stored: StoredMessage = {**decode_message(item)}  # type: ignore[typeddict-item]
    n = decode_n(item)
    if n is not None:
        stored["n"] = n
    if "edits" in item:
        stored["edits"] = [int(v["N"]) for v in item["edits"]["L"]]
    stored["ver"] = int(item["ver"]["N"]) if "ver" in item else 0
    if "own" in item:
        stored["own"] = decode_own(item)
    return stored


class MessagesRepository(Repository):
    """Append-only per-conversation logs."""

    def last_seq(self, conversation_id: str) -> int:
        """The highest stored seq (0 for none), read with strong consistency."""
        return self.newest(conversation_id).seq

    def newest(self, conversation_id: str) -> Newest:
        """The highest stored seq and its message's `own` map, read with strong consistency.

        The same Query as :meth:`last_seq` (one item, billed by its size whatever the
        projection), with `own`, the running count `n` and `ts` (the next write's expiry of
        this message, see "Retention") projected too.
        """
        with translate():
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="conversationId = :c",
                ExpressionAttributeValues=ddb.encode({":c": conversation_id}),
                ProjectionExpression="seq, own, n, ts",
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        items = page.get("Items", [])
        if not items:
            return Newest(0, {}, 0)
        top = items[0]
        ts = int(top["ts"]["N"]) if "ts" in top else None
        return Newest(int(top["seq"]["N"]), decode_own(top), decode_n(top), ts)

    def newest_many(self, conversation_ids: list[str]) -> dict[str, Newest]:
        """`newest` of several conversations, in parallel."""
        found = parallel_map(self.newest, conversation_ids)
        return dict(zip(conversation_ids, found, strict=True))

    def find_by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> Message | None:
        """The message a sender already stored under `client_msg_id` (strongly consistent)."""
        with translate():
            page = self.client.query(
                TableName=self.table,
                IndexName=BY_CLIENT_MSG_ID,
                KeyConditionExpression="conversationId = :c AND dedupeKey = :d",
                ExpressionAttributeValues=ddb.encode(
                    {":c": conversation_id, ":d": dedupe_key(sender_id, client_msg_id)}
                ),
                ConsistentRead=True,
                Limit=1,
            )
        items = page.get("Items", [])
        # The index projects ALL: the full first copy, so a retried send re-pushes a whole
        # `message` (senderId and body included), not just the ack fields.
        return decode_message(items[0]) if items else None

    def put_if_absent(
        self, message: Message, own: dict[str, int] | None = None, n: int | None = None
    ) -> bool:
        """Store `message` (with a direct message's `own` map and the running count `n`) at
        its seq unless that seq is taken; False when it was taken."""
        return conditional(
            self.client.put_item,
            TableName=self.table,
            Item=encode_message(message, own, n),
            ConditionExpression="attribute_not_exists(seq)",
        )

    def after_with_own(
        self,
        conversation_id: str,
        after_seq: int,
        limit: int,
        consistent: bool = False,
        min_ts: int = 0,
    ) -> tuple[list[Message], dict[str, int]]:
        """Up to `limit` messages with seq > `after_seq`, ascending, and the `own` map of the
        last one returned ({} for none): when the page reaches the newest message, that is
        the conversation's current map.

        With `min_ts` (retention) messages stored before it are left out, also those TTL has
        not removed yet. DynamoDB applies `Limit` before the filter, so a page of only
        expired messages is followed by pages twice as large until `limit` kept messages
        or the end: the expired run below the oldest kept message costs a few round trips
        however long it is, and at most `limit` kept messages more are read than returned.
        """
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "conversationId = :c AND seq > :s",
            "ScanIndexForward": True,
            "ConsistentRead": consistent,
        }
        if not min_ts:
            query["ExpressionAttributeValues"] = ddb.encode(
                {":c": conversation_id, ":s": after_seq}
            )
            with translate():
                items = self.client.query(**query, Limit=limit).get("Items", [])
        else:
            query["FilterExpression"] = "ts >= :t"
            query["ExpressionAttributeValues"] = ddb.encode(
                {":c": conversation_id, ":s": after_seq, ":t": min_ts}
            )
            items = self._filtered(query, limit, grow=True)
        own = decode_own(items[-1]) if items else {}
        return [decode_message(i) for i in items], own

    def before(
        self, conversation_id: str, before_seq: int, min_seq: int, limit: int, min_ts: int = 0
    ) -> list[Message]:
        """Up to `limit` messages with `min_seq` <= seq < `before_seq`, ascending.

        With `min_ts` (retention) only messages stored at or after it: read downwards, the
        first one past retention ends the page (everything below is older), so a page
        shorter than `limit` means nothing older is kept.
        """
        if before_seq <= min_seq:
            return []
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "conversationId = :c AND seq BETWEEN :lo AND :hi",
            "ScanIndexForward": False,
        }
        values: dict[str, Any] = {":c": conversation_id, ":lo": min_seq, ":hi": before_seq - 1}
        if not min_ts:
            query["ExpressionAttributeValues"] = ddb.encode(values)
            with translate():
                items = self.client.query(**query, Limit=limit).get("Items", [])
        else:
            query["FilterExpression"] = "ts >= :t"
            query["ExpressionAttributeValues"] = ddb.encode({**values, ":t": min_ts})
            items = self._filtered(query, limit, grow=False)
        return [decode_message(i) for i in reversed(items)]

    def count_below_kept(
        self, conversation_id: str, after_seq: int, min_ts: int
    ) -> tuple[int, int | None] | None:
        """The oldest message above `after_seq` stored at or after `min_ts` (retention): its
        seq and the running count just below it (its `n` less itself when countable; None
        for a message stored before counts), or None when no message above is kept."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "conversationId = :c AND seq > :s",
            "FilterExpression": "ts >= :t",
            "ProjectionExpression": "seq, n, body",
            "ExpressionAttributeValues": ddb.encode(
                {":c": conversation_id, ":s": after_seq, ":t": min_ts}
            ),
            "ScanIndexForward": True,
        }
        found = self._filtered(query, 1, grow=True)
        if not found:
            return None
        top = found[0]
        n = decode_n(top)
        countable = is_countable(json.loads(top["body"]["S"]))
        return int(top["seq"]["N"]), None if n is None else n - (1 if countable else 0)

    def _filtered(self, query: dict[str, Any], limit: int, *, grow: bool) -> list[AttrItem]:
        """Up to `limit` items of a Query with a retention FilterExpression, paged past
        DynamoDB's Limit-before-filter. Ascending (`grow`): pages of only expired items are
        skipped with pages twice as large. Descending: the first expired item ends it (the
        pages below are older), and a page cut short by DynamoDB's 1 MB is continued, so
        a short result always means the kept messages ended."""
        items: list[AttrItem] = []
        page_limit = limit
        start: AttrItem | None = None
        while len(items) < limit:
            extra = {"ExclusiveStartKey": start} if start is not None else {}
            with translate():
                page = self.client.query(**query, Limit=page_limit, **extra)
            found = page.get("Items", [])
            items.extend(found)
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
            if grow and not found:
                page_limit *= 2
                continue
            if not grow and page.get("ScannedCount", 0) > len(found):
                break
            page_limit = limit - len(items)
        return items[:limit]

    def expire(self, conversation_id: str, seq: int, expires_at: int) -> bool:
        """Set a stored message's TTL `expiresAt` (epoch seconds; retention): only on a
        message that exists, so a race with TTL itself never recreates a stub item."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
            UpdateExpression="SET expiresAt = :e",
            ConditionExpression="attribute_exists(seq)",
            ExpressionAttributeValues=ddb.encode({":e": expires_at}),
        )

    def get(self, conversation_id: str, seq: int) -> Message | None:
        """One message in its current state (strongly consistent GetItem), None if absent."""
        with translate():
            found = self.client.get_item(
                TableName=self.table,
                Key=ddb.encode({"conversationId": conversation_id, "seq": seq}),
                ConsistentRead=True,
            )
        item = found.get("Item")
        return decode_message(item) if item else None

    def counts_at(self, positions: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        """The running count `n` of each (conversationId, seq) given (BatchGetItem of the
        key and `n` only); None for a message stored before counts, absent for no message."""
        keys = [
            ddb.encode({"conversationId": cid, "seq": seq}) for cid, seq in sorted(set(positions))
        ]
        if not keys:
            return {}
        items = batch_get(
            self.client,
            self.table,
            keys,
            sleep=self.sleep,
            ProjectionExpression="conversationId, seq, n",
        )
        return {(i["conversationId"]["S"], int(i["seq"]["N"])): decode_n(i) for i in items}
