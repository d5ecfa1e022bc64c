"""Identifiers and timestamps in the shapes AWS uses for them."""

from __future__ import annotations

import base64
import hashlib
import os
import string
import time
import uuid
from datetime import UTC, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def _digest_chars(seed: str, alphabet: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def physical_name(stack: str, logical_id: str, max_length: int = 255, suffix: str = "") -> str:
    """A CloudFormation-style generated name: `{stack}-{LogicalId}-{RANDOMSUFFIX}`.

    The suffix is derived from the stack and logical id so that names stay the same
    across restarts of the local cloud (CloudFormation draws them at random).
    """
    tail = "-" + _digest_chars(f"{stack}/{logical_id}", _UPPER_ALNUM, 12) + suffix
    head = f"{stack}-{logical_id}"[: max_length - len(tail)]
    return head + tail


def api_id(logical_id: str, stack: str) -> str:
    """A 10-character lower-case id, like API Gateway's (`fjnq7njcv2`)."""
    return _digest_chars(f"api/{stack}/{logical_id}", _LOWER_ALNUM, 10)


def short_id(logical_id: str, stack: str) -> str:
    """A 7-character id, like those of routes, integrations and authorizers."""
    return _digest_chars(f"sub/{stack}/{logical_id}", _LOWER_ALNUM, 7)


def gateway_id() -> str:
    """An id like API Gateway's connection, request and message ids (`BFHPhfCWIAMCKlQ=`)."""
    return base64.urlsafe_b64encode(os.urandom(8)).decode()


def request_id() -> str:
    """A Lambda request id (a UUID)."""
    return str(uuid.uuid4())


def trace_id() -> str:
    """An X-Ray trace id header value as API Gateway adds it (`Root=1-...-...`)."""
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def now_ms() -> int:
    return int(time.time() * 1000)


def clf_time(epoch_ms: int) -> str:
    """`11/Nov/2024:11:35:24 +0000`: API Gateway's `requestTime` (locale independent)."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{dt.day:02d}/{_MONTHS[dt.month - 1]}/{dt.year}:{dt:%H:%M:%S} +0000"


def iso_time(epoch_ms: int) -> str:
    """ISO 8601 with milliseconds and `Z`, as the `@connections` API answers."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
