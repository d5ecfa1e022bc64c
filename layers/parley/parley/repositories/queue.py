"""The push queue: fan-out work items for the fanout function."""

from __future__ import annotations

import json
import time
from typing import Any

from parley.errors import Unavailable
from parley.records import WorkItem
from parley.repositories.base import AwsClient, Sleep, backoff, translate

SEND_ATTEMPTS = 5
# SQS's limit on a MessageGroupId.
MAX_GROUP_ID = 128


def _entry(index: int, item: WorkItem) -> dict[str, Any]:
    """One batch entry. Its MessageGroupId names the item's conversation: on a standard
    queue that makes SQS fair queues treat each conversation as a tenant, so a backlog of
    one conversation's fan-out (a flood that is still inside its budget share) is served
    after the quiet conversations' work instead of ahead of it. Ids longer than SQS allows
    are cut: two conversations sharing a tenant only share fairness, nothing else."""
    # ASCII JSON: SQS refuses some characters a message body could hold.
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": json.dumps(item, separators=(",", ":")),
    }
    ref = item.get("message")
    if isinstance(ref, dict) and isinstance(ref.get("conversationId"), str):
        entry["MessageGroupId"] = ref["conversationId"][:MAX_GROUP_ID]
    return entry


class PushQueue(AwsClient):
    """Sends JSON work items in batches of 10 (SQS's limit), retrying partial failures."""

    service = "sqs"

    def __init__(
        self, queue_url: str, client: Any | None = None, *, sleep: Sleep = time.sleep
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.queue_url = queue_url

    def send_all(self, items: list[WorkItem]) -> None:
        """Enqueue every item, retrying failed entries with backoff; raises
        :class:`Unavailable` if some could not be sent."""
        for start in range(0, len(items), 10):
            entries = [_entry(i, item) for i, item in enumerate(items[start : start + 10])]
            for attempt in range(SEND_ATTEMPTS):
                if attempt:
                    self.sleep(backoff(attempt - 1))
                with translate():
                    result = self.client.send_message_batch(
                        QueueUrl=self.queue_url, Entries=entries
                    )
                failed = {f["Id"] for f in result.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            else:
                raise Unavailable("push queue unavailable")
