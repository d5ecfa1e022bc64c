"""Live, never-stored features: read receipts, typing, presence and call signaling.

Storm rules (documented in docs/protocol.md): receipts and typing are relayed to other
members only in conversations of at most `relay_max` members; in larger groups a receipt
goes to the reader's own other devices and typing is not relayed. Presence is pulled
(`presence` action), never pushed, so a status change costs nothing to fan out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from parley import frames, ids
from parley.clock import Clock
from parley.concurrency import gather
from parley.errors import Forbidden, ParleyError, UserNotFound
from parley.features import NO_FLAGS, Features
from parley.ports import Connections, Members, Messages, Users
from parley.services.abuse import AbuseLimits
from parley.services.conversations import ConversationService, observed_read_seq
from parley.services.push import PushService

if TYPE_CHECKING:
    from parley.models import SignalFrame


def _kind(conversation_id: str) -> str | None:
    """The conversation's type for a flag's rules (None for an id that is not one: the
    member check then answers it as before)."""
    try:
        return ids.conversation_type(conversation_id)
    except ParleyError:
        return None


# At most this many (group, user) membership keys are read per `presence` frame.
PRESENCE_PROBES = 1000


class Presence(TypedDict):
    """One user of a `presence` reply."""

    userId: str
    online: bool
    lastSeen: int | None


@dataclass(eq=False, kw_only=True)
class LiveService:
    """Receipts, typing, presence and signaling over live connections."""

    conversations: ConversationService
    members: Members
    messages: Messages
    connections: Connections
    users: Users
    push: PushService
    clock: Clock
    relay_max: int = 50
    abuse: AbuseLimits | None = None  # live connection sets: presence in one read
    features: Features = NO_FLAGS  # issue 17: a kill switch per live feature (1007)

    def _others(self, conversation_id: str, user_id: str) -> list[str] | None:
        """The other members to relay to, or None when the conversation is too large."""
        if ids.conversation_type(conversation_id) == "dm":
            return [u for u in set(ids.dm_members(conversation_id)) if u != user_id]
        rows, more = self.members.page(conversation_id, self.relay_max + 1)
        if more or len(rows) > self.relay_max:
            return None
        return [r["userId"] for r in rows if r["userId"] != user_id]

    def read(self, user_id: str, conversation_id: str, seq: int, connection_id: str) -> int:
        """Move readSeq forward (never past lastSeq) and tell the others; the new readSeq.

        Forward relative to the readSeq clients see, which in a direct conversation includes
        the reader's own newest message (`observed_read_seq`): reading up to it changes
        nothing and sends no receipt, as when a send still wrote the Members row.
        """
        self.features.require_action("read", user_id, conversationType=_kind(conversation_id))
        self.conversations.require_member(user_id, conversation_id)
        top = self.messages.newest(conversation_id)
        last_seq, own = top.seq, top.own
        target = min(seq, last_seq)
        if target <= own.get(user_id, 0) or not self.members.advance_read(
            conversation_id, user_id, target
        ):
            current = self.members.read_seqs(user_id, [conversation_id]).get(conversation_id, 0)
            return max(observed_read_seq(current, own, user_id), 0)
        frame = frames.receipt(conversation_id, user_id, target)
        others = self._others(conversation_id, user_id) or []
        self.push.send_frame_to_users([user_id, *others], frame, exclude_connection=connection_id)
        return target

    def typing(self, user_id: str, conversation_id: str, state: str, connection_id: str) -> None:
        """Relay a typing indicator to the other members' live connections."""
        self.features.require_action("typing", user_id, conversationType=_kind(conversation_id))
        member = self.conversations.require_member(user_id, conversation_id)
        if member.get("blocked"):
            raise Forbidden("not allowed to write to this conversation")
        others = self._others(conversation_id, user_id)
        if not others:
            return
        frame = frames.typing(conversation_id, user_id, state)
        self.push.send_frame_to_users(others, frame, exclude_connection=connection_id)

    def presence(self, caller: str, user_ids: list[str]) -> list[Presence]:
        """`online` (a live connection exists) and `lastSeen` (ms, or null) per user, as
        they are only for users who share a conversation with `caller` and have not
        blocked them; every other user reads offline and never seen (protocol 13)."""
        self.features.require_action("presence", caller)
        wanted = list(dict.fromkeys(user_ids))
        visible = self.visible_to(caller, wanted)
        shown = [u for u in wanted if u in visible]
        live, profiles = (
            gather(lambda: self._online(shown), lambda: self.users.profiles(shown))
            if shown
            else (set(), {})
        )
        out: list[Presence] = []
        for user in wanted:
            online = user in live
            profile = profiles.get(user)
            last_seen = profile.get("lastSeen") if profile else None
            out.append(
                {
                    "userId": user,
                    "online": online,
                    "lastSeen": self.clock.now_ms() if online else last_seen,
                }
            )
        return out

    def _online(self, user_ids: list[str]) -> set[str]:
        """Who of these users is online: their connection sets (one BatchGetItem per 100)
        where the abuse limits keep them, else one index Query per user."""
        if self.abuse is not None:
            return self.abuse.online(user_ids)
        live = self.connections.by_users(user_ids, self.clock.now_ms() // 1000)
        return {u for u, found in live.items() if found}

    def visible_to(self, caller: str, user_ids: list[str]) -> set[str]:
        """The users whose presence `caller` may see: themselves, and those who share a
        conversation with them and have not blocked them.

        Bounded reads, whatever the caller is in, in two parallel rounds: first one
        BatchGetItem per 100 users for the blocks beside one page of the caller's groups
        (the `byUser` index from `grp:` on, at most PRESENCE_PROBES / users of them); then
        the membership rows of each user in their direct conversation with the caller and
        in those groups (at most 100 + PRESENCE_PROBES keys, one BatchGetItem per 100). A
        user who shares only groups past that page reads as offline: a safe answer, never
        a leak.
        """
        others = [u for u in user_ids if u != caller]
        out = {caller} & set(user_ids)
        if not others:
            return out
        page = max(1, PRESENCE_PROBES // len(others))
        (groups, _), blockers = gather(
            lambda: self.members.for_user_page(caller, page, ids.GROUP_PREFIX),
            lambda: self.users.blockers_of(caller, others),
        )
        candidates = [u for u in others if u not in blockers]
        pairs = [(ids.dm_id(caller, u), u) for u in candidates]
        pairs += [(g["conversationId"], u) for g in groups for u in candidates]
        if pairs:
            out |= {u for _, u in self.members.present(pairs)}
        return out

    def signal(self, user_id: str, frame: SignalFrame, connection_id: str) -> int:
        """Relay call signaling to the callee's connections; how many received it."""
        callee = frame.to
        if callee != user_id:
            if not self.users.existing([callee]):
                raise UserNotFound(f"user {callee!r} does not exist")
            if self.users.is_blocked(callee, user_id):
                raise Forbidden("not allowed to call this user")
        now_s = self.clock.now_ms() // 1000
        targets = [
            c["connectionId"]
            for c in self.connections.by_user(callee, now_s)
            if c["connectionId"] != connection_id
        ]
        if frame.toConnection is not None:
            if frame.toConnection not in targets:
                raise UserNotFound("that connection of the user is not online")
            targets = [frame.toConnection]
        out = frames.signal(user_id, connection_id, frame.callId, frame.kind, frame.payload)
        report = self.push.send_frame_to_connections(targets, out)
        if frame.kind == "accept":
            # The callee's other devices stop ringing: the call was answered elsewhere.
            mine = [
                c["connectionId"]
                for c in self.connections.by_user(user_id, now_s)
                if c["connectionId"] != connection_id
            ]
            notice = frames.signal(
                user_id, connection_id, frame.callId, frame.kind, {"answeredElsewhere": True}
            )
            self.push.send_frame_to_connections(mine, notice)
        return report.delivered
