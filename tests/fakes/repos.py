"""The in-memory repositories (`parley_memory`) as the unit tests use them.

They implement the same ports as the DynamoDB repositories (`parley.ports`), with the same
projections and conditional-write failures; all of one :class:`FakeRepos` share one store
and its lock, so every call is atomic like a DynamoDB request. What this module adds are
the seeding helpers and the clocks.

Hooks for tests (besides `calls` and `times(name)`, which record what was called):

* ``MessagesRepository.before_put``: called (outside the lock) before every conditional put,
  so a test can widen race windows or let another writer take the seq first;
* ``MessagesRepository.lose_every_put``: every `put_if_absent` answers "taken";
* ``PushQueue.fail``: `send_all` raises :class:`Unavailable`.
"""

from __future__ import annotations

import threading
from typing import Any

from parley.records import Connection, Conversation, Member, Message
from parley_memory import (
    Connections,
    Conversations,
    Events,
    Limits,
    Members,
    Membership,
    Messages,
    PushQueue,
    Sessions,
    Store,
    Users,
    client_error,
)

__all__ = [
    "ConnectionsRepository",
    "ConversationsRepository",
    "FakeRepos",
    "FakeStore",
    "FixedClock",
    "LimitsRepository",
    "MembersRepository",
    "MembershipRepository",
    "MessagesRepository",
    "PushQueue",
    "Row",
    "SessionsRepository",
    "StepClock",
    "UsersRepository",
    "client_error",
]

Row = dict[str, Any]
FakeStore = Store
SessionsRepository = Sessions
ConversationsRepository = Conversations
MembersRepository = Members
MembershipRepository = Membership
MessagesRepository = Messages
LimitsRepository = Limits


class UsersRepository(Users):
    """The users table, with a helper that registers a user directly."""

    def add(
        self,
        user_id: str,
        *,
        password_hash: str = "x",  # noqa: S107 - a placeholder, never verified
        display_name: str | None = None,
    ) -> None:
        self.create(user_id, password_hash, display_name or user_id, 0)


class ConnectionsRepository(Connections):
    """The connections table, with a helper that opens a connection directly."""

    def add(
        self, connection_id: str, user_id: str, *, session_id: str = "sess", ttl: int | None = None
    ) -> None:
        row: Connection = {
            "connectionId": connection_id,
            "userId": user_id,
            "sessionId": session_id,
        }
        if ttl is not None:
            row["ttl"] = ttl
        self.put(row)


# ---- clocks ------------------------------------------------------------------------------


class FixedClock:
    """A clock that stands still until told otherwise."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._now = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = now_ms

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms


class StepClock:
    """A clock that moves `step_ms` forward on every reading (first reading: `start_ms`)."""

    def __init__(self, start_ms: int = 1_700_000_000_000, step_ms: int = 1) -> None:
        self._next = start_ms
        self.step_ms = step_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            now = self._next
            self._next += self.step_ms
            return now


# ---- everything at once ------------------------------------------------------------------


class FakeRepos:
    """One store and a repository of each kind over it, plus a queue and a clock."""

    def __init__(self, clock: FixedClock | StepClock | None = None) -> None:
        self.store = Store()
        self.users = UsersRepository(self.store)
        self.sessions = SessionsRepository(self.store)
        self.connections = ConnectionsRepository(self.store)
        self.conversations = ConversationsRepository(self.store)
        self.members = MembersRepository(self.store)
        self.messages = MessagesRepository(self.store)
        self.events = Events(self.store)
        self.membership = MembershipRepository(self.store)
        self.limits = LimitsRepository(self.store)
        self.queue = PushQueue(self.store)
        self.clock = clock or FixedClock()

    # seeding helpers (bypass the services; shapes as the services write them)

    def add_member(
        self,
        conversation_id: str,
        user_id: str,
        *,
        role: str = "member",
        joined_seq: int = 1,
        read_seq: int | None = None,
        blocked: bool | None = None,
    ) -> None:
        row: Member = {
            "conversationId": conversation_id,
            "userId": user_id,
            "role": role,
            "joinedSeq": joined_seq,
            "readSeq": joined_seq - 1 if read_seq is None else read_seq,
            "joinedAt": 0,
        }
        if blocked is not None:
            row["blocked"] = blocked
        with self.store.lock:
            self.store.seed_member(row)
            conv = self.store.conversations.get(conversation_id)
            if conv is not None:
                conv["memberCount"] = int(conv.get("memberCount", 0)) + 1

    def add_conversation(
        self, conversation_id: str, *, type_: str | None = None, name: str | None = None
    ) -> None:
        with self.store.lock:
            row: Conversation = {
                "conversationId": conversation_id,
                "type": type_ or ("dm" if conversation_id.startswith("dm:") else "group"),
                "memberCount": len(self.store.members.get(conversation_id, {})),
            }
            if name is not None:
                row["name"] = name
            self.store.seed_conversation(row)

    def add_message(
        self,
        conversation_id: str,
        seq: int,
        sender: str = "alice",
        text: str | None = None,
        *,
        own: dict[str, int] | None = None,
    ) -> Message:
        """Store a message directly; without `own`, like one written before the map existed
        (or a group's). The returned message has the wire fields only."""
        message: Message = {
            "conversationId": conversation_id,
            "seq": seq,
            "messageId": f"M{seq:025d}",
            "senderId": sender,
            "clientMsgId": f"c-{conversation_id.replace(':', '-')}-{seq}",
            "body": {"type": "text", "text": text if text is not None else f"m{seq}"},
            "ts": 1_700_000_000_000 + seq,
        }
        self.store.seed_message(message, own)
        return message
