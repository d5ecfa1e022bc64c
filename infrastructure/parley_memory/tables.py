"""The DynamoDB repositories of `parley.repositories`, in memory: the same methods, the same
answers (including what each Query projects) and the same conditional-write failures."""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable
from typing import Any, TypeVar, cast

from parley.errors import Conflict, ConversationNotFound, Forbidden, PayloadTooLarge
from parley.ports import ListState, Newest, SeqTaken
from parley.records import (
    Connection,
    Conversation,
    Member,
    MemberEntry,
    Message,
    Profile,
    Session,
    StoredMessage,
    User,
    is_countable,
)
from parley.records import Membership as UserMembership
from parley.repositories.conversations import left_marker
from parley.repositories.messages import BY_CLIENT_MSG_ID, dedupe_key

from parley_memory.store import (
    Repository,
    Row,
    Store,
    protocol_message,
    stored_message,
)

T = TypeVar("T")

PROFILE = "profile"
BLOCK = "block#"


def client_error(code: str, operation: str) -> Exception:
    """A botocore ClientError with `code`, as boto3 raises it (for untranslated failures)."""
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def _copy(value: T) -> T:
    return copy.deepcopy(value)


def _entry(row: Member) -> MemberEntry:
    """`userId, role, joinedSeq`: the projection of a member list Query."""
    return {"userId": row["userId"], "role": row["role"], "joinedSeq": row["joinedSeq"]}


def _membership(row: Member) -> UserMembership:
    """The Members `byUser` index entry (keys, role and joinedSeq)."""
    return {
        "conversationId": row["conversationId"],
        "userId": row["userId"],
        "role": row["role"],
        "joinedSeq": row["joinedSeq"],
    }


# ---- users and sessions ------------------------------------------------------------------


class Users(Repository):
    """Profiles and block lists (`pk` = userId, `sk` = `profile` | `block#<userId>`)."""

    table = "UsersTable"

    def _get(self, key: tuple[str, str]) -> Row | None:
        with self.store.lock:
            row = _copy(self.store.users.get(key))
        self._read("GetItem", [row])
        return row

    def _put(self, key: tuple[str, str], new: Row | None, *, only_new: bool) -> Row | None:
        """Put (or delete, `new` None) one item; with `only_new`, only if absent. The
        previous item; the write happened unless `only_new` and it existed."""
        with self.store.lock:
            old = self.store.users.get(key)
            applied = not (only_new and old is not None)
            if applied:
                if new is None:
                    self.store.users.pop(key, None)
                else:
                    self.store.users[key] = _copy(new)
        self._wrote(
            "DeleteItem" if new is None else "PutItem", old, new if applied else old, applied
        )
        return old

    def create(self, user_id: str, password_hash: str, display_name: str, now: int) -> None:
        self._called("create", user_id)
        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "passwordHash": password_hash,
            "displayName": display_name,
            "createdAt": now,
        }
        if self._put((user_id, PROFILE), cast(Row, item), only_new=True) is not None:
            raise Conflict("userId is taken")

    def provision(self, user_id: str, display_name: str, identity_provider: str, now: int) -> User:
        self._called("provision", user_id, identity_provider)
        item: User = {
            "pk": user_id,
            "sk": PROFILE,
            "displayName": display_name,
            "identityProvider": identity_provider,
            "createdAt": now,
        }
        existing = self._put((user_id, PROFILE), cast(Row, item), only_new=True)
        return cast(User, _copy(existing)) if existing is not None else item

    def get(self, user_id: str) -> User | None:
        self._called("get", user_id)
        return cast("User | None", self._get((user_id, PROFILE)))

    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        self._called("replace_password_hash", user_id)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is None or row.get("passwordHash") != old_hash:
                return False
            row["passwordHash"] = new_hash
            return True

    def set_suspended(self, user_id: str, reason: str, now: int) -> bool:
        self._called("set_suspended", user_id)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is None:
                return False
            row["suspended"] = now
            row["suspendedReason"] = reason
            return True

    def clear_suspended(self, user_id: str) -> bool:
        self._called("clear_suspended", user_id)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is None:
                return False
            row.pop("suspended", None)
            row.pop("suspendedReason", None)
            return True

    def existing(self, user_ids: list[str]) -> set[str]:
        self._called("existing", tuple(user_ids))
        with self.store.lock:
            return {
                u
                for u in set(user_ids)
                if "deletedAt" not in self.store.users.get((u, PROFILE), {"deletedAt": 0})
            }

    def profiles(self, user_ids: list[str]) -> dict[str, Profile]:
        self._called("profiles", tuple(user_ids))
        out: dict[str, Profile] = {}
        with self.store.lock:
            for u in sorted(set(user_ids)):
                row = self.store.users.get((u, PROFILE))
                if row is not None and "deletedAt" not in row:
                    fields = ("pk", "displayName", "lastSeen")
                    out[u] = cast(Profile, {k: row[k] for k in fields if k in row})
        return out

    def set_last_seen(self, user_id: str, ts: int) -> None:
        self._called("set_last_seen", user_id, ts)
        with self.store.lock:
            row = self.store.users.get((user_id, PROFILE))
            if row is not None and "deletedAt" not in row:
                row["lastSeen"] = ts

    def block(self, blocker: str, blocked: str, now: int) -> None:
        self._called("block", blocker, blocked)
        item = {"pk": blocker, "sk": BLOCK + blocked, "createdAt": now}
        self._put((blocker, BLOCK + blocked), item, only_new=False)

    def unblock(self, blocker: str, blocked: str) -> None:
        self._called("unblock", blocker, blocked)
        self._put((blocker, BLOCK + blocked), None, only_new=False)

    def is_blocked(self, blocker: str, blocked: str) -> bool:
        self._called("is_blocked", blocker, blocked)
        return self._get((blocker, BLOCK + blocked)) is not None

    def blockers_of(self, blocked: str, candidates: list[str]) -> set[str]:
        self._called("blockers_of", blocked, len(candidates))
        return {u for u in set(candidates) if self._get((u, BLOCK + blocked)) is not None}


class Sessions(Repository):
    """One item per login: userId, current refresh generation, revoked flag."""

    def create(
        self, session_id: str, user_id: str, now: int, expires_at: int, ends_at: int = 0
    ) -> None:
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
            if ends_at:
                self.store.sessions[session_id]["endsAt"] = ends_at

    def get(self, session_id: str) -> Session | None:
        self._called("get", session_id)
        with self.store.lock:
            return _copy(self.store.sessions.get(session_id))

    def by_user(self, user_id: str) -> list[str]:
        self._called("by_user", user_id)
        with self.store.lock:
            return [s for s, row in self.store.sessions.items() if row["userId"] == user_id]

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
            row["gen"] = generation + 1
            row["refreshedAt"] = now
            row["expiresAt"] = expires_at
            return True

    def revoke(self, session_id: str, now: int) -> None:
        self._called("revoke", session_id)
        with self.store.lock:
            row = self.store.sessions.get(session_id)
            if row is not None:
                row["revoked"] = True
                row["revokedAt"] = now


# ---- connections -------------------------------------------------------------------------


class Connections(Repository):
    """Live WebSocket connections by id and by user (the `byUser` index)."""

    table = "ConnectionsTable"

    def put(self, connection: Connection) -> None:
        self._called("put", connection.get("connectionId"))
        # As the codec does: `None` attributes are not stored.
        item = cast(Connection, {k: v for k, v in connection.items() if v is not None})
        with self.store.lock:
            old = self.store.put_connection(_copy(item))
        self._wrote("PutItem", old, item)

    def get(self, connection_id: str) -> Connection | None:
        self._called("get", connection_id)
        with self.store.lock:
            row = _copy(self.store.connections.get(connection_id))
        self._read("GetItem", [row])
        return row

    def delete(self, connection_id: str) -> Connection | None:
        self._called("delete", connection_id)
        with self.store.lock:
            row = self.store.drop_connection(connection_id)
        self._wrote("DeleteItem", row, None)
        return row

    def by_user(self, user_id: str, now: int) -> list[Connection]:
        self._called("by_user", user_id)
        with self.store.lock:
            ids = sorted(self.store.connections_by_user.get(user_id, ()))
            rows = [_copy(self.store.connections[c]) for c in ids]
        self._read("Query", rows, index="byUser")
        return [c for c in rows if int(c.get("ttl", now + 1)) > now]

    def by_users(self, user_ids: list[str], now: int) -> dict[str, list[Connection]]:
        return {u: self.by_user(u, now) for u in sorted(set(user_ids))}


# ---- conversations and members -----------------------------------------------------------


class Conversations(Repository):
    """Conversation metadata by id."""

    table = "ConversationsTable"

    def get(self, conversation_id: str) -> Conversation | None:
        self._called("get", conversation_id)
        with self.store.lock:
            row = _copy(self.store.conversations.get(conversation_id))
        self._read("GetItem", [row])
        return row

    def get_many(self, conversation_ids: list[str]) -> dict[str, Conversation]:
        self._called("get_many", tuple(conversation_ids))
        with self.store.lock:
            return {
                c: _copy(self.store.conversations[c])
                for c in sorted(set(conversation_ids))
                if c in self.store.conversations
            }


class Members(Repository):
    """Membership rows with role, joinedSeq, readSeq and blocked."""

    table = "MembersTable"

    def get(self, conversation_id: str, user_id: str) -> Member | None:
        self._called("get", conversation_id, user_id)
        with self.store.lock:
            row = _copy(self.store.member(conversation_id, user_id))
        self._read("GetItem", [row], consistent=True)
        return row

    def page(
        self, conversation_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[MemberEntry], str | None]:
        """Members in userId order; the continuation key only when more rows follow."""
        self._called("page", conversation_id, limit, start_after)
        with self.store.lock:
            order = self.store.member_order.get(conversation_id, [])
            start = 0 if start_after is None else _after(order, start_after)
            chosen = order[start : start + limit]
            rows = self.store.members.get(conversation_id, {})
            full = [rows[u] for u in chosen]
            more = start + limit < len(order)
            out = [_entry(r) for r in full]
            # A Query bills the items it reads, whatever it projects.
            self._read("Query", full)
        return out, (chosen[-1] if more and chosen else None)

    def all(self, conversation_id: str) -> list[MemberEntry]:
        self._called("all", conversation_id)
        with self.store.lock:
            return [_entry(r) for r in self.store.member_rows(conversation_id)]

    def for_user(self, user_id: str) -> list[UserMembership]:
        self._called("for_user", user_id)
        with self.store.lock:
            found = sorted(self.store.members_by_user.get(user_id, ()))
            rows = [self.store.member(c, user_id) for c in found]
            return [_membership(r) for r in rows if r is not None]

    def present(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        self._called("present", len(pairs))
        with self.store.lock:
            return {(c, u) for c, u in set(pairs) if self.store.member(c, u) is not None}

    def read_seqs(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        self._called("read_seqs", user_id, tuple(conversation_ids))
        with self.store.lock:
            out = {}
            for cid in sorted(set(conversation_ids)):
                row = self.store.member(cid, user_id)
                if row is not None:
                    out[cid] = int(row.get("readSeq", 0))
            return out

    def for_user_page(
        self, user_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[UserMembership], str | None]:
        """A page of the user's memberships in conversationId order (like the index Query)."""
        self._called("for_user_page", user_id, limit, start_after)
        with self.store.lock:
            found = sorted(self.store.members_by_user.get(user_id, ()))
            if start_after is not None:
                found = [c for c in found if c > start_after]
            chosen = found[: limit + 1]
            rows = [self.store.member(c, user_id) for c in chosen[:limit]]
            page = [_membership(r) for r in rows if r is not None]
        more = len(chosen) > limit
        return page, (page[-1]["conversationId"] if more and page else None)

    def list_states(self, user_id: str, conversation_ids: list[str]) -> dict[str, ListState]:
        self._called("list_states", user_id, tuple(conversation_ids))
        with self.store.lock:
            out = {}
            for cid in sorted(set(conversation_ids)):
                row = self.store.member(cid, user_id)
                if row is not None:
                    out[cid] = ListState(int(row.get("readSeq", 0)), bool(row.get("muted", False)))
            return out

    def mute_states(self, conversation_id: str, user_ids: list[str]) -> dict[str, bool]:
        self._called("mute_states", conversation_id, tuple(user_ids))
        with self.store.lock:
            rows = [self.store.member(conversation_id, u) for u in sorted(set(user_ids))]
            found = [r for r in rows if r is not None]
        self._read("BatchGetItem", found)
        return {r["userId"]: bool(r.get("muted", False)) for r in found}

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        self._called("set_muted", conversation_id, user_id, muted)
        with self.store.lock:
            row = self.store.member(conversation_id, user_id)
            if row is None:
                return False
            row["muted"] = muted
            return True

    def advance_read(self, conversation_id: str, user_id: str, seq: int) -> bool:
        """`readSeq < seq` on an existing row, like the conditional update (missing -> False)."""
        self._called("advance_read", conversation_id, user_id, seq)
        with self.store.lock:
            row = self.store.member(conversation_id, user_id)
            old = _copy(row) if self.store.probing else None
            applied = row is not None and "readSeq" in row and row["readSeq"] < seq
            if applied and row is not None:
                row["readSeq"] = seq
            self._wrote("UpdateItem", old, row, applied)
        return applied

    def set_blocked(self, conversation_id: str, user_id: str, blocked: bool) -> None:
        self._called("set_blocked", conversation_id, user_id, blocked)
        with self.store.lock:
            row = self.store.member(conversation_id, user_id)
            if row is not None:
                row["blocked"] = blocked


def _after(order: list[str], start_after: str) -> int:
    """Where a page that continues after `start_after` starts in the sorted `order`."""
    return bisect.bisect_right(order, start_after)


# ---- messages ------------------------------------------------------------------------------


class Messages(Repository):
    """Append-only per-conversation logs with the conditional put and the dedupe index.

    Fault hooks: `before_put` runs (outside the lock) before every conditional put, so a
    test can widen race windows or let another writer take the seq first; with
    `lose_every_put` every put answers "taken".
    """

    table = "MessagesTable"

    def __init__(self, store: Store | None = None) -> None:
        super().__init__(store)
        self.before_put: Callable[[Message], None] | None = None
        self.lose_every_put = False
        # `expiresAt` per (conversationId, seq): kept beside the store's records, which
        # hold only what a client or a write's rules read.
        self.expiries: dict[tuple[str, int], int] = {}

    def _top(self, conversation_id: str) -> StoredMessage | None:
        log = self.store.messages.get(conversation_id, {})
        return log[max(log)] if log else None

    def last_seq(self, conversation_id: str) -> int:
        self._called("last_seq", conversation_id)
        with self.store.lock:
            top = self._top(conversation_id)
        self._read("Query", [top], consistent=True)
        return top["seq"] if top else 0

    def newest(self, conversation_id: str) -> Newest:
        """The highest seq and its message's `own` map (like the consistent Query)."""
        self._called("newest", conversation_id)
        with self.store.lock:
            top = self._top(conversation_id)
            own = dict(top.get("own", {})) if top else {}
        self._read("Query", [top], consistent=True)
        if top is None:
            return Newest(0, {}, 0)
        return Newest(top["seq"], own, top.get("n"), top["ts"])

    def newest_many(self, conversation_ids: list[str]) -> dict[str, Newest]:
        return {c: self.newest(c) for c in conversation_ids}

    def find_by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> Message | None:
        """The full stored message (the `byClientMsgId` index projects ALL)."""
        self._called("find_by_client_id", conversation_id, sender_id, client_msg_id)
        with self.store.lock:
            seq = self.store.dedupe.get((conversation_id, dedupe_key(sender_id, client_msg_id)))
            found = self.store.messages.get(conversation_id, {}).get(seq) if seq else None
            message = protocol_message(found) if found else None
        self._read("Query", [found], index=BY_CLIENT_MSG_ID, consistent=True)
        return message

    def put_if_absent(
        self, message: Message, own: dict[str, int] | None = None, n: int | None = None
    ) -> bool:
        self._called("put_if_absent", message["conversationId"], message["seq"])
        if self.before_put is not None:
            self.before_put(message)
        if self.lose_every_put:
            return False
        stored = stored_message(message, own, n)
        with self.store.lock:
            old = self.store.messages.get(stored["conversationId"], {}).get(stored["seq"])
            applied = old is None
            if applied:
                self.store.put_message(stored)
        self._wrote("PutItem", old, stored if applied else old, applied)
        return applied

    def after_with_own(
        self,
        conversation_id: str,
        after_seq: int,
        limit: int,
        consistent: bool = False,
        min_ts: int = 0,
    ) -> tuple[list[Message], dict[str, int]]:
        """Up to `limit` messages with seq > `after_seq` and ts >= `min_ts`, ascending, and
        the `own` map of the last one returned ({} for none)."""
        self._called("after_with_own", conversation_id, after_seq, limit)
        return self._after(conversation_id, after_seq, limit, min_ts)

    def _after(
        self, conversation_id: str, after_seq: int, limit: int, min_ts: int = 0
    ) -> tuple[list[Message], dict[str, int]]:
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            chosen = [log[s] for s in sorted(log) if s > after_seq and log[s]["ts"] >= min_ts]
            chosen = chosen[:limit]
            own = dict(chosen[-1].get("own", {})) if chosen else {}
            return [protocol_message(m) for m in chosen], own

    def before(
        self, conversation_id: str, before_seq: int, min_seq: int, limit: int, min_ts: int = 0
    ) -> list[Message]:
        self._called("before", conversation_id, before_seq, min_seq, limit)
        if before_seq <= min_seq:
            return []
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            chosen: list[int] = []
            for s in sorted(log, reverse=True):
                if len(chosen) == limit or s < min_seq:
                    break
                if s >= before_seq:
                    continue
                if log[s]["ts"] < min_ts:
                    break  # as the DynamoDB version: the first expired one ends the page
                chosen.append(s)
            return [protocol_message(log[s]) for s in reversed(chosen)]

    def expire(self, conversation_id: str, seq: int, expires_at: int) -> bool:
        """Set a stored message's `expiresAt` (like the UpdateItem on attribute_exists);
        nothing here expires it: tests remove it as TTL would (`remove`)."""
        self._called("expire", conversation_id, seq)
        with self.store.lock:
            stored = self.store.messages.get(conversation_id, {}).get(seq)
            if stored is not None:
                self.expiries[(conversation_id, seq)] = expires_at
        self._wrote("UpdateItem", stored, stored, stored is not None)
        return stored is not None

    def get(self, conversation_id: str, seq: int) -> Message | None:
        """One message in its current state (like the consistent GetItem)."""
        self._called("get", conversation_id, seq)
        with self.store.lock:
            found = self.store.messages.get(conversation_id, {}).get(seq)
            message = protocol_message(found) if found else None
        self._read("GetItem", [found], consistent=True)
        return message

    def counts_at(self, positions: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        """The running count at each position (like the BatchGetItem projecting `n`)."""
        self._called("counts_at", len(positions))
        with self.store.lock:
            found = {
                (cid, seq): self.store.messages.get(cid, {}).get(seq) for cid, seq in set(positions)
            }
        self._read("BatchGetItem", found.values())
        return {pos: row.get("n") for pos, row in found.items() if row is not None}

    def count_below_kept(
        self, conversation_id: str, after_seq: int, min_ts: int
    ) -> tuple[int, int | None] | None:
        """The oldest kept message above `after_seq` and the count just below it (like the
        filtered Query projecting seq, n and body)."""
        self._called("count_below_kept", conversation_id, after_seq)
        with self.store.lock:
            log = self.store.messages.get(conversation_id, {})
            scanned = [log[s] for s in sorted(log) if s > after_seq]
            kept = next((m for m in scanned if m["ts"] >= min_ts), None)
            read = scanned[: scanned.index(kept) + 1] if kept is not None else scanned
        self._read("Query", read)
        if kept is None:
            return None
        n = kept.get("n")
        return kept["seq"], None if n is None else n - (1 if is_countable(kept["body"]) else 0)

    # inspection helpers (not part of the port)

    def expires_at(self, conversation_id: str, seq: int) -> int | None:
        """The `expiresAt` a message was given (None: it never expires)."""
        with self.store.lock:
            return self.expiries.get((conversation_id, seq))

    def remove(self, conversation_id: str, seq: int) -> None:
        """Delete one message as DynamoDB's TTL would (no call, not recorded)."""
        with self.store.lock:
            self.store.messages.get(conversation_id, {}).pop(seq, None)
            self.expiries.pop((conversation_id, seq), None)

    def after(self, conversation_id: str, after_seq: int, limit: int) -> list[Message]:
        """Up to `limit` messages with seq > `after_seq`, ascending (not a call: no latency,
        not recorded)."""
        return self._after(conversation_id, after_seq, limit)[0]

    def seqs(self, conversation_id: str) -> list[int]:
        """Every stored seq of a conversation, ascending."""
        with self.store.lock:
            return sorted(self.store.messages.get(conversation_id, {}))

    def own_of(self, conversation_id: str, seq: int) -> dict[str, int] | None:
        """The stored `own` map of one message (None when it has none)."""
        with self.store.lock:
            stored = self.store.messages.get(conversation_id, {}).get(seq)
            return dict(stored["own"]) if stored is not None and "own" in stored else None


# ---- transactions ------------------------------------------------------------------------


class Membership(Repository):
    """Transactions across conversations, members and messages (atomic under the lock).

    Conditions and the mapping of failures are those of the DynamoDB version: every
    condition is evaluated; the seq taken -> :class:`SeqTaken`; the conversation missing or
    full -> :class:`ConversationNotFound` / :class:`PayloadTooLarge`; an added user already a
    member -> :class:`Conflict`; a removed/re-roled user missing, or a demoted user no longer
    the owner -> :class:`Forbidden`. `transactions` records each one applied.
    """

    def __init__(self, store: Store | None = None) -> None:
        super().__init__(store)
        self.transactions: list[dict[str, Any]] = []

    def create_dm(self, conversation: Conversation, members: list[Member]) -> bool:
        self._called("create_dm", conversation["conversationId"])
        with self.store.lock:
            cid = conversation["conversationId"]
            if cid in self.store.conversations or any(
                self.store.member(m["conversationId"], m["userId"]) is not None for m in members
            ):
                return False
            self.store.conversations[cid] = _copy(conversation)
            for m in members:
                self.store.put_member(_copy(m))
            self.transactions.append({"kind": "create_dm", "items": 1 + len(members)})
            return True

    def create_group(
        self, conversation: Conversation, message: Message, members: list[Member]
    ) -> None:
        self._called("create_group", conversation["conversationId"])
        with self.store.lock:
            cid = conversation["conversationId"]
            log = self.store.messages.get(message["conversationId"], {})
            if cid in self.store.conversations or int(message["seq"]) in log:
                raise client_error("TransactionCanceledException", "TransactWriteItems")
            self.store.conversations[cid] = _copy(conversation)
            # The group's first message, a system one: nothing countable yet.
            self.store.put_message(stored_message(message, n=0))
            for m in members:
                self.store.put_member(_copy(m))
            self.transactions.append(
                {"kind": "create_group", "items": 2 + len(members), "members": len(members)}
            )

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
        self._called("change", conversation_id, message["seq"])
        add = add or []
        remove = remove or []
        delta = len(add) - len(remove)
        with self.store.lock:
            conv = self.store.conversations.get(conversation_id)
            failed = self._failed(conversation_id, message, add, remove, set_role, demote)
            if conv is None or (
                delta > 0 and not conv.get("memberCount", 0) <= max_members - delta
            ):
                failed.append(1)
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
            self.store.put_message(stored_message(message, n=n))
            conv["memberCount"] = int(conv.get("memberCount", 0)) + delta
            for row in add:
                self.store.put_member(_copy(row))
            for user_id in remove:
                self.store.drop_member(conversation_id, user_id)
                # The user's `left#` marker, in the same write (account erasure finds it).
                marker = left_marker(user_id, message)
                self.store.users[(user_id, marker["sk"])] = marker
            if set_role is not None:
                self.store.members[conversation_id][set_role[0]]["role"] = set_role[1]
            if demote is not None:
                self.store.members[conversation_id][demote]["role"] = "admin"
            items = 2 + len(add) + 2 * len(remove) + (1 if set_role else 0) + (1 if demote else 0)
            self.transactions.append(
                {
                    "kind": "change",
                    "event": message["body"].get("event"),
                    "items": items,
                    "added": len(add),
                    "seq": int(message["seq"]),
                }
            )

    def _failed(
        self,
        conversation_id: str,
        message: Message,
        add: list[Member],
        remove: list[str],
        set_role: tuple[str, str] | None,
        demote: str | None,
    ) -> list[int]:
        """The indexes of the transaction items whose condition fails (the caller holds the
        lock); item 1, the conversation's counter, is the caller's to check."""
        failed: list[int] = []
        if int(message["seq"]) in self.store.messages.get(conversation_id, {}):
            failed.append(0)
        index = 2
        for row in add:
            if self.store.member(conversation_id, row["userId"]) is not None:
                failed.append(index)
            index += 1
        for user_id in remove:
            if self.store.member(conversation_id, user_id) is None:
                failed.append(index)
            index += 1
        if set_role is not None:
            if self.store.member(conversation_id, set_role[0]) is None:
                failed.append(index)
            index += 1
        if demote is not None:
            owner = self.store.member(conversation_id, demote)
            if owner is None or owner.get("role") != "owner":
                failed.append(index)
        return failed

    def add_rows(self, conversation_id: str, rows: list[Member], max_members: int) -> None:
        self._called("add_rows", conversation_id, len(rows))
        if not rows:
            return
        with self.store.lock:
            conv = self.store.conversations.get(conversation_id)
            if conv is None or not conv.get("memberCount", 0) <= max_members - len(rows):
                raise PayloadTooLarge(f"a group has at most {max_members} members")
            if any(self.store.member(conversation_id, r["userId"]) is not None for r in rows):
                raise Conflict("already a member")
            conv["memberCount"] = int(conv.get("memberCount", 0)) + len(rows)
            for row in rows:
                self.store.put_member(_copy(row))
            self.transactions.append(
                {"kind": "add_rows", "items": 1 + len(rows), "added": len(rows)}
            )


# ---- rate-limit counters -----------------------------------------------------------------


class Limits(Repository):
    """Fixed-window counters keyed `<key>#<windowStart>`, like the Limits table."""

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
        counters = self.store.counters
        with self.store.lock:
            slot = f"{key}#{start}"
            if counters.get(slot, 0) >= limit:
                return max(1, start + window_ms - now_ms)
            if burst is not None:
                piece = (now_ms - start) // burst_window_ms
                sub = f"{slot}#b{piece}"
                if counters.get(sub, 0) >= burst:
                    end = min(start + window_ms, start + (piece + 1) * burst_window_ms)
                    return max(1, end - now_ms)
                counters[sub] = counters.get(sub, 0) + 1
            counters[slot] = counters.get(slot, 0) + 1
            return None

    def count(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Hits so far in the current window and ms until it ends."""
        self._called("count", key)
        start = now_ms - now_ms % window_ms
        with self.store.lock:
            return self.store.counters.get(f"{key}#{start}", 0), max(1, start + window_ms - now_ms)

    def refund(self, key: str, window_ms: int, now_ms: int) -> None:
        """Give back one hit taken at `now_ms` (never below zero)."""
        self._called("refund", key)
        start = now_ms - now_ms % window_ms
        with self.store.lock:
            slot = f"{key}#{start}"
            if self.store.counters.get(slot, 0) > 0:
                self.store.counters[slot] -= 1

    def claim(self, key: str, expires_at: int) -> bool:
        """Mark `key` used (until `expires_at`, which the Limits table's TTL enforces);
        False when it already was."""
        self._called("claim", key)
        with self.store.lock:
            slot = f"claim#{key}"
            if slot in self.store.counters:
                return False
            self.store.counters[slot] = expires_at
            return True
