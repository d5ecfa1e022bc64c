"""NotifyQueueClient.send_all against a stubbed SQS: the fan-out's notify work items in
batches of 10, one attempt, a refused entry raised as Unavailable (the caller counts it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import Unavailable
from parley.records import NotifyItem
from parley.repositories.notify_queue import NotifyQueueClient

from tests.unit.repositories.conftest import Stubbed

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/notify"


def answer(ok: list[str], failed: list[str]) -> dict[str, Any]:
    return {
        "Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "0" * 32} for i in ok],
        "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in failed],
    }


def items(count: int) -> list[NotifyItem]:
    return [{"conversationId": "dm:a:b", "seq": n, "userIds": ["b"]} for n in range(count)]


def test_items_go_in_batches_of_10_as_compact_json(sqs: Stubbed) -> None:
    # GIVEN 12 items
    sqs.stub.add_response("send_message_batch", answer([str(i) for i in range(10)], []))
    sqs.stub.add_response("send_message_batch", answer(["0", "1"], []))
    # WHEN they are sent
    NotifyQueueClient(URL, client=sqs.client).send_all(items(12))
    # THEN two SendMessageBatch calls carry them in order, to the notify queue
    calls = sqs.calls("SendMessageBatch")
    assert [len(c["Entries"]) for c in calls] == [10, 2]
    assert all(c["QueueUrl"] == URL for c in calls)
    bodies = [e["MessageBody"] for c in calls for e in c["Entries"]]
    assert [json.loads(b) for b in bodies] == items(12)
    assert all(" " not in b for b in bodies)


def test_a_refused_entry_is_not_retried_but_raised(sqs: Stubbed) -> None:
    # GIVEN SQS refuses one entry of the batch
    sqs.stub.add_response("send_message_batch", answer(["0"], ["1"]))
    # WHEN two items are sent
    # THEN it raises Unavailable after that one call: no retry holds the send up
    with pytest.raises(Unavailable, match="refused 1"):
        NotifyQueueClient(URL, client=sqs.client).send_all(items(2))
    assert len(sqs.calls("SendMessageBatch")) == 1
