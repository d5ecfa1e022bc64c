"""Push queue consumer: expands large groups into batches and posts them, reporting each
failed record alone (`ReportBatchItemFailures`) so SQS retries only those, then the DLQ.

Records name their message by reference (conversation and seq); the service reads it in its
current state before posting. Records of the release before, which carry the whole frame,
are still accepted for one release (`parley.services.push.with_reference`)."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from parley import runtime
from parley.observability import count, instrumented, logger
from parley.records import is_work_item

# Failed posts are reported per record even when every record failed: that is a delivery
# problem (retried by SQS, then the DLQ), not a crash of this function.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """Some posts failed: let SQS redeliver this record (and finally move it to the DLQ)."""


def record_handler(record: SQSRecord) -> None:
    started = time.perf_counter()
    item = json.loads(record.body)
    # The send's API Gateway request id, carried in the work item: links these lines to it.
    logger.set_correlation_id(item.get("correlationId"))
    kind = item.get("kind")
    logger.append_keys(kind=kind)
    if not is_work_item(item):
        logger.error("unknown work item; dropping it")
        return
    report = runtime.push_service().handle(item)
    outcome: dict[str, Any] = {"latencyMs": round((time.perf_counter() - started) * 1000, 2)}
    if report is not None:
        outcome.update(
            delivered=report.delivered,
            gone=len(report.gone),
            failed=len(report.failed),
            throttled=len(report.throttled),
        )
    if report is not None and report.missing is not None:
        # Counted (FanoutMessageNotFound) by the service: a reference to no stored message
        # can never be delivered, so the record succeeds rather than cycling into the DLQ.
        outcome.update(conversationId=report.missing["conversationId"], seq=report.missing["seq"])
        logger.warning("message not found; work item dropped", extra=outcome)
        return
    if kind == "connections" and report is not None and (report.failed or report.throttled):
        count("FanoutRecordRetries")
        logger.warning("work item failed; SQS retries it", extra=outcome)
        raise RetryLater(f"{len(report.failed) + len(report.throttled)} posts failed")
    logger.info("work item done", extra=outcome)


@instrumented(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failures = len(result.get("batchItemFailures", []))
    if failures:
        count("FanoutBatchFailures", failures)
        crashes = [
            exc
            for _, exc, _ in processor.exceptions
            if exc is not None and not isinstance(exc, RetryLater)
        ]
        if crashes and failures == len(event.get("Records", [])):
            # Every record crashed (not merely failed posts): surface it as a function error
            # (Lambda Errors metric, alarms, canary rollback) as an unhandled error would.
            raise crashes[0]
    return dict(result)
