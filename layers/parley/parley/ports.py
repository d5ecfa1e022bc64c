"""The ports services depend on: one `Protocol` per repository, gateway, queue and clock.

The DynamoDB repositories (`parley.repositories`) implement them for Lambda; the in-memory
store (`parley_memory`) implements them for the unit tests and the benchmarks. mypy checks
both against these definitions where they are passed into services (`parley.runtime`,
`tests/unit/services/conftest.py`), so an implementation cannot drift from the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypedDict

from parley.clock import Clock
from parley.records import (
    AccountJob,
    Attachment,
    Connection,
    Conversation,
    Deleted,
    Device,
    Edited,
    ExportRecord,
    Member,
    MemberEntry,
    Membership,
    Message,
    NotifyItem,
    Profile,
    Session,
    StoredMessage,
    UploadForm,
    User,
    WorkItem,
)

__all__ = [
    "AccountJobs",
    "Accounts",
    "Attachments",
    "Change",
    "ClaimOutcome",
    "Clock",
    "ConnectionGateway",
    "Connections",
    "Conversations",
    "ErasureQueue",
    "EventOutcome",
    "Events",
    "ExportObjects",
    "Limits",
    "ListState",
    "Members",
    "MembershipWriter",
    "Messages",
    "Newest",
    "ObjectStore",
    "PostResult",
    "PushQueue",
    "SentMessages",
    "SeqTaken",
    "Sessions",
    "Spent",
    "Users",
]


class SeqTaken(Exception):
    """The seq chosen for a system message was taken by a concurrent writer: retry."""


class Newest(NamedTuple):
    """A conversation's newest seq (0 for none), that message's `own` map ({} for none), its
    running count of countable messages `n` (None when stored before counts existed) and its
    `ts` (None for none: the write that follows it sets its expiry, see "Retention")."""

    seq: int
    own: dict[str, int]
    n: int | None = 0
    ts: int | None = None


class ListState(NamedTuple):
    """What the conversation list reads of a member's own row: readSeq and `muted`."""

    read_seq: int
    muted: bool


class PostResult(StrEnum):
    """What one post to a connection did."""

    DELIVERED = "delivered"
    GONE = "gone"  # 410: the connection no longer exists; delete exactly that record
    THROTTLED = "throttled"
    FAILED = "failed"


class Users(Protocol):
    """Profiles, password hashes, lastSeen and block lists."""

    def create(self, user_id: str, password_hash: str, display_name: str, now: int) -> None:
        """Store a new user; :class:`~parley.errors.Conflict` when the id is taken."""
        ...

    def provision(self, user_id: str, display_name: str, identity_provider: str, now: int) -> User:
        """An external user's profile (no password), created unless one exists."""
        ...

    def get(self, user_id: str) -> User | None: ...

    def set_suspended(self, user_id: str, reason: str, now: int) -> bool:
        """Mark the user suspended; False for an unknown user."""
        ...

    def clear_suspended(self, user_id: str) -> bool:
        """Lift a suspension; False for an unknown user."""
        ...

    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Store `new_hash` if the stored hash is still `old_hash`; False otherwise."""
        ...

    def existing(self, user_ids: list[str]) -> set[str]: ...

    def profiles(self, user_ids: list[str]) -> dict[str, Profile]: ...

    def set_last_seen(self, user_id: str, ts: int) -> None: ...

    def block(self, blocker: str, blocked: str, now: int) -> None: ...

    def unblock(self, blocker: str, blocked: str) -> None: ...

    def is_blocked(self, blocker: str, blocked: str) -> bool: ...

    def blockers_of(self, blocked: str, candidates: list[str]) -> set[str]:
        """Which of `candidates` have blocked `blocked` (one BatchGetItem per 100)."""
        ...


class Sessions(Protocol):
    """One item per login."""

    def create(
        self, session_id: str, user_id: str, now: int, expires_at: int, ends_at: int = 0
    ) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def by_user(self, user_id: str) -> list[str]:
        """The ids of every login of `user_id`."""
        ...

    def rotate(self, session_id: str, generation: int, now: int, expires_at: int) -> bool:
        """Advance the generation from `generation`; False when it was not current."""
        ...

    def revoke(self, session_id: str, now: int) -> None: ...


class Connections(Protocol):
    """Live WebSocket connections, by id and by user (the `byUser` index)."""

    def put(self, connection: Connection) -> None: ...

    def get(self, connection_id: str) -> Connection | None: ...

    def delete(self, connection_id: str) -> Connection | None: ...

    def by_user(self, user_id: str, now: int) -> list[Connection]:
        """The user's connections whose TTL (seconds) is after `now`."""
        ...

    def by_users(self, user_ids: list[str], now: int) -> dict[str, list[Connection]]: ...


class Conversations(Protocol):
    """Conversation metadata."""

    def get(self, conversation_id: str) -> Conversation | None: ...

    def get_many(self, conversation_ids: list[str]) -> dict[str, Conversation]: ...


class Members(Protocol):
    """Who belongs to which conversation."""

    def get(self, conversation_id: str, user_id: str) -> Member | None:
        """The full row, strongly consistent."""
        ...

    def page(
        self, conversation_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[MemberEntry], str | None]:
        """Members in userId order and the userId to continue after (None on the last)."""
        ...

    def all(self, conversation_id: str) -> list[MemberEntry]: ...

    def for_user(self, user_id: str) -> list[Membership]: ...

    def read_seqs(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]: ...

    def present(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (conversationId, userId) pairs are members (one BatchGetItem per 100)."""
        ...

    def for_user_page(
        self, user_id: str, limit: int, start_after: str | None = None
    ) -> tuple[list[Membership], str | None]:
        """Up to `limit` of the user's memberships in conversationId order, after
        `start_after`, and the conversationId to continue after (None on the last page)."""
        ...

    def list_states(self, user_id: str, conversation_ids: list[str]) -> dict[str, ListState]:
        """The user's readSeq and mute setting in each conversation (absent: no row)."""
        ...

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        """Mute or unmute the conversation for the member; False when not a member."""
        ...

    def mute_states(self, conversation_id: str, user_ids: list[str]) -> dict[str, bool]:
        """Each of these users' `muted` in the conversation (absent: not a member), read in
        one BatchGetItem per 100 users (the notifier, before it reads devices)."""
        ...

    def advance_read(self, conversation_id: str, user_id: str, seq: int) -> bool:
        """Move readSeq forward to `seq`; False if it was already there or beyond."""
        ...

    def set_blocked(self, conversation_id: str, user_id: str, blocked: bool) -> None: ...


class MembershipWriter(Protocol):
    """Transactions across Conversations, Members and Messages."""

    def create_dm(self, conversation: Conversation, members: list[Member]) -> bool:
        """Create a direct conversation and its rows; False if it already existed."""
        ...

    def create_group(
        self, conversation: Conversation, message: Message, members: list[Member]
    ) -> None: ...

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
        """One membership change with its system message (:class:`SeqTaken` on a race)."""
        ...

    def add_rows(self, conversation_id: str, rows: list[Member], max_members: int) -> None:
        """Member rows that follow an addition's system message, with the member count, in
        one transaction (at most 99 rows; :class:`~parley.errors.PayloadTooLarge` past
        `max_members`, :class:`~parley.errors.Conflict` for a member already there)."""
        ...


class Messages(Protocol):
    """Append-only per-conversation logs."""

    def last_seq(self, conversation_id: str) -> int: ...

    def newest(self, conversation_id: str) -> Newest: ...

    def newest_many(self, conversation_ids: list[str]) -> dict[str, Newest]: ...

    def find_by_client_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> Message | None:
        """The message the sender stored under `client_msg_id` (the dedupe index)."""
        ...

    def put_if_absent(
        self, message: Message, own: dict[str, int] | None = None, n: int | None = None
    ) -> bool:
        """Store `message` (with a direct message's `own` map and the running count `n`) at
        its seq unless that seq is taken; False when it was taken."""
        ...

    def after_with_own(
        self,
        conversation_id: str,
        after_seq: int,
        limit: int,
        consistent: bool = False,
        min_ts: int = 0,
    ) -> tuple[list[Message], dict[str, int]]:
        """Up to `limit` messages with seq > `after_seq` and ts >= `min_ts` (retention),
        ascending, and the `own` map of the last one returned ({} for none)."""
        ...

    def before(
        self, conversation_id: str, before_seq: int, min_seq: int, limit: int, min_ts: int = 0
    ) -> list[Message]:
        """Up to `limit` messages with `min_seq` <= seq < `before_seq`, ascending; with
        `min_ts`, only the newest run at or above it (fewer than `limit`: nothing older is
        kept)."""
        ...

    def expire(self, conversation_id: str, seq: int, expires_at: int) -> bool:
        """Give a stored message its TTL `expiresAt` (epoch seconds); False when it is gone."""
        ...

    def count_below_kept(
        self, conversation_id: str, after_seq: int, min_ts: int
    ) -> tuple[int, int | None] | None:
        """The oldest message above `after_seq` with ts >= `min_ts`: its seq and the running
        count just below it (None: stored before counts); None when there is none."""
        ...

    def get(self, conversation_id: str, seq: int) -> Message | None:
        """One message in its current state (strongly consistent), None when absent."""
        ...

    def counts_at(self, positions: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        """The running count `n` at each (conversationId, seq): None for a message stored
        before counts existed, absent for no message."""
        ...


class Limits(Protocol):
    """Fixed-window counters."""

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
        """Count one hit; None if allowed, else ms until the window (or slice) reopens."""
        ...

    def count(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]: ...

    def refund(self, key: str, window_ms: int, now_ms: int) -> None:
        """Give back one hit taken at `now_ms` (never below zero)."""
        ...

    def claim(self, key: str, expires_at: int) -> bool:
        """Mark `key` used until `expires_at` (seconds); False when it already was."""
        ...


class ConnectionGateway(Protocol):
    """The `@connections` management API."""

    def post(self, connection_id: str, data: bytes) -> PostResult: ...

    def close(self, connection_id: str) -> bool:
        """Close a connection; False if it was already gone."""
        ...


class PushQueue(Protocol):
    """The queue of fan-out work items."""

    def send_all(self, items: list[WorkItem]) -> None:
        """Enqueue every item (:class:`~parley.errors.Unavailable` if some were not)."""
        ...


class Accounts(Protocol):
    """The account lifecycle's items beside the profile (protocol 12): the deleted mark, the
    blocks and groups left to find, export records."""

    def mark_deleted(self, user_id: str, now: int) -> bool:
        """Commit a deletion (the profile stays, without its password hash and names); False
        for an unknown or already deleted user."""
        ...

    def is_deleted(self, user_id: str) -> bool: ...

    def blocked_users(self, user_id: str) -> list[str]: ...

    def left_groups(self, user_id: str) -> list[str]: ...

    def put_export(self, user_id: str, record: ExportRecord) -> None: ...

    def exports(self, user_id: str) -> list[ExportRecord]: ...

    def get_export(self, user_id: str, export_id: str) -> ExportRecord | None: ...

    def export_ready(self, user_id: str, export_id: str, key: str) -> bool:
        """Mark an export ready at `key`; False when its record is gone."""
        ...


class SentMessages(Protocol):
    """One sender's messages in a conversation, a page at a time."""

    def sent_page(
        self, conversation_id: str, sender: str, after_seq: int, limit: int
    ) -> tuple[list[Message], int | None]:
        """The sender's messages among the next `limit` after `after_seq`, and the seq to
        continue after (None at the end)."""
        ...


class AccountJobs(Protocol):
    """The account jobs queue: erasures, their continuations, exports."""

    def send(self, job: AccountJob, *, delayed: bool = False) -> None:
        """Enqueue a job; `delayed`: held back longer than the request sending it can last."""
        ...


class ErasureQueue(Protocol):
    """The queue that removes a deleted file message's object from storage (protocol 9.2:
    within a minute of the delete)."""

    def schedule(self, attachment_id: str) -> None:
        """Ask for the attachment's object and record to be removed once its message's
        delete has committed (delivered after a delay longer than a send can last)."""
        ...


class EventOutcome(StrEnum):
    """What committing an event with its target's change did."""

    STORED = "stored"  # the event is stored and the target changed
    SEQ_TAKEN = "seq_taken"  # another writer took the seq: nothing written, re-read the newest
    TARGET_CHANGED = "target_changed"  # the target changed since it was read: re-read, re-plan


@dataclass(frozen=True, kw_only=True)
class Change:
    """What an event writes to its target (and, for a delete, to what the target owns).

    The fields are the target's next state: `body` replaces the stored body; `edited`,
    `deleted` and `reactions` are set when not None and removed when None; `edits` is the
    list of edit-event seqs kept on the target (None: removed).
    """

    seq: int
    version: int
    body: dict[str, Any]
    edited: Edited | None
    deleted: Deleted | None
    reactions: dict[str, list[str]] | None
    edits: list[int] | None
    erase_edits: list[int] = field(default_factory=list)
    erase_attachment: str | None = None


class Events(Protocol):
    """Events (edit, delete, reaction) and the current state of their targets."""

    def target(self, conversation_id: str, seq: int) -> StoredMessage | None:
        """The message `seq` with its version and edit seqs (strongly consistent)."""
        ...

    def commit(
        self, event: Message, own: dict[str, int] | None, n: int | None, change: Change
    ) -> EventOutcome:
        """Store `event` at its seq and `change` on its target, all or nothing."""
        ...


class ClaimOutcome(StrEnum):
    """What storing a `file` message together with its attachment's claim did."""

    STORED = "stored"  # the message is stored and the attachment is `used` by it
    SEQ_TAKEN = "seq_taken"  # another writer took the seq: nothing written, retry
    REFUSED = "refused"  # the attachment is not claimable by this message: nothing written


class Attachments(Protocol):
    """Attachment records (AttachmentsTable) and the claim that ties one to a message."""

    def create(self, attachment: Attachment) -> None:
        """Store a new pending record (its id is fresh: no condition)."""
        ...

    def get(self, attachment_id: str) -> Attachment | None:
        """The record, strongly consistent; None when there is none."""
        ...

    def remove_erased(self, attachment_id: str) -> bool:
        """Delete the record if it is `erased` (its object already removed); False when it
        is not (another state, or already gone)."""
        ...

    def put_message_claiming(
        self, message: Message, own: dict[str, int] | None, attachment_id: str, n: int | None = None
    ) -> ClaimOutcome:
        """Store `message` at its seq and mark the attachment `used` by it, atomically: the
        seq must be free, and the attachment pending, uploaded by the message's sender for
        the message's conversation. Either both writes happen or neither does."""
        ...


class ObjectStore(Protocol):
    """The attachment bucket: presigned forms and links, and the checks send makes."""

    def upload_form(self, key: str, size: int, content_type: str, expires_in: int) -> UploadForm:
        """A presigned POST for exactly `size` bytes of `content_type` at `key`."""
        ...

    def download_url(self, key: str, name: str, content_type: str, expires_in: int) -> str:
        """A presigned GET that names the file `name` (Content-Disposition) and its type."""
        ...

    def size_of(self, key: str) -> int | None:
        """The stored object's size; None when nothing was uploaded at `key`."""
        ...

    def mark_used(self, key: str) -> None:
        """Exempt the object from the pending expiry (idempotent)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (idempotent)."""
        ...


class ExportObjects(Protocol):
    """Where account exports are written, and the presigned link that downloads one."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def download_url(self, key: str, name: str, content_type: str, expires_in: int) -> str: ...


# ---- offline push (protocol 10) ---------------------------------------------------------


class Devices(Protocol):
    """Each user's push devices, and the claim that makes an endpoint or token one device."""

    def list_for(self, user_id: str) -> list[Device]:
        """The user's devices (one Query, strongly consistent), any order."""
        ...

    def get(self, user_id: str, device_id: str) -> Device | None: ...

    def owner(self, key: str) -> tuple[str, str] | None:
        """(userId, deviceId) of the device that holds `key` (strongly consistent)."""
        ...

    def add(self, device: Device, evict: list[Device], previous: Device | None = None) -> bool:
        """Store `device` and its claim, removing the `evict`ed devices (and their claims)
        and `previous` (the key's former device, of this or another user) in one
        transaction; False when the claim changed meanwhile (nothing is written)."""
        ...

    def refresh(self, device: Device) -> None:
        """Rewrite an existing device (new keys, new `registeredAt`)."""
        ...

    def remove(self, device: Device) -> bool:
        """Delete the device and, if it still points at it, its claim; False when it was
        already gone."""
        ...


class PublishOutcome(StrEnum):
    """What an SNS platform endpoint did with a notification."""

    SENT = "sent"
    DISABLED = "disabled"  # the platform said the token is dead: remove the device
    RETRY = "retry"  # throttled or failing: try again later


class PushPlatforms(Protocol):
    """FCM and APNs through SNS platform applications."""

    def create_endpoint(self, platform: str, token: str) -> str:
        """The SNS endpoint ARN for `token` (created, or the existing one: idempotent)."""
        ...

    def delete_endpoint(self, arn: str) -> None: ...

    def publish(self, arn: str, message: str) -> PublishOutcome:
        """Publish a `MessageStructure=json` message to the endpoint."""
        ...


@dataclass(frozen=True)
class WebPushResult:
    """A push service's answer: its HTTP status (0: no answer, the connection failed; -1:
    refused before connecting by the address policy) and its `Retry-After` in seconds."""

    status: int
    retry_after: float | None = None


class WebPushTransport(Protocol):
    """Encrypts (RFC 8291), signs (RFC 8292) and POSTs one Web Push notification."""

    def send(self, device: Device, data: bytes, *, topic: str, ttl: int) -> WebPushResult: ...


class MuteStates(Protocol):
    """The part of `Members` the notifier reads: who of some users muted a conversation."""

    def mute_states(self, conversation_id: str, user_ids: list[str]) -> dict[str, bool]:
        """Each of these users' `muted` in the conversation (absent: not a member)."""
        ...


class NotifyOutbox(Protocol):
    """Where the fan-out hands notify work items to the notifier (NotifyQueue)."""

    def send_all(self, items: list[NotifyItem]) -> None:
        """Enqueue every item in one attempt (:class:`~parley.errors.Unavailable` if some
        were not): a notification is best effort and must not hold the send up."""
        ...


class NotifyQueue(Protocol):
    """The notifier's own queue (retries) and its dead-letter queue."""

    def retry(self, item: NotifyItem, delay_seconds: int) -> None: ...

    def dead_letter(self, item: NotifyItem) -> None: ...


# ---- abuse limits and flags (protocol 13) ------------------------------------------------


class Flag(TypedDict):
    """A flagged user as `GET /admin/flags` lists it."""

    userId: str
    reason: str
    at: int


class Spent(NamedTuple):
    """What one counter write did: `wait` is None if the amount was taken (else the ms
    until the window ends), and `total` the window's count after it (0 when refused)."""

    wait: int | None
    total: int


class AbuseCounters(Protocol):
    """Counters and sets on the limits table, each change one atomic conditional write."""

    def take(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> int | None:
        """Add `amount` unless the window would pass `limit`; None if taken, else ms until
        the window ends."""
        ...

    def spend(self, key: str, amount: int, limit: int, window_ms: int, now_ms: int) -> Spent:
        """`take`, also telling the window's total after the write (the same one write)."""
        ...

    def distinct(
        self, key: str, member: str, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        """Add `member` to the window's set unless it holds `limit` others; None if admitted."""
        ...

    def join(self, key: str, member: str, limit: int, expires_at: int) -> bool:
        """Add `member` to a windowless set unless it holds `limit` others."""
        ...

    def leave(self, key: str, members: set[str]) -> None:
        """Remove `members` from a windowless set."""
        ...

    def members(self, key: str) -> set[str]:
        """The members of a windowless set."""
        ...

    def nonempty(self, keys: list[str], now_s: int) -> set[str]:
        """Which of these windowless sets hold a member and have not expired (one
        BatchGetItem per 100)."""
        ...


class Flags(Protocol):
    """Users flagged for app admins."""

    def flag(self, user_id: str, reason: str, at: int) -> None: ...

    def all(self, limit: int) -> list[Flag]: ...

    def clear(self, user_id: str) -> None: ...
