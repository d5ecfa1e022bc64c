"""Client frames and HTTP request bodies as pydantic models: the source of their schemas.

The functions validate with :mod:`parley.models` (frozen dataclasses checked by
:mod:`parley.validation`, no pydantic on a cold start). These are their twins, class for
class under the same names, with the same rules: `tests/unit/test_schema_models.py` feeds
both generated near-valid and invalid objects and requires the same verdict (accepted, 1001
or 1006), so the published schema describes what the runtime accepts. Limits and the display
name rule are the runtime's own, imported from :mod:`parley.models`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from parley.ids import CLIENT_MSG_ID_RE, ULID_RE, USER_ID_RE
from parley.models import (
    B64URL_PATTERN,
    MAX_CAPTION_CHARS,
    MAX_CUSTOM_BYTES,
    MAX_FILE_NAME,
    MAX_MENTIONS,
    MAX_PRESENCE_IDS,
    MAX_PUSH_ENDPOINT,
    MAX_PUSH_TOKEN,
    MAX_SIGNAL_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    SignalKind,
    clean_display_name,
    reaction_key,
)
from parley.wire import json_size
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

UserId = Annotated[str, Field(pattern=USER_ID_RE.pattern)]
ClientMsgId = Annotated[str, Field(pattern=CLIENT_MSG_ID_RE.pattern)]
RequestId = Annotated[str, Field(min_length=1, max_length=64)]
ConversationRef = Annotated[str, Field(min_length=1, max_length=80)]
Seq = Annotated[int, Field(ge=0, le=2**53)]

TOO_LARGE = "payload_too_large"
"""The error type of a value over a size limit (1006 at runtime)."""


def _too_large(what: str, limit: str) -> PydanticCustomError:
    return PydanticCustomError(TOO_LARGE, f"{what} is over {limit}")


def _json_within(value: Any, what: str, limit: int) -> Any:
    """`value` if its compact UTF-8 JSON form fits in `limit` bytes (1006 past it)."""
    try:
        size = json_size(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON") from exc
    if size > limit:
        raise _too_large(what, f"{limit} bytes")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _text(value: str) -> str:
    if not value:
        raise ValueError("text must not be empty")
    if len(value) > MAX_TEXT_CHARS:
        raise _too_large("text", f"{MAX_TEXT_CHARS} characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


Text = Annotated[str, AfterValidator(_text)]
Target = Annotated[int, Field(ge=1, le=2**53)]


def _distinct(value: list[str] | None) -> list[str] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("mentions must not repeat an item")
    return value


def _reaction_key(value: str) -> str:
    if not value:
        raise ValueError("key must not be empty")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("key must be valid Unicode") from None
    return reaction_key(value)


class TextBody(Strict):
    """Text; `replyTo` a seq the sender can see (else 2003), `mentions` 1-50 distinct
    current members (else 1001)."""

    type: Literal["text"]
    text: Text
    replyTo: Target | None = None
    mentions: Annotated[
        list[UserId] | None,
        Field(min_length=1, max_length=MAX_MENTIONS),
        AfterValidator(_distinct),
    ] = None


class EditBody(Strict):
    """An event: the newest text of the caller's own text message `target`."""

    type: Literal["edit"]
    target: Target
    text: Text


class DeleteBody(Strict):
    """An event: delete (and erase) the text, file or custom message `target`."""

    type: Literal["delete"]
    target: Target


class ReactionBody(Strict):
    """An event: add (`on: true`) or remove the caller's reaction `key` on `target`."""

    type: Literal["reaction"]
    target: Target
    key: Annotated[str, AfterValidator(_reaction_key)]
    on: bool


class CustomBody(Strict):
    type: Literal["custom"]
    data: Any = Field(...)

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: Any) -> Any:
        return _json_within(value, "data", MAX_CUSTOM_BYTES)


class FileBody(Strict):
    """A file message (protocol 9.1): an attachment uploaded by the sender for this
    conversation and not used by another message; stored and returned with the file's
    `name`, `size` and `contentType`."""

    type: Literal["file"]
    attachmentId: Annotated[str, Field(pattern=ULID_RE.pattern)]
    caption: str | None = None

    @field_validator("caption")
    @classmethod
    def _caption_length(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) > MAX_CAPTION_CHARS:
            raise _too_large("caption", f"{MAX_CAPTION_CHARS} characters")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("caption must be valid Unicode") from None
        return value


Body = Annotated[
    TextBody | CustomBody | FileBody | EditBody | DeleteBody | ReactionBody,
    Field(discriminator="type"),
]


class Frame(Strict):
    action: str
    id: RequestId | None = None


class SendFrame(Frame):
    action: Literal["send"]
    to: UserId | None = None
    conversationId: ConversationRef | None = None
    clientMsgId: ClientMsgId
    body: Body

    @model_validator(mode="after")
    def _one_target(self) -> SendFrame:
        if (self.to is None) == (self.conversationId is None):
            raise ValueError("exactly one of to or conversationId is required")
        return self


class SyncFrame(Frame):
    action: Literal["sync"]
    cursors: dict[ConversationRef, Seq] = Field(default_factory=dict, max_length=5000)
    limit: int = Field(default=100, ge=1, le=500)


class ReadFrame(Frame):
    action: Literal["read"]
    conversationId: ConversationRef
    seq: Seq


class TypingFrame(Frame):
    action: Literal["typing"]
    conversationId: ConversationRef
    state: Literal["start", "stop"]


class PresenceFrame(Frame):
    action: Literal["presence"]
    userIds: list[UserId] = Field(min_length=1, max_length=MAX_PRESENCE_IDS)


class SignalFrame(Frame):
    action: Literal["signal"]
    to: UserId
    callId: ClientMsgId
    kind: SignalKind
    payload: Any = None
    toConnection: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @field_validator("payload")
    @classmethod
    def _payload_size(cls, value: Any) -> Any:
        return _json_within(value, "payload", MAX_SIGNAL_PAYLOAD_BYTES)


class PingFrame(Frame):
    action: Literal["ping"]


class AuthFrame(Frame):
    action: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]


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


def _unicode_text(value: str) -> str:
    """Refuse lone surrogates ("\ud800" in JSON): they cannot be encoded to hash or store."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


DisplayName = Annotated[str, AfterValidator(clean_display_name)]
Password = Annotated[str, Field(min_length=8, max_length=128), AfterValidator(_unicode_text)]


class RegisterBody(Strict):
    userId: UserId
    password: Password
    displayName: DisplayName | None = None
    challenge: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """From `GET /auth/challenge`, when the server asks one (protocol 13)."""
    solution: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """SHA-256 of `challenge + solution` starts with the challenge's difficulty in zero bits."""


class LoginBody(Strict):
    userId: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshBody(Strict):
    refreshToken: Annotated[str, Field(min_length=1, max_length=512)]


class ChangePasswordBody(Strict):
    """`POST /me/password`: every other login of the caller ends."""

    oldPassword: Annotated[str, Field(min_length=1, max_length=1024)]
    newPassword: Password


class DeleteMeBody(Strict):
    """`DELETE /me` (protocol 12): a wrong password answers 401 1003."""

    password: Annotated[str, Field(min_length=1, max_length=1024)]


class CreateGroupBody(Strict):
    name: DisplayName
    members: list[UserId] = Field(default_factory=list)


class AddMembersBody(Strict):
    userIds: list[UserId] = Field(min_length=1)


class RoleBody(Strict):
    role: Literal["owner", "admin", "member"]


FileName = Annotated[
    str, Field(min_length=1, max_length=MAX_FILE_NAME), AfterValidator(_unicode_text)
]


class AttachmentUploadBody(Strict):
    """Announce a file (protocol 9.3). `name`: no `/`, no control characters; `contentType`:
    `type/subtype` (RFC 6838 names, no parameters); `size`: 1 byte to `MaxAttachmentBytes`
    (larger: 413 1006). Those rules are checked after the shape (1001)."""

    conversationId: ConversationRef
    name: FileName
    size: Annotated[int, Field(ge=1)]
    contentType: Annotated[str, Field(min_length=3, max_length=255), AfterValidator(_unicode_text)]


class MuteBody(Strict):
    """Mute or unmute a conversation for the caller (protocol 11): a muted conversation
    sends the caller no offline notifications."""

    muted: bool


class SuspendBody(Strict):
    """Suspend a user (protocol 12); `reason` goes to the audit log, never to the user."""

    reason: Annotated[str, Field(max_length=500)] | None = None


BODIES: tuple[type[Strict], ...] = (
    RegisterBody,
    LoginBody,
    RefreshBody,
    ChangePasswordBody,
    DeleteMeBody,
    CreateGroupBody,
    AddMembersBody,
    RoleBody,
    AttachmentUploadBody,
    MuteBody,
    SuspendBody,
)


# ---- devices (protocol 10) -----------------------------------------------------------------

B64Url = Annotated[str, Field(min_length=1, pattern=rf"^{B64URL_PATTERN}$")]


class PushKeysBody(Strict):
    """The subscription's keys, base64url: `p256dh` an uncompressed P-256 point (65 bytes),
    `auth` 16 bytes (other sizes: 1001, checked after the shape)."""

    p256dh: Annotated[B64Url, Field(max_length=128)]
    auth: Annotated[B64Url, Field(max_length=64)]


class PushSubscriptionBody(Strict):
    """A browser's `PushSubscription.toJSON()`. `endpoint`: an `https` URL whose host is a
    DNS name (no IP literal, no `localhost`, no userinfo; 1001, checked after the shape);
    `PushEndpointPolicy=loopback` also admits `http://127.0.0.1:<port>/`."""

    endpoint: Annotated[
        str, Field(min_length=1, max_length=MAX_PUSH_ENDPOINT), AfterValidator(_unicode_text)
    ]
    keys: PushKeysBody
    expirationTime: Annotated[int, Field(ge=0)] | None = None


class WebPushDeviceBody(Strict):
    """Register a browser's Web Push subscription."""

    platform: Literal["webpush"]
    subscription: PushSubscriptionBody


class TokenDeviceBody(Strict):
    """Register an FCM or APNs token (1001 when that platform is not enabled)."""

    platform: Literal["fcm", "apns"]
    token: Annotated[
        str, Field(min_length=1, max_length=MAX_PUSH_TOKEN), AfterValidator(_unicode_text)
    ]


class DeviceBody(RootModel[WebPushDeviceBody | TokenDeviceBody]):
    """`POST /devices`: one of the two bodies, told apart by `platform`."""

    root: Annotated[WebPushDeviceBody | TokenDeviceBody, Field(discriminator="platform")]


BODIES = (*BODIES, PushKeysBody, PushSubscriptionBody, WebPushDeviceBody, TokenDeviceBody)
