"""The records that pass between services and repositories: one definition of each shape.

Rows are plain dicts (what the DynamoDB codec reads and writes), typed here as `TypedDict`s
so mypy checks every field name; nothing in this module costs anything at import beyond
`typing`, so the cold paths (the authorizer, `$connect`, `$disconnect`, fanout) can use it.

Projections are records of their own: a Query that projects fewer attributes returns a
narrower record (:class:`MemberEntry`, :class:`Membership`, :class:`Profile`), so a service
cannot read an attribute the index does not carry.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, TypeGuard

ConversationType = Literal["dm", "group"]


# ---- messages ----------------------------------------------------------------------------


class Edited(TypedDict):
    """A message's latest edit (protocol 9.2): the edit event's seq and ts."""

    seq: int
    ts: int


class Deleted(TypedDict):
    """A message's delete (protocol 9.2): the delete event's seq, ts and who sent it."""

    seq: int
    ts: int
    by: str


class Message(TypedDict):
    """A stored message as the protocol shows it (`message` frames, history, sync), in its
    current state (protocol 9.2): `edited`, `deleted` and `reactions` once events changed it."""

    conversationId: str
    seq: int
    messageId: str
    senderId: str
    clientMsgId: str
    body: dict[str, Any]
    ts: int
    edited: NotRequired[Edited]
    deleted: NotRequired[Deleted]
    reactions: NotRequired[dict[str, list[str]]]


class StoredMessage(Message):
    """A message with what the Messages table keeps beside it (internal: never handed to a
    client):

    * `own` (direct conversations): each member who has sent -> the seq of their newest
      message;
    * `n`: how many countable messages (text, file, custom: protocol 9.2's unread) the
      conversation holds up to this one;
    * `edits`: the seqs of this message's edit events, which its delete erases;
    * `ver`: the version of its current state, the condition of every event's update.
    """

    own: NotRequired[dict[str, int]]
    n: NotRequired[int]
    edits: NotRequired[list[int]]
    ver: NotRequired[int]


COUNTABLE_TYPES = frozenset({"text", "file", "custom"})
"""The body types that count as unread (protocol 9.2) and that events may target."""


def is_countable(body: dict[str, Any]) -> bool:
    """Whether a body counts toward unread: text, file and custom (not events or system)."""
    return body.get("type") in COUNTABLE_TYPES


def erased_edit(target_seq: int) -> dict[str, Any]:
    """The body an edit event keeps once its target is deleted (protocol 9.2)."""
    return {"type": "edit", "target": target_seq}


class MessageFrame(Message):
    """A `message` frame: the message with its frame type (:func:`parley.frames.message`)."""

    type: Literal["message"]


# ---- conversations and members -----------------------------------------------------------


class Conversation(TypedDict):
    """A Conversations item."""

    conversationId: str
    type: str
    memberCount: int
    name: NotRequired[str]
    createdAt: NotRequired[int]
    createdBy: NotRequired[str]


class MemberEntry(TypedDict):
    """A member as a conversation's member list projects it (`userId, role, joinedSeq`)."""

    userId: str
    role: str
    joinedSeq: int


class Membership(MemberEntry):
    """A membership as the Members `byUser` index projects it (with the conversation)."""

    conversationId: str


class Member(Membership):
    """A full Members item: the membership, the read position, the block flag and the
    member's mute setting (protocol 11: no offline notifications)."""

    readSeq: NotRequired[int]
    joinedAt: NotRequired[int]
    blocked: NotRequired[bool]
    muted: NotRequired[bool]


def member_row(
    conversation_id: str,
    user_id: str,
    role: str,
    joined_seq: int,
    now: int,
    *,
    read_seq: int | None = None,
) -> Member:
    """A new member's row: it has read nothing before its join unless `read_seq` says so."""
    return {
        "conversationId": conversation_id,
        "userId": user_id,
        "role": role,
        "joinedSeq": joined_seq,
        "readSeq": joined_seq - 1 if read_seq is None else read_seq,
        "joinedAt": now,
    }


# ---- users, logins and connections -------------------------------------------------------


class Profile(TypedDict):
    """What `profiles` projects of a user: `pk` (the userId), displayName, lastSeen."""

    pk: str
    displayName: NotRequired[str]
    lastSeen: NotRequired[int]


class User(Profile):
    """A user's profile item (`sk` = `profile`); no `passwordHash` for external users."""

    sk: str
    createdAt: int
    passwordHash: NotRequired[str]
    identityProvider: NotRequired[str]
    suspended: NotRequired[int]  # when an app admin suspended the user (ms; protocol 12)
    suspendedReason: NotRequired[str]
    deletedAt: NotRequired[int]  # when the user deleted the account (ms; protocol 12)


class Session(TypedDict):
    """One login: the current refresh-token generation and whether it was revoked."""

    sessionId: str
    userId: str
    gen: int
    revoked: bool
    createdAt: int
    expiresAt: int
    refreshedAt: NotRequired[int]
    revokedAt: NotRequired[int]
    # The absolute end (seconds) whatever the refreshes; absent on logins of older releases.
    endsAt: NotRequired[int]


class Connection(TypedDict):
    """A live WebSocket connection (`ttl` is the backstop for a lost `$disconnect`)."""

    connectionId: str
    userId: str
    sessionId: NotRequired[str]
    connectedAt: NotRequired[int]
    sourceIp: NotRequired[str | None]
    tokenExp: NotRequired[int]
    ttl: NotRequired[int]


# ---- push work items (the push queue's JSON bodies) --------------------------------------
#
# A work item names its message (`message`: conversation and seq), never carries its text:
# the fanout reads the message in its current state when it posts. Once a delete is acked
# no copy of the text may be held anywhere (protocol 9), and the push queue, its retries
# and its DLQ would be copies. Items queued by the release before carry the whole `frame`
# instead; the fanout still accepts them for one release (`parley.services.push`), and
# nothing produces them.


class MessageRef(TypedDict):
    """Which message a work item pushes; the fanout reads it (`Messages.get`) to post it."""

    conversationId: str
    seq: int


NotifyRule = Literal["all", "mentions"]
# Which push queue a large group's work goes to (docs/architecture.md, "Fan-out budget"):
# `bulk` for a sender past their share of the fan-out budget, so a flood queues behind
# itself. Absent from a work item: `normal`.
Lane = Literal["normal", "bulk"]


class ConversationWork(TypedDict):
    """A large group's message: the fanout function pages the members into `users` items."""

    kind: Literal["conversation"]
    conversationId: str
    message: MessageRef
    exclude: str | None
    extraUsers: list[str]
    correlationId: str | None
    lane: NotRequired[Lane]


class UsersWork(TypedDict):
    """Post a message to every live connection of these users."""

    kind: Literal["users"]
    userIds: list[str]
    message: MessageRef
    exclude: str | None
    correlationId: str | None
    # Who of these users is notified when offline (protocol 10): every one, or only those
    # the message mentions (a group over PushAllMembersMax). Absent: nobody (an item queued
    # by the release before offline push).
    notify: NotRequired[NotifyRule]
    lane: NotRequired[Lane]


class ConnectionsWork(TypedDict):
    """Retry posts to these connections (SQS redelivers the record on failure)."""

    kind: Literal["connections"]
    connectionIds: list[str]
    message: MessageRef
    correlationId: str | None
    lane: NotRequired[Lane]


WorkItem = ConversationWork | UsersWork | ConnectionsWork
WORK_KINDS = frozenset({"conversation", "users", "connections"})


def is_work_item(value: object) -> TypeGuard[WorkItem]:
    """Whether a decoded queue body is a work item of a known kind."""
    return isinstance(value, dict) and value.get("kind") in WORK_KINDS


# ---- attachments -------------------------------------------------------------------------

AttachmentState = Literal["pending", "used", "erased"]


class Attachment(TypedDict):
    """An AttachmentsTable item: one uploaded (or announced) file of one conversation.

    `pending` until a `file` message claims it (then `used`, with that message's `seq` and
    no `expiresAt`: a used record never expires); `erased` once that message is deleted
    (name and content type removed in the delete's transaction; the erasure queue then
    removes the object and the record).
    """

    attachmentId: str
    conversationId: str
    uploaderId: str
    name: str
    size: int
    contentType: str
    createdAt: int
    state: AttachmentState
    expiresAt: NotRequired[int]
    seq: NotRequired[int]


class UploadForm(TypedDict):
    """A presigned POST: where to send the `multipart/form-data` and every field it needs."""

    url: str
    fields: dict[str, str]


Platform = Literal["webpush", "fcm", "apns"]


class Device(TypedDict):
    """A DevicesTable item (protocol 10): one push target of one user.

    `key` is the SHA-256 of the platform and its endpoint (Web Push) or token (FCM, APNs):
    the claim item under that key says which user's device it is, so registering the same
    endpoint again finds the same device with one consistent GetItem. Web Push devices keep
    the subscription (`endpoint`, `p256dh`, `auth`); FCM and APNs devices keep the token and
    the SNS platform endpoint created for it (`snsEndpointArn`).
    """

    userId: str
    deviceId: str
    platform: Platform
    key: str
    createdAt: int
    registeredAt: int
    endpoint: NotRequired[str]
    p256dh: NotRequired[str]
    auth: NotRequired[str]
    token: NotRequired[str]
    snsEndpointArn: NotRequired[str]


class NotifyItem(TypedDict):
    """A NotifyQueue work item: notify `userIds` (members with no live connection) of the
    message `seq` of `conversationId`. A retry narrows it to `deviceIds` and counts
    `attempt` (the first delivery is attempt 0)."""

    conversationId: str
    seq: int
    userIds: list[str]
    deviceIds: NotRequired[list[str]]
    attempt: NotRequired[int]


class ExportRecord(TypedDict):
    """An account export (protocol 12): `pending` until the account jobs function wrote its
    JSON at `objectKey`, then `ready`; TTL `expiresAt` (seconds), like the object's expiry."""

    exportId: str
    status: Literal["pending", "ready"]
    createdAt: int
    expiresAt: int
    objectKey: NotRequired[str]


class AccountJob(TypedDict):
    """An account jobs queue message: `erase` (a deleted account's cleanup and messages,
    resumed after `conversationId` / `seq` when a run ran out of time) or `export`."""

    kind: Literal["erase", "export"]
    userId: str
    exportId: NotRequired[str]
    conversationId: NotRequired[str]
    seq: NotRequired[int]
