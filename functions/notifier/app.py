"""NotifyQueue consumer (protocol 10): sends each work item's notifications, reporting each
failed record alone (`ReportBatchItemFailures`) so SQS retries only those, then the DLQ.

The Web Push transport lives here, with its libraries (this function's own requirements,
not the shared layer): `http_ece` encrypts (RFC 8291, `aes128gcm`), `py_vapid` signs the
VAPID JWT (RFC 8292). pywebpush is the usual wrapper around those two, but it imports
`requests` and `aiohttp` and sends through them, and the notifier must choose the address
it connects to: the endpoint's host is resolved here, every address is checked against the
policy, and the connection goes to that checked address (TLS still verifies the host
name), so a DNS answer that changes between the check and the connection cannot redirect
the request into the VPC. Redirects are never followed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from parley import runtime
from parley.config import settings
from parley.observability import count, instrumented, logger
from parley.ports import WebPushResult
from parley.push_rules import (
    EndpointPolicy,
    address_allowed,
    b64url_decode,
    notify_item,
    origin,
    vapid_scalar,
)
from parley.records import Device

VAPID_LIFETIME = 12 * 3600  # seconds; RFC 8292 allows at most 24 h
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0

Resolve = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (TCP), IPv4 first: a Lambda function outside a VPC
    has no IPv6 route, and the notifier connects to the first one."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos}, key=lambda a: (":" in a, a))


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A `Retry-After` header (delay-seconds or an HTTP date) as seconds from `now`."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class HttpWebPush:
    """Encrypts, signs and POSTs one notification to a subscription's endpoint."""

    def __init__(
        self,
        seed: str,
        contact: str,
        policy: EndpointPolicy,
        *,
        resolver: Resolve = resolve,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from py_vapid import Vapid02

        self.vapid = Vapid02(ec.derive_private_key(vapid_scalar(seed), ec.SECP256R1()))
        self.contact = contact
        self.policy = policy
        self.resolver = resolver
        self.clock = clock

    def send(self, device: Device, data: bytes, *, topic: str, ttl: int) -> WebPushResult:
        """POST `data` to the device's endpoint: its HTTP status and Retry-After; status -1
        when the host's addresses are refused, 0 when no answer came."""
        import http_ece
        from cryptography.hazmat.primitives.asymmetric import ec

        endpoint = device["endpoint"]
        url = urlsplit(endpoint)
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except OSError:
            return WebPushResult(0)
        if not addresses or not all(address_allowed(a, self.policy) for a in addresses):
            logger.warning("push endpoint refused by the address policy")
            return WebPushResult(-1)
        body = http_ece.encrypt(
            data,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=b64url_decode(device["p256dh"]),
            auth_secret=b64url_decode(device["auth"]),
            version="aes128gcm",
        )
        claims = {
            "aud": origin(endpoint),
            "exp": int(self.clock()) + VAPID_LIFETIME,
            "sub": self.contact,
        }
        headers = {
            **self.vapid.sign(claims),
            "Host": url.netloc,
            "TTL": str(ttl),
            "Urgency": "high",
            "Topic": topic,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        return self._post(url.scheme, addresses[0], host, port, path, body, headers)

    def _post(
        self,
        scheme: str,
        address: str,
        host: str,
        port: int,
        path: str,
        body: bytes,
        headers: dict[str, str],
    ) -> WebPushResult:
        import urllib3

        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                server_hostname=host,
                assert_hostname=host,
            )
        else:  # only http://127.0.0.1:<port>/ under the loopback policy gets here
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        try:
            with pool:
                response = pool.urlopen(
                    "POST", path, body=body, headers=headers, redirect=False, retries=False
                )
        except urllib3.exceptions.HTTPError:
            return WebPushResult(0)
        after = retry_after_seconds(response.headers.get("Retry-After"), self.clock())
        return WebPushResult(response.status, after)


@cache
def transport() -> HttpWebPush:
    cfg = settings()
    policy: EndpointPolicy = "loopback" if cfg.push_endpoint_policy == "loopback" else "https"
    return HttpWebPush(runtime.vapid_seed(), cfg.push_contact, policy)


# A failed record is retried by SQS and finally dead-lettered by the queue's redrive policy;
# failed deliveries are retried by the service itself (narrowed, delayed work items).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    started = time.perf_counter()
    item = notify_item(json.loads(record.body))
    if item is None:
        logger.error("malformed notify item; dropping it")
        return
    report = runtime.notifier_service(transport()).handle(item)
    for name, value in (
        ("NotificationsSent", report.sent),
        ("NotificationsFailed", report.failed),
        ("DevicesRemoved", report.removed),
        ("NotificationsRetried", report.retried),
    ):
        if value:
            count(name, value)
    logger.info(
        "notify item done",
        extra={
            "latencyMs": round((time.perf_counter() - started) * 1000, 2),
            "skipped": report.skipped,
            "sent": report.sent,
            "failed": report.failed,
            "removed": report.removed,
            "retried": report.retried,
            "deadLettered": report.dead_lettered,
            "statuses": report.statuses,
        },
    )


@instrumented(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(result)
