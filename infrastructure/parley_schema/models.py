"""Server frames and HTTP response bodies as pydantic models, for the schema documents only.

The functions build these shapes as plain dicts (building pydantic classes at cold start
costs time no reply needs); these models describe them, and the conformance test
(`tests/integration/test_schema_conformance.py`) holds every frame and body the handlers
really produce to the schemas generated from here. Client frames and request bodies are
in :mod:`parley_schema.requests`, the twins of the runtime's :mod:`parley.models`.

A field the server leaves out when it does not apply is typed `X | SkipJsonSchema[None]`
with default None: optional in the schema, but never `null` on the wire. Response objects
allow extra properties: protocol section 8 tells clients to ignore fields they do not know.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from parley import ids
from parley.errors import Code
from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from parley_schema.enums import ConversationType, Role, SignalKind, SystemEvent, TypingState
from parley_schema.requests import (
    AuthFrame,
    ClientMsgId,
    CustomBody,
    DeleteBody,
    PingFrame,
    PresenceFrame,
    ReactionBody,
    ReadFrame,
    RequestId,
    SendFrame,
    SignalFrame,
    SyncFrame,
    TextBody,
    TypingFrame,
    UserId,
)

_USER = ids.USER_ID_RE.pattern.strip("^$")
_ULID = ids.ULID_RE.pattern.strip("^$")

ConversationId = Annotated[
    str,
    Field(
        pattern=f"^(dm:{_USER}:{_USER}|grp:{_ULID})$",
        description="`dm:<a>:<b>` (the two userIds sorted) or `grp:<ULID>`.",
    ),
]
GroupId = Annotated[str, Field(pattern=f"^grp:{_ULID}$", description="`grp:<ULID>`.")]
Ulid = Annotated[str, Field(pattern=f"^{_ULID}$", description="A ULID assigned by the server.")]
Seq = Annotated[int, Field(ge=1, le=2**53, description="A message's place in its conversation.")]
Cursor = Annotated[int, Field(ge=0, le=2**53, description="A seq, or 0 before the first message.")]
EpochMs = Annotated[int, Field(ge=0, description="Milliseconds since the Unix epoch.")]
Count = Annotated[int, Field(ge=0)]


class Reply(BaseModel):
    """Base of the server's objects: field docstrings become schema descriptions."""

    model_config = ConfigDict(use_attribute_docstrings=True, frozen=True)


# ---- messages ------------------------------------------------------------------------------


class SystemBody(Reply):
    """A membership change, written by the server into the conversation (clients cannot
    send one). `senderId` of its message is `by`; its `clientMsgId` is `sys-<messageId>`."""

    type: Literal["system"]
    event: SystemEvent
    by: UserId
    """The user who made the change."""
    userIds: list[UserId] | SkipJsonSchema[None] = None
    """The users the change is about: one message per request however many it adds
    (`group_created`: the owner and every member), at most the first 1,000 of them."""
    omitted: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = None
    """How many more users the change added than `userIds` lists (only past 1,000)."""
    role: Role | SkipJsonSchema[None] = None
    """`role_changed` only: the new role (`owner` when ownership was handed over)."""


class StoredFileBody(Reply):
    """A file message as stored and shown: the attachment with its name, size and type."""

    type: Literal["file"]
    attachmentId: Ulid
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=1)]
    contentType: str
    """The media type the upload was announced with; `GET /attachments/{id}` downloads it."""
    caption: str | SkipJsonSchema[None] = None


class StoredEditBody(Reply):
    """An edit event (protocol 9.1). Once its target is deleted its `text` is erased and it
    reads `{type: "edit", target}`."""

    type: Literal["edit"]
    target: Seq
    text: str | SkipJsonSchema[None] = None
    """The target's text as of this edit; absent once the target is deleted."""


class DeletedBody(Reply):
    """A deleted message's body (protocol 9.2): nothing of its content is kept."""

    type: Literal["deleted"]


MessageBody = Annotated[
    TextBody
    | CustomBody
    | StoredFileBody
    | SystemBody
    | StoredEditBody
    | DeleteBody
    | ReactionBody
    | DeletedBody,
    Field(discriminator="type"),
]


class Edited(Reply):
    """The latest edit of a message: that edit event's seq and ts."""

    seq: Seq
    ts: EpochMs


class Deleted(Reply):
    """The delete of a message: that delete event's seq, ts and sender."""

    seq: Seq
    ts: EpochMs
    by: UserId
    """The sender of the delete: the message's sender, or a group's owner or admin."""


class Message(Reply):
    """A stored message, as history, `sync` and `message` frames show it."""

    conversationId: ConversationId
    seq: Seq
    messageId: Ulid
    senderId: UserId
    clientMsgId: ClientMsgId
    body: MessageBody
    ts: EpochMs
    """When the server stored the message."""
    edited: Edited | SkipJsonSchema[None] = None
    """Present once an edit changed the message (its text is the newest)."""
    deleted: Deleted | SkipJsonSchema[None] = None
    """Present once the message is deleted (its body is then `{type: "deleted"}`)."""
    reactions: dict[str, list[UserId]] | SkipJsonSchema[None] = None
    """Reaction key -> the users who reacted with it (keys with at least one user)."""


# ---- server frames: replies ----------------------------------------------------------------


class ServerFrameBase(Reply):
    """A frame from the server; `type` names it."""

    id: RequestId | SkipJsonSchema[None] = None
    """The request's `id`, when the client gave one (replies only)."""


class AckFrame(ServerFrameBase):
    """The reply to `send`, only after the message is stored. A retried `clientMsgId`
    gets the first ack again (same `seq`, `messageId`, `ts`)."""

    type: Literal["ack"]
    conversationId: ConversationId
    seq: Seq
    messageId: Ulid
    clientMsgId: ClientMsgId
    ts: EpochMs


class SyncConversation(Reply):
    """One conversation with messages above the client's cursor."""

    conversationId: ConversationId
    type: ConversationType
    lastSeq: Cursor
    readSeq: Cursor
    """The caller's read position (`unread = lastSeq - readSeq`)."""
    messages: list[Message]
    """Above the cursor, ascending seq, at most `limit`."""
    hasMore: bool
    """More messages above the last one returned: sync again from the new cursor."""


class SyncReplyFrame(ServerFrameBase):
    """The reply to `sync`: conversations with something new (in no fixed order), under
    96 KB in all."""

    type: Literal["sync"]
    conversations: list[SyncConversation]
    complete: bool
    """True exactly when no conversation has `hasMore` and none was left out for size."""


class PresenceUser(Reply):
    """One asked user's presence (unknown users: offline, never seen)."""

    userId: UserId
    online: bool
    lastSeen: EpochMs | None
    """The current time when online; null if never seen."""


class PresenceReplyFrame(ServerFrameBase):
    """The reply to `presence`, one entry per distinct asked userId."""

    type: Literal["presence"]
    users: list[PresenceUser]


class OkFrame(ServerFrameBase):
    """The success reply of `read` (with `readSeq`), `signal` (with `delivered`) and `auth`
    (with `expiresAt`)."""

    type: Literal["ok"]
    readSeq: Cursor | SkipJsonSchema[None] = None
    """`read`: the caller's readSeq after the call."""
    delivered: Count | SkipJsonSchema[None] = None
    """`signal`: how many of the callee's connections got the frame (0: offline)."""
    expiresAt: Count | SkipJsonSchema[None] = None
    """`auth`: when the new token expires, Unix seconds."""


class ReadOkFrame(ServerFrameBase):
    """The reply to `read`."""

    type: Literal["ok"]
    readSeq: Cursor
    """The caller's readSeq after the call (forward only, never past lastSeq)."""


class SignalOkFrame(ServerFrameBase):
    """The reply to `signal`."""

    type: Literal["ok"]
    delivered: Count
    """How many of the callee's connections the frame was posted to (0: offline)."""


class AuthOkFrame(ServerFrameBase):
    """The reply to `auth`: the socket now lives until the new token's expiry."""

    type: Literal["ok"]
    expiresAt: Count
    """When the new access token expires, Unix seconds."""


class PongFrame(ServerFrameBase):
    """The reply to `ping`."""

    type: Literal["pong"]


class ErrorFrame(ServerFrameBase):
    """A refused frame (with its `id` when one could be read), or pushed before the server
    closes the socket (a frame after the token expired)."""

    type: Literal["error"]
    code: Code
    message: str
    """Human-readable; never matched on by clients."""
    retryAfterMs: Count | SkipJsonSchema[None] = None
    """1005 only: when to retry."""


# ---- server frames: pushed -----------------------------------------------------------------


class MessageFrame(Message):
    """A stored message pushed to every live connection of every member but the one that
    sent it. At least once: drop a repeated `(conversationId, seq)`, fill gaps with `sync`."""

    type: Literal["message"]


class ReceiptFrame(Reply):
    """A member's readSeq moved forward."""

    type: Literal["receipt"]
    conversationId: ConversationId
    userId: UserId
    """The reader."""
    readSeq: Cursor


class TypingEventFrame(Reply):
    """Another member is typing; treat a `start` not refreshed for 6 s as `stop`."""

    type: Literal["typing"]
    conversationId: ConversationId
    userId: UserId
    state: TypingState


class SignalEventFrame(Reply):
    """Call signaling from `from`'s connection `fromConnection`. When one of the callee's
    devices accepts, its other connections get `kind: "accept"` from the callee itself with
    `payload: {"answeredElsewhere": true}`: stop ringing there."""

    type: Literal["signal"]
    from_: UserId = Field(alias="from")
    fromConnection: str
    """Answer this connection with `toConnection`."""
    callId: ClientMsgId
    kind: SignalKind
    payload: Any
    """The caller's payload as sent (any JSON, null when none was given)."""


CLIENT_FRAMES: tuple[type[BaseModel], ...] = (
    SendFrame,
    SyncFrame,
    ReadFrame,
    TypingFrame,
    PresenceFrame,
    SignalFrame,
    PingFrame,
    AuthFrame,
)


class ClientFrame(
    RootModel[
        Annotated[
            SendFrame
            | SyncFrame
            | ReadFrame
            | TypingFrame
            | PresenceFrame
            | SignalFrame
            | PingFrame
            | AuthFrame,
            Field(discriminator="action"),
        ]
    ]
):
    """Any frame a client sends: one JSON object, `action` names it."""


class ServerFrame(
    RootModel[
        Annotated[
            AckFrame
            | SyncReplyFrame
            | MessageFrame
            | ReceiptFrame
            | TypingEventFrame
            | PresenceReplyFrame
            | SignalEventFrame
            | OkFrame
            | PongFrame
            | ErrorFrame,
            Field(discriminator="type"),
        ]
    ]
):
    """Any frame the server sends: one JSON object, `type` names it."""


# ---- HTTP bodies ---------------------------------------------------------------------------


class Health(Reply):
    """The stack can serve."""

    status: Literal["ok"]


class Registered(Reply):
    """The new account."""

    userId: UserId


class Challenge(Reply):
    """A registration challenge (protocol 13): find a `solution` such that SHA-256 of
    `challenge + solution` (UTF-8) starts with `difficulty` zero bits, and send both with
    `POST /auth/register` within `expiresIn` seconds. Each challenge registers once."""

    challenge: Annotated[str, Field(min_length=1, max_length=256)]
    difficulty: Annotated[int, Field(ge=1, le=32)]
    expiresIn: Annotated[int, Field(ge=1)]
    """Seconds the challenge stays valid."""


class TokenPair(Reply):
    """A login's tokens. The refresh token is spent by `POST /auth/refresh`; presenting it
    again within the grace window returns the same new pair, later it revokes the whole
    login."""

    accessToken: str
    """A JWT for `Authorization: Bearer` and the WebSocket `?token=`."""
    refreshToken: str
    """Opaque; a secret."""
    tokenType: Literal["Bearer"]
    expiresIn: Annotated[int, Field(ge=1)]
    """The access token's lifetime in seconds."""


class Features(Reply):
    """What the feature flags turn on for the caller (docs/protocol.md, "Feature flags"): a UI
    hides what is off. A feature that is off answers 1001 (a body type) or 1007 (an action),
    naming it. Flags may change at any time (within a minute); more may be added."""

    edit: bool
    """`edit` message bodies."""
    delete: bool
    """`delete` message bodies."""
    reaction: bool
    """`reaction` message bodies."""
    file: bool
    """`file` message bodies (attachments)."""
    pushPreviews: bool
    """Whether offline notifications may carry a preview of the text (the deployment's
    `PushPreviews` must allow them too)."""
    typing: bool
    """The `typing` action."""
    presence: bool
    """The `presence` action."""
    read: bool
    """The `read` action (read receipts)."""
    fanoutDeliveriesPerMinute: Annotated[int, Field(ge=1)]
    """Member deliveries the caller's messages may cause per minute (past it: 1005)."""


class Profile(Reply):
    """The caller's account."""

    userId: UserId
    displayName: str
    """1-64 characters; defaults to the userId."""
    admin: bool
    """Whether the caller is an app admin (the `AdminUsers` parameter, protocol 12)."""
    features: Features
    """The features on for the caller (issue 17)."""


class ExportCreated(Reply):
    """An account export was asked for (protocol 12)."""

    exportId: Ulid


class ExportStatus(Reply):
    """An account export: `pending`, or `ready` with a short-lived link to its JSON
    (`{profile, conversations, messages, devices, blocks}`)."""

    status: Literal["pending", "ready"]
    url: str | SkipJsonSchema[None] = None
    """Downloads the export until it expires (only when ready)."""
    expiresIn: Annotated[int, Field(ge=1, le=300)] | SkipJsonSchema[None] = None
    """Seconds the link is valid (only when ready)."""


class Flag(Reply):
    """A user flagged for app admins by a spam limit (protocol 13)."""

    userId: UserId
    reason: str
    """Which limit the user tripped (the latest)."""
    at: int
    """When, in ms since the Unix epoch."""


class FlagList(Reply):
    """The flagged users, in userId order (at most 1,000)."""

    flags: list[Flag]


class GroupMember(Reply):
    """A group member and their role."""

    userId: UserId
    role: Role


class Group(Reply):
    """A group and its members."""

    conversationId: GroupId
    name: str
    members: list[GroupMember]


class RoleChange(Reply):
    """A member's new role."""

    conversationId: GroupId
    userId: UserId
    role: Role


class ConversationSummary(Reply):
    """One of the caller's conversations."""

    conversationId: ConversationId
    type: ConversationType
    name: str | SkipJsonSchema[None] = None
    """Groups only."""
    lastSeq: Cursor
    readSeq: Cursor
    unread: Count
    """Text, file and custom messages above `readSeq` (events and system messages do not
    count: protocol 9.2)."""
    muted: bool
    """The caller muted it (`PATCH /conversations/{id}`): no offline notifications."""


class ConversationList(Reply):
    """A page of the conversations the caller is a member of, in conversationId order."""

    conversations: list[ConversationSummary]
    nextCursor: str | None
    """The next page's `cursor`; null on the last page."""


class MuteSetting(Reply):
    """A conversation's mute setting for the caller."""

    conversationId: ConversationId
    muted: bool


class HistoryPage(Reply):
    """A page of history just below `beforeSeq`, from the caller's joining on."""

    messages: list[Message]
    """Ascending seq."""
    nextBeforeSeq: Seq | None
    """The lowest seq returned (the next page's `beforeSeq`), or null when nothing older is
    visible to the caller."""


class IceServer(Reply):
    """One entry of an `RTCConfiguration.iceServers` list."""

    urls: list[str]
    username: str | SkipJsonSchema[None] = None
    """TURN only: `<expiry unix seconds>:<userId>`."""
    credential: str | SkipJsonSchema[None] = None
    """TURN only: base64(HMAC-SHA1(turn secret, username))."""


class IceServers(Reply):
    """STUN URLs and, when a TURN server is configured, short-lived TURN credentials."""

    iceServers: list[IceServer]
    ttl: Annotated[int, Field(ge=1)]
    """The TURN credentials' lifetime in seconds."""


class UploadForm(Reply):
    """A presigned POST: send `multipart/form-data` to `url` with every field of `fields`
    (unchanged, in any order), then the file as `file`."""

    url: str
    fields: dict[str, str]


class AttachmentUpload(Reply):
    """A pending attachment and the form that uploads it."""

    attachmentId: Ulid
    upload: UploadForm
    expiresIn: Annotated[int, Field(ge=1)]
    """Seconds the form is valid (storage refuses it afterwards)."""


class AttachmentLink(Reply):
    """An attachment's metadata and a short-lived download link."""

    attachmentId: Ulid
    conversationId: ConversationId
    name: str
    size: Annotated[int, Field(ge=1)]
    contentType: str
    url: str
    """Downloads the file (with its name and type) until it expires."""
    expiresIn: Annotated[int, Field(ge=1, le=300)]


class ErrorBody(Reply):
    """Every HTTP error: the code decides, the message is for people."""

    code: Code
    message: str
    retryAfterMs: Count | SkipJsonSchema[None] = None
    """1005 only: when to retry (also as the `Retry-After` header, in seconds)."""


# ---- devices (protocol 10) -----------------------------------------------------------------


class WebPushConfig(Reply):
    vapidPublicKey: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{87}$")]
    """The VAPID public key: the base64url uncompressed P-256 point (65 bytes), the
    `applicationServerKey` of `PushManager.subscribe`."""


class PushConfig(Reply):
    """What a client needs to register for push."""

    webpush: WebPushConfig
    fcm: bool
    """Whether FCM tokens may be registered."""
    apns: bool
    """Whether APNs tokens may be registered."""


class DeviceRegistered(Reply):
    """A registered device (201 new; 200 the same endpoint or token again)."""

    deviceId: Ulid


class DeviceEntry(Reply):
    deviceId: Ulid
    platform: Literal["webpush", "fcm", "apns"]
    createdAt: Annotated[int, Field(ge=0)]
    """When the device first registered (ms since the epoch)."""


class DeviceList(Reply):
    """The caller's devices (at most 10), oldest first."""

    devices: list[DeviceEntry]
