"""The attachment ports in memory: the AttachmentsTable (with the claim transaction) and an
object store whose upload forms carry the same policy as S3's presigned POST and are
refused the way S3 refuses them.

:meth:`Objects.post` is the upload a client makes with a form: it checks the form's policy
document (expiry, every exact-match condition, `content-length-range`) against the fields
and the file, and answers S3's error code (`AccessDenied`, `EntityTooLarge`,
`EntityTooSmall`) instead of storing anything. Downloads go through :meth:`Objects.get`
with a link's key and expiry.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs, quote, urlsplit

from parley.clock import Clock
from parley.ports import ClaimOutcome
from parley.records import Attachment, Message, UploadForm

from parley_memory.store import Repository, Store, stored_message

PENDING_TAG = ("parley-state", "pending")


class ObjectRefused(Exception):
    """What S3 answers a form upload it refuses (`code` as in its XML error)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Attachments(Repository):
    """AttachmentsTable, and the put of a `file` message that claims one."""

    table = "AttachmentsTable"

    def __init__(self, store: Store | None = None) -> None:
        super().__init__(store)
        self.before_claim: Any = None  # a hook run before the transaction (tests: races)

    def create(self, attachment: Attachment) -> None:
        self._called("create", attachment["attachmentId"])
        with self.store.lock:
            self.store.attachments[attachment["attachmentId"]] = dict(copy.deepcopy(attachment))
        self._wrote("PutItem", None, attachment)

    def get(self, attachment_id: str) -> Attachment | None:
        self._called("get", attachment_id)
        with self.store.lock:
            row = copy.deepcopy(self.store.attachments.get(attachment_id))
        self._read("GetItem", [row], consistent=True)
        return cast(Attachment, row) if row is not None else None

    def remove_erased(self, attachment_id: str) -> bool:
        """Delete the record on condition `state = erased`, as the conditional DeleteItem."""
        self._called("remove_erased", attachment_id)
        with self.store.lock:
            row = self.store.attachments.get(attachment_id)
            removed = row is not None and row.get("state") == "erased"
            if removed:
                del self.store.attachments[attachment_id]
        self._wrote("DeleteItem", row, None, applied=removed)
        return removed

    def put_message_claiming(
        self, message: Message, own: dict[str, int] | None, attachment_id: str, n: int | None = None
    ) -> ClaimOutcome:
        """Both writes under the store's lock, each on its condition, as the transaction."""
        self._called("put_message_claiming", message["conversationId"], message["seq"])
        if self.before_claim is not None:
            self.before_claim(message)
        with self.store.lock:
            log = self.store.messages.get(message["conversationId"], {})
            if message["seq"] in log:
                return ClaimOutcome.SEQ_TAKEN
            row = self.store.attachments.get(attachment_id)
            if (
                row is None
                or row.get("state") != "pending"
                or row.get("uploaderId") != message["senderId"]
                or row.get("conversationId") != message["conversationId"]
            ):
                return ClaimOutcome.REFUSED
            self.store.put_message(stored_message(message, own, n))
            row["state"] = "used"
            row["seq"] = message["seq"]
            row.pop("expiresAt", None)
        return ClaimOutcome.STORED


class Objects:
    """The attachment bucket: forms and links signed by nothing but honoured like S3's."""

    def __init__(self, clock: Clock, store: Store | None = None, bucket: str = "attachments"):
        self.clock = clock
        self.store = store or Store()
        self.bucket = bucket
        self.url = f"memory://{bucket}/"

    def upload_form(self, key: str, size: int, content_type: str, expires_in: int) -> UploadForm:
        """Fields and a policy shaped like boto3's presigned POST."""
        tagging = _tagging(*PENDING_TAG)
        expiration = self.clock.now_ms() + expires_in * 1000
        policy = {
            "expiration": expiration,
            "conditions": [
                {"bucket": self.bucket},
                {"key": key},
                ["content-length-range", size, size],
                {"Content-Type": content_type},
                {"tagging": tagging},
            ],
        }
        encoded = base64.b64encode(json.dumps(policy).encode()).decode()
        fields = {"Content-Type": content_type, "tagging": tagging, "key": key, "policy": encoded}
        return {"url": self.url, "fields": fields}

    def post(self, fields: dict[str, str], content: bytes) -> None:
        """A client's form upload: stored, or :class:`ObjectRefused` as S3 would refuse it."""
        try:
            policy = json.loads(base64.b64decode(fields["policy"]))
        except (KeyError, ValueError):
            raise ObjectRefused("AccessDenied") from None
        if self.clock.now_ms() > int(policy["expiration"]):
            raise ObjectRefused("AccessDenied")
        form = {**fields, "bucket": self.bucket}
        for condition in policy["conditions"]:
            if isinstance(condition, list):
                _, low, high = condition
                if len(content) > int(high):
                    raise ObjectRefused("EntityTooLarge")
                if len(content) < int(low):
                    raise ObjectRefused("EntityTooSmall")
                continue
            for name, value in condition.items():
                if form.get(name) != value:
                    raise ObjectRefused("AccessDenied")
        with self.store.lock:
            self.store.objects[fields["key"]] = {
                "body": bytes(content),
                "contentType": fields.get("Content-Type", "binary/octet-stream"),
                "tags": dict([PENDING_TAG]) if "tagging" in fields else {},
            }

    def download_url(self, key: str, name: str, content_type: str, expires_in: int) -> str:
        expires = self.clock.now_ms() + expires_in * 1000
        return (
            f"{self.url}{key}?expires={expires}&response-content-type={quote(content_type)}"
            f"&response-content-disposition={quote(name)}"
        )

    def get(self, url: str) -> bytes:
        """What a download link answers (AccessDenied once it expired; NoSuchKey)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if self.clock.now_ms() > int(query["expires"][0]):
            raise ObjectRefused("AccessDenied")
        with self.store.lock:
            found = self.store.objects.get(parts.path.lstrip("/"))
        if found is None:
            raise ObjectRefused("NoSuchKey")
        return bytes(found["body"])

    def tags(self, key: str) -> dict[str, str]:
        with self.store.lock:
            return dict(self.store.objects.get(key, {}).get("tags", {}))

    def size_of(self, key: str) -> int | None:
        with self.store.lock:
            found = self.store.objects.get(key)
        return len(found["body"]) if found is not None else None

    def mark_used(self, key: str) -> None:
        with self.store.lock:
            found = self.store.objects.get(key)
            if found is not None:
                found["tags"] = {}

    def delete(self, key: str) -> None:
        with self.store.lock:
            self.store.objects.pop(key, None)


class ErasureQueue:
    """The erase queue: the attachments the send function scheduled, in order, until the
    erase function (:meth:`drain`) takes them. No delay: a test drains when it chooses."""

    def __init__(self) -> None:
        self.scheduled: list[str] = []
        self.fail: Exception | None = None  # raised by the next schedule (tests: outages)

    def schedule(self, attachment_id: str) -> None:
        if self.fail is not None:
            failure, self.fail = self.fail, None
            raise failure
        self.scheduled.append(attachment_id)

    def drain(self, erase: Callable[[str], object]) -> list[object]:
        """Hand every scheduled attachment to `erase` (an erasure service's), oldest first;
        what each call answered."""
        taken, self.scheduled = self.scheduled, []
        return [erase(attachment_id) for attachment_id in taken]


def _tagging(key: str, value: str) -> str:
    return f"<Tagging><TagSet><Tag><Key>{key}</Key><Value>{value}</Value></Tag></TagSet></Tagging>"
