"""Wire models: client frames and HTTP bodies, validated strictly (no coercion, no extras).

Validation failures become protocol errors in one place (:func:`validate`): a value over its
size limit is 1006, anything else malformed is 1001.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from parley.errors import InvalidParam, PayloadTooLarge, UnknownAction
from parley.wire import compact_json, parse_json_object

MAX_FRAME_BYTES = 32 * 1024
MAX_TEXT_CHARS = 4000
MAX_CUSTOM_BYTES = 8192
MAX_SIGNAL_PAYLOAD_BYTES = 24 * 1024
MAX_PRESENCE_IDS = 100
MAX_DISPLAY_NAME = 64
MAX_GROUP_NAME = 128

UserId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{2,31}$")]
ClientMsgId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
RequestId = Annotated[str, Field(min_length=1, max_length=64)]
ConversationRef = Annotated[str, Field(min_length=1, max_length=80)]
Seq = Annotated[int, Field(ge=0, le=2**53)]


def _too_large(what: str, limit: str) -> PydanticCustomError:
    return PydanticCustomError("payload_too_large", f"{what} is over {limit}")


def _json_within(value: Any, what: str, limit: int) -> Any:
    """`value` if its compact UTF-8 JSON form fits in `limit` bytes (1006 past it)."""
    try:
        size = len(compact_json(value).encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON") from exc
    if size > limit:
        raise _too_large(what, f"{limit} bytes")
    return value


class Strict(BaseModel):
    # defer_build: a model's validator is built when first used, or by `prepare` at cold
    # start; each function builds only the few models it serves, not all fifteen.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class TextBody(Strict):
    type: Literal["text"]
    text: str

    @field_validator("text")
    @classmethod
    def _text_length(cls, value: str) -> str:
        if not value:
            raise ValueError("text must not be empty")
        if len(value) > MAX_TEXT_CHARS:
            raise _too_large("text", f"{MAX_TEXT_CHARS} characters")
        try:
            value.encode()
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800" in JSON) cannot be stored, pushed or synced as UTF-8.
            raise ValueError("text must be valid Unicode") from None
        return value


class CustomBody(Strict):
    type: Literal["custom"]
    data: Any = Field(...)

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: Any) -> Any:
        return _json_within(value, "data", MAX_CUSTOM_BYTES)


Body = Annotated[TextBody | CustomBody, Field(discriminator="type")]


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


SignalKind = Literal[
    "invite", "ringing", "accept", "reject", "offer", "answer", "candidate", "hangup"
]


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


class LoginBody(Strict):
    userId: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshBody(Strict):
    refreshToken: Annotated[str, Field(min_length=1, max_length=512)]


class CreateGroupBody(Strict):
    name: DisplayName
    members: list[UserId] = Field(default_factory=list)


class AddMembersBody(Strict):
    userIds: list[UserId] = Field(min_length=1)


class RoleBody(Strict):
    role: Literal["owner", "admin", "member"]


M = TypeVar("M", bound=BaseModel)


def _location(loc: tuple[Any, ...]) -> str:
    # Discriminated unions add the tag to the path ("body.text.text"); keep what a user typed.
    last = len(loc) - 1
    parts = [str(p) for i, p in enumerate(loc) if not (p in {"text", "custom"} and i < last)]
    return ".".join(parts) or "body"


def prepare(*models: type[BaseModel]) -> None:
    """Build the validators of the models a function serves, at its cold start (the init
    phase) rather than in its first request."""
    for model in models:
        model.model_rebuild(force=True)


def validate(model: type[M], data: Any) -> M:
    """Validate `data` against `model`, raising the protocol error for the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for err in errors:
            if err["type"] == "payload_too_large":
                raise PayloadTooLarge(f"{_location(err['loc'])}: {err['msg']}") from None
        err = errors[0]
        raise InvalidParam(f"{_location(err['loc'])}: {err['msg']}") from None


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
