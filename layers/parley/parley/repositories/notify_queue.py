"""NotifyQueue: the notifier's work items; retries go back to it with a delay, and items
that ran out of attempts go to its dead-letter queue (protocol 10, "Failures")."""

from __future__ import annotations

import json
import time
from typing import Any

from parley.errors import Unavailable
from parley.records import NotifyItem
from parley.repositories.base import AwsClient, Sleep, translate

__all__ = ["NotifyQueueClient"]

MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds


class NotifyQueueClient(AwsClient):
    """Sends the fan-out's notify work items, and the notifier's retries (delayed) or
    exhausted items (to the dead-letter queue)."""

    service = "sqs"

    def __init__(
        self,
        queue_url: str,
        dead_letter_url: str = "",
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url

    def send_all(self, items: list[NotifyItem]) -> None:
        """The fan-out's work items, in SendMessageBatch calls of 10 and one attempt: a
        notification is best effort, and retrying here would hold up the send's ack.
        Raises :class:`Unavailable` when some entry was not sent."""
        failed = 0
        for start in range(0, len(items), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(item, separators=(",", ":"))}
                for i, item in enumerate(items[start : start + 10])
            ]
            with translate():
                result = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed += len(result.get("Failed", []))
        if failed:
            raise Unavailable(f"notify queue refused {failed} work items")

    def retry(self, item: NotifyItem, delay_seconds: int) -> None:
        """Enqueue `item` again, visible after `delay_seconds` (clamped to SQS's 0-900)."""
        delay = max(0, min(MAX_DELAY_SECONDS, delay_seconds))
        with translate():
            self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(item, separators=(",", ":")),
                DelaySeconds=delay,
            )

    def dead_letter(self, item: NotifyItem) -> None:
        """Keep `item` in the dead-letter queue (the alarm there pages an operator)."""
        with translate():
            self.client.send_message(
                QueueUrl=self.dead_letter_url, MessageBody=json.dumps(item, separators=(",", ":"))
            )
