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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from parley import ids
from parley.clock import Clock
from parley.concurrency import gather, submit
from parley.errors import (
    Forbidden,
    InvalidParam,
    MessageSendFailed,
    NotFound,
    ParleyError,
    UserNotFound,
)
from parley.features import NO_FLAGS, Features
from parley.ports import (
    ClaimOutcome,
    Conversations,
    ErasureQueue,
    EventOutcome,
    Events,
    Members,
    MembershipWriter,
    Messages,
    Newest,
    Users,
)
from parley.records import (
    Conversation,
    Lane,
    Member,
    Message,
    StoredMessage,
    is_countable,
    member_row,
)
from parley.roles import MEMBER
from parley.services import events as rules
from parley.services.abuse import AbuseLimits
from parley.services.budget import FanoutBudget
from parley.services.limits import RateLimiter
from parley.services.push import PushService
from parley.services.retention import Retention

if TYPE_CHECKING:
    from parley.models import SendFrame
    from parley.services.attachments import AttachmentService

MAX_ATTEMPTS = 25
EVENT_TYPES = frozenset({"edit", "delete", "reaction"})
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
    events: Events | None = None  # None: edit, delete and reaction bodies are refused (1001)
    abuse: AbuseLimits | None = None  # protocol 13: new direct conversations, repeated texts
    fanout_budget: FanoutBudget | None = None  # issue 15: member deliveries per sender
    retention: Retention | None = None  # protocol 12: MessageRetentionDays (None: forever)
    features: Features = NO_FLAGS  # issue 17: rich-message kinds switched per sender

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
        limiter = self.limiter
        try:
            if frame.to is not None:
                conversation_id = ids.dm_id(sender, frame.to)
            else:
                conversation_id = ids.check_conversation_id(frame.conversationId)
            body = frame.body.model_dump()
            kind = body["type"]
            event = kind in EVENT_TYPES
            if event and self.events is None:
                raise InvalidParam(f"{kind} messages are not enabled")
            # Issue 17: a rich-message kind switched off for this sender (1001, nothing stored).
            self.features.require_body(
                kind, sender, conversationType=ids.conversation_type(conversation_id)
            )
        except ParleyError:
            # Refused before the send limit is taken: still counted (protocol 13: malformed
            # frames count towards the limit on every route).
            if limiter is not None:
                limiter.send(sender)
            raise
        reads: list[Callable[[], Any]] = [
            lambda: self.members.get(conversation_id, sender),
            lambda: self._newest(conversation_id),
        ]
        budget = self.fanout_budget if not _is_dm(conversation_id) else None
        if budget is not None:
            # The group's member count, for the fan-out budget: read beside the others.
            reads.append(lambda: self.conversations.get(conversation_id))
        if event:
            # Read beside the others: an event costs no extra round trip before its write.
            reads.append(lambda: self._events().target(conversation_id, body["target"]))
        abuse = self.abuse
        if abuse is not None and abuse.repeated_texts and kind == "text":
            # Beside the first reads (no extra round trip): the same text into many
            # conversations (protocol 13).
            reads.insert(0, lambda: abuse.text_sent(sender, conversation_id, body["text"]))
        if limiter is not None:
            # First, so a refusal is the error raised even if a read failed too.
            reads.insert(0, lambda: limiter.send(sender))
        found = gather(*reads)
        target: StoredMessage | None = found.pop() if event else None
        group: Conversation | None = found.pop() if budget is not None else None
        member, newest = found[-2], found[-1]
        charge = None
        lane: list[Lane] = ["normal"]  # the charge's push lane (docs: "Fan-out budget")
        if budget is not None and group is not None:
            members = int(group.get("memberCount", 0))

            def charge() -> None:
                lane[0] = budget.charge(sender, members)

        if member is None:
            if event or body.get("replyTo") is not None:
                # Nothing can be targeted in a conversation the sender has no row in, and a
                # refused event must not create the direct conversation as a side effect.
                self._refuse_outsider(sender, conversation_id)
            if kind == "text" and body.get("mentions"):
                # Before the join, for the same reason (a direct conversation's members are
                # known from its id: no read).
                self._check_references(conversation_id, body, None, newest)
            member = self._join_direct_or_refuse(sender, conversation_id, via_to=frame.to)
        elif kind == "text" and not member.get("blocked"):
            self._check_references(conversation_id, body, member, newest)
        if member.get("blocked"):
            raise Forbidden("not allowed to write to this conversation")
        # The previous newest message's expiry (retention) runs beside the push, as the
        # group's readSeq write does.
        expiring: list[Future[None]] = []
        if event:
            message, duplicate = self._append_event(
                conversation_id,
                sender,
                frame.clientMsgId,
                body,
                newest,
                member,
                target,
                before_write=charge,
                expiring=expiring,
            )
        else:
            attachment_id = body.get("attachmentId") if kind == "file" else None
            if attachment_id is not None and self.files is None:
                raise InvalidParam("file messages are not enabled")
            message, duplicate = self.append(
                conversation_id,
                sender,
                frame.clientMsgId,
                body,
                newest,
                attachment_id=attachment_id,
                before_write=charge,
                expiring=expiring,
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
        if duplicate and charge is not None:
            # A retried send is not charged again, so its push takes the bulk lane: resending
            # one clientMsgId cannot put uncharged fan-outs ahead of other groups' work.
            lane[0] = "bulk"
        try:
            self.push.publish(
                message,
                exclude_connection=connection_id,
                correlation_id=correlation_id,
                lane=lane[0],
            )
        except Exception as exc:
            if self.on_push_error is not None:
                self.on_push_error("push failed after store", exc_info=exc)
        if advanced is not None:
            advanced.result()
        for future in expiring:
            future.result()  # never raises: a failed expiry is logged and counted
        return Sent(message, duplicate)

    def moderate_delete(self, admin: str, conversation_id: str, seq: int) -> Sent:
        """`DELETE /admin/conversations/{id}/messages/{seq}` (protocol 12): a `delete`
        event by the app admin `admin` (checked by the caller), who need not be a member;
        stored and pushed like any event. 2003 for an unknown conversation or seq, 1001
        for a message already deleted (or not deletable).

        The clientMsgId is derived from the seq, so a retry of a delete that committed
        finds its event (and answers 1001 like any second delete) instead of storing two.
        """
        sent = self._outsider_delete(
            admin, conversation_id, seq, f"moderation-delete-{seq}", app_admin=True
        )
        if sent.duplicate:
            raise InvalidParam("the message is already deleted")
        return sent

    def erase_delete(self, user: str, conversation_id: str, seq: int) -> Sent:
        """Account erasure (protocol 12): a `delete` event by `user` of their own message
        `seq`, whether or not they are still a member (a group they left); stored and
        pushed like any delete, a file's object erased like any file's. As for a moderated
        delete the clientMsgId is derived from the seq: a retried erasure finds its event
        (`duplicate`) instead of storing a second one. 2003 for an unknown seq, 1004 for
        another sender's message, 1001 for one already deleted or not deletable.
        """
        return self._outsider_delete(user, conversation_id, seq, f"erasure-delete-{seq}")

    def _outsider_delete(
        self,
        actor: str,
        conversation_id: str,
        seq: int,
        client_msg_id: str,
        *,
        app_admin: bool = False,
    ) -> Sent:
        """A `delete` event of `seq` by `actor` with no member row behind it (an app admin,
        or an erased account in a group it left), pushed unless it was a duplicate."""
        events = self._events()
        try:
            ids.check_conversation_id(conversation_id)
        except ParleyError:
            # Malformed or of no known kind: no message has that address (protocol 12's
            # one answer for an unknown conversation or seq).
            raise NotFound("no such message in this conversation") from None
        target = events.target(conversation_id, seq)
        if target is None:
            raise NotFound("no such message in this conversation")
        # Not a member row: a reader from seq 1 with no role (the delete rule lets an app
        # admin through whatever the role, and a sender delete their own message).
        outsider: Member = {
            "conversationId": conversation_id,
            "userId": actor,
            "role": MEMBER,
            "joinedSeq": 1,
        }
        body: dict[str, Any] = {"type": "delete", "target": seq}
        message, duplicate = self._append_event(
            conversation_id,
            actor,
            client_msg_id,
            body,
            None,
            outsider,
            target,
            app_admin=app_admin,
            reach_hidden=True,
        )
        if duplicate:
            return Sent(message, True)
        try:
            self.push.publish(message)
        except Exception as exc:
            if self.on_push_error is not None:
                self.on_push_error("push failed after store", exc_info=exc)
        return Sent(message, False)

    def _newest(self, conversation_id: str) -> Newest:
        """The newest seq, with its running count `n` and, in a direct conversation, its
        `own` map (groups have none)."""
        return self.messages.newest(conversation_id)

    def _expire_previous(
        self, conversation_id: str, previous: Newest, expiring: list[Future[None]] | None
    ) -> None:
        """Retention: message `previous.seq + 1` is stored, so `previous` may now expire
        (docs/architecture.md, "Retention"). Every append calls this once it stored its
        message: with `expiring` the update runs beside the caller's push (it waits on the
        collected future), without, it is waited on here."""
        if self.retention is None:
            return
        future = self.retention.expire_previous(conversation_id, previous)
        if future is None:
            return
        if expiring is None:
            future.result()
        else:
            expiring.append(future)

    @staticmethod
    def _count(newest: Newest, body: dict[str, Any]) -> int:
        """The running count of countable messages (protocol 9.2's unread) through the
        message after `newest`. A conversation stored before counts existed starts from the
        newest seq, which is what its unread was before."""
        base = newest.seq if newest.n is None else newest.n
        return base + (1 if is_countable(body) else 0)

    def _check_references(
        self, conversation_id: str, body: dict[str, Any], member: Member | None, newest: Newest
    ) -> None:
        """A text's `replyTo` must be a seq the sender can see (2003) and its `mentions`
        current members (1001), checked before anything is written (protocol 9.1)."""
        reply_to = body.get("replyTo")
        joined = int(member.get("joinedSeq", 1)) if member is not None else 1
        if reply_to is not None and not joined <= reply_to <= newest.seq:
            raise NotFound("replyTo: no such message in this conversation")
        mentions: list[str] | None = body.get("mentions")
        if not mentions:
            return
        if _is_dm(conversation_id):
            strangers = set(mentions) - set(ids.dm_members(conversation_id))
        else:
            rows = gather(*(lambda u=u: self.members.get(conversation_id, u) for u in mentions))
            strangers = {u for u, row in zip(mentions, rows, strict=True) if row is None}
        if strangers:
            raise InvalidParam(f"mentions: not members: {', '.join(sorted(strangers)[:10])}")

    def _refuse_outsider(self, sender: str, conversation_id: str) -> None:
        """Refuse an event or reply from a sender with no row in the conversation: 1004 as
        any send; in a direct conversation not yet created, 2003 (nothing to target)."""
        if ids.conversation_type(conversation_id) == "group":
            self._join_direct_or_refuse(sender, conversation_id, via_to=None)
        if sender not in ids.dm_members(conversation_id):
            raise Forbidden("not a member of this conversation")
        raise NotFound("no such message in this conversation")

    def _events(self) -> Events:
        if self.events is None:
            raise InvalidParam("events are not enabled")
        return self.events

    def _append_event(
        self,
        conversation_id: str,
        sender: str,
        client_msg_id: str,
        body: dict[str, Any],
        newest: Newest | None,
        member: Member,
        target: StoredMessage | None,
        *,
        before_write: Callable[[], None] | None = None,
        app_admin: bool = False,
        expiring: list[Future[None]] | None = None,
        reach_hidden: bool = False,
    ) -> Sent:
        """The ordered, idempotent append of an event with its target's change.

        As :meth:`append`, plus the target: checked against the rules (`services.events`)
        after the dedupe miss, and written in the event's transaction on the version read,
        so a concurrent event on the same target re-reads and re-plans. A refused event
        stores nothing and takes no seq. Deleting a file first schedules the erasure of its
        object (delivered after the longest a send can last), so a crash after the commit
        cannot forget it; the erasure does nothing if the delete never committed.
        """
        events = self._events()
        dm = _is_dm(conversation_id)
        joined = int(member.get("joinedSeq", 1))
        scheduled: str | None = None
        for attempt in range(MAX_ATTEMPTS):
            if newest is None:
                newest = self._newest(conversation_id)
            existing = self.messages.find_by_client_id(conversation_id, sender, client_msg_id)
            if existing is not None:
                return Sent(existing, True)
            if target is None:
                target = events.target(conversation_id, body["target"])
            if (
                target is not None
                and not reach_hidden
                and self.retention is not None
                and self.retention.hidden(target["ts"])
            ):
                # Past retention: gone for every read, so for members' events too. Deletes
                # with `reach_hidden` (moderation, account erasure) still erase what is
                # stored until TTL removes it (an idle conversation's newest message).
                target = None
            now = self.clock.now_ms()
            seq = newest.seq + 1
            change = rules.plan(
                body,
                rules.visible(target, joined),
                caller=sender,
                role=member["role"],
                group=not dm,
                event_seq=seq,
                now=now,
                app_admin=app_admin,
            )
            if before_write is not None:
                before_write()  # once: a re-plan after a lost race is not charged again
                before_write = None
            if change.erase_attachment is not None and scheduled != change.erase_attachment:
                if self.erasures is None:
                    raise InvalidParam("file messages are not enabled")
                self.erasures.schedule(change.erase_attachment)
                scheduled = change.erase_attachment
            message: Message = {
                "conversationId": conversation_id,
                "seq": seq,
                "messageId": ids.new_ulid(now),
                "senderId": sender,
                "clientMsgId": client_msg_id,
                "body": body,
                "ts": now,
            }
            # An app admin is no member: the members' read positions stay as they are.
            own = ({**newest.own} if app_admin else {**newest.own, sender: seq}) if dm else None
            outcome = events.commit(message, own, self._count(newest, body), change)
            if outcome is EventOutcome.STORED:
                self._expire_previous(conversation_id, newest, expiring)
                return Sent(message, False)
            if outcome is EventOutcome.SEQ_TAKEN:
                newest = None
            target = None
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise MessageSendFailed("conversation busy; retry with the same clientMsgId")

    def append(
        self,
        conversation_id: str,
        sender: str,
        client_msg_id: str,
        body: dict[str, Any],
        newest: Newest | None = None,
        *,
        attachment_id: str | None = None,
        before_write: Callable[[], None] | None = None,
        expiring: list[Future[None]] | None = None,
    ) -> Sent:
        """The ordered, idempotent append: the stored (or first stored) message.

        In a direct conversation the stored item also carries `own`: the previous newest
        message's map with the sender's entry set to the new seq (never in the returned
        message, which is what clients see).

        With `attachment_id` (a `file` body) the attachment is checked once, after the
        first dedupe miss (a retried send answers its first copy even though the
        attachment is used by then), and claimed in the same transaction as the put.
        `before_write` (the fan-out budget's charge) runs once, after the first dedupe
        miss too: a retried send is not charged again.
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
            if not checked:
                if attachment_id is not None:
                    body = self._file_body(conversation_id, sender, attachment_id, body)
                if before_write is not None:
                    before_write()
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
            n = self._count(newest, body)
            if attachment_id is None:
                if self.messages.put_if_absent(message, own, n):
                    self._expire_previous(conversation_id, newest, expiring)
                    return Sent(message, False)
            elif self._put_claiming(message, own, attachment_id, n):
                self._expire_previous(conversation_id, newest, expiring)
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
        self, message: Message, own: dict[str, int] | None, attachment_id: str, n: int
    ) -> bool:
        """The transaction of the put and the claim: True when stored, False when the seq
        was taken (retry); a refused claim (a concurrent message took the attachment)
        stores nothing and answers 1001."""
        outcome = self._files().attachments.put_message_claiming(message, own, attachment_id, n)
        if outcome is ClaimOutcome.REFUSED:
            raise InvalidParam("attachment is already used by another message")
        return outcome is ClaimOutcome.STORED

    def _join_direct_or_refuse(
        self, sender: str, conversation_id: str, via_to: str | None
    ) -> Member:
        """Create a direct conversation on first use; otherwise explain why sender can't write.

        A sender without a row gets 1004 for any well-formed id, whether or not the
        conversation exists (protocol 13); only `to` names a user, so only `to` says 1002.
        """
        if ids.conversation_type(conversation_id) == "group":
            raise Forbidden("not a member of this conversation")
        a, b = ids.dm_members(conversation_id)
        if sender not in (a, b):
            raise Forbidden("not a member of this conversation")
        other = b if sender == a else a
        if other != sender and not self.users.existing([other]):
            if via_to is not None:
                raise UserNotFound(f"user {other!r} does not exist")
            raise Forbidden("not a member of this conversation")
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
        if self.abuse is not None and other != sender:
            self.abuse.direct_opened(sender)
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
