"""Rich message bodies (protocol 1.1 §9): building them and checking them locally.

Pure functions with no I/O. Each builder checks what the protocol states plainly
(lengths, counts, characters) and raises :class:`~parley_client.ParleyError` with the
code the server would answer, so bad input fails before the network. The server
stays the authority: what needs its state (membership, who sent the target, the
20-key limit, ``MaxAttachmentBytes``) is left to it.

As on the server, a text, caption or key over its size limit is 1006 and anything
else malformed (an attachment name over 255 characters included) is 1001.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .errors import ErrorCode, ParleyError
from .wire import JsonObject

__all__ = [
    "EVENT_TYPES",
    "MAX_CAPTION",
    "MAX_MENTIONS",
    "MAX_NAME",
    "MAX_REACTION_KEY_BYTES",
    "MAX_TEXT",
    "attachment_request",
    "check_caption",
    "delete_body",
    "edit_body",
    "file_body",
    "has_control",
    "reaction_body",
    "rich_text_body",
]

#: Text bodies (and edits): 1-4000 code points.
MAX_TEXT = 4000
#: A file's caption: at most 1,000 code points.
MAX_CAPTION = 1000
#: ``mentions``: 1-50 distinct userIds.
MAX_MENTIONS = 50
#: A reaction key: 1-32 bytes of UTF-8.
MAX_REACTION_KEY_BYTES = 32
#: An attachment's name: 1-255 characters.
MAX_NAME = 255
#: Bodies that change another message (their ``target``) instead of adding content.
EVENT_TYPES = frozenset({"edit", "delete", "reaction"})

_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")


def _invalid(message: str) -> ParleyError:
    return ParleyError(ErrorCode.INVALID_PARAM, message)


def _too_large(message: str) -> ParleyError:
    return ParleyError(ErrorCode.PAYLOAD_TOO_LARGE, message)


def has_control(value: str) -> bool:
    """True when ``value`` holds a control character (Unicode category ``Cc``)."""
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def _check_text(text: str, what: str = "text") -> None:
    if not isinstance(text, str) or not text:
        raise _invalid(f"{what} must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise _too_large(f"{what} is {len(text)} code points; the limit is {MAX_TEXT}")


def _check_seq(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _invalid(f"{what} must be a positive integer seq, not {value!r}")
    return value


def rich_text_body(
    text: str, *, reply_to: int | None = None, mentions: Iterable[str] | None = None
) -> JsonObject:
    """``{type: "text", text, replyTo?, mentions?}``.

    Raises:
        ParleyError: 1001 for empty text, a ``reply_to`` that is not a positive
            seq, or ``mentions`` that are not 1-50 distinct userIds; 1006 for text
            over 4000 code points.
    """
    _check_text(text)
    body: JsonObject = {"type": "text", "text": text}
    if reply_to is not None:
        body["replyTo"] = _check_seq(reply_to, "replyTo")
    if mentions is not None:
        users = list(mentions)
        if not users or len(users) > MAX_MENTIONS:
            raise _invalid(f"mentions must hold 1-{MAX_MENTIONS} userIds, not {len(users)}")
        if any(not isinstance(u, str) or not u for u in users):
            raise _invalid("mentions must be userIds (non-empty strings)")
        if len(set(users)) != len(users):
            raise _invalid("mentions must be distinct")
        body["mentions"] = users
    return body


def edit_body(target: int, text: str) -> JsonObject:
    """``{type: "edit", target, text}``: the new text of your own text message ``target``."""
    _check_text(text)
    return {"type": "edit", "target": _check_seq(target, "target"), "text": text}


def delete_body(target: int) -> JsonObject:
    """``{type: "delete", target}``: erase message ``target``."""
    return {"type": "delete", "target": _check_seq(target, "target")}


def reaction_body(target: int, key: str, on: bool = True) -> JsonObject:
    """``{type: "reaction", target, key, on}``: add (``on``) or remove your reaction.

    Raises:
        ParleyError: 1001 for an empty key or one with control characters; 1006 for
            a key over 32 bytes of UTF-8.
    """
    if not isinstance(key, str) or not key:
        raise _invalid("a reaction key must be a non-empty string")
    if has_control(key):
        raise _invalid("a reaction key may not hold control characters")
    size = len(key.encode("utf-8"))
    if size > MAX_REACTION_KEY_BYTES:
        raise _too_large(f"reaction key is {size} bytes; the limit is {MAX_REACTION_KEY_BYTES}")
    if not isinstance(on, bool):
        raise _invalid("on must be true or false")
    return {"type": "reaction", "target": _check_seq(target, "target"), "key": key, "on": on}


def check_caption(caption: str | None) -> None:
    """Refuse a caption over 1,000 code points (1006) or that is not a string (1001)."""
    if caption is None:
        return
    if not isinstance(caption, str):
        raise _invalid("caption must be a string")
    if len(caption) > MAX_CAPTION:
        raise _too_large(f"caption is {len(caption)} code points; the limit is {MAX_CAPTION}")


def file_body(attachment_id: str, caption: str | None = None) -> JsonObject:
    """``{type: "file", attachmentId, caption?}`` for an uploaded attachment."""
    if not isinstance(attachment_id, str) or not attachment_id:
        raise _invalid("attachmentId must be a non-empty string")
    check_caption(caption)
    body: JsonObject = {"type": "file", "attachmentId": attachment_id}
    if caption is not None:
        body["caption"] = caption
    return body


def attachment_request(conversation_id: str, name: str, size: int, content_type: str) -> JsonObject:
    """The ``POST /attachments`` body ``{conversationId, name, size, contentType}``.

    Raises:
        ParleyError: 1001 for a name that is empty, over 255 characters or holds
            ``/`` or control characters, a size below 1 byte, or a content type not
            like ``type/subtype``. The size limit (``MaxAttachmentBytes``) is the
            server's to check.
    """
    if not isinstance(conversation_id, str) or not conversation_id:
        raise _invalid("conversationId must be a non-empty string")
    if not isinstance(name, str) or not name:
        raise _invalid("an attachment name must be a non-empty string")
    if "/" in name or has_control(name):
        raise _invalid("an attachment name may not hold '/' or control characters")
    if len(name) > MAX_NAME:
        # the server answers 1001 here: a name is malformed, not a payload over its size
        raise _invalid(f"attachment name is {len(name)} characters; the limit is {MAX_NAME}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise _invalid(f"an attachment must be at least 1 byte, not {size!r}")
    if not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type):
        raise _invalid(f"content type {content_type!r} is not like type/subtype")
    return {
        "conversationId": conversation_id,
        "name": name,
        "size": size,
        "contentType": content_type,
    }
