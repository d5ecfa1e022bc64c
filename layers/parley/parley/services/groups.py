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
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    MessageSendFailed,
    PayloadTooLarge,
    UserNotFound,
)
from parley.ports import Conversations, Members, MembershipWriter, Messages, SeqTaken, Users
from parley.records import Conversation, Member, MemberEntry, Message, member_row
from parley.services.push import PushService

# A transaction holds at most 100 items: the message, the counter and up to 90 members.
CHUNK = 90


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

    # ---- reads --------------------------------------------------------------------------

    def get(self, user_id: str, conversation_id: str) -> GroupView:
        """`GET /groups/{id}`: name and members; 2002 unknown, 1004 for non-members."""
        group = self._group(conversation_id)
        if self.members.get(conversation_id, user_id) is None:
            raise Forbidden("not a member of this group")
        return self._shape(group, self.members.all(conversation_id))

    # ---- changes ------------------------------------------------------------------------

    def create(self, owner: str, name: str, member_ids: list[str]) -> GroupView:
        """Create a group owned by `owner` with `member_ids`; `group_created` is seq 1."""
        others = sorted(set(member_ids) - {owner})
        if len(others) + 1 > self.max_members:
            raise PayloadTooLarge(f"a group has at most {self.max_members} members")
        self._require_users(others)
        now = self.clock.now_ms()
        conversation_id = ids.new_group_id(now)
        first, rest = others[: CHUNK - 1], others[CHUNK - 1 :]
        # The owner wrote `group_created` (seq 1): a sender's readSeq covers its own message.
        rows = [member_row(conversation_id, owner, roles.OWNER, 1, now, read_seq=1)] + [
            member_row(conversation_id, u, roles.MEMBER, 1, now) for u in first
        ]
        message = self._system_message(
            conversation_id, 1, owner, now, "group_created", [owner, *first]
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
        self._publish(message)
        for start in range(0, len(rest), CHUNK):
            self._add_chunk(conversation_id, owner, rest[start : start + CHUNK])
        listed: list[GroupMember] = [{"userId": owner, "role": roles.OWNER}]
        listed += [{"userId": u, "role": roles.MEMBER} for u in others]
        return self._shape(conversation, listed)

    def add_members(self, actor: str, conversation_id: str, user_ids: list[str]) -> GroupView:
        """Owners and admins add users; existing members are skipped; 1002 for unknown users."""
        group = self._group(conversation_id)
        actor_row = self._member(conversation_id, actor)
        if not roles.can_add(actor_row["role"]):
            raise Forbidden("only the owner or an admin can add members")
        wanted = sorted(set(user_ids))
        self._require_users(wanted)
        current = {m["userId"] for m in self.members.all(conversation_id)}
        new = [u for u in wanted if u not in current]
        if len(current) + len(new) > self.max_members:
            raise PayloadTooLarge(f"a group has at most {self.max_members} members")
        for start in range(0, len(new), CHUNK):
            self._add_chunk(conversation_id, actor, new[start : start + CHUNK])
        return self._shape(group, self.members.all(conversation_id))

    def remove_member(self, actor: str, conversation_id: str, target: str) -> None:
        """Remove `target` (owner/admin over lower ranks) or leave (actor == target)."""
        ids.check_user_id(target)
        self._group(conversation_id)
        actor_row = self._member(conversation_id, actor)
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

    def set_role(self, actor: str, conversation_id: str, target: str, role: str) -> RoleChange:
        """The owner makes a member an admin or an admin a member, or hands ownership over
        (`owner`: the target becomes owner and the caller an admin, in one transaction)."""
        ids.check_user_id(target)
        self._group(conversation_id)
        actor_row = self._member(conversation_id, actor)
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

    def _add_chunk(self, conversation_id: str, actor: str, chunk: list[str]) -> None:
        now = self.clock.now_ms()

        def rows(seq: int) -> list[Member]:
            return [member_row(conversation_id, u, roles.MEMBER, seq, now) for u in chunk]

        message = self._change(conversation_id, actor, "members_added", chunk, add_rows=rows)
        self._publish(message)

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
            if event != "member_left":
                # Storing message n sets its sender's readSeq to n (protocol 5.3.6).
                self.members.advance_read(conversation_id, actor, seq)
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
        body: dict[str, Any] = {"type": "system", "event": event, "by": actor, "userIds": user_ids}
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

    def _group(self, conversation_id: str) -> Conversation:
        if not isinstance(conversation_id, str) or not conversation_id.startswith(ids.GROUP_PREFIX):
            raise ConversationNotFound()
        ids.check_conversation_id(conversation_id)
        group = self.conversations.get(conversation_id)
        if group is None:
            raise ConversationNotFound()
        return group

    def _member(self, conversation_id: str, user_id: str) -> Member:
        row = self.members.get(conversation_id, user_id)
        if row is None:
            raise Forbidden("not a member of this group")
        return row

    def _require_users(self, user_ids: list[str]) -> None:
        if not user_ids:
            return
        for u in user_ids:
            ids.check_user_id(u, "members")
        missing = sorted(set(user_ids) - self.users.existing(user_ids))
        if missing:
            raise UserNotFound(f"unknown users: {', '.join(missing[:10])}")

    @staticmethod
    def _shape(group: Conversation, rows: Sequence[MemberEntry | GroupMember]) -> GroupView:
        return {
            "conversationId": group["conversationId"],
            "name": group.get("name", ""),
            "members": [{"userId": r["userId"], "role": r["role"]} for r in rows],
        }
