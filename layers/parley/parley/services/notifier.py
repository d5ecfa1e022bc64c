"""The notifier (protocol 10): one NotifyQueue work item -> a notification on each device of
each user it names.

The fan-out decides who is notified (members with no live connection, mentioned in a large
group) and hands over `{conversationId, seq, userIds}`; this service reads the message in
its current state, skips anything but text, file and custom messages (events, system
messages, and a message deleted meanwhile), drops the users who muted the conversation or
are no longer members (one BatchGetItem of their member rows, before any device is read:
only offline users are ever read for it), and sends:

* Web Push: the §10 payload, encrypted and VAPID-signed by the transport, with `TTL`,
  `Urgency: high` and the conversation's `Topic`;
* FCM and APNs: platform JSON published to the device's SNS endpoint.

Failures: `404`/`410` (Web Push) or a disabled endpoint (SNS) removes the device; `429`,
`5xx` and connection failures are retried through the queue, narrowed to the devices that
failed, after the larger of `Retry-After` and an exponential backoff; after
`max_attempts` the narrowed item goes to the dead-letter queue. Other answers (`400`,
`403`, `413`, an address the policy refuses) are counted as failed and not retried: sending
again would get the same answer.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parley import ids
from parley.concurrency import parallel_map
from parley.features import NO_FLAGS, PUSH_PREVIEWS, Features
from parley.ports import (
    Devices,
    Messages,
    MuteStates,
    NotifyQueue,
    PublishOutcome,
    PushPlatforms,
    WebPushTransport,
)
from parley.push_rules import NOTIFYING_TYPES, payload, topic
from parley.records import Device, Message, NotifyItem

__all__ = ["MAX_ATTEMPTS", "NotifierService", "NotifyReport", "retry_delay"]

MAX_ATTEMPTS = 5  # deliveries of one notification to one device before the DLQ
BACKOFF_BASE = 10.0  # seconds before the first retry; doubled each time, jittered
BACKOFF_CAP = 900.0  # SQS's longest delay
_GONE = frozenset({404, 410})


def _retryable(status: int) -> bool:
    return status == 0 or status == 429 or status >= 500


def retry_delay(attempt: int, retry_after: float | None, jitter: Callable[[], float]) -> int:
    """Seconds before retry `attempt` (1-based): exponential backoff with jitter in
    [base*2^(a-1)/2, base*2^(a-1)], but never sooner than the push service's Retry-After;
    at most 900 s (SQS's longest delay)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    backoff = ceiling / 2 + jitter() * ceiling / 2
    return math.ceil(min(BACKOFF_CAP, max(backoff, retry_after or 0.0)))


@dataclass
class NotifyReport:
    """What one work item did (the handler turns it into metrics and a log line)."""

    skipped: str | None = None
    sent: int = 0
    failed: int = 0
    removed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False, kw_only=True)
class NotifierService:
    """Sends the notifications of one work item."""

    messages: Messages
    members: MuteStates
    devices: Devices
    webpush: WebPushTransport
    platforms: PushPlatforms | None
    queue: NotifyQueue
    ttl: int
    previews: bool
    features: Features = NO_FLAGS  # `pushPreviews` per recipient (issue 17)
    max_attempts: int = MAX_ATTEMPTS
    jitter: Callable[[], float] = random.random

    def handle(self, item: NotifyItem) -> NotifyReport:
        """Notify the item's users of its message (see the module's docstring)."""
        report = NotifyReport()
        message = self.messages.get(item["conversationId"], item["seq"])
        if message is None:
            report.skipped = "no such message"
            return report
        kind = message["body"].get("type")
        if kind not in NOTIFYING_TYPES:
            report.skipped = f"{kind} messages do not notify"
            return report
        # Push previews: the stack's PushPreviews, then the recipient's `pushPreviews` flag.
        conversation_type = ids.conversation_type(message["conversationId"])
        data = {
            shown: json.dumps(payload(message, shown), separators=(",", ":")).encode()
            for shown in {False, self.previews}
        }
        native = {shown: self._native(message, shown) for shown in {False, self.previews}}
        only = set(item["deviceIds"]) if "deviceIds" in item else None
        users = [u for u in dict.fromkeys(item["userIds"]) if u != message["senderId"]]
        # Muted now, or gone from the conversation since the fan-out: no notification.
        states = self.members.mute_states(message["conversationId"], users) if users else {}
        users = [u for u in users if states.get(u) is False]
        if not users:
            report.skipped = "every user muted the conversation or left it"
            return report
        # Each user's devices (one Query each), then every device's send, on the I/O pool:
        # a work item of many users is bounded by the slowest push service, not their sum.
        targets = [
            device
            for found in parallel_map(self.devices.list_for, users)
            for device in found
            if only is None or device["deviceId"] in only
        ]

        previews = {
            user: self.previews
            and self.features.enabled(PUSH_PREVIEWS, user, conversationType=conversation_type)
            for user in users
        }

        def send(device: Device) -> tuple[Device, int, float | None]:
            shown = previews.get(device["userId"], False)
            return (
                device,
                *self._send(device, data[shown], native[shown], message["conversationId"]),
            )

        retry: list[Device] = []
        retry_after: float | None = None
        for device, status, after in parallel_map(send, targets):
            report.statuses[str(status)] = report.statuses.get(str(status), 0) + 1
            if status in (200, 201, 202, 204):
                report.sent += 1
            elif status in _GONE:
                if self.devices.remove(device):
                    report.removed += 1
                    arn = device.get("snsEndpointArn")
                    if arn and self.platforms is not None:
                        self.platforms.delete_endpoint(arn)
            elif _retryable(status):
                retry.append(device)
                if after is not None:
                    retry_after = max(retry_after or 0.0, after)
            else:
                report.failed += 1
        if retry:
            self._retry(item, retry, retry_after, report)
        return report

    def _send(
        self, device: Device, data: bytes, native: str, conversation_id: str
    ) -> tuple[int, float | None]:
        """(an HTTP-like status, Retry-After) of one device's notification."""
        if device["platform"] == "webpush":
            result = self.webpush.send(device, data, topic=topic(conversation_id), ttl=self.ttl)
            return result.status, result.retry_after
        arn = device.get("snsEndpointArn")
        if self.platforms is None or not arn:
            return 400, None  # the platform was switched off since the device registered
        outcome = self.platforms.publish(arn, native)
        if outcome is PublishOutcome.SENT:
            return 200, None
        if outcome is PublishOutcome.DISABLED:
            return 410, None
        return 503, None

    def _retry(
        self,
        item: NotifyItem,
        failed: list[Device],
        retry_after: float | None,
        report: NotifyReport,
    ) -> None:
        attempt = item.get("attempt", 0) + 1
        narrowed: NotifyItem = {
            "conversationId": item["conversationId"],
            "seq": item["seq"],
            "userIds": sorted({d["userId"] for d in failed}),
            "deviceIds": sorted(d["deviceId"] for d in failed),
            "attempt": attempt,
        }
        if attempt >= self.max_attempts:
            self.queue.dead_letter(narrowed)
            report.dead_lettered += len(failed)
            report.failed += len(failed)
        else:
            self.queue.retry(narrowed, retry_delay(attempt, retry_after, self.jitter))
            report.retried += len(failed)

    def _native(self, message: Message, previews: bool) -> str:
        """The SNS `MessageStructure=json` message for FCM and APNs: the same fields as the
        Web Push payload (FCM data values are strings), an alert that shows the preview only
        when previews are on, and the conversation as the notification's thread."""
        body = payload(message, previews)
        alert = body.get("preview", "New message")
        data = {k: str(v) for k, v in body.items()}
        apns = json.dumps(
            {
                "aps": {
                    "alert": {"title": message["senderId"], "body": alert},
                    "sound": "default",
                    "thread-id": topic(message["conversationId"]),
                },
                "parley": body,
            },
            separators=(",", ":"),
        )
        gcm = json.dumps(
            {"priority": "high", "data": data, "collapse_key": topic(message["conversationId"])},
            separators=(",", ":"),
        )
        structure: dict[str, Any] = {
            "default": alert,
            "GCM": gcm,
            "APNS": apns,
            "APNS_SANDBOX": apns,
        }
        return json.dumps(structure, separators=(",", ":"))
