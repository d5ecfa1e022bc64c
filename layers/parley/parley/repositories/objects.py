"""The attachment bucket (S3): presigned upload forms and download links, and the checks
a `file` send makes.

Objects live at `a/<attachmentId>`: the key holds no file name and nothing the client
chose, so S3 keeps no file name; the name reaches the downloader only through the signed
`response-content-disposition` of a presigned GET. Every upload is tagged
`parley-state=pending` by its form (the `tagging` field, pinned by the policy), and the
bucket's lifecycle deletes pending objects a day later; a message's claim removes the tag
(docs/architecture.md, "Attachments").

Presigning makes no AWS call: it signs with the function role's credentials, so the role
must hold what the form or link will do (s3:PutObject, s3:PutObjectTagging, s3:GetObject).
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

from parley.records import UploadForm
from parley.repositories.base import AwsClient, error_code, translate

__all__ = [
    "PENDING_TAG",
    "PENDING_TAGGING",
    "ObjectsRepository",
    "content_disposition",
]

PENDING_TAG = ("parley-state", "pending")
PENDING_TAGGING = (
    "<Tagging><TagSet><Tag>"
    f"<Key>{PENDING_TAG[0]}</Key><Value>{PENDING_TAG[1]}</Value>"
    "</Tag></TagSet></Tagging>"
)
_MISSING = {"404", "NoSuchKey", "NotFound"}


def content_disposition(name: str) -> str:
    """`attachment` with the file's name (RFC 6266): an ASCII fallback and the exact name
    in RFC 5987 form, so any name survives (quotes, backslashes, non-ASCII)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@cache
def _s3v4_client() -> Any:
    import boto3
    from botocore.config import Config

    # Virtual-hosted and regional (`bucket.s3.<region>.amazonaws.com`): the global
    # endpoint answers a new bucket of another region with a redirect a browser's upload
    # does not follow. An IP endpoint (the local cloud) is addressed by path regardless.
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "virtual"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
    )
    return boto3.session.Session().client("s3", config=config)


class ObjectsRepository(AwsClient):
    """One bucket's attachments."""

    service = "s3"

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        super().__init__(client)
        self.bucket = bucket

    @property
    def client(self) -> Any:
        """An S3 client that presigns with Signature Version 4 (botocore may otherwise sign
        a POST policy with version 2, which S3 refuses for buckets created since 2020), on
        the endpoint the SDK is configured with (`AWS_ENDPOINT_URL` locally)."""
        if self._client is None:
            self._client = _s3v4_client()
        return self._client

    def upload_form(self, key: str, size: int, content_type: str, expires_in: int) -> UploadForm:
        """A presigned POST that S3 accepts only for exactly `size` bytes of
        `content_type`, tagged pending, at `key`, for `expires_in` seconds."""
        fields = {"Content-Type": content_type, "tagging": PENDING_TAGGING}
        conditions: list[Any] = [
            ["content-length-range", size, size],
            {"Content-Type": content_type},
            {"tagging": PENDING_TAGGING},
        ]
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        return {"url": str(post["url"]), "fields": {k: str(v) for k, v in post["fields"].items()}}

    def download_url(self, key: str, name: str, content_type: str, expires_in: int) -> str:
        """A presigned GET of `key` answering with the stored name and type."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(name),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires_in,
            )
        )

    def size_of(self, key: str) -> int | None:
        """HeadObject's ContentLength; None when no object is at `key`."""
        from botocore.exceptions import ClientError

        try:
            with translate():
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        return int(head["ContentLength"])

    def mark_used(self, key: str) -> None:
        """Remove the pending tag (DeleteObjectTagging is idempotent)."""
        from botocore.exceptions import ClientError

        try:
            with translate():
                self.client.delete_object_tagging(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) not in _MISSING:
                raise

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` at `key` (an account export: the function writes it itself)."""
        with translate():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, key: str) -> None:
        """Remove the object (DeleteObject succeeds for a missing key too)."""
        with translate():
            self.client.delete_object(Bucket=self.bucket, Key=key)
