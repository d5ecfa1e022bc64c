"""The store behind every in-memory repository: tables, their indexes, one lock, and the
optional latency and metering hooks.

Every repository call takes the one re-entrant lock for its whole read or write, so a call
is atomic like a single DynamoDB request, and a membership change is atomic across tables
like `TransactWriteItems`. The indexes the DynamoDB tables have are kept as real indexes
here (a user's connections and memberships, the Messages dedupe LSI, each conversation's
members in userId order), so a 10,000-member fan-out costs what it costs on DynamoDB, not a
scan per lookup.

Hooks (both off by default):

* :class:`Latency`: seconds slept per call, outside the lock, so concurrent callers overlap
  as they would on the network (the benchmarks use a few ms per DynamoDB call);
* a probe, called after each call with an :class:`Access` that says what the call read and
  wrote (items in their plain form), from which a meter prices it (`parley_bench.memory`).
"""

from __future__ import annotations

import bisect
import copy
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.records import (
    Connection,
    Conversation,
    Member,
    Message,
    Session,
    StoredMessage,
)
from parley.repositories.messages import dedupe_key
from parley.wire import compact_json

Row = dict[str, Any]


@dataclass
class Latency:
    """Seconds each call waits before it runs, by kind of call (all 0: no waiting)."""

    dynamodb: float = 0.0
    post: float = 0.0
    sqs: float = 0.0


@dataclass(frozen=True)
class Write:
    """One item a call wrote: before and after (None for absent), and whether the write's
    condition held (a failed condition still bills the write)."""

    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    applied: bool = True
    transactional: bool = False


@dataclass(frozen=True)
class Access:
    """What one call did, as a meter needs it: the AWS operation it stands for, the table
    (its logical id in the template) and index, the items read, the items written."""

    service: str  # dynamodb | sqs | apigatewaymanagementapi
    operation: str  # GetItem, Query, PutItem, SendMessageBatch, PostToConnection, ...
    table: str | None = None
    index: str | None = None
    read: tuple[Mapping[str, Any], ...] = ()
    consistent: bool = False
    writes: tuple[Write, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


Probe = Callable[[Access], None]


def stored_message(
    message: Message, own: Mapping[str, int] | None = None, n: int | None = None
) -> StoredMessage:
    """What the Messages table keeps: the protocol fields (the body through compact JSON,
    as it is stored), a direct message's `own` map and the running count `n` when given."""
    stored: StoredMessage = {
        "conversationId": message["conversationId"],
        "seq": int(message["seq"]),
        "messageId": message["messageId"],
        "senderId": message["senderId"],
        "clientMsgId": message["clientMsgId"],
        "body": json.loads(compact_json(message["body"])),
        "ts": int(message["ts"]),
    }
    if own is not None:
        stored["own"] = {user: int(seq) for user, seq in own.items()}
    if n is not None:
        stored["n"] = int(n)
    return stored


def protocol_message(stored: StoredMessage) -> Message:
    """A stored message as a repository hands it out: a copy in its current state, never
    the internal `own`, `n`, `edits` or `ver`."""
    message: Message = {
        "conversationId": stored["conversationId"],
        "seq": stored["seq"],
        "messageId": stored["messageId"],
        "senderId": stored["senderId"],
        "clientMsgId": stored["clientMsgId"],
        "body": copy.deepcopy(stored["body"]),
        "ts": stored["ts"],
    }
    if "edited" in stored:
        message["edited"] = copy.deepcopy(stored["edited"])
    if "deleted" in stored:
        message["deleted"] = copy.deepcopy(stored["deleted"])
    if "reactions" in stored:
        message["reactions"] = copy.deepcopy(stored["reactions"])
    return message


class Store:
    """The tables and indexes, the lock, and the hooks."""

    def __init__(self, *, latency: Latency | None = None, probe: Probe | None = None) -> None:
        self.lock = threading.RLock()
        self.latency = latency or Latency()
        self.probe = probe
        self.users: dict[tuple[str, str], Row] = {}  # (pk, sk): profiles and blocks
        self.sessions: dict[str, Session] = {}
        self.connections: dict[str, Connection] = {}
        self.connections_by_user: dict[str, set[str]] = {}  # Connections `byUser`
        self.conversations: dict[str, Conversation] = {}
        self.members: dict[str, dict[str, Member]] = {}  # conversationId -> userId -> row
        self.member_order: dict[str, list[str]] = {}  # conversationId -> sorted userIds
        self.members_by_user: dict[str, set[str]] = {}  # Members `byUser`
        self.messages: dict[str, dict[int, StoredMessage]] = {}  # conversationId -> seq
        self.dedupe: dict[tuple[str, str], int] = {}  # Messages `byClientMsgId` -> seq
        self.counters: dict[str, int] = {}  # Limits
        self.attachments: dict[str, Row] = {}  # AttachmentsTable
        self.objects: dict[str, Row] = {}  # the attachment bucket: key -> object

    # ---- hooks ---------------------------------------------------------------------------

    def wait(self, kind: str) -> None:
        """Sleep the latency of one call of `kind` (dynamodb, post, sqs), outside the lock."""
        seconds = float(getattr(self.latency, kind))
        if seconds > 0:
            time.sleep(seconds)

    @property
    def probing(self) -> bool:
        return self.probe is not None

    def report(self, access: Access) -> None:
        if self.probe is not None:
            self.probe(access)

    # ---- index maintenance (callers hold the lock) ----------------------------------------

    def put_connection(self, row: Connection) -> Connection | None:
        old = self.connections.get(row["connectionId"])
        if old is not None:
            self.connections_by_user.get(old["userId"], set()).discard(old["connectionId"])
        self.connections[row["connectionId"]] = row
        self.connections_by_user.setdefault(row["userId"], set()).add(row["connectionId"])
        return old

    def drop_connection(self, connection_id: str) -> Connection | None:
        row = self.connections.pop(connection_id, None)
        if row is not None:
            self.connections_by_user.get(row["userId"], set()).discard(connection_id)
        return row

    def member(self, conversation_id: str, user_id: str) -> Member | None:
        return self.members.get(conversation_id, {}).get(user_id)

    def put_member(self, row: Member) -> None:
        cid, uid = row["conversationId"], row["userId"]
        rows = self.members.setdefault(cid, {})
        if uid not in rows:
            bisect.insort(self.member_order.setdefault(cid, []), uid)
            self.members_by_user.setdefault(uid, set()).add(cid)
        rows[uid] = row

    def drop_member(self, conversation_id: str, user_id: str) -> None:
        rows = self.members.get(conversation_id, {})
        if rows.pop(user_id, None) is not None:
            self.member_order[conversation_id].remove(user_id)
            self.members_by_user.get(user_id, set()).discard(conversation_id)

    def member_rows(self, conversation_id: str) -> list[Member]:
        """A conversation's rows in userId order."""
        rows = self.members.get(conversation_id, {})
        return [rows[u] for u in self.member_order.get(conversation_id, [])]

    def put_message(self, stored: StoredMessage) -> None:
        cid, seq = stored["conversationId"], stored["seq"]
        self.messages.setdefault(cid, {})[seq] = stored
        key = (cid, dedupe_key(stored["senderId"], stored["clientMsgId"]))
        # The index's Query with Limit 1 finds the lowest seq under a key.
        if key not in self.dedupe or self.dedupe[key] > seq:
            self.dedupe[key] = seq

    # ---- seeding (no latency, not reported) ------------------------------------------------

    def seed_conversation(self, row: Conversation) -> None:
        with self.lock:
            self.conversations[row["conversationId"]] = copy.deepcopy(row)

    def seed_member(self, row: Member) -> None:
        with self.lock:
            self.put_member(copy.deepcopy(row))

    def seed_connection(self, row: Connection) -> None:
        with self.lock:
            self.put_connection(copy.deepcopy(row))

    def seed_message(self, message: Message, own: Mapping[str, int] | None = None) -> None:
        with self.lock:
            self.put_message(stored_message(message, own))


class Repository:
    """What every in-memory repository shares: the store, a record of its calls, and the
    reports of what each call read or wrote (made only when the store has a probe)."""

    table = ""  # the table's logical id in the template, for the probe

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _called(self, name: str, *args: Any) -> None:
        with self.store.lock:
            self.calls.append((name, args))
        self.store.wait("dynamodb")

    def _read(
        self,
        operation: str,
        rows: Iterable[Mapping[str, Any] | None],
        *,
        index: str | None = None,
        consistent: bool = False,
    ) -> None:
        """Report a read of `rows` (None for an item that was not there)."""
        if self.store.probe is not None:
            read = tuple(copy.deepcopy(dict(r)) for r in rows if r)
            self.store.report(
                Access("dynamodb", operation, self.table, index, read=read, consistent=consistent)
            )

    def _wrote(
        self,
        operation: str,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
        applied: bool = True,
    ) -> None:
        """Report a write of one item from `old` to `new` (a refused one: `applied` False)."""
        if self.store.probe is not None:
            write = Write(copy.deepcopy(old), copy.deepcopy(new), applied)
            self.store.report(Access("dynamodb", operation, self.table, writes=(write,)))

    def times(self, name: str) -> int:
        """How many times method `name` was called."""
        with self.store.lock:
            return sum(1 for n, _ in self.calls if n == name)
