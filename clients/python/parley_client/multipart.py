"""``multipart/form-data`` encoding for presigned POST uploads (RFC 7578). No I/O.

A presigned POST is accepted only when the form holds every field the server
signed, in any order, with the file as the last part: storage stops reading
fields at the file. Values go out as UTF-8; the file name is quoted the way
browsers do (``"`` as ``%22``, CR and LF as ``%0D`` and ``%0A``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

__all__ = ["encode_multipart"]

_CRLF = b"\r\n"


def _quote(value: str) -> str:
    # the WHATWG form encoding: no backslash escapes, percent-encode what would end
    # the quoted string or the header line
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_multipart(
    fields: Mapping[str, str],
    file_name: str,
    content: bytes,
    content_type: str,
    *,
    file_field: str = "file",
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """Encode ``fields`` then the file as one ``multipart/form-data`` body.

    Args:
        fields: the form fields, sent first, in their mapping order.
        file_name: the file's name (the part's ``filename``).
        content: the file's bytes.
        content_type: the file part's ``Content-Type``.
        file_field: the file part's field name (``file`` for S3).
        boundary: the boundary to use (default: a random one); it must not occur in
            the encoded parts.

    Returns:
        ``(body, header)``: the bytes to send and the request's ``Content-Type``
        header, ``multipart/form-data; boundary=...``.

    Raises:
        ValueError: the given ``boundary`` occurs in the content.
    """
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'Content-Disposition: form-data; name="{_quote(name)}"'.encode()
            + _CRLF
            + _CRLF
            + str(value).encode("utf-8")
        )
    parts.append(
        f'Content-Disposition: form-data; name="{_quote(file_field)}"; '
        f'filename="{_quote(file_name)}"'.encode()
        + _CRLF
        + f"Content-Type: {content_type}".encode()
        + _CRLF
        + _CRLF
        + content
    )
    if boundary is None:
        boundary = "parley-" + uuid.uuid4().hex
        while any(boundary.encode("ascii") in part for part in parts):
            boundary = "parley-" + uuid.uuid4().hex
    elif any(boundary.encode("ascii") in part for part in parts):
        raise ValueError("the boundary occurs in the content")
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(delimiter + _CRLF + part + _CRLF for part in parts) + delimiter + b"--" + _CRLF
    return body, f"multipart/form-data; boundary={boundary}"
