"""Sending: durable, gap-free, strictly visible and idempotent, in one conditional write.

The write (see docs/architecture.md, "The send write"):
1. read the conversation's highest seq `n` (strongly consistent Query, Limit 1);
2. look the (sender, clientMsgId) pair up on the `byClientMsgId` LSI (strongly
   consistent): found -> return the first copy;
3. PutItem seq `n+1` on condition `attribute_not_exists(seq)`; taken -> back to 1.

Message `n+1` is only ever written by a writer that saw `n` stored, so every seq below a
visible one is visible too (no gap can be observed), and because step 2 happens after the
read in step 1, a concurrent duplicate either sees the first copy or loses the race for
the seq it read (see the proof in the architecture doc).

The sender's readSeq (protocol 5.3.6: storing message n sets it to at least n): in a
direct conversation the message itself records it. Step 1 reads message `n` with its
`own` map (each member's newest seq), and message `n+1` stores that map with the sender's
entry set to `n+1`; the observable readSeq is the larger of the Members row and the newest
message's entry (`observed_read_seq`), so no Members write is needed. Because `n+1` is
put only after `n` was read consistently, the chain of maps is exact. Groups keep the
Members write (a map of up to 10,000 senders would not fit on every message).

A `file` message (protocol 9.1) adds, after the dedupe miss, the attachment's checks (one
consistent GetItem and a HeadObject) and replaces step 3's PutItem with a TransactWriteItems
of the same Put and the attachment's claim (docs/architecture.md, "The file send"); text and
custom messages keep the single PutItem.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from parley import ids
from parley.clock import Clock
from parley.concurrency import gather, submit
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    InvalidParam,
    MessageSendFailed,
    UserNotFound,
)
from parley.ports import (
    ClaimOutcome,
    Conversations,
    ErasureQueue,
    Members,
    MembershipWriter,
    Messages,
    Newest,
    Users,
)
from parley.records import Conversation, Member, Message, member_row
from parley.roles import MEMBER
from parley.services.limits import RateLimiter
from parley.services.push import PushService

if TYPE_CHECKING:
    from parley.models import SendFrame
    from parley.services.attachments import AttachmentService

MAX_ATTEMPTS = 25
Logger = Callable[..., None]


def _is_dm(conversation_id: str) -> bool:
    return ids.conversation_type(conversation_id) == "dm"


class Sent(NamedTuple):
    """The stored message (the first copy for a retried clientMsgId) and whether this send
    was such a retry."""

    message: Message
    duplicate: bool


@dataclass(eq=False, kw_only=True)
class MessageService:
    """Stores messages in order and hands them to the push service."""

    messages: Messages
    members: Members
    conversations: Conversations
    membership: MembershipWriter
    users: Users
    push: PushService
    clock: Clock
    on_push_error: Logger | None = None
    limiter: RateLimiter | None = None
    files: AttachmentService | None = None  # None: `file` bodies are refused (1001)
    erasures: ErasureQueue | None = None  # removes a deleted file's object (protocol 9.2)

    def send(
        self,
        sender: str,
        frame: SendFrame,
        *,
        connection_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Sent:
        """Store a message (or find the first copy of a retried one) and push it.

        The AWS calls before the first post run in as few round trips as the write allows
        (docs/architecture.md, "The send write"): the rate limit, the membership row and
        the newest seq together; the dedupe lookup; the put; the recipients' connections;
        in a group the sender's readSeq moves in parallel with the push (in a direct
        conversation the stored message carries it: no write).
        """
        if frame.to is not None:
            conversation_id = ids.dm_id(sender, frame.to)
        else:
            conversation_id = ids.check_conversation_id(frame.conversationId)
        limiter = self.limiter
        reads: list[Callable[[], Any]] = [
            lambda: self.members.get(conversation_id, sender),
            lambda: self._newest(conversation_id),
        ]
        if limiter is not None:
            # First, so a refusal is the error raised even if a read failed too.
            reads.insert(0, lambda: limiter.send(sender))
        *_, member, newest = gather(*reads)
        if member is None:
            member = self._join_direct_or_refuse(sender, conversation_id, via_to=frame.to)
        if member.get("blocked"):
            raise Forbidden("not allowed to write to this conversation")
        body = frame.body.model_dump()
        attachment_id = body.get("attachmentId") if body.get("type") == "file" else None
        if attachment_id is not None and self.files is None:
            raise InvalidParam("file messages are not enabled")
        message, duplicate = self.append(
            conversation_id,
            sender,
            frame.clientMsgId,
            body,
            newest,
            attachment_id=attachment_id,
        )
        # In a group, the sender's readSeq and the push are independent: the write runs
        # beside the push (on the I/O pool; the push stays on this thread, so no pool task
        # waits on another), and its failure still fails the send (the retry finds the
        # message). In a direct conversation the message's `own` map already moved it.
        advanced = (
            None
            if _is_dm(conversation_id)
            else submit(self.members.advance_read, conversation_id, sender, message["seq"])
        )
        try:
            self.push.publish(
                message, exclude_connection=connection_id, correlation_id=correlation_id
            )
        except Exception as exc:
            if self.on_push_error is not None:
                self.on_push_error("push failed after store", exc_info=exc)
        if advanced is not None:
            advanced.result()
        return Sent(message, duplicate)

    def _newest(self, conversation_id: str) -> Newest:
        """The newest seq, with its `own` map in a direct conversation (groups have none).

        Groups keep the plain `last_seq` read: the same Query, without a map to decode.
        """
        if _is_dm(conversation_id):
            return self.messages.newest(conversation_id)
        return Newest(self.messages.last_seq(conversation_id), {})

    def append(
        self,
        conversation_id: str,
        sender: str,
        client_msg_id: str,
        body: dict[str, Any],
        newest: Newest | None = None,
        *,
        attachment_id: str | None = None,
    ) -> Sent:
        """The ordered, idempotent append: the stored (or first stored) message.

        In a direct conversation the stored item also carries `own`: the previous newest
        message's map with the sender's entry set to the new seq (never in the returned
        message, which is what clients see).

        With `attachment_id` (a `file` body) the attachment is checked once, after the
        first dedupe miss (a retried send answers its first copy even though the
        attachment is used by then), and claimed in the same transaction as the put.
        """
        dm = _is_dm(conversation_id)
        checked = False
        for attempt in range(MAX_ATTEMPTS):
            if newest is None:
                newest = self._newest(conversation_id)
            existing = self.messages.find_by_client_id(conversation_id, sender, client_msg_id)
            if existing is not None:
                first = existing["body"]
                if attachment_id is not None and first.get("type") == "file":
                    # The first send may have stored the claim and then failed to lift the
                    # pending expiry: the retry lifts it (idempotent).
                    self._files().claimed(str(first["attachmentId"]))
                return Sent(existing, True)
            if attachment_id is not None and not checked:
                body = self._file_body(conversation_id, sender, attachment_id, body)
                checked = True
            now = self.clock.now_ms()
            message: Message = {
                "conversationId": conversation_id,
                "seq": newest.seq + 1,
                "messageId": ids.new_ulid(now),
                "senderId": sender,
                "clientMsgId": client_msg_id,
                "body": body,
                "ts": now,
            }
            own = {**newest.own, sender: newest.seq + 1} if dm else None
            if attachment_id is None:
                if self.messages.put_if_absent(message, own):
                    return Sent(message, False)
            elif self._put_claiming(message, own, attachment_id):
                self._files().claimed(attachment_id)
                return Sent(message, False)
            newest = None
            # Another writer took the seq: back off a little so a hot conversation converges.
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise MessageSendFailed("conversation busy; retry with the same clientMsgId")

    def _files(self) -> AttachmentService:
        if self.files is None:
            raise InvalidParam("file messages are not enabled")
        return self.files

    def _file_body(
        self, conversation_id: str, sender: str, attachment_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The stored `file` body: the attachment's name, size and type beside the id and
        the optional caption (protocol 9.1)."""
        attachment = self._files().claimable(sender, conversation_id, attachment_id)
        stored: dict[str, Any] = {
            "type": "file",
            "attachmentId": attachment_id,
            "name": attachment["name"],
            "size": attachment["size"],
            "contentType": attachment["contentType"],
        }
        if body.get("caption") is not None:
            stored["caption"] = body["caption"]
        return stored

    def _put_claiming(
        self, message: Message, own: dict[str, int] | None, attachment_id: str
    ) -> bool:
        """The transaction of the put and the claim: True when stored, False when the seq
        was taken (retry); a refused claim (a concurrent message took the attachment)
        stores nothing and answers 1001."""
        outcome = self._files().attachments.put_message_claiming(message, own, attachment_id)
        if outcome is ClaimOutcome.REFUSED:
            raise InvalidParam("attachment is already used by another message")
        return outcome is ClaimOutcome.STORED

    def _join_direct_or_refuse(
        self, sender: str, conversation_id: str, via_to: str | None
    ) -> Member:
        """Create a direct conversation on first use; otherwise explain why sender can't write."""
        if ids.conversation_type(conversation_id) == "group":
            if self.conversations.get(conversation_id) is None:
                raise ConversationNotFound()
            raise Forbidden("not a member of this conversation")
        a, b = ids.dm_members(conversation_id)
        if sender not in (a, b):
            raise Forbidden("not a member of this conversation")
        other = b if sender == a else a
        if other != sender and not self.users.existing([other]):
            if via_to is not None:
                raise UserNotFound(f"user {other!r} does not exist")
            raise ConversationNotFound()
        blocked_by_other, blocks_other = (
            gather(
                lambda: self.users.is_blocked(other, sender),
                lambda: self.users.is_blocked(sender, other),
            )
            if other != sender
            else (False, False)
        )
        if blocked_by_other:
            raise Forbidden("not allowed to write to this conversation")
        now = self.clock.now_ms()
        rows = [member_row(conversation_id, u, MEMBER, 1, now) for u in sorted({a, b})]
        for row in rows:
            if blocks_other and row["userId"] == other:
                # A blocker may open the conversation, but the user they blocked still cannot
                # write in it: flag that row the way `block` flags an existing one.
                row["blocked"] = True
        conversation: Conversation = {
            "conversationId": conversation_id,
            "type": "dm",
            "createdAt": now,
            "createdBy": sender,
            "memberCount": len(rows),
        }
        self.membership.create_dm(conversation, rows)
        # Created now or by a concurrent first send: either way the row exists.
        member = self.members.get(conversation_id, sender)
        if member is None:  # pragma: no cover - only if DynamoDB lost a committed write
            raise MessageSendFailed()
        return member
