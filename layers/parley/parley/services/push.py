"""Push fan-out: deliver a stored message to every live connection of every member.

Few recipients are posted inline from `send` (lowest latency); a large group goes to the
push queue as one work item that the fanout function splits into bounded batches, each
handled by its own invocation with a bounded thread pool. A 410 deletes exactly the
connection that answered it; other failures are retried through the queue and end in the
DLQ. A failed push never fails or undoes the send: the message is stored and `sync` has it.

Work items carry a reference to the message, never its text (`parley.records`): the fanout
reads the message in its current state (one GetItem per `users` or `connections` item), so a
message deleted while its push waits in the queue or the DLQ is pushed as deleted, and the
queue holds nothing a delete would have to erase.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, cast

from parley import frames, ids
from parley.clock import Clock
from parley.concurrency import submit
from parley.frames import Frame, message_ts
from parley.ports import (
    ConnectionGateway,
    Connections,
    Members,
    Messages,
    PostResult,
    PushQueue,
)
from parley.records import (
    ConnectionsWork,
    ConversationWork,
    Message,
    MessageFrame,
    MessageRef,
    UsersWork,
    WorkItem,
)
from parley.wire import compact_bytes

MetricSink = Callable[[str, float], None]
TimingSink = Callable[[str, float], None]


def _no_metrics(name: str, value: float) -> None:
    return None


def _no_timing(name: str, milliseconds: float) -> None:
    return None


@dataclass
class DeliveryReport:
    """What one delivery round did, for metrics and retries."""

    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    throttled: list[str] = field(default_factory=list)
    # The work item's message, when it was not found: nothing was posted, the item is dropped.
    missing: MessageRef | None = None

    def merge(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.gone += other.gone
        self.failed += other.failed
        self.throttled += other.throttled
        self.missing = self.missing or other.missing


@dataclass(eq=False, kw_only=True)
class PushService:
    """Finds recipients' live connections and posts frames to them."""

    connections: Connections
    members: Members
    messages: Messages
    gateway: ConnectionGateway
    queue: PushQueue | None
    clock: Clock
    inline_max: int = 50
    batch_users: int = 100
    threads: int = 16
    metric: MetricSink = _no_metrics
    timing: TimingSink = _no_timing
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    # ---- entry points -------------------------------------------------------------------

    def publish(
        self,
        message: Message,
        *,
        exclude_connection: str | None = None,
        extra_users: list[str] | None = None,
        correlation_id: str | None = None,
    ) -> DeliveryReport:
        """Push a stored message to its conversation's members (inline or via the queue)."""
        conversation_id = message["conversationId"]
        if ids.conversation_type(conversation_id) == "dm":
            users: list[str] | None = sorted(set(ids.dm_members(conversation_id)))
        else:
            rows, more = self.members.page(conversation_id, self.inline_max + 1)
            users = None if more or len(rows) > self.inline_max else [r["userId"] for r in rows]
        ref: MessageRef = {"conversationId": conversation_id, "seq": message["seq"]}
        if users is None:
            # Large group: one work item; the fanout function pages the member list.
            work: ConversationWork = {
                "kind": "conversation",
                "conversationId": conversation_id,
                "message": ref,
                "exclude": exclude_connection,
                "extraUsers": extra_users or [],
                "correlationId": correlation_id,
            }
            self._enqueue([work])
            return DeliveryReport()
        users = sorted(set(users) | set(extra_users or []))
        # Inline: the message was just stored, so the frame is built from it without a read.
        report = self.deliver_to_users(users, frames.message(message), exclude_connection)
        self.retry_later(report, ref, correlation_id)
        return report

    def send_frame_to_users(
        self, user_ids: list[str], frame: Frame, exclude_connection: str | None = None
    ) -> DeliveryReport:
        """Best-effort ephemeral frame (typing, receipt, signal): no retries, 410s cleaned."""
        return self.deliver_to_users(user_ids, frame, exclude_connection)

    def send_frame_to_connections(self, connection_ids: list[str], frame: Frame) -> DeliveryReport:
        """Post one frame to the given connections."""
        return self._post_all(connection_ids, compact_bytes(frame), message_ts(frame))

    # ---- fanout function ----------------------------------------------------------------

    def handle(self, item: WorkItem) -> DeliveryReport | None:
        """Run one work item of the push queue (the fanout function's record handler);
        the delivery report, or None for a `conversation` item (it only enqueues). A report
        whose `missing` is set names a message that was not found: the item was dropped."""
        item = with_reference(item)
        if item["kind"] == "conversation":
            self.expand_conversation(item)
            return None
        if item["kind"] == "users":
            return self.deliver_users_item(item)
        return self.deliver_connections_item(item)

    def expand_conversation(self, item: ConversationWork) -> None:
        """Split a large group's work item into per-batch `users` items."""
        # Only the seq is needed here (the join window): the message itself is read by
        # each `users` item, when it is posted.
        seq = int(item["message"]["seq"])
        batch: list[str] = []
        work: list[WorkItem] = []
        start_after: str | None = None
        while True:
            rows, start_after = self.members.page(item["conversationId"], 1000, start_after)
            # Members who joined after this message must not receive it.
            batch.extend(r["userId"] for r in rows if int(r.get("joinedSeq", 0)) <= seq)
            while len(batch) >= self.batch_users:
                work.append(self._users_item(batch[: self.batch_users], item))
                batch = batch[self.batch_users :]
            if len(work) >= 10:
                # A full SQS batch goes out at once: fanout invocations start on the first
                # members while the rest of the member list is still being read.
                self._enqueue(work)
                work = []
            if start_after is None:
                break
        batch.extend(u for u in item.get("extraUsers", []) if u not in batch)
        if batch:
            work.append(self._users_item(batch, item))
        self._enqueue(work)

    def deliver_users_item(self, item: UsersWork) -> DeliveryReport:
        """Deliver a `users` work item (the message read once, in its current state); failed
        posts go back to the queue as `connections` items."""
        ref = item["message"]
        frame = self.current_frame(ref)
        if frame is None:
            return DeliveryReport(missing=ref)
        report = self.deliver_to_users(item["userIds"], frame, item.get("exclude"))
        self.retry_later(report, ref, item.get("correlationId"))
        return report

    def deliver_connections_item(self, item: ConnectionsWork) -> DeliveryReport:
        """Retry posts to specific connections (the message read once, in its current
        state); the caller fails the record on any failure."""
        if not item["connectionIds"]:
            return DeliveryReport()
        ref = item["message"]
        frame = self.current_frame(ref)
        if frame is None:
            return DeliveryReport(missing=ref)
        return self._post_all(item["connectionIds"], compact_bytes(frame), message_ts(frame))

    def current_frame(self, ref: MessageRef) -> MessageFrame | None:
        """The referenced message as a `message` frame in its current state (one strongly
        consistent GetItem: an edit or delete acked before this read is what is posted);
        None, counted as `FanoutMessageNotFound`, when no such message is stored."""
        message = self.messages.get(ref["conversationId"], int(ref["seq"]))
        if message is None:
            # It cannot be delivered, now or on a retry: drop the item, do not fail it.
            self.metric("FanoutMessageNotFound", 1)
            return None
        return frames.message(message)

    # ---- internals ----------------------------------------------------------------------

    def deliver_to_users(
        self, user_ids: list[str], frame: Frame | MessageFrame, exclude_connection: str | None
    ) -> DeliveryReport:
        """Post `frame` to every live connection of `user_ids` except `exclude_connection`.

        Lookups and posts are pipelined: a user's posts start as soon as that user's
        connections are known, not after the slowest lookup of the batch (a fan-out work
        item of 100 users keeps its post threads busy instead of idle between phases).
        """
        now_s = self.clock.now_ms() // 1000
        data, stored_at = compact_bytes(frame), message_ts(frame)
        unique = sorted(set(user_ids))
        if len(unique) <= 1:
            found = self.connections.by_users(unique, now_s)
            targets = [
                c["connectionId"]
                for conns in found.values()
                for c in conns
                if c["connectionId"] != exclude_connection
            ]
            return self._post_all(targets, data, stored_at)
        lookups = [submit(self.connections.by_user, u, now_s) for u in unique]
        posts: list[tuple[str, Future[tuple[PostResult, int]]]] = []
        for done in as_completed(lookups):
            for c in done.result():
                connection_id = c["connectionId"]
                if connection_id != exclude_connection:
                    future = self._executor().submit(self._post_one, connection_id, data, stored_at)
                    posts.append((connection_id, future))
        return self._tally([(c, f.result()) for c, f in posts], stored_at)

    def _post_one(
        self, connection_id: str, data: bytes, stored_at: int | None
    ) -> tuple[PostResult, int]:
        result = self.gateway.post(connection_id, data)
        return result, self.clock.now_ms() if stored_at is not None else 0

    def _post_all(
        self, connection_ids: list[str], data: bytes, stored_at: int | None = None
    ) -> DeliveryReport:
        """Post `data` to each connection; with `stored_at` (a message's `ts`), record each
        successful post's `DeliveryLatency` (ms from store to post: P50/P95/P99)."""
        if not connection_ids:
            return DeliveryReport()

        def post(connection_id: str) -> tuple[PostResult, int]:
            return self._post_one(connection_id, data, stored_at)

        if len(connection_ids) == 1:
            outcomes = [post(connection_ids[0])]
        else:
            outcomes = list(self._executor().map(post, connection_ids))
        return self._tally(list(zip(connection_ids, outcomes, strict=True)), stored_at)

    def _tally(
        self, outcomes: list[tuple[str, tuple[PostResult, int]]], stored_at: int | None
    ) -> DeliveryReport:
        """Count what the posts did, record latencies and delete exactly the 410s."""
        report = DeliveryReport()
        if not outcomes:
            return report
        for connection_id, (result, posted_at) in outcomes:
            if result is PostResult.DELIVERED:
                report.delivered += 1
                if stored_at is not None:
                    self.timing("DeliveryLatency", max(0, posted_at - stored_at))
            elif result is PostResult.GONE:
                report.gone.append(connection_id)
            elif result is PostResult.THROTTLED:
                report.throttled.append(connection_id)
            else:
                report.failed.append(connection_id)
        for connection_id in report.gone:
            self.connections.delete(connection_id)
        self.metric("PushesDelivered", report.delivered)
        if report.gone:
            self.metric("PushesGone", len(report.gone))
        if report.failed:
            self.metric("PushesFailed", len(report.failed))
        if report.throttled:
            self.metric("PushesThrottled", len(report.throttled))
        return report

    def retry_later(
        self, report: DeliveryReport, ref: MessageRef, correlation_id: str | None
    ) -> None:
        """Queue the failed and throttled posts of a message as `connections` items (which
        carry the reference: the retry reads the message as it is then)."""
        retry = report.failed + report.throttled
        if not retry or self.queue is None:
            return
        items: list[WorkItem] = [
            {
                "kind": "connections",
                "connectionIds": retry[i : i + 50],
                "message": ref,
                "correlationId": correlation_id,
            }
            for i in range(0, len(retry), 50)
        ]
        try:
            self._enqueue(items)
        except Exception:
            self.metric("PushRetryEnqueueFailed", len(retry))

    def _users_item(self, users: list[str], item: ConversationWork) -> UsersWork:
        return {
            "kind": "users",
            "userIds": list(users),
            "message": item["message"],
            "exclude": item.get("exclude"),
            "correlationId": item.get("correlationId"),
        }

    def _enqueue(self, items: list[WorkItem]) -> None:
        if not items:
            return
        if self.queue is None:
            raise RuntimeError("push queue not configured")
        self.queue.send_all(items)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="parley-push")
        return self._pool


def with_reference(item: WorkItem) -> WorkItem:
    """`item` with a message reference: an item queued by the release before references
    carries the whole `frame` instead, which is replaced by its reference (its text is
    dropped unread; the message is posted as it is stored now).

    Only for items already in the push queue or its DLQ when this release is deployed:
    nothing produces them any more. Remove this in the next release.
    """
    body = cast(dict[str, Any], item)
    frame = body.get("frame")
    if "message" in body or not isinstance(frame, dict):
        return item
    upgraded = {key: value for key, value in body.items() if key != "frame"}
    upgraded["message"] = {"conversationId": frame["conversationId"], "seq": int(frame["seq"])}
    return cast(WorkItem, upgraded)
