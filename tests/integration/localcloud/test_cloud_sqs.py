"""SQS event source mapping: batches, partial failures, retries and the DLQ (moto's redrive)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.integration.localcloud.helpers import wait_until

pytestmark = pytest.mark.timeout(60)


def consumed(cloud: LocalCloud, body: str) -> list[dict[str, Any]]:
    """What the consumer recorded for `body`, one item per receive."""
    answer = cloud.client("dynamodb").query(
        TableName=cloud.ref("Table"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"consumed#{body}"}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def dlq_bodies(cloud: LocalCloud) -> set[str]:
    sqs = cloud.client("sqs")
    response = sqs.receive_message(
        QueueUrl=cloud.ref("Dlq"), MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1
    )
    return {m["Body"] for m in response.get("Messages", [])}


def queue_counts(cloud: LocalCloud) -> tuple[int, int]:
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=cloud.ref("Queue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_records_have_the_lambda_sqs_shape(cloud: LocalCloud) -> None:
    # GIVEN a message with attributes on the consumer's queue
    body = f"ok-{uuid.uuid4()}"
    sent = cloud.client("sqs").send_message(
        QueueUrl=cloud.ref("Queue"),
        MessageBody=body,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "push"}},
    )
    # WHEN the poller delivers it
    (item,) = wait_until(lambda: consumed(cloud, body))
    record = json.loads(item["record"]["S"])
    # THEN the function got Lambda's SQS record
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == body
    assert record["receiptHandle"]
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == cloud.stack.queues["Queue"].arn  # type: ignore[union-attr]
    assert record["awsRegion"] == "us-east-1"
    assert set(record["attributes"]) >= {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["messageAttributes"]["kind"]["stringValue"] == "push"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_partial_batch_failures_are_retried_then_dead_lettered(cloud: LocalCloud) -> None:
    # GIVEN good messages and one the consumer reports failed, in one batch
    tag = uuid.uuid4().hex[:8]
    good = [f"ok-{tag}-{i}" for i in range(3)]
    bad = f"fail-{tag}"
    cloud.client("sqs").send_message_batch(
        QueueUrl=cloud.ref("Queue"),
        Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate([*good, bad])],
    )
    # THEN each good message is processed once and deleted
    for body in good:
        wait_until(lambda body=body: consumed(cloud, body))
    # AND the failed one comes back after the visibility timeout (maxReceiveCount is 2).
    # About 12 s on a quiet machine; the generous bounds are for a loaded CI machine (one
    # run beside the soak took over 30 s), and cost nothing when the condition holds.
    attempts = wait_until(
        lambda: len(consumed(cloud, bad)) >= 2 and consumed(cloud, bad), timeout=90
    )
    assert sorted(int(item["sk"]["S"]) for item in attempts) == [1, 2]
    # AND then lands in the dead-letter queue
    wait_until(lambda: bad in dlq_bodies(cloud), timeout=90)
    for body in good:
        assert len(consumed(cloud, body)) == 1


def test_a_function_error_fails_the_whole_batch(cloud: LocalCloud) -> None:
    # GIVEN a message that makes the consumer raise
    body = f"crash-{uuid.uuid4().hex[:8]}"
    cloud.client("sqs").send_message(QueueUrl=cloud.ref("Queue"), MessageBody=body)
    # THEN it is never deleted: retried, then dead-lettered by the redrive policy
    wait_until(lambda: body in dlq_bodies(cloud), timeout=30)
    cloud.wait_for_log(f"RuntimeError: crash requested by {body}")
    cloud.wait_for_log("failed (function failed: RuntimeError)")


def test_batches_respect_batch_size(cloud: LocalCloud) -> None:
    tag = uuid.uuid4().hex[:8]
    bodies = [f"ok-{tag}-b{i}" for i in range(12)]
    sqs = cloud.client("sqs")
    for start in range(0, 12, 6):
        sqs.send_message_batch(
            QueueUrl=cloud.ref("Queue"),
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 6])
            ],
        )
    items = [wait_until(lambda body=body: consumed(cloud, body))[0] for body in bodies]
    assert all(int(item["batchSize"]["N"]) <= 5 for item in items)
    wait_until(lambda: queue_counts(cloud) == (0, 0) or None, timeout=20)


def test_a_delayed_message_reaches_the_function_only_after_its_delay(cloud: LocalCloud) -> None:
    # GIVEN a message sent with DelaySeconds (as the erase queue's are: docs/architecture.md,
    # "Erasure")
    body = f"ok-{uuid.uuid4()}"
    cloud.client("sqs").send_message(QueueUrl=cloud.ref("Queue"), MessageBody=body, DelaySeconds=3)
    # WHEN the poller delivers it
    (item,) = wait_until(lambda: consumed(cloud, body), timeout=30)
    # THEN it was first received no sooner than the delay after it was sent, as SQS does
    attributes = json.loads(item["record"]["S"])["attributes"]
    waited = int(attributes["ApproximateFirstReceiveTimestamp"]) - int(attributes["SentTimestamp"])
    assert waited >= 3000
