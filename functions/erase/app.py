"""Erasure queue consumer: removes a deleted `file` message's object and record (protocol
9.2), reporting each failed record alone (`ReportBatchItemFailures`) so SQS retries only
those, then the erase DLQ (its alarm: docs/operations.md#erase-dlq)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from parley import ids, runtime
from parley.observability import count, instrumented, logger
from parley.services.erasure import ErasureOutcome

# A batch whose every record failed raises (the default): a Lambda error, so the function's
# Errors alarm and a canary's rollback see a broken release as they would a crash.
processor = BatchProcessor(event_type=EventType.SQS)

_SAID = {
    ErasureOutcome.ERASED: "attachment erased",
    ErasureOutcome.NOT_DELETED: "attachment kept: its message's delete never committed",
    ErasureOutcome.ABSENT: "attachment already erased",
}


def _attachment_id(body: str) -> str | None:
    try:
        item = json.loads(body)
    except ValueError:
        return None
    found = item.get("attachmentId") if isinstance(item, dict) else None
    return found if isinstance(found, str) and ids.ULID_RE.fullmatch(found) else None


def record_handler(record: SQSRecord) -> None:
    attachment_id = _attachment_id(record.body)
    if attachment_id is None:
        # Only the send function writes this queue: a body it cannot have sent is dropped
        # (retrying could never make it readable).
        logger.error("unreadable erasure; dropping it", extra={"messageId": record.message_id})
        return
    try:
        outcome = runtime.erasure_service().erase(attachment_id)
    except Exception:
        logger.exception("erasure failed; SQS retries it", extra={"attachmentId": attachment_id})
        raise
    if outcome is ErasureOutcome.ERASED:
        count("AttachmentsErased")
    logger.info(_SAID[outcome], extra={"attachmentId": attachment_id, "outcome": str(outcome)})


@instrumented(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
