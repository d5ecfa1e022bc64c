"""Wire models: client frames and HTTP bodies, validated strictly (no coercion, no extras).

Each is a frozen dataclass declared with :func:`parley.validation.shape`; validation failures
become protocol errors in one place (:func:`validate`): a value over its size limit is 1006,
anything else malformed is 1001. No pydantic here: the published schema comes from the
pydantic twins in `parley_schema.requests`, which the tests hold to the same verdicts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from parley.errors import InvalidParam, UnknownAction
from parley.ids import CLIENT_MSG_ID_RE, ULID_RE, USER_ID_RE
from parley.validation import (
    AnyJson,
    Bool,
    Choice,
    Default,
    Int,
    Issue,
    ListOf,
    MapOf,
    Nested,
    Opt,
    Rule,
    Str,
    Tagged,
    exactly_one,
    shape,
)
from parley.validation import validate as validate
from parley.wire import parse_json_object

MAX_FRAME_BYTES = 32 * 1024
MAX_TEXT_CHARS = 4000
MAX_CUSTOM_BYTES = 8192
MAX_SIGNAL_PAYLOAD_BYTES = 24 * 1024
MAX_PRESENCE_IDS = 100
MAX_DISPLAY_NAME = 64
MAX_GROUP_NAME = 128
MAX_CAPTION_CHARS = 1000
MAX_FILE_NAME = 255
MAX_MENTIONS = 50
MAX_REACTION_KEY_BYTES = 32

USER_ID = Str(pattern=USER_ID_RE.pattern.strip("^$"))
CLIENT_MSG_ID = Str(pattern=CLIENT_MSG_ID_RE.pattern.strip("^$"))
REQUEST_ID = Str(min_len=1, max_len=64)
CONVERSATION_REF = Str(min_len=1, max_len=80)
SEQ = Int(ge=0, le=2**53)

SignalKind = Literal[
    "invite", "ringing", "accept", "reject", "offer", "answer", "candidate", "hangup"
]
TypingState = Literal["start", "stop"]
RoleName = Literal["owner", "admin", "member"]


# ---- message bodies ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MessageBody:
    """A message body a client may send; `type` names it."""

    type: str

    def model_dump(self) -> dict[str, Any]:
        """The body as a JSON object, as stored and pushed."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class TextBody(MessageBody):
    """Text, optionally a reply (`replyTo`, a seq) and with mentions (1-50 distinct
    userIds); the service checks that the seq is visible (2003) and the users are members."""

    type: Literal["text"]
    text: str
    replyTo: int | None
    mentions: list[str] | None

    def model_dump(self) -> dict[str, Any]:
        """As stored: no `replyTo` or `mentions` key when there is none."""
        body: dict[str, Any] = {"type": "text", "text": self.text}
        if self.replyTo is not None:
            body["replyTo"] = self.replyTo
        if self.mentions is not None:
            body["mentions"] = list(self.mentions)
        return body


@dataclass(frozen=True, kw_only=True)
class CustomBody(MessageBody):
    type: Literal["custom"]
    data: Any


def distinct(name: str) -> Rule:
    """A rule: the list field `name` (when given) has no repeated item."""

    def rule(values: Mapping[str, Any]) -> Issue | None:
        items = values[name]
        if items is None or len(set(items)) == len(items):
            return None
        return Issue((name,), "must not repeat an item")

    return rule


def reaction_key(value: str) -> str:
    """A reaction key (protocol 9.1): at most 32 bytes of UTF-8, no control characters."""
    if len(value.encode()) > MAX_REACTION_KEY_BYTES:
        raise ValueError(f"must be at most {MAX_REACTION_KEY_BYTES} bytes of UTF-8")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


# A lone surrogate ("\ud800" in JSON) cannot be stored, pushed or synced: Str refuses it.
TEXT = Str(min_len=1, max_len=MAX_TEXT_CHARS, too_long=True)
TARGET = Int(ge=1, le=2**53)

shape(
    TextBody,
    type=Choice("text"),
    text=TEXT,
    replyTo=Opt(TARGET),
    mentions=Opt(ListOf(USER_ID, min_len=1, max_len=MAX_MENTIONS)),
    rules=(distinct("mentions"),),
)
shape(CustomBody, type=Choice("custom"), data=AnyJson(MAX_CUSTOM_BYTES))


@dataclass(frozen=True, kw_only=True)
class FileBody(MessageBody):
    """A file message (protocol 9.1): an uploaded attachment and an optional caption."""

    type: Literal["file"]
    attachmentId: str
    caption: str | None

    def model_dump(self) -> dict[str, Any]:
        """As sent: no `caption` key when there is none (send adds the file's fields)."""
        body: dict[str, Any] = {"type": "file", "attachmentId": self.attachmentId}
        if self.caption is not None:
            body["caption"] = self.caption
        return body


shape(
    FileBody,
    type=Choice("file"),
    attachmentId=Str(pattern=ULID_RE.pattern.strip("^$")),
    # Past 1,000 code points is 1006, as an over-long text is.
    caption=Opt(Str(max_len=MAX_CAPTION_CHARS, too_long=True)),
)


# ---- events (protocol 9.1): messages of their own that change an earlier one, `target` ----


@dataclass(frozen=True, kw_only=True)
class EditBody(MessageBody):
    """Replace the text of the caller's own text message."""

    type: Literal["edit"]
    target: int
    text: str


@dataclass(frozen=True, kw_only=True)
class DeleteBody(MessageBody):
    """Delete (and erase) a text, file or custom message."""

    type: Literal["delete"]
    target: int


@dataclass(frozen=True, kw_only=True)
class ReactionBody(MessageBody):
    """Add (`on`) or remove the caller's reaction `key` on a message."""

    type: Literal["reaction"]
    target: int
    key: str
    on: bool


shape(EditBody, type=Choice("edit"), target=TARGET, text=TEXT)
shape(DeleteBody, type=Choice("delete"), target=TARGET)
shape(
    ReactionBody,
    type=Choice("reaction"),
    target=TARGET,
    key=Str(min_len=1, clean=reaction_key),
    on=Bool(),
)

EVENT_TYPES = frozenset({"edit", "delete", "reaction"})
BODY = Tagged(
    "type",
    {
        "text": TextBody,
        "custom": CustomBody,
        "file": FileBody,
        "edit": EditBody,
        "delete": DeleteBody,
        "reaction": ReactionBody,
    },
)
AnyBody = TextBody | CustomBody | FileBody | EditBody | DeleteBody | ReactionBody


# ---- client frames -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Frame:
    """A client frame; `action` names it, `id` (optional) is echoed in the reply."""

    action: str
    id: str | None


@dataclass(frozen=True, kw_only=True)
class SendFrame(Frame):
    action: Literal["send"]
    to: str | None
    conversationId: str | None
    clientMsgId: str
    body: AnyBody


@dataclass(frozen=True, kw_only=True)
class SyncFrame(Frame):
    action: Literal["sync"]
    cursors: dict[str, int]
    limit: int


@dataclass(frozen=True, kw_only=True)
class ReadFrame(Frame):
    action: Literal["read"]
    conversationId: str
    seq: int


@dataclass(frozen=True, kw_only=True)
class TypingFrame(Frame):
    action: Literal["typing"]
    conversationId: str
    state: TypingState


@dataclass(frozen=True, kw_only=True)
class PresenceFrame(Frame):
    action: Literal["presence"]
    userIds: list[str]


@dataclass(frozen=True, kw_only=True)
class SignalFrame(Frame):
    action: Literal["signal"]
    to: str
    callId: str
    kind: SignalKind
    payload: Any
    toConnection: str | None


@dataclass(frozen=True, kw_only=True)
class PingFrame(Frame):
    action: Literal["ping"]


@dataclass(frozen=True, kw_only=True)
class AuthFrame(Frame):
    action: Literal["auth"]
    token: str


FRAME_ID = Opt(REQUEST_ID)

shape(
    SendFrame,
    action=Choice("send"),
    id=FRAME_ID,
    to=Opt(USER_ID),
    conversationId=Opt(CONVERSATION_REF),
    clientMsgId=CLIENT_MSG_ID,
    body=BODY,
    rules=(exactly_one("to", "conversationId"),),
)
shape(
    SyncFrame,
    action=Choice("sync"),
    id=FRAME_ID,
    cursors=Default(MapOf(CONVERSATION_REF, SEQ, max_len=5000), {}),
    limit=Default(Int(ge=1, le=500), 100),
)
shape(ReadFrame, action=Choice("read"), id=FRAME_ID, conversationId=CONVERSATION_REF, seq=SEQ)
shape(
    TypingFrame,
    action=Choice("typing"),
    id=FRAME_ID,
    conversationId=CONVERSATION_REF,
    state=Choice(*get_args(TypingState)),
)
shape(
    PresenceFrame,
    action=Choice("presence"),
    id=FRAME_ID,
    userIds=ListOf(USER_ID, min_len=1, max_len=MAX_PRESENCE_IDS),
)
shape(
    SignalFrame,
    action=Choice("signal"),
    id=FRAME_ID,
    to=USER_ID,
    callId=CLIENT_MSG_ID,
    kind=Choice(*get_args(SignalKind)),
    payload=Opt(AnyJson(MAX_SIGNAL_PAYLOAD_BYTES)),
    toConnection=Opt(Str(min_len=1, max_len=128)),
)
shape(PingFrame, action=Choice("ping"), id=FRAME_ID)
shape(AuthFrame, action=Choice("auth"), id=FRAME_ID, token=Str(min_len=1, max_len=4096))

FRAMES: dict[str, type[Frame]] = {
    "send": SendFrame,
    "sync": SyncFrame,
    "read": ReadFrame,
    "typing": TypingFrame,
    "presence": PresenceFrame,
    "signal": SignalFrame,
    "ping": PingFrame,
    "auth": AuthFrame,
}


# ---- HTTP bodies ---------------------------------------------------------------------------


def clean_display_name(value: str) -> str:
    """Strip control and format characters and surrounding space; bounded length."""
    # Whitespace controls (tab, newline) separate words: keep them as spaces, drop the rest.
    cleaned = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in {"Cc", "Cf", "Cs"}
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise ValueError("must contain visible characters")
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise ValueError(f"must be at most {MAX_DISPLAY_NAME} characters")
    return cleaned


DISPLAY_NAME = Str(clean=clean_display_name)


PASSWORD = Str(min_len=8, max_len=128)


@dataclass(frozen=True, kw_only=True)
class RegisterBody:
    userId: str
    password: str
    displayName: str | None
    # The registration challenge and its solution (protocol 13), when the server asks one.
    challenge: str | None = None
    solution: str | None = None


@dataclass(frozen=True, kw_only=True)
class LoginBody:
    userId: str
    password: str


@dataclass(frozen=True, kw_only=True)
class RefreshBody:
    refreshToken: str


@dataclass(frozen=True, kw_only=True)
class ChangePasswordBody:
    """`POST /me/password`: the current password and the new one."""

    oldPassword: str
    newPassword: str


@dataclass(frozen=True, kw_only=True)
class DeleteMeBody:
    """`DELETE /me` (protocol 12): the account's password."""

    password: str


@dataclass(frozen=True, kw_only=True)
class CreateGroupBody:
    name: str
    members: list[str]


@dataclass(frozen=True, kw_only=True)
class AddMembersBody:
    userIds: list[str]


@dataclass(frozen=True, kw_only=True)
class RoleBody:
    role: RoleName


shape(
    RegisterBody,
    userId=USER_ID,
    password=PASSWORD,
    displayName=Opt(DISPLAY_NAME),
    challenge=Opt(Str(min_len=1, max_len=256)),
    solution=Opt(Str(min_len=1, max_len=64)),
)
shape(LoginBody, userId=Str(min_len=1, max_len=64), password=Str(min_len=1, max_len=1024))
shape(RefreshBody, refreshToken=Str(min_len=1, max_len=512))
shape(ChangePasswordBody, oldPassword=Str(min_len=1, max_len=1024), newPassword=PASSWORD)
shape(DeleteMeBody, password=Str(min_len=1, max_len=1024))
shape(CreateGroupBody, name=DISPLAY_NAME, members=Default(ListOf(USER_ID), []))
shape(AddMembersBody, userIds=ListOf(USER_ID, min_len=1))
shape(RoleBody, role=Choice(*get_args(RoleName)))


@dataclass(frozen=True, kw_only=True)
class MuteBody:
    """`PATCH /conversations/{id}` (protocol 11)."""

    muted: bool


shape(MuteBody, muted=Bool())


MAX_REASON = 500


@dataclass(frozen=True, kw_only=True)
class SuspendBody:
    """`POST /admin/users/{userId}/suspend` (protocol 12): why, for the audit log."""

    reason: str | None = None


shape(SuspendBody, reason=Opt(Str(max_len=MAX_REASON)))


@dataclass(frozen=True, kw_only=True)
class AttachmentUploadBody:
    """`POST /attachments` (protocol 9.3). The name's characters, the media type's form and
    the size's bounds are the service's checks (`parley.services.attachments`): a size past
    `MaxAttachmentBytes` is 413 1006, which no static bound can say."""

    conversationId: str
    name: str
    size: int
    contentType: str


shape(
    AttachmentUploadBody,
    conversationId=CONVERSATION_REF,
    name=Str(min_len=1, max_len=MAX_FILE_NAME),
    size=Int(ge=1),
    contentType=Str(min_len=3, max_len=255),
)


def parse_frame(raw: str | bytes | None) -> Frame:
    """A client WebSocket frame as its model: 1006 too big, 1001 malformed, 1007 unknown."""
    data = parse_json_object(raw, limit=MAX_FRAME_BYTES)
    action = data.get("action")
    model = FRAMES.get(action) if isinstance(action, str) else None
    if model is None:
        raise UnknownAction(
            "missing action" if action is None else f"unknown action {str(action)[:40]!r}"
        )
    return validate(model, data)


# ---- devices (protocol 10) -----------------------------------------------------------------

B64URL_PATTERN = r"[A-Za-z0-9_-]+={0,2}"
MAX_PUSH_ENDPOINT = 2048
MAX_PUSH_TOKEN = 4096


@dataclass(frozen=True, kw_only=True)
class PushKeysBody:
    """A Web Push subscription's keys: `p256dh` (the browser's P-256 point) and `auth` (16
    bytes), base64url. Their decoded sizes are the service's check (1001)."""

    p256dh: str
    auth: str


@dataclass(frozen=True, kw_only=True)
class PushSubscriptionBody:
    """What a browser's `PushSubscription.toJSON()` gives (its `expirationTime` may be
    null). The endpoint policy (https, a DNS host name) is the service's check (1001)."""

    endpoint: str
    keys: PushKeysBody
    expirationTime: int | None


@dataclass(frozen=True, kw_only=True)
class WebPushDeviceBody:
    """`POST /devices` for a browser: `{platform: "webpush", subscription}`."""

    platform: str
    subscription: PushSubscriptionBody


@dataclass(frozen=True, kw_only=True)
class TokenDeviceBody:
    """`POST /devices` for a phone: `{platform: "fcm" or "apns", token}`."""

    platform: str
    token: str


shape(
    PushKeysBody,
    p256dh=Str(min_len=1, max_len=128, pattern=B64URL_PATTERN),
    auth=Str(min_len=1, max_len=64, pattern=B64URL_PATTERN),
)
shape(
    PushSubscriptionBody,
    endpoint=Str(min_len=1, max_len=MAX_PUSH_ENDPOINT),
    keys=Nested(PushKeysBody),
    expirationTime=Opt(Int(ge=0)),
)
shape(WebPushDeviceBody, platform=Choice("webpush"), subscription=Nested(PushSubscriptionBody))
shape(TokenDeviceBody, platform=Choice("fcm", "apns"), token=Str(min_len=1, max_len=MAX_PUSH_TOKEN))

DEVICE_BODIES: dict[str, type[WebPushDeviceBody] | type[TokenDeviceBody]] = {
    "webpush": WebPushDeviceBody,
    "fcm": TokenDeviceBody,
    "apns": TokenDeviceBody,
}


def parse_device_body(data: Any) -> WebPushDeviceBody | TokenDeviceBody:
    """A `POST /devices` body, told apart by `platform` (1001 for another or none)."""
    platform = data.get("platform") if isinstance(data, dict) else None
    model = DEVICE_BODIES.get(platform) if isinstance(platform, str) else None
    if model is None:
        raise InvalidParam("platform: must be one of webpush, fcm, apns")
    return validate(model, data)
