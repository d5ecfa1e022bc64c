"""The erasure queue (SQS): a deleted `file` message's attachment, to be removed from the
bucket and the AttachmentsTable by the erase function (protocol 9.2: within a minute).

The send function schedules the erasure *before* it commits the delete, and SQS holds the
message back for `delay_seconds`, longer than a send can last (its Lambda timeout): when
the erase function reads the record, the delete has either committed (the record is
`erased`) or never will (docs/architecture.md, "Erasure").
"""

from __future__ import annotations

import json
from typing import Any

from parley.repositories.base import AwsClient, translate

__all__ = ["ErasureQueueRepository", "erasure_body"]


def erasure_body(attachment_id: str) -> str:
    """The message body the erase function reads: `{"attachmentId": ...}` (compact JSON)."""
    return json.dumps({"attachmentId": attachment_id}, separators=(",", ":"))


class ErasureQueueRepository(AwsClient):
    """Schedules erasures on one queue, each delivered after the same delay."""

    service = "sqs"

    def __init__(self, queue_url: str, delay_seconds: int, client: Any | None = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url
        self.delay_seconds = delay_seconds

    def schedule(self, attachment_id: str) -> None:
        """SendMessage with the delay; throttling and service faults raise
        :class:`parley.errors.Unavailable`, so the delete that asked fails before it
        commits (retryable) instead of committing with its object forgotten."""
        with translate():
            self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=erasure_body(attachment_id),
                DelaySeconds=self.delay_seconds,
            )
