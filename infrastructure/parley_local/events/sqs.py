"""SQS event source events (Powertools' `sqsEvent.json`) and `batchItemFailures` answers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def sqs_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS ReceiveMessage `MessageAttributes` -> the Lambda event's camel-case shape."""
    out: dict[str, Any] = {}
    for name, attr in attributes.items():
        item: dict[str, Any] = {}
        if "StringValue" in attr:
            item["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            raw = attr["BinaryValue"]
            item["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        item["stringListValues"] = list(attr.get("StringListValues") or [])
        item["binaryListValues"] = [
            base64.b64encode(v).decode() if isinstance(v, bytes) else v
            for v in attr.get("BinaryListValues") or []
        ]
        item["dataType"] = attr.get("DataType", "String")
        out[name] = item
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event from one ReceiveMessage message."""
    body = str(message.get("Body", ""))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": sqs_message_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def batch_item_failures(payload: Any, message_ids: Sequence[str]) -> set[str] | None:
    """Message ids to keep from a `ReportBatchItemFailures` answer; None = whole batch failed.

    As Lambda: an empty or missing list means all succeeded; an id that is empty or not in
    the batch makes the whole batch fail.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return set()
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    keep: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return None
        keep.add(str(identifier))
    return keep
