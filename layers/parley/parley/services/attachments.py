"""Attachments (protocol 9.3): the upload form, the download link, and the checks and claim
a `file` message makes (protocol 9.1).

The bytes never pass through a function: `POST /attachments` records a pending attachment
and answers a presigned POST that storage accepts only for the declared size and content
type; `GET /attachments/{id}` answers a presigned GET of at most 300 s. A `file` message
claims the attachment atomically with its own put (:meth:`AttachmentService.claimable`
checks, the Messages port's transaction writes; docs/architecture.md, "The file send").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from parley import ids
from parley.clock import Clock
from parley.concurrency import gather
from parley.errors import (
    ConversationNotFound,
    Forbidden,
    InvalidParam,
    NotFound,
    PayloadTooLarge,
)
from parley.ports import Attachments, Members, ObjectStore, Users
from parley.records import Attachment

__all__ = [
    "DOWNLOAD_EXPIRES",
    "MAX_CAPTION_CHARS",
    "PENDING_TTL",
    "UPLOAD_EXPIRES",
    "AttachmentService",
    "check_content_type",
    "check_name",
    "object_key",
]

UPLOAD_EXPIRES = 900  # seconds a presigned POST is valid
DOWNLOAD_EXPIRES = 300  # seconds a presigned GET is valid (protocol: at most 300)
PENDING_TTL = 24 * 3600  # seconds until an unused record expires (the object: lifecycle)
MAX_NAME_CHARS = 255
MAX_CAPTION_CHARS = 1000

# RFC 6838 section 4.2: type "/" subtype, each a restricted-name (no parameters).
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
CONTENT_TYPE_RE = re.compile(rf"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")


def object_key(attachment_id: str) -> str:
    """Where an attachment's bytes live: derived from its id only (no name, nothing the
    client chose), under the prefix the functions' IAM grants name."""
    return f"a/{attachment_id}"


def check_name(name: str) -> str:
    """A file name: 1-255 characters, no `/`, no control character, valid Unicode (1001)."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InvalidParam(f"name must be 1-{MAX_NAME_CHARS} characters")
    if "/" in name:
        raise InvalidParam("name must not contain '/'")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise InvalidParam("name must not contain control characters")
    return name


def check_content_type(content_type: str) -> str:
    """A media type `type/subtype` of RFC 6838 restricted names, no parameters (1001)."""
    if CONTENT_TYPE_RE.fullmatch(content_type) is None:
        raise InvalidParam("contentType must be a media type like type/subtype")
    return content_type


def _well_formed(conversation_id: str) -> str:
    try:
        ids.conversation_type(conversation_id)
    except ConversationNotFound:
        raise InvalidParam("conversationId must be a conversation id") from None
    return conversation_id


@dataclass(eq=False, kw_only=True)
class AttachmentService:
    """Issues upload forms and download links; checks what a `file` message may claim."""

    attachments: Attachments
    objects: ObjectStore
    members: Members
    users: Users
    clock: Clock
    max_bytes: int

    def create_upload(
        self, caller: str, conversation_id: str, name: str, size: int, content_type: str
    ) -> dict[str, Any]:
        """Record a pending attachment and answer its upload form (`201` body).

        The parameters are checked first (1001, a size past the limit 413 1006); then the
        caller must be a member of the conversation (1004 for any well-formed id, whether
        or not the conversation exists).
        """
        _well_formed(conversation_id)
        check_name(name)
        check_content_type(content_type)
        if size < 1:
            raise InvalidParam("size must be at least 1 byte")
        if size > self.max_bytes:
            raise PayloadTooLarge(f"size is over {self.max_bytes} bytes")
        if self.members.get(conversation_id, caller) is None and not self._may_open_direct(
            caller, conversation_id
        ):
            raise Forbidden("not a member of this conversation")
        now = self.clock.now_ms()
        attachment: Attachment = {
            "attachmentId": ids.new_ulid(now),
            "conversationId": conversation_id,
            "uploaderId": caller,
            "name": name,
            "size": size,
            "contentType": content_type,
            "createdAt": now,
            "state": "pending",
            "expiresAt": now // 1000 + PENDING_TTL,
        }
        self.attachments.create(attachment)
        form = self.objects.upload_form(
            object_key(attachment["attachmentId"]), size, content_type, UPLOAD_EXPIRES
        )
        return {
            "attachmentId": attachment["attachmentId"],
            "upload": {"url": form["url"], "fields": form["fields"]},
            "expiresIn": UPLOAD_EXPIRES,
        }

    def _may_open_direct(self, caller: str, conversation_id: str) -> bool:
        """Whether `caller` may upload into a direct conversation that has no message yet.

        `send` creates a direct conversation with its first message, so a first message that
        is a file must be able to upload before the conversation exists: allowed when the
        caller is one of its two users, the other exists, and the other has not blocked the
        caller (the same rules as that first send).
        """
        if ids.conversation_type(conversation_id) != "dm":
            return False
        a, b = ids.dm_members(conversation_id)
        if caller not in (a, b):
            return False
        other = b if caller == a else a
        if other == caller:
            return True
        exists, blocked = gather(
            lambda: bool(self.users.existing([other])),
            lambda: self.users.is_blocked(other, caller),
        )
        return bool(exists) and not blocked

    def download(self, caller: str, attachment_id: str) -> dict[str, Any]:
        """The attachment's metadata and a presigned GET (`200` body).

        Allowed to the uploader, and to a member who can see the message that carries it
        (their `joinedSeq` at or below its seq); others 1004, an unknown id 2003. Once its
        message is deleted the attachment is erased (protocol 9.2): 2003 for everyone, even
        before the erasure queue has removed the object and the record.
        """
        attachment = self._find(attachment_id)
        if attachment["state"] == "erased":
            raise NotFound("no such attachment")
        if attachment["uploaderId"] != caller:
            seq = attachment.get("seq")
            member = self.members.get(attachment["conversationId"], caller)
            if seq is None or member is None or member.get("joinedSeq", 1) > seq:
                raise Forbidden("not allowed to download this attachment")
        url = self.objects.download_url(
            object_key(attachment_id),
            attachment["name"],
            attachment["contentType"],
            DOWNLOAD_EXPIRES,
        )
        return {
            "attachmentId": attachment_id,
            "conversationId": attachment["conversationId"],
            "name": attachment["name"],
            "size": attachment["size"],
            "contentType": attachment["contentType"],
            "url": url,
            "expiresIn": DOWNLOAD_EXPIRES,
        }

    def claimable(self, sender: str, conversation_id: str, attachment_id: str) -> Attachment:
        """The attachment a `file` message of `sender` in `conversation_id` may claim.

        Unknown: 2003. Another uploader, another conversation, already used or erased (its
        message was deleted): 1001. Not uploaded, or of another size than declared: 1001.
        The claim itself (the transaction) re-checks state, uploader and conversation, so a
        concurrent claim between this read and the write still loses.
        """
        attachment = self._find(attachment_id)
        if attachment["uploaderId"] != sender:
            raise InvalidParam("attachment was uploaded by another user")
        if attachment["conversationId"] != conversation_id:
            raise InvalidParam("attachment belongs to another conversation")
        if attachment["state"] != "pending":
            raise InvalidParam("attachment is already used by another message")
        stored = self.objects.size_of(object_key(attachment_id))
        if stored is None:
            raise InvalidParam("attachment not uploaded")
        if stored != attachment["size"]:
            raise InvalidParam("attachment's stored size differs from the declared size")
        return attachment

    def claimed(self, attachment_id: str) -> None:
        """Exempt a claimed attachment's object from the pending expiry (idempotent: a
        retried send does it again)."""
        self.objects.mark_used(object_key(attachment_id))

    def _find(self, attachment_id: str) -> Attachment:
        if ids.ULID_RE.fullmatch(attachment_id) is None:
            raise NotFound("no such attachment")
        attachment = self.attachments.get(attachment_id)
        if attachment is None:
            raise NotFound("no such attachment")
        return attachment
