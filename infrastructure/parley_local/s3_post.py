"""S3 browser-based uploads (presigned POST) checked as S3 checks them, in front of moto.

moto stores whatever a form POST carries: it does not verify the signature, the policy's
expiry or its conditions (`content-length-range`, exact and `starts-with` matches). S3
does, and Parley relies on it: an attachment's form admits exactly the declared size and
content type. This WSGI middleware runs in the moto process, before moto, on every
`multipart/form-data` POST that carries a `policy` field. It verifies the Signature
Version 4 of the policy (with the local cloud's fixed secret key), the expiry, every
condition against the form's fields, and the file's size against `content-length-range`,
and answers a refused upload with S3's XML error and status (`AccessDenied` 403,
`SignatureDoesNotMatch` 403, `EntityTooLarge`/`EntityTooSmall` 400). An upload it admits
is passed to moto unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

MAX_FORM_BYTES = 6 * 1024**3  # a POST object is at most 5 GiB, plus the fields


class PostRefused(Exception):
    """S3's answer to a refused form upload."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message></Error>"
        ).encode()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_form(fields: dict[str, str], size: int, bucket: str, secret: str, now: datetime) -> None:
    """Raise :class:`PostRefused` unless S3 would accept this form upload of `size` bytes.

    `fields` are the form's fields (not the file), names as sent; S3 compares condition
    names case-insensitively and values exactly.
    """
    lower = {k.lower(): v for k, v in fields.items()}
    encoded = lower.get("policy", "")
    algorithm = lower.get("x-amz-algorithm")
    if algorithm != "AWS4-HMAC-SHA256":
        raise PostRefused(400, "InvalidRequest", "only AWS4-HMAC-SHA256 form uploads are emulated")
    credential = lower.get("x-amz-credential", "").split("/")
    if len(credential) != 5:
        raise PostRefused(400, "AuthorizationQueryParametersError", "malformed x-amz-credential")
    _, date, region, service, _ = credential
    expected = hmac.new(
        _signing_key(secret, date, region, service), encoded.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, lower.get("x-amz-signature", "")):
        raise PostRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
        expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S%z")
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError):
        raise PostRefused(400, "InvalidPolicyDocument", "Invalid Policy: malformed") from None
    if now >= expiration:
        raise PostRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**lower, "bucket": bucket}
    covered = {"bucket", "policy", "x-amz-signature", "file"}
    for condition in conditions:
        _check(condition, values, size)
        if isinstance(condition, dict):
            covered |= {k.lower() for k in condition}
        elif (
            isinstance(condition, list)
            and len(condition) == 3
            and condition[0] != ("content-length-range")
        ):
            covered.add(str(condition[1]).lstrip("$").lower())
    # S3: every field of the form must be named by a condition (x-ignore-* aside).
    for name in lower:
        if name not in covered and not name.startswith("x-ignore-"):
            raise PostRefused(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Extra input fields: {name}",
            )


def _check(condition: Any, values: dict[str, str], size: int) -> None:
    failed = PostRefused(
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
    )
    if isinstance(condition, dict):
        for name, value in condition.items():
            if values.get(name.lower()) != value:
                raise failed
        return
    if not isinstance(condition, list) or len(condition) != 3:
        raise PostRefused(400, "InvalidPolicyDocument", "Invalid Policy: malformed condition")
    operator, name, value = condition
    if operator == "content-length-range":
        if size > int(value):
            raise PostRefused(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
        if size < int(name):
            raise PostRefused(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
            )
        return
    field = values.get(str(name).lstrip("$").lower())
    if operator == "eq" and field != value:
        raise failed
    if operator == "starts-with" and (field is None or not field.startswith(str(value))):
        raise failed


class PostPolicyFront:
    """The WSGI middleware: checks form uploads, passes everything else to moto."""

    def __init__(self, app: Any, secret: str) -> None:
        self.app = app
        self.secret = secret

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if environ.get("REQUEST_METHOD") != "POST" or not content_type.startswith(
            "multipart/form-data"
        ):
            return self.app(environ, start_response)
        from werkzeug.formparser import parse_form_data

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
        probe = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        _, form, files = parse_form_data(probe, max_content_length=MAX_FORM_BYTES)
        fields = dict(form.items())
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if "policy" not in {k.lower() for k in fields}:
            return self.app(environ, start_response)
        upload = files.get("file")
        size = len(upload.read()) if upload is not None else 0
        bucket = _bucket_of(environ)
        try:
            check_form(fields, size, bucket, self.secret, datetime.now(UTC))
        except PostRefused as refused:
            payload = refused.xml()
            status = {400: "400 Bad Request", 403: "403 Forbidden"}[refused.status]
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))]
            origin = environ.get("HTTP_ORIGIN")
            if origin:
                # A browser must be able to read the refusal, as with S3's CORS.
                headers.append(("Access-Control-Allow-Origin", str(origin)))
            start_response(status, headers)
            return [payload]
        return self.app(environ, start_response)


def _bucket_of(environ: dict[str, Any]) -> str:
    """The bucket a form POST names: the first path segment (path style, as the local
    endpoint is an IP address), else the host's first label (virtual-hosted)."""
    path = str(environ.get("PATH_INFO", "")).strip("/")
    if path:
        return path.split("/", 1)[0]
    return str(environ.get("HTTP_HOST", "")).split(".", 1)[0]
