"""In-memory stand-ins for the DynamoDB repositories, the push queue and the clock.

Each fake has the same method names, arguments and answers as its DynamoDB counterpart in
`parley.repositories` (including the projections: `MembersRepository.for_user` returns only
what the `byUser` index projects, `page`/`all` only `userId, role, joinedSeq`), so a service
can be unit-tested without moto. All fakes of one :class:`FakeStore` share one re-entrant
lock: every method is atomic, like a single DynamoDB request, and a membership change is
atomic across tables, like `TransactWriteItems`.

Hooks for tests (besides `calls` and `times(name)`, which record what was called):

* ``MessagesRepository.before_put``: called (outside the lock) before every conditional put,
  so a test can widen race windows or let another writer take the seq first;
* ``MessagesRepository.lose_every_put``: every `put_if_absent` answers "taken";
* ``PushQueue.fail``: `send_all` raises :class:`Unavailable`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from parley.errors import Conflict, ConversationNotFound, Forbidden, PayloadTooLarge, Unavailable
from parley.repositories.conversations import SeqTaken
from parley.repositories.messages import Newest, dedupe_key
from parley.wire import compact_json

Row = dict[str, Any]


def client_error(code: str, operation: str = "Fake") -> ClientError:
    """A botocore ClientError with `code`, as boto3 raises it (for untranslated failures)."""
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def _copy(value: Any) -> Any:
    return copy.deepcopy(value)


def _stored_message(message: Row) -> Row:
    """What the Messages table keeps: the protocol fields, body through compact JSON, and a
    direct message's internal `own` map when it has one."""
    stored = {
        "conversationId": message["conversationId"],
        "seq": int(message["seq"]),
        "messageId": message["messageId"],
        "senderId": message["senderId"],
        "clientMsgId": message["clientMsgId"],
        "body": json.loads(compact_json(message["body"])),
        "ts": int(message["ts"]),
    }
    if message.get("own") is not None:
        stored["own"] = {user: int(seq) for user, seq in message["own"].items()}
    return stored


def _wire(stored: Row) -> Row:
    """A stored message as the repository hands it out (`decode_message`: never `own`)."""
    return {k: _copy(v) for k, v in stored.items() if k != "own"}


def _own(stored: Row | None) -> dict[str, int]:
    return dict(stored.get("own", {})) if stored is not None else {}


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


# ---- the shared store --------------------------------------------------------------------


class FakeStore:
    """The tables behind the fakes; one lock for all of them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[tuple[str, str], Row] = {}  # (pk, sk)
        self.sessions: dict[str, Row] = {}
        self.connections: dict[str, Row] = {}
        self.conversations: dict[str, Row] = {}
        self.members: dict[tuple[str, str], Row] = {}  # (conversationId, userId)
        self.messages: dict[str, dict[int, Row]] = {}  # conversationId -> seq -> message


class _Fake:
    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _called(self, name: str, *args: Any) -> None:
        with self.store.lock:
            self.calls.append((name, args))

    def times(self, name: str) -> int:
        """How many times method `name` was called."""
        with self.store.lock:
            return sum(1 for n, _ in self.calls if n == name)


# ---- users and sessions ------------------------------------------------------------------

PROFILE = "profile"
BLOCK = "block#"


class UsersRepository(_Fake):
    """Profiles and block lists (`pk` = userId, `sk` = `profile` | `block#<userId>`)."""

    def create(self, user_id: str, password_hash: str, display_name: str, now: int) -> None:
        self._called("create", user_id)
        with self.store.lock:
            if (user_id, PROFILE) in self.store.users:
                raise Conflict("userId is taken")
            self.store.users[(user_id, PROFILE)] = {
                "pk": user_id,
                "sk": PROFILE,
                "passwordHash": password_hash,
                "displayName": display_name,
                "createdAt": now,
            }

    def provision(
        self, user_id: str, display_name: str, identity_provider: str, now: int
    ) -> dict[str, Any]:
        """An external user's profile (no password), created unless one exists."""
        self._called("provision", user_id, identity_provider)
        with self.store.lock:
            existing = self.store.users.get((user_id, PROFILE))
            if existing is not None:
                return _copy(existing)
            item = {
                "pk": user_id,
                "sk": PROFILE,
                "displayName": display_name,
                "identityProvider": identity_provider,
                "createdAt": now,
            }
            self.store.users[(user_id, PROFILE)] = item
            return _copy(item)

    def get(self, user_id: str) -> Row | None:
        self._called("get", user_id)
        with self.store.lock:
            return _copy(self.store.users.get((user_id, PROFILE)))

    def existing(self, user_ids: list[str]) -> set[str]:
        self._called("existing", tuple(user_ids))
        with self.store.lock:
            return {u for u in set(user_ids) if (u, PROFILE) in self.store.users}

    def profiles(self, user_ids: list[str]) -> dict[str, Row]:
        self._called("profiles", tuple(user_ids))
        out: dict[str, Row] = {}
        with self.store.lock:
            for u in sorted(set(user_ids)):
                row = self.store.users.get((u, PROFILE))
                if row is not None:
                    out[u] = {k: row[k] for k in ("pk", "displayName", "lastSeen") if k in row}
        return out

    def set_last_seen(self, user_id: str, ts: int) -> None:
        self._called("set_last_seen", user_id, ts)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is not None:
                row["lastSeen"] = ts

    def block(self, blocker: str, blocked: str, now: int) -> None:
        self._called("block", blocker, blocked)
        with self.store.lock:
            self.store.users[(blocker, BLOCK + blocked)] = {
                "pk": blocker,
                "sk": BLOCK + blocked,
                "createdAt": now,
            }

    def unblock(self, blocker: str, blocked: str) -> None:
        self._called("unblock", blocker, blocked)
        with self.store.lock:
            self.store.users.pop((blocker, BLOCK + blocked), None)

    def is_blocked(self, blocker: str, blocked: str) -> bool:
        self._called("is_blocked", blocker, blocked)
        with self.store.lock:
            return (blocker, BLOCK + blocked) in self.store.users

    # test helper
    def add(
        self,
        user_id: str,
        *,
        password_hash: str = "x",  # noqa: S107 - a placeholder, never verified
        display_name: str | None = None,
    ) -> None:
        self.create(user_id, password_hash, display_name or user_id, 0)


class SessionsRepository(_Fake):
    """One item per login: userId, current refresh generation, revoked flag."""

    def create(self, session_id: str, user_id: str, now: int, expires_at: int) -> None:
        self._called("create", session_id, user_id)
        with self.store.lock:
            if session_id in self.store.sessions:
                raise client_error("ConditionalCheckFailedException", "PutItem")
            self.store.sessions[session_id] = {
                "sessionId": session_id,
                "userId": user_id,
                "gen": 1,
                "revoked": False,
                "createdAt": now,
                "expiresAt": expires_at,
            }

    def get(self, session_id: str) -> Row | None:
        self._called("get", session_id)
        with self.store.lock:
            return _copy(self.store.sessions.get(session_id))

    def rotate(self, session_id: str, generation: int, now: int, expires_at: int) -> bool:
        self._called("rotate", session_id, generation)
        with self.store.lock:
            row = self.store.sessions.get(session_id)
            if (
                row is None
                or row.get("gen") != generation
                or row.get("revoked") is not False
                or not int(row.get("expiresAt", 0)) > now
            ):
                return False
            row.update(gen=generation + 1, refreshedAt=now, expiresAt=expires_at)
            return True

    def revoke(self, session_id: str, now: int) -> None:
        self._called("revoke", session_id)
        with self.store.lock:
            row = self.store.sessions.get(session_id)
            if row is not None:
                row.update(revoked=True, revokedAt=now)


# ---- connections -------------------------------------------------------------------------


class ConnectionsRepository(_Fake):
    """Live WebSocket connections by id and by user; expired records are left out."""

    def put(self, connection: Row) -> None:
        self._called("put", connection.get("connectionId"))
        with self.store.lock:
            item = {k: v for k, v in connection.items() if v is not None}
            self.store.connections[item["connectionId"]] = _copy(item)

    def get(self, connection_id: str) -> Row | None:
        self._called("get", connection_id)
        with self.store.lock:
            return _copy(self.store.connections.get(connection_id))

    def delete(self, connection_id: str) -> Row | None:
        self._called("delete", connection_id)
        with self.store.lock:
            return self.store.connections.pop(connection_id, None)

    def by_user(self, user_id: str, now: int) -> list[Row]:
        self._called("by_user", user_id)
        with self.store.lock:
            rows = [
                _copy(c)
                for _, c in sorted(self.store.connections.items())
                if c.get("userId") == user_id
            ]
        return [c for c in rows if int(c.get("ttl", now + 1)) > now]

    def by_users(self, user_ids: list[str], now: int) -> dict[str, list[Row]]:
        return {u: self.by_user(u, now) for u in sorted(set(user_ids))}

    # test helper
    def add(
        self, connection_id: str, user_id: str, *, session_id: str = "sess", ttl: int | None = None
    ) -> None:
        row: Row = {"connectionId": connection_id, "userId": user_id, "sessionId": session_id}
        if ttl is not None:
            row["ttl"] = ttl
        self.put(row)


# ---- conversations and members -----------------------------------------------------------

_INDEX_FIELDS = ("conversationId", "userId", "role", "joinedSeq")  # Members `byUser` projection
_PAGE_FIELDS = ("userId", "role", "joinedSeq")  # ProjectionExpression of page()/all()


def _project(row: Row, fields: tuple[str, ...]) -> Row:
    return {k: row[k] for k in fields if k in row}


class ConversationsRepository(_Fake):
    """Conversation metadata by id."""

    def get(self, conversation_id: str) -> Row | None:
        self._called("get", conversation_id)
        with self.store.lock:
            return _copy(self.store.conversations.get(conversation_id))

    def get_many(self, conversation_ids: list[str]) -> dict[str, Row]:
        self._called("get_many", tuple(conversation_ids))
        with self.store.lock:
            return {
                c: _copy(self.store.conversations[c])
                for c in sorted(set(conversation_ids))
                if c in self.store.conversations
            }


class MembersRepository(_Fake):
    """Membership rows with role, joinedSeq, readSeq and blocked."""

    def get(self, conversation_id: str, user_id: str) -> Row | None:
        self._called("get", conversation_id, user_id)
        with self.store.lock:
            return _copy(self.store.members.get((conversation_id, user_id)))

    def _rows(self, conversation_id: str) -> list[Row]:
        return [
            row for (cid, _), row in sorted(self.store.members.items()) if cid == conversation_id
        ]

    def page(
        self, conversation_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[Row], str | None]:
        """Members in userId order; the continuation key only when more rows follow."""
        self._called("page", conversation_id, limit, start_after)
        with self.store.lock:
            rows = [
                r
                for r in self._rows(conversation_id)
                if start_after is None or r["userId"] > start_after
            ]
        chosen = [_project(r, _PAGE_FIELDS) for r in rows[:limit]]
        more = len(rows) > limit
        return chosen, (chosen[-1]["userId"] if more and chosen else None)

    def all(self, conversation_id: str) -> list[Row]:
        self._called("all", conversation_id)
        with self.store.lock:
            return [_project(r, _PAGE_FIELDS) for r in self._rows(conversation_id)]

    def for_user(self, user_id: str) -> list[Row]:
        self._called("for_user", user_id)
        with self.store.lock:
            return [
                _project(row, _INDEX_FIELDS)
                for (_, uid), row in sorted(self.store.members.items())
                if uid == user_id
            ]

    def read_seqs(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        self._called("read_seqs", user_id, tuple(conversation_ids))
        with self.store.lock:
            out = {}
            for cid in sorted(set(conversation_ids)):
                row = self.store.members.get((cid, user_id))
                if row is not None:
                    out[cid] = int(row.get("readSeq", 0))
            return out

    def advance_read(self, conversation_id: str, user_id: str, seq: int) -> bool:
        """`readSeq < seq` on an existing row, like the conditional update (missing -> False)."""
        self._called("advance_read", conversation_id, user_id, seq)
        with self.store.lock:
            row = self.store.members.get((conversation_id, user_id))
            if row is None or "readSeq" not in row or not row["readSeq"] < seq:
                return False
            row["readSeq"] = seq
            return True

    def set_blocked(self, conversation_id: str, user_id: str, blocked: bool) -> None:
        self._called("set_blocked", conversation_id, user_id, blocked)
        with self.store.lock:
            row = self.store.members.get((conversation_id, user_id))
            if row is not None:
                row["blocked"] = blocked


class MessagesRepository(_Fake):
    """Append-only per-conversation logs with the conditional put and the dedupe lookup."""

    def __init__(self, store: FakeStore | None = None) -> None:
        super().__init__(store)
        self.before_put: Callable[[Row], None] | None = None
        self.lose_every_put = False

    def last_seq(self, conversation_id: str) -> int:
        self._called("last_seq", conversation_id)
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            return max(log, default=0)

    def newest(self, conversation_id: str) -> Newest:
        """The highest seq and its message's `own` map (like the consistent Query)."""
        self._called("newest", conversation_id)
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            top = max(log, default=0)
            return Newest(top, _own(log.get(top)))

    def newest_many(self, conversation_ids: list[str]) -> dict[str, Newest]:
        return {c: self.newest(c) for c in conversation_ids}

    def find_by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> Row | None:
        """The full stored message (the `byClientMsgId` index projects ALL)."""
        self._called("find_by_client_id", conversation_id, sender_id, client_msg_id)
        wanted = dedupe_key(sender_id, client_msg_id)
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            found = [
                m
                for _, m in sorted(log.items())
                if dedupe_key(m["senderId"], m["clientMsgId"]) == wanted
            ]
            return _wire(found[0]) if found else None

    def put_if_absent(self, message: Row) -> bool:
        self._called("put_if_absent", message["conversationId"], message["seq"])
        if self.before_put is not None:
            self.before_put(message)
        if self.lose_every_put:
            return False
        stored = _stored_message(message)
        with self.store.lock:
            log = self.store.messages.setdefault(stored["conversationId"], {})
            if stored["seq"] in log:
                return False
            log[stored["seq"]] = stored
            return True

    def after(
        self, conversation_id: str, after_seq: int, limit: int, consistent: bool = False
    ) -> list[Row]:
        self._called("after", conversation_id, after_seq, limit)
        return self._after(conversation_id, after_seq, limit)[0]

    def after_with_own(
        self, conversation_id: str, after_seq: int, limit: int, consistent: bool = False
    ) -> tuple[list[Row], dict[str, int]]:
        """`after`, and the `own` map of the last message returned ({} for none)."""
        self._called("after_with_own", conversation_id, after_seq, limit)
        return self._after(conversation_id, after_seq, limit)

    def _after(
        self, conversation_id: str, after_seq: int, limit: int
    ) -> tuple[list[Row], dict[str, int]]:
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            chosen = [log[s] for s in sorted(log) if s > after_seq][:limit]
            return [_wire(m) for m in chosen], _own(chosen[-1] if chosen else None)

    def before(self, conversation_id: str, before_seq: int, min_seq: int, limit: int) -> list[Row]:
        self._called("before", conversation_id, before_seq, min_seq, limit)
        if before_seq <= min_seq:
            return []
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            chosen = [s for s in sorted(log, reverse=True) if min_seq <= s < before_seq][:limit]
            return [_wire(log[s]) for s in reversed(chosen)]

    def count_all(self, conversation_id: str) -> int:
        with self.store.lock:
            return len(self.store.messages.get(conversation_id, {}))

    # test helpers
    def seqs(self, conversation_id: str) -> list[int]:
        with self.store.lock:
            return sorted(self.store.messages.get(conversation_id, {}))

    def own_of(self, conversation_id: str, seq: int) -> dict[str, int] | None:
        """The stored `own` map of one message (None when it has none)."""
        with self.store.lock:
            stored = self.store.messages.get(conversation_id, {}).get(seq)
            return dict(stored["own"]) if stored is not None and "own" in stored else None


class MembershipRepository(_Fake):
    """Transactions across conversations, members and messages (atomic under the lock).

    Conditions and the mapping of failures are those of the DynamoDB version: every
    condition is evaluated; the seq taken -> :class:`SeqTaken`; the conversation missing or
    full -> :class:`ConversationNotFound` / :class:`PayloadTooLarge`; an added user already a
    member -> :class:`Conflict`; a removed/re-roled user missing, or a demoted user no longer
    the owner -> :class:`Forbidden`.
    """

    def __init__(self, store: FakeStore | None = None) -> None:
        super().__init__(store)
        self.transactions: list[dict[str, Any]] = []

    def create_dm(self, conversation: Row, members: list[Row]) -> bool:
        self._called("create_dm", conversation["conversationId"])
        with self.store.lock:
            cid = conversation["conversationId"]
            if cid in self.store.conversations or any(
                (m["conversationId"], m["userId"]) in self.store.members for m in members
            ):
                return False
            self.store.conversations[cid] = _copy(conversation)
            for m in members:
                self.store.members[(m["conversationId"], m["userId"])] = _copy(m)
            self.transactions.append({"kind": "create_dm", "items": 1 + len(members)})
            return True

    def create_group(self, conversation: Row, message: Row, members: list[Row]) -> None:
        self._called("create_group", conversation["conversationId"])
        with self.store.lock:
            cid = conversation["conversationId"]
            log = self.store.messages.setdefault(message["conversationId"], {})
            if cid in self.store.conversations or int(message["seq"]) in log:
                raise client_error("TransactionCanceledException", "TransactWriteItems")
            self.store.conversations[cid] = _copy(conversation)
            log[int(message["seq"])] = _stored_message(message)
            for m in members:
                self.store.members[(m["conversationId"], m["userId"])] = _copy(m)
            self.transactions.append(
                {"kind": "create_group", "items": 2 + len(members), "members": len(members)}
            )

    def change(
        self,
        conversation_id: str,
        message: Row,
        *,
        add: list[Row] | None = None,
        remove: list[str] | None = None,
        set_role: tuple[str, str] | None = None,
        demote: str | None = None,
        max_members: int,
    ) -> None:
        self._called("change", conversation_id, message["seq"])
        add = add or []
        remove = remove or []
        delta = len(add) - len(remove)
        with self.store.lock:
            log = self.store.messages.setdefault(conversation_id, {})
            conv = self.store.conversations.get(conversation_id)
            failed: list[int] = []
            if int(message["seq"]) in log:
                failed.append(0)
            if conv is None or (
                delta > 0 and not conv.get("memberCount", 0) <= max_members - delta
            ):
                failed.append(1)
            index = 2
            for row in add:
                if (conversation_id, row["userId"]) in self.store.members:
                    failed.append(index)
                index += 1
            for user_id in remove:
                if (conversation_id, user_id) not in self.store.members:
                    failed.append(index)
                index += 1
            if set_role is not None:
                if (conversation_id, set_role[0]) not in self.store.members:
                    failed.append(index)
                index += 1
            if demote is not None:
                row = self.store.members.get((conversation_id, demote))
                if row is None or row.get("role") != "owner":
                    failed.append(index)
            if failed:
                if 0 in failed:
                    raise SeqTaken()
                if 1 in failed:
                    if delta > 0:
                        raise PayloadTooLarge(f"a group has at most {max_members} members")
                    raise ConversationNotFound()
                if add and any(2 <= i < 2 + len(add) for i in failed):
                    raise Conflict("already a member")
                raise Forbidden("not a member")
            assert conv is not None
            log[int(message["seq"])] = _stored_message(message)
            conv["memberCount"] = int(conv.get("memberCount", 0)) + delta
            for row in add:
                self.store.members[(conversation_id, row["userId"])] = _copy(row)
            for user_id in remove:
                del self.store.members[(conversation_id, user_id)]
            if set_role is not None:
                self.store.members[(conversation_id, set_role[0])]["role"] = set_role[1]
            if demote is not None:
                self.store.members[(conversation_id, demote)]["role"] = "admin"
            self.transactions.append(
                {
                    "kind": "change",
                    "event": message["body"].get("event"),
                    "items": 2
                    + len(add)
                    + len(remove)
                    + (1 if set_role else 0)
                    + (1 if demote else 0),
                    "added": len(add),
                    "seq": int(message["seq"]),
                }
            )


# ---- rate-limit counters -----------------------------------------------------------------


class LimitsRepository(_Fake):
    """Fixed-window counters keyed `<key>#<windowStart>`, like the Limits table."""

    def __init__(self, store: FakeStore | None = None) -> None:
        super().__init__(store)
        self.counters: dict[str, int] = {}

    def hit(
        self,
        key: str,
        limit: int,
        window_ms: int,
        now_ms: int,
        *,
        burst: int | None = None,
        burst_window_ms: int = 1000,
    ) -> int | None:
        """Count one hit unless the window (or, with `burst`, its current slice of
        `burst_window_ms`) is full; None if allowed, else ms until it reopens."""
        self._called("hit", key)
        start = now_ms - now_ms % window_ms
        with self.store.lock:
            slot = f"{key}#{start}"
            if self.counters.get(slot, 0) >= limit:
                return max(1, start + window_ms - now_ms)
            if burst is not None:
                piece = (now_ms - start) // burst_window_ms
                sub = f"{slot}#b{piece}"
                if self.counters.get(sub, 0) >= burst:
                    end = min(start + window_ms, start + (piece + 1) * burst_window_ms)
                    return max(1, end - now_ms)
                self.counters[sub] = self.counters.get(sub, 0) + 1
            self.counters[slot] = self.counters.get(slot, 0) + 1
            return None

    def count(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Hits so far in the current window and ms until it ends."""
        self._called("count", key)
        start = now_ms - now_ms % window_ms
        with self.store.lock:
            return self.counters.get(f"{key}#{start}", 0), max(1, start + window_ms - now_ms)


# ---- push queue --------------------------------------------------------------------------


class PushQueue:
    """Records work items (as the JSON the queue would carry); `fail` makes sends raise."""

    def __init__(self) -> None:
        self.items: list[Row] = []
        self.fail = False
        self.calls = 0
        self._lock = threading.Lock()

    def send_all(self, items: list[Row]) -> None:
        with self._lock:
            self.calls += 1
            if self.fail:
                raise Unavailable("push queue unavailable")
            self.items.extend(json.loads(json.dumps(i)) for i in items)

    def of_kind(self, kind: str) -> list[Row]:
        with self._lock:
            return [i for i in self.items if i.get("kind") == kind]


# ---- everything at once ------------------------------------------------------------------


class FakeRepos:
    """One store and one fake of each repository over it, plus a queue and a clock."""

    def __init__(self, clock: FixedClock | StepClock | None = None) -> None:
        self.store = FakeStore()
        self.users = UsersRepository(self.store)
        self.sessions = SessionsRepository(self.store)
        self.connections = ConnectionsRepository(self.store)
        self.conversations = ConversationsRepository(self.store)
        self.members = MembersRepository(self.store)
        self.messages = MessagesRepository(self.store)
        self.membership = MembershipRepository(self.store)
        self.limits = LimitsRepository(self.store)
        self.queue = PushQueue()
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
        with self.store.lock:
            row: Row = {
                "conversationId": conversation_id,
                "userId": user_id,
                "role": role,
                "joinedSeq": joined_seq,
                "readSeq": joined_seq - 1 if read_seq is None else read_seq,
                "joinedAt": 0,
            }
            if blocked is not None:
                row["blocked"] = blocked
            self.store.members[(conversation_id, user_id)] = row
            conv = self.store.conversations.get(conversation_id)
            if conv is not None:
                conv["memberCount"] = int(conv.get("memberCount", 0)) + 1

    def add_conversation(
        self, conversation_id: str, *, type_: str | None = None, name: str | None = None
    ) -> None:
        with self.store.lock:
            count = sum(1 for (cid, _) in self.store.members if cid == conversation_id)
            row: Row = {
                "conversationId": conversation_id,
                "type": type_ or ("dm" if conversation_id.startswith("dm:") else "group"),
                "memberCount": count,
            }
            if name is not None:
                row["name"] = name
            self.store.conversations[conversation_id] = row

    def add_message(
        self,
        conversation_id: str,
        seq: int,
        sender: str = "alice",
        text: str | None = None,
        *,
        own: dict[str, int] | None = None,
    ) -> Row:
        """Store a message directly; without `own`, like one written before the map existed
        (or a group's). The returned message has the wire fields only."""
        message: Row = {
            "conversationId": conversation_id,
            "seq": seq,
            "messageId": f"M{seq:025d}",
            "senderId": sender,
            "clientMsgId": f"c-{conversation_id.replace(':', '-')}-{seq}",
            "body": {"type": "text", "text": text if text is not None else f"m{seq}"},
            "ts": 1_700_000_000_000 + seq,
        }
        with self.store.lock:
            self.store.messages.setdefault(conversation_id, {})[seq] = _stored_message(
                {**message, "own": own}
            )
        return message
