"""SQS event source mappings: poll the queue, invoke the function, delete what succeeded.

Like Lambda's poller: batches of up to `BatchSize` (gathered for at most
`MaximumBatchingWindowInSeconds`), the SQS event shape, whole-batch retry on a function
error, `batchItemFailures` honoured with `ReportBatchItemFailures`. Failed messages are
left alone and come back after the queue's visibility timeout; moto's queue applies the
`RedrivePolicy` (after `maxReceiveCount` receives the message moves to the DLQ), as SQS
itself does. Several pollers run per mapping, up to the function's concurrency.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from parley_local.aws import AwsClients
from parley_local.events.sqs import batch_item_failures, sqs_event
from parley_local.lambda_runtime import FunctionRuntime
from parley_local.logs import LogSink
from parley_local.stack import SqsMapping

LONG_POLL_S = 1  # short enough to stop promptly, long enough not to spin


class SqsPoller:
    """The pollers of one event source mapping."""

    def __init__(
        self,
        mapping: SqsMapping,
        runtime: FunctionRuntime,
        clients: AwsClients,
        sink: LogSink,
        *,
        region: str,
    ) -> None:
        self.mapping = mapping
        self.runtime = runtime
        self.clients = clients
        self.sink = sink
        self.region = region
        limit = runtime.max_workers
        if mapping.max_concurrency:
            limit = min(limit, mapping.max_concurrency)
        self.concurrency = max(1, limit)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.batches = 0
        self.deleted = 0
        self.failed = 0
        self._counter_lock = threading.Lock()

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(
                target=self._run, name=f"sqs-{self.mapping.name}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.01))

    # ------------------------------------------------------------ loop

    def _run(self) -> None:
        # No SDK retries: the loop itself retries, and stops promptly when asked to.
        sqs = self.clients.client("sqs", max_attempts=1)
        failures_in_a_row = 0
        while not self._stop.is_set():
            try:
                messages = self._gather(sqs)
                failures_in_a_row = 0
            except Exception as exc:
                if self._stop.is_set():
                    return
                failures_in_a_row += 1
                if failures_in_a_row in (1, 10, 100):
                    self.sink.warning("sqs", f"{self.mapping.name}: receive failed: {exc}")
                self._stop.wait(min(failures_in_a_row, 5))
                continue
            if messages:
                self._process(sqs, messages)

    def _gather(self, sqs: Any) -> list[dict[str, Any]]:
        mapping = self.mapping
        batch: list[dict[str, Any]] = []
        deadline = 0.0
        while not self._stop.is_set() and len(batch) < mapping.batch_size:
            want = min(10, mapping.batch_size - len(batch))
            if batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(LONG_POLL_S, int(remaining))
            else:
                wait = LONG_POLL_S
            response = sqs.receive_message(
                QueueUrl=mapping.queue.url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages") or []
            if received and not batch:
                deadline = time.monotonic() + mapping.batching_window_s
            batch.extend(received)
            if batch and mapping.batching_window_s <= 0:
                break
            if not batch:
                return batch  # nothing yet: go round the outer loop (checks stop)
        return batch

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        message_ids = [str(m["MessageId"]) for m in messages]
        result = self.runtime.invoke(sqs_event(messages, mapping.queue.arn, self.region))
        if self._stop.is_set() and not result.ok:
            return  # stopping: the function was killed under this batch
        keep: set[str] | None
        if not result.ok:
            keep = None
            why = f"function failed: {result.error_type}"
        elif mapping.report_batch_item_failures:
            keep = batch_item_failures(result.payload, message_ids)
            why = "invalid batchItemFailures answer"
        else:
            keep = set()
            why = ""
        if keep is None:
            keep = set(message_ids)
            self.sink.info(
                "sqs",
                f"{mapping.function} <- {mapping.queue.logical_id}: batch of {len(messages)} "
                f"failed ({why}); retried after the visibility timeout",
            )
        to_delete = [m for m in messages if str(m["MessageId"]) not in keep]
        deleted = self._delete(sqs, to_delete)
        with self._counter_lock:
            self.batches += 1
            self.deleted += deleted
            self.failed += len(keep)
        if keep and len(keep) < len(messages):
            self.sink.info(
                "sqs",
                f"{mapping.function} <- {mapping.queue.logical_id}: {len(messages)} records, "
                f"{len(keep)} reported failed",
            )
        elif not keep:
            self.sink.info(
                "sqs",
                f"{mapping.function} <- {mapping.queue.logical_id}: {len(messages)} "
                f"record{'' if len(messages) == 1 else 's'} ({int(result.duration_ms)} ms)",
            )

    def _delete(self, sqs: Any, messages: list[dict[str, Any]]) -> int:
        deleted = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            try:
                response = sqs.delete_message_batch(
                    QueueUrl=self.mapping.queue.url, Entries=entries
                )
            except Exception as exc:
                self.sink.warning("sqs", f"{self.mapping.name}: delete failed: {exc}")
                continue
            deleted += len(response.get("Successful") or [])
            for failure in response.get("Failed") or []:
                self.sink.warning("sqs", f"{self.mapping.name}: delete failed: {failure}")
        return deleted
