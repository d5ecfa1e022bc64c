"""NotifyQueue: the notifier's work items; retries go back to it with a delay, and items
that ran out of attempts go to its dead-letter queue (protocol 10, "Failures")."""

from __future__ import annotations

import json
import time
from typing import Any

from parley.records import NotifyItem
from parley.repositories.base import AwsClient, Sleep, translate

__all__ = ["NotifyQueueClient"]

MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds


class NotifyQueueClient(AwsClient):
    """Sends one notify work item to the queue (delayed) or to its dead-letter queue."""

    service = "sqs"

    def __init__(
        self,
        queue_url: str,
        dead_letter_url: str,
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url

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
