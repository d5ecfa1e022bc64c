"""PushQueue against a stubbed SQS: batches of 10, retrying only the failed entries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import Unavailable
from parley.repositories.queue import PushQueue

from tests.unit.repositories.conftest import Stubbed

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/push"


def ok(ids: list[str]) -> dict[str, Any]:
    return {
        "Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "0" * 32} for i in ids],
        "Failed": [],
    }


def partial(succeeded: list[str], failed: list[str]) -> dict[str, Any]:
    return {
        **ok(succeeded),
        "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in failed],
    }


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (10, [10]), (11, [10, 1]), (23, [10, 10, 3])]
)
def test_send_all_chunks_at_10(sqs: Stubbed, count: int, sizes: list[int]) -> None:
    # GIVEN `count` work items
    # WHEN they are sent
    # THEN SendMessageBatch is called with at most 10 entries each, bodies as compact JSON,
    # every item exactly once and in order
    items = [{"kind": "users", "n": i} for i in range(count)]
    for size in sizes:
        sqs.stub.add_response("send_message_batch", ok([str(i) for i in range(size)]))
    PushQueue(URL, sqs.client).send_all(items)
    calls = sqs.calls("SendMessageBatch")
    assert [len(c["Entries"]) for c in calls] == sizes
    assert all(c["QueueUrl"] == URL for c in calls)
    bodies = [e["MessageBody"] for c in calls for e in c["Entries"]]
    assert [json.loads(b) for b in bodies] == items
    assert all(" " not in b for b in bodies)
    for call in calls:
        ids = [e["Id"] for e in call["Entries"]]
        assert len(set(ids)) == len(ids)


def test_send_all_of_nothing_makes_no_call(sqs: Stubbed) -> None:
    # GIVEN no items
    # WHEN sent
    # THEN no call is made
    PushQueue(URL, sqs.client).send_all([])
    assert sqs.requests == []


def test_send_all_retries_only_failed_entries(sqs: Stubbed) -> None:
    # GIVEN a batch where entries 2 and 7 fail, then succeed
    # WHEN the items are sent
    # THEN the retry carries exactly those two entries with their original bodies
    items = [{"n": i} for i in range(10)]
    sqs.stub.add_response(
        "send_message_batch", partial([str(i) for i in range(10) if i not in (2, 7)], ["2", "7"])
    )
    sqs.stub.add_response("send_message_batch", ok(["2", "7"]))
    slept: list[float] = []
    PushQueue(URL, sqs.client, sleep=slept.append).send_all(items)
    retry = sqs.calls("SendMessageBatch")[1]["Entries"]
    assert [e["Id"] for e in retry] == ["2", "7"]
    assert [json.loads(e["MessageBody"]) for e in retry] == [{"n": 2}, {"n": 7}]
    assert len(slept) == 1 and 0 <= slept[0] <= 0.025  # a jittered wait before the retry


def test_send_all_gives_up_after_bounded_retries(sqs: Stubbed) -> None:
    # GIVEN an entry that always fails
    # WHEN the item is sent
    # THEN after 5 attempts Unavailable is raised
    for _ in range(5):
        sqs.stub.add_response("send_message_batch", partial([], ["0"]))
    slept: list[float] = []
    with pytest.raises(Unavailable) as caught:
        PushQueue(URL, sqs.client, sleep=slept.append).send_all([{"n": 0}])
    assert caught.value.__context__ is None  # raised by the bound, not by a 6th call
    assert len(sqs.calls("SendMessageBatch")) == 5
    assert len(slept) == 4  # a wait before each retry, none after the last attempt


def test_send_all_throttled_is_unavailable(sqs: Stubbed) -> None:
    # GIVEN SQS throttling the call
    # WHEN items are sent
    # THEN Unavailable is raised
    sqs.stub.add_client_error("send_message_batch", "ThrottlingException")
    with pytest.raises(Unavailable):
        PushQueue(URL, sqs.client).send_all([{"n": 0}])


def test_each_entry_names_its_conversation_as_the_fair_queue_tenant(sqs: Stubbed) -> None:
    # GIVEN work items of two conversations, one id longer than SQS's 128 characters
    long_id = "dm:" + "a" * 64 + ":" + "b" * 64
    items = [
        {"kind": "users", "message": {"conversationId": "grp:01J", "seq": 1}},
        {"kind": "users", "message": {"conversationId": long_id, "seq": 2}},
        {"kind": "users", "n": 3},
    ]
    sqs.stub.add_response("send_message_batch", ok(["0", "1", "2"]))
    # WHEN they are sent
    PushQueue(URL, sqs.client).send_all(items)  # type: ignore[arg-type]
    # THEN each entry's MessageGroupId is its conversation (cut to 128), so SQS fair queues
    # serve a flooded conversation's backlog after quiet ones; an item without one has none
    [call] = sqs.calls("SendMessageBatch")
    groups = [e.get("MessageGroupId") for e in call["Entries"]]
    assert groups == ["grp:01J", long_id[:128], None]
