"""Groups: creation and membership changes, each recorded as a `system` message."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from parley import ids, roles
from parley.clock import Clock
from parley.concurrency import gather
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    MessageSendFailed,
    PayloadTooLarge,
    UserNotFound,
)
from parley.ports import Conversations, Members, MembershipWriter, Messages, SeqTaken, Users
from parley.records import Conversation, Member, MemberEntry, Message, member_row
from parley.services.abuse import AbuseLimits
from parley.services.push import PushService
from parley.services.retention import Retention

# A transaction holds at most 100 items: the message, the counter and up to 90 members
# (with room to spare for a role change's items); the rows after them go 99 at a time
# beside the counter.
CHUNK = 90
ROWS_CHUNK = 99
# A system message lists at most this many userIds (35 KB at the longest ids), so that it
# always fits a sync reply and a pushed frame; the rest are counted in `omitted`.
LISTED_MAX = 1000


class GroupMember(TypedDict):
    """A member as group replies list it."""

    userId: str
    role: str


class GroupView(TypedDict):
    """The body of the group routes: name and members."""

    conversationId: str
    name: str
    members: list[GroupMember]


class RoleChange(TypedDict):
    """The body of `PUT /groups/{id}/members/{userId}/role`."""

    conversationId: str
    userId: str
    role: str


@dataclass(eq=False, kw_only=True)
class GroupService:
    """Group rules; every change is one transaction with its system message."""

    conversations: Conversations
    members: Members
    membership: MembershipWriter
    messages: Messages
    users: Users
    push: PushService | None
    clock: Clock
    max_members: int
    abuse: AbuseLimits | None = None  # issue 15: groups per day, members added per hour
    retention: Retention | None = None  # protocol 12: MessageRetentionDays (None: forever)

    # ---- reads --------------------------------------------------------------------------

    def get(self, user_id: str, conversation_id: str) -> GroupView:
        """`GET /groups/{id}`: name and members; 1004 for non-members (protocol 13)."""
        group, _ = self._group(conversation_id, user_id)
        return self._shape(group, self.members.all(conversation_id))

    # ---- changes ------------------------------------------------------------------------

    def create(self, owner: str, name: str, member_ids: list[str]) -> GroupView:
        """Create a group owned by `owner` with `member_ids`; `group_created` is seq 1 and is
        the only system message, however many members it adds (issue 15)."""
        others = sorted(set(member_ids) - {owner})
        if len(others) + 1 > self.max_members:
            raise PayloadTooLarge(f"a group has at most {self.max_members} members")
        self._require_addable(owner, others)
        if self.abuse is not None:
            self.abuse.group_created(owner, len(others))
        now = self.clock.now_ms()
        conversation_id = ids.new_group_id(now)
        first, rest = others[: CHUNK - 1], others[CHUNK - 1 :]
        # The owner wrote `group_created` (seq 1): a sender's readSeq covers its own message.
        rows = [member_row(conversation_id, owner, roles.OWNER, 1, now, read_seq=1)] + [
            member_row(conversation_id, u, roles.MEMBER, 1, now) for u in first
        ]
        message = self._system_message(
            conversation_id, 1, owner, now, "group_created", [owner, *others]
        )
        conversation: Conversation = {
            "conversationId": conversation_id,
            "type": "group",
            "name": name,
            "createdAt": now,
            "createdBy": owner,
            "memberCount": len(rows),
        }
        self.membership.create_group(conversation, message, rows)
        self._add_rest(
            conversation_id, [member_row(conversation_id, u, roles.MEMBER, 1, now) for u in rest]
        )
        self._publish(message)
        listed: list[GroupMember] = [{"userId": owner, "role": roles.OWNER}]
        listed += [{"userId": u, "role": roles.MEMBER} for u in others]
        return self._shape(conversation, listed)

    def add_members(self, actor: str, conversation_id: str, user_ids: list[str]) -> GroupView:
        """Owners and admins add users; existing members are skipped; 1002 for unknown users,
        1004 for a user who blocked the actor. One `members_added` message per request."""
        group, actor_row = self._group(conversation_id, actor)
        if not roles.can_add(actor_row["role"]):
            raise Forbidden("only the owner or an admin can add members")
        wanted = sorted(set(user_ids))
        for u in wanted:
            ids.check_user_id(u, "members")
        current = {m["userId"] for m in self.members.all(conversation_id)}
        new = [u for u in wanted if u not in current]
        if len(current) + len(new) > self.max_members:
            raise PayloadTooLarge(f"a group has at most {self.max_members} members")
        self._require_addable(actor, new)
        if new:
            if self.abuse is not None:
                self.abuse.members_added(actor, len(new))
            self._add(conversation_id, actor, new)
        return self._shape(group, self.members.all(conversation_id))

    def remove_member(self, actor: str, conversation_id: str, target: str) -> None:
        """Remove `target` (owner/admin over lower ranks) or leave (actor == target)."""
        ids.check_user_id(target)
        _, actor_row = self._group(conversation_id, actor)
        target_row = actor_row if target == actor else self.members.get(conversation_id, target)
        if target_row is None:
            raise UserNotFound("not a member of this group")
        if not roles.can_remove(actor, actor_row["role"], target, target_row["role"]):
            if actor == target:
                raise Forbidden("the owner must hand over ownership before leaving")
            raise Forbidden("role too low to remove this member")
        event = "member_left" if actor == target else "member_removed"
        message = self._change(conversation_id, actor, event, [target], remove=[target])
        self._publish(message, extra_users=[target])

    def depart(self, user_id: str, conversation_id: str) -> bool:
        """Account erasure (protocol 12): `user_id` leaves the group (`member_left`). An
        owner first hands ownership over, to the longest-standing admin, else member; an
        owner alone leaves the group empty. False when not a member (already left)."""
        row = self.members.get(conversation_id, user_id)
        if row is None:
            return False
        if row["role"] == roles.OWNER:
            others = [m for m in self.members.all(conversation_id) if m["userId"] != user_id]
            if others:
                heir = min(
                    others,
                    key=lambda m: (m["role"] != roles.ADMIN, int(m["joinedSeq"]), m["userId"]),
                )
                self.set_role(user_id, conversation_id, heir["userId"], roles.OWNER)
        try:
            message = self._change(
                conversation_id, user_id, "member_left", [user_id], remove=[user_id]
            )
        except Forbidden:
            # Removed meanwhile (a concurrent erasure run, or an admin): gone either way.
            if self.members.get(conversation_id, user_id) is None:
                return False
            raise
        self._publish(message, extra_users=[user_id])
        return True

    def set_role(self, actor: str, conversation_id: str, target: str, role: str) -> RoleChange:
        """The owner makes a member an admin or an admin a member, or hands ownership over
        (`owner`: the target becomes owner and the caller an admin, in one transaction)."""
        ids.check_user_id(target)
        _, actor_row = self._group(conversation_id, actor)
        target_row = self.members.get(conversation_id, target)
        if target_row is None:
            raise UserNotFound("not a member of this group")
        if not roles.can_set_role(actor_row["role"], target_row["role"], role):
            raise Forbidden("only the owner can change roles")
        if target_row["role"] != role:
            message = self._change(
                conversation_id,
                actor,
                "role_changed",
                [target],
                set_role=(target, role),
                role=role,
                demote=actor if role == roles.OWNER else None,
            )
            self._publish(message)
        return {"conversationId": conversation_id, "userId": target, "role": role}

    # ---- internals ----------------------------------------------------------------------

    def _add(self, conversation_id: str, actor: str, new: list[str]) -> None:
        """One `members_added` message for the whole request: it commits with the first
        CHUNK rows (message, counter and rows: one transaction of at most 100 items), the
        rest follow in transactions of ROWS_CHUNK rows, and the message is published once,
        after every row exists, so its one fan-out reaches every new member."""
        now = self.clock.now_ms()
        first, rest = new[:CHUNK], new[CHUNK:]
        joined: list[int] = []

        def rows(seq: int) -> list[Member]:
            joined[:] = [seq]
            return [member_row(conversation_id, u, roles.MEMBER, seq, now) for u in first]

        message = self._change(conversation_id, actor, "members_added", new, add_rows=rows)
        seq = joined[0]
        self._add_rest(
            conversation_id, [member_row(conversation_id, u, roles.MEMBER, seq, now) for u in rest]
        )
        self._publish(message)

    def _add_rest(self, conversation_id: str, rows: list[Member]) -> None:
        for start in range(0, len(rows), ROWS_CHUNK):
            self.membership.add_rows(
                conversation_id, rows[start : start + ROWS_CHUNK], self.max_members
            )

    def _change(
        self,
        conversation_id: str,
        actor: str,
        event: str,
        user_ids: list[str],
        *,
        add_rows: Callable[[int], list[Member]] | None = None,
        remove: list[str] | None = None,
        set_role: tuple[str, str] | None = None,
        role: str | None = None,
        demote: str | None = None,
    ) -> Message:
        """Write the membership change and its system message at the next seq, retrying races."""
        for attempt in range(25):
            newest = self.messages.newest(conversation_id)
            seq = newest.seq + 1
            now = self.clock.now_ms()
            message = self._system_message(conversation_id, seq, actor, now, event, user_ids, role)
            try:
                self.membership.change(
                    conversation_id,
                    message,
                    add=add_rows(seq) if add_rows else None,
                    remove=remove,
                    set_role=set_role,
                    demote=demote,
                    max_members=self.max_members,
                    # A system message does not count as unread (protocol 9.2).
                    n=newest.seq if newest.n is None else newest.n,
                )
            except SeqTaken:
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                continue
            # Retention: the message before this one may expire now (the same rule as a
            # send's, `Retention.expire_previous`), beside the readSeq write.
            expiring = (
                self.retention.expire_previous(conversation_id, newest) if self.retention else None
            )
            if event != "member_left":
                # Storing message n sets its sender's readSeq to n (protocol 5.3.6).
                self.members.advance_read(conversation_id, actor, seq)
            if expiring is not None:
                expiring.result()  # never raises: a failed expiry is logged and counted
            return message
        raise MessageSendFailed("group busy; retry")

    @staticmethod
    def _system_message(
        conversation_id: str,
        seq: int,
        actor: str,
        now: int,
        event: str,
        user_ids: list[str],
        role: str | None = None,
    ) -> Message:
        """The `system` message recording a membership change (protocol 4.2)."""
        message_id = ids.new_ulid(now)
        body: dict[str, Any] = {
            "type": "system",
            "event": event,
            "by": actor,
            "userIds": user_ids[:LISTED_MAX],
        }
        if len(user_ids) > LISTED_MAX:
            # Listing 10,000 ids would not fit a sync reply (96 KB): the rest are counted.
            body["omitted"] = len(user_ids) - LISTED_MAX
        if role is not None:
            body["role"] = role
        return {
            "conversationId": conversation_id,
            "seq": seq,
            "messageId": message_id,
            "senderId": actor,
            "clientMsgId": f"sys-{message_id}",
            "body": body,
            "ts": now,
        }

    def _publish(self, message: Message, extra_users: list[str] | None = None) -> None:
        if self.push is None:
            return
        # Stored already: a failed push only delays delivery until the members' next sync.
        with contextlib.suppress(Exception):
            self.push.publish(message, extra_users=extra_users)

    def _group(self, conversation_id: str, user_id: str) -> tuple[Conversation, Member]:
        """The group and the caller's row in it.

        1004 for a caller without a row, for any well-formed conversation id, whether or
        not it exists (protocol 13: otherwise the answer tells outsiders which groups and
        direct conversations exist). 2002 only for an id no conversation can have, or for a
        member naming a direct conversation. The two reads run side by side.
        """
        if not isinstance(conversation_id, str) or not conversation_id or len(conversation_id) > 80:
            raise ConversationNotFound()
        ids.conversation_type(conversation_id)
        row, group = gather(
            lambda: self.members.get(conversation_id, user_id),
            lambda: self.conversations.get(conversation_id),
        )
        if row is None:
            raise Forbidden("not a member of this group")
        if group is None or group.get("type") != "group":
            raise ConversationNotFound()
        return group, row

    def _require_addable(self, actor: str, user_ids: list[str]) -> None:
        """Every user exists (1002) and none has blocked `actor` (1004, protocol 13): two
        BatchGetItems per 100 users, side by side."""
        if not user_ids:
            return
        for u in user_ids:
            ids.check_user_id(u, "members")
        found, blockers = gather(
            lambda: self.users.existing(user_ids),
            lambda: self.users.blockers_of(actor, user_ids),
        )
        missing = sorted(set(user_ids) - found)
        if missing:
            raise UserNotFound(f"unknown users: {', '.join(missing[:10])}")
        if blockers:
            # Which of them blocked the actor is not said: the answer is 1004 alone.
            raise Forbidden("some of these users cannot be added by you")

    @staticmethod
    def _shape(group: Conversation, rows: Sequence[MemberEntry | GroupMember]) -> GroupView:
        return {
            "conversationId": group["conversationId"],
            "name": group.get("name", ""),
            "members": [{"userId": r["userId"], "role": r["role"]} for r in rows],
        }
