"""Conversations table (`conversationId`) and Members table (`conversationId` + `userId`,
GSI `byUser` projecting role and joinedSeq).

Membership changes are transactions that also append the `system` message, so the log and
the member list can never disagree.
"""

from __future__ import annotations

import time
from typing import Any, cast

from parley import ddb
from parley.errors import Conflict, ConversationNotFound, Forbidden, PayloadTooLarge
from parley.ports import ListState, SeqTaken
from parley.records import Conversation, Member, MemberEntry, Membership, Message, member_row
from parley.repositories.base import (
    AttrItem,
    AwsClient,
    Repository,
    Sleep,
    batch_get,
    conditional,
    error_code,
    get_item,
    query_all,
    translate,
)
from parley.repositories.messages import encode_message

__all__ = [
    "ConversationsRepository",
    "MembersRepository",
    "MembershipRepository",
    "SeqTaken",
    "member_row",
]

BY_USER = "byUser"


def left_marker(user_id: str, message: Message) -> dict[str, Any]:
    """The Users table item saying `user_id` left (or was removed from) the group of the
    system message `message` (the account lifecycle's `left#` items)."""
    return {
        "pk": user_id,
        "sk": "left#" + message["conversationId"],
        "at": message["ts"],
    }


class ConversationsRepository(Repository):
    """Conversation metadata: type, name, member count."""

    def get(self, conversation_id: str) -> Conversation | None:
        """One conversation, or None."""
        key = ddb.key(conversationId=conversation_id)
        return cast("Conversation | None", get_item(self.client, self.table, key))

    def get_many(self, conversation_ids: list[str]) -> dict[str, Conversation]:
        """Several conversations by id (missing ones are absent from the result)."""
        keys = [ddb.key(conversationId=c) for c in sorted(set(conversation_ids))]
        rows = batch_get(self.client, self.table, keys, sleep=self.sleep)
        return {r["conversationId"]: r for r in cast(list[Conversation], ddb.decode_all(rows))}


class MembersRepository(Repository):
    """Who belongs to which conversation, with role, joinedSeq and readSeq."""

    def get(self, conversation_id: str, user_id: str) -> Member | None:
        """The membership row (strongly consistent: a just-added member can send at once)."""
        key = ddb.key(conversationId=conversation_id, userId=user_id)
        return cast("Member | None", get_item(self.client, self.table, key, ConsistentRead=True))

    def page(
        self, conversation_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[MemberEntry], str | None]:
        """A page of members in userId order and the userId to continue after (or None)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "conversationId = :c",
            "ExpressionAttributeValues": ddb.encode({":c": conversation_id}),
            "ProjectionExpression": "userId, #r, joinedSeq",
            "ExpressionAttributeNames": {"#r": "role"},
            "Limit": limit,
        }
        if start_after is not None:
            kwargs["ExclusiveStartKey"] = ddb.key(
                conversationId=conversation_id, userId=start_after
            )
        with translate():
            page = self.client.query(**kwargs)
        rows = cast(list[MemberEntry], ddb.decode_all(page.get("Items", [])))
        last = page.get("LastEvaluatedKey")
        return rows, (ddb.decode(last)["userId"] if last else None)

    def all(self, conversation_id: str) -> list[MemberEntry]:
        """Every member (userId, role, joinedSeq) of a conversation."""
        items = query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="conversationId = :c",
            ExpressionAttributeValues=ddb.encode({":c": conversation_id}),
            ProjectionExpression="userId, #r, joinedSeq",
            ExpressionAttributeNames={"#r": "role"},
        )
        return cast(list[MemberEntry], ddb.decode_all(items))

    def for_user(self, user_id: str) -> list[Membership]:
        """The user's memberships (conversationId, role, joinedSeq) via the `byUser` index."""
        items = query_all(
            self.client,
            TableName=self.table,
            IndexName=BY_USER,
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues=ddb.encode({":u": user_id}),
        )
        return cast(list[Membership], ddb.decode_all(items))

    def present(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (conversationId, userId) pairs are members: one BatchGetItem per 100 keys
        (presence's shared-conversation check, protocol 13)."""
        keys = [ddb.key(conversationId=c, userId=u) for c, u in sorted(set(pairs))]
        rows = ddb.decode_all(
            batch_get(
                self.client,
                self.table,
                keys,
                sleep=self.sleep,
                ProjectionExpression="conversationId, userId",
            )
        )
        return {(str(r["conversationId"]), str(r["userId"])) for r in rows}

    def read_seqs(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        """The user's readSeq in each conversation (base table: readSeq is not projected)."""
        keys = [ddb.key(conversationId=c, userId=user_id) for c in sorted(set(conversation_ids))]
        rows = ddb.decode_all(
            batch_get(
                self.client,
                self.table,
                keys,
                sleep=self.sleep,
                ProjectionExpression="conversationId, readSeq",
            )
        )
        return {r["conversationId"]: int(r.get("readSeq", 0)) for r in rows}

    def for_user_page(
        self, user_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[Membership], str | None]:
        """A page of the user's memberships (the `byUser` index, conversationId order) and
        the conversationId to continue after, None on the last page. Reads one item more
        than the page, so that a page that ends the list says so (no empty last page)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_USER,
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": ddb.encode({":u": user_id}),
            "Limit": limit + 1,
        }
        if start_after is not None:
            kwargs["ExclusiveStartKey"] = ddb.key(userId=user_id, conversationId=start_after)
        items: list[AttrItem] = []
        for item in query_all(self.client, **kwargs):
            items.append(item)
            if len(items) > limit:
                break
        rows = cast(list[Membership], ddb.decode_all(items[:limit]))
        more = len(items) > limit
        return rows, (rows[-1]["conversationId"] if more and rows else None)

    def list_states(self, user_id: str, conversation_ids: list[str]) -> dict[str, ListState]:
        """readSeq and `muted` of the user's rows (base table: neither is projected)."""
        keys = [ddb.key(conversationId=c, userId=user_id) for c in sorted(set(conversation_ids))]
        rows = ddb.decode_all(
            batch_get(
                self.client,
                self.table,
                keys,
                sleep=self.sleep,
                ProjectionExpression="conversationId, readSeq, muted",
            )
        )
        return {
            r["conversationId"]: ListState(int(r.get("readSeq", 0)), bool(r.get("muted", False)))
            for r in rows
        }

    def mute_states(self, conversation_id: str, user_ids: list[str]) -> dict[str, bool]:
        """`muted` of these users' rows (absent: not a member), one BatchGetItem per 100."""
        keys = [ddb.key(conversationId=conversation_id, userId=u) for u in sorted(set(user_ids))]
        rows = ddb.decode_all(
            batch_get(
                self.client,
                self.table,
                keys,
                sleep=self.sleep,
                ProjectionExpression="userId, muted",
            )
        )
        return {r["userId"]: bool(r.get("muted", False)) for r in rows}

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        """Set `muted` on the member's row; False when there is no row (not a member)."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(conversationId=conversation_id, userId=user_id),
            UpdateExpression="SET muted = :m",
            ConditionExpression="attribute_exists(userId)",
            ExpressionAttributeValues={":m": {"BOOL": muted}},
        )

    def advance_read(self, conversation_id: str, user_id: str, seq: int) -> bool:
        """Move readSeq forward to `seq` (never back); False if it was already there or beyond."""
        return conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(conversationId=conversation_id, userId=user_id),
            UpdateExpression="SET readSeq = :s",
            ConditionExpression="attribute_exists(userId) AND readSeq < :s",
            ExpressionAttributeValues=ddb.encode({":s": seq}),
        )

    def set_blocked(self, conversation_id: str, user_id: str, blocked: bool) -> None:
        """Mark a direct-conversation member as blocked from writing (no-op if absent)."""
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=ddb.key(conversationId=conversation_id, userId=user_id),
            UpdateExpression="SET blocked = :b",
            ConditionExpression="attribute_exists(userId)",
            ExpressionAttributeValues=ddb.encode({":b": blocked}),
        )


class MembershipRepository(AwsClient):
    """Transactions across Conversations, Members and Messages."""

    def __init__(
        self,
        conversations_table: str,
        members_table: str,
        messages_table: str,
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
        users_table: str | None = None,
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.conversations_table = conversations_table
        self.members_table = members_table
        self.messages_table = messages_table
        # Where a removal leaves its `left#` marker (account erasure finds the group by it);
        # None: no marker (tests of the other items).
        self.users_table = users_table

    def create_dm(self, conversation: Conversation, members: list[Member]) -> bool:
        """Create a direct conversation and its member rows; False if it already existed."""
        from botocore.exceptions import ClientError

        items = [
            {
                "Put": {
                    "TableName": self.conversations_table,
                    "Item": ddb.encode(conversation),
                    "ConditionExpression": "attribute_not_exists(conversationId)",
                }
            },
            *self._member_puts(members),
        ]
        try:
            with translate():
                self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    def create_group(
        self,
        conversation: Conversation,
        message: Message,
        members: list[Member],
    ) -> None:
        """Create a group with its first members and the `group_created` message (seq 1)."""
        items = [
            {
                "Put": {
                    "TableName": self.conversations_table,
                    "Item": ddb.encode(conversation),
                    "ConditionExpression": "attribute_not_exists(conversationId)",
                }
            },
            {
                "Put": {
                    "TableName": self.messages_table,
                    "Item": encode_message(message, n=0),
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            },
        ] + [{"Put": {"TableName": self.members_table, "Item": ddb.encode(m)}} for m in members]
        with translate():
            self.client.transact_write_items(TransactItems=items)

    def change(
        self,
        conversation_id: str,
        message: Message,
        *,
        add: list[Member] | None = None,
        remove: list[str] | None = None,
        set_role: tuple[str, str] | None = None,
        demote: str | None = None,
        max_members: int,
        n: int | None = None,
    ) -> None:
        """Apply one membership change together with its system message (`n`: the running
        count of countable messages, which a system message does not add to).

        Raises :class:`SeqTaken` when the message's seq was taken (the caller re-reads and
        retries), :class:`Conflict` when an added user is already a member,
        :class:`PayloadTooLarge` when the group would exceed `max_members`, and
        :class:`Forbidden`/:class:`ConversationNotFound` when the target vanished meanwhile.
        """
        from botocore.exceptions import ClientError

        add = add or []
        remove = remove or []
        delta = len(add) - len(remove)
        conv_update: dict[str, Any] = {
            "TableName": self.conversations_table,
            "Key": ddb.key(conversationId=conversation_id),
            "UpdateExpression": "ADD memberCount :d",
            "ConditionExpression": "attribute_exists(conversationId)",
            "ExpressionAttributeValues": ddb.encode({":d": delta}),
        }
        if delta > 0:
            conv_update["ConditionExpression"] += " AND memberCount <= :room"
            conv_update["ExpressionAttributeValues"].update(
                ddb.encode({":room": max_members - delta})
            )
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.messages_table,
                    "Item": encode_message(message, n=n),
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            },
            {"Update": conv_update},
        ]
        items += self._member_puts(add)
        for user_id in remove:
            items.append(
                {
                    "Delete": {
                        "TableName": self.members_table,
                        "Key": ddb.key(conversationId=conversation_id, userId=user_id),
                        "ConditionExpression": "attribute_exists(userId)",
                    }
                }
            )
        if set_role is not None:
            user_id, role = set_role
            items.append(
                {
                    "Update": {
                        "TableName": self.members_table,
                        "Key": ddb.key(conversationId=conversation_id, userId=user_id),
                        "UpdateExpression": "SET #r = :r",
                        "ConditionExpression": "attribute_exists(userId)",
                        "ExpressionAttributeNames": {"#r": "role"},
                        "ExpressionAttributeValues": ddb.encode({":r": role}),
                    }
                }
            )
        if demote is not None:
            # Handing ownership over: the previous owner becomes an admin in the same write.
            items.append(
                {
                    "Update": {
                        "TableName": self.members_table,
                        "Key": ddb.key(conversationId=conversation_id, userId=demote),
                        "UpdateExpression": "SET #r = :admin",
                        "ConditionExpression": "#r = :owner",
                        "ExpressionAttributeNames": {"#r": "role"},
                        "ExpressionAttributeValues": ddb.encode(
                            {":admin": "admin", ":owner": "owner"}
                        ),
                    }
                }
            )
        if self.users_table is not None:
            # Unconditional, after every conditioned item (the cancellation reasons' indexes
            # above stay as they are): the user's marker of the group left, so that erasing
            # their account later still finds the messages they wrote in it.
            items += [
                {
                    "Put": {
                        "TableName": self.users_table,
                        "Item": ddb.encode(left_marker(u, message)),
                    }
                }
                for u in remove
            ]
        try:
            with translate():
                self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if not failed:
                raise
            if 0 in failed:
                raise SeqTaken() from None
            if 1 in failed:
                if delta > 0:
                    raise PayloadTooLarge(f"a group has at most {max_members} members") from None
                raise ConversationNotFound() from None
            if add and any(2 <= i < 2 + len(add) for i in failed):
                raise Conflict("already a member") from None
            raise Forbidden("not a member") from None

    def _member_puts(self, rows: list[Member]) -> list[dict[str, Any]]:
        """Transaction items putting new member rows (refused for a user already in)."""
        return [
            {
                "Put": {
                    "TableName": self.members_table,
                    "Item": ddb.encode(row),
                    "ConditionExpression": "attribute_not_exists(userId)",
                }
            }
            for row in rows
        ]

    def add_rows(self, conversation_id: str, rows: list[Member], max_members: int) -> None:
        """Add member rows that follow an addition's system message (issue 15: one message
        per request): one transaction of the rows (at most 99) and the `memberCount`
        increment, with the size limit as its condition.

        Raises :class:`PayloadTooLarge` past `max_members`, :class:`ConversationNotFound`
        when the group vanished, :class:`Conflict` when a user already is a member.
        """
        from botocore.exceptions import ClientError

        if not rows:
            return
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.conversations_table,
                    "Key": ddb.key(conversationId=conversation_id),
                    "UpdateExpression": "ADD memberCount :d",
                    "ConditionExpression": "attribute_exists(conversationId) "
                    "AND memberCount <= :room",
                    "ExpressionAttributeValues": ddb.encode(
                        {":d": len(rows), ":room": max_members - len(rows)}
                    ),
                }
            }
        ]
        items += self._member_puts(rows)
        try:
            with translate():
                self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise PayloadTooLarge(f"a group has at most {max_members} members") from None
            if "ConditionalCheckFailed" in reasons:
                raise Conflict("already a member") from None
            raise
