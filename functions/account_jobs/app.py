"""Account jobs queue consumer (protocol 12): a deleted account's erasure (cleanup, then a
delete event for every text, file and custom message the user sent; a run short of time
queues its continuation) and account exports. One job per invocation (batch size 1), each
failure reported alone (`ReportBatchItemFailures`), then the account jobs DLQ (its alarm:
docs/operations.md#account-jobs-dlq)."""

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
from parley.records import AccountJob
from parley.services.accounts import Outcome

# A batch whose every record failed raises (the default): a Lambda error, so the function's
# Errors alarm and a canary's rollback see a broken release as they would a crash.
processor = BatchProcessor(event_type=EventType.SQS)

_METRIC = {
    Outcome.ERASED: "AccountsErased",
    Outcome.CONTINUED: "AccountErasuresContinued",
    Outcome.EXPORTED: "AccountsExported",
}


def _job(body: str) -> AccountJob | None:
    """The job a queue message holds, or None for one no Parley function could have sent."""
    try:
        item = json.loads(body)
    except ValueError:
        return None
    if not isinstance(item, dict) or item.get("kind") not in ("erase", "export"):
        return None
    if not ids.is_user_id(item.get("userId")):
        return None
    if item["kind"] == "export" and not (
        isinstance(item.get("exportId"), str) and ids.ULID_RE.fullmatch(item["exportId"])
    ):
        return None
    resume = item.get("conversationId")
    if resume is not None and not (isinstance(resume, str) and isinstance(item.get("seq"), int)):
        return None
    return item  # type: ignore[return-value]


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    job = _job(record.body)
    if job is None:
        # Only Parley's functions write this queue: a body they cannot have sent is dropped
        # (retrying could never make it readable).
        logger.error("unreadable account job; dropping it", extra={"messageId": record.message_id})
        return
    where = {"kind": job["kind"], "userId": job["userId"]}
    try:
        outcome = runtime.account_job_service().run(
            job, lambda: int(lambda_context.get_remaining_time_in_millis())
        )
    except Exception:
        logger.exception("account job failed; SQS retries it", extra=where)
        raise
    if outcome in _METRIC:
        count(_METRIC[outcome])
    logger.info("account job done", extra={**where, "outcome": str(outcome)})


@instrumented(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
