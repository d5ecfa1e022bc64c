"""Push fan-out: deliver a stored message to every live connection of every member.

Few recipients are posted inline from `send` (lowest latency); a large group goes to the
push queue as one work item that the fanout function splits into bounded batches, each
handled by its own invocation with a bounded thread pool. A 410 deletes exactly the
connection that answered it; other failures are retried through the queue and end in the
DLQ. A failed push never fails or undoes the send: the message is stored and `sync` has it.

A large group's work goes to one of two queues, its lane (`parley.services.budget`): the
normal push queue, or the bulk one for a sender past their share of the fan-out budget.
Every item a work item leads to (member batches, retried posts) carries its lane and is
queued in it, so a flood's whole fan-out queues behind itself.

Work items carry a reference to the message, never its text (`parley.records`): the fanout
reads the message in its current state (one GetItem per `users` or `connections` item), so a
message deleted while its push waits in the queue or the DLQ is pushed as deleted, and the
queue holds nothing a delete would have to erase.

Offline push (protocol 10) is decided here, where the lookups already tell who had no live
connection: after a stored text, file or custom message is posted, the other members with
none (or whose every connection answered 410) are handed to the notifier as one NotifyQueue
work item per delivery round, best effort (a failure is counted, never raised). In a group
of more than `push_all_max` members only the users the message mentions qualify. Muting is
checked by the notifier (one BatchGetItem of the offline users' rows): online members are
never read for it.
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
from parley.observability import logger
from parley.ports import (
    ConnectionGateway,
    Connections,
    Members,
    Messages,
    NotifyOutbox,
    PostResult,
    PushQueue,
)
from parley.push_rules import NOTIFYING_TYPES
from parley.records import (
    ConnectionsWork,
    ConversationWork,
    Lane,
    Message,
    MessageFrame,
    MessageRef,
    NotifyItem,
    NotifyRule,
    UsersWork,
    WorkItem,
)
from parley.wire import compact_bytes

MetricSink = Callable[[str, float], None]
# Users per notify work item: the notifier reads each user's devices and sends on its I/O
# pool, so an item stays within its 30 s timeout (docs/architecture.md, "Offline push").
NOTIFY_ITEM_USERS = 250
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
    # Users with no live connection at the lookup (or only connections that answered 410):
    # the candidates for an offline notification.
    offline: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.gone += other.gone
        self.failed += other.failed
        self.throttled += other.throttled
        self.missing = self.missing or other.missing
        self.offline += other.offline


@dataclass(eq=False, kw_only=True)
class PushService:
    """Finds recipients' live connections and posts frames to them."""

    connections: Connections
    members: Members
    messages: Messages
    gateway: ConnectionGateway
    queue: PushQueue | None
    clock: Clock
    # The bulk lane (docs/architecture.md, "Fan-out budget"); None: bulk work goes to `queue`.
    bulk_queue: PushQueue | None = None
    inline_max: int = 50
    batch_users: int = 100
    threads: int = 16
    # Offline push (protocol 10): None turns it off (functions that send no messages).
    notify: NotifyOutbox | None = None
    push_all_max: int = 100
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
        lane: Lane = "normal",
    ) -> DeliveryReport:
        """Push a stored message to its conversation's members (inline or via the queue);
        a large group's work goes to `lane`'s queue, and every item it leads to stays there."""
        conversation_id = message["conversationId"]
        rule: NotifyRule = "all"
        if ids.conversation_type(conversation_id) == "dm":
            users: list[str] | None = sorted(set(ids.dm_members(conversation_id)))
        else:
            rows, more = self.members.page(conversation_id, self.inline_max + 1)
            users = None if more or len(rows) > self.inline_max else [r["userId"] for r in rows]
            if len(rows) > self.push_all_max:
                rule = "mentions"
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
            if lane == "bulk":
                work["lane"] = lane
            self._enqueue([work], lane)
            return DeliveryReport()
        users = sorted(set(users) | set(extra_users or []))
        # Inline: the message was just stored, so the frame is built from it without a read.
        report = self.deliver_to_users(users, frames.message(message), exclude_connection)
        self.retry_later(report, ref, correlation_id)
        self.notify_offline(message, report.offline, rule)
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
        lane = item.get("lane", "normal")
        batch: list[str] = []
        ready: list[list[str]] = []
        start_after: str | None = None
        # The notify rule depends on the group's size, known once it passes push_all_max
        # or the list ends: batches wait for it (a group under the limit that is over
        # 10 batches is read whole, a few pages, before its first batch goes out).
        members = 0
        rule: NotifyRule | None = None
        while True:
            rows, start_after = self.members.page(item["conversationId"], 1000, start_after)
            members += len(rows)
            if members > self.push_all_max:
                rule = "mentions"
            # Members who joined after this message must not receive it.
            batch.extend(r["userId"] for r in rows if int(r.get("joinedSeq", 0)) <= seq)
            while len(batch) >= self.batch_users:
                ready.append(batch[: self.batch_users])
                batch = batch[self.batch_users :]
            if rule is not None and len(ready) >= 10:
                # A full SQS batch goes out at once: fanout invocations start on the first
                # members while the rest of the member list is still being read.
                self._enqueue([self._users_item(users, item, rule) for users in ready], lane)
                ready = []
            if start_after is None:
                break
        batch.extend(u for u in item.get("extraUsers", []) if u not in batch)
        if batch:
            ready.append(batch)
        self._enqueue([self._users_item(users, item, rule or "all") for users in ready], lane)

    def deliver_users_item(self, item: UsersWork) -> DeliveryReport:
        """Deliver a `users` work item (the message read once, in its current state); failed
        posts go back to the queue as `connections` items."""
        ref = item["message"]
        frame = self.current_frame(ref)
        if frame is None:
            return DeliveryReport(missing=ref)
        report = self.deliver_to_users(item["userIds"], frame, item.get("exclude"))
        self.retry_later(report, ref, item.get("correlationId"), item.get("lane", "normal"))
        rule = item.get("notify")
        if rule is not None:
            self.notify_offline(frame, report.offline, rule)
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
        # Whose connections were found: a user with none is offline (report.offline).
        owners: dict[str, str] = {}
        if len(unique) <= 1:
            found = self.connections.by_users(unique, now_s)
            for user, conns in found.items():
                owners.update((c["connectionId"], user) for c in conns)
            targets = [c for c in owners if c != exclude_connection]
            report = self._post_all(targets, data, stored_at)
        else:
            lookups = {submit(self.connections.by_user, u, now_s): u for u in unique}
            posts: list[tuple[str, Future[tuple[PostResult, int]]]] = []
            for done in as_completed(lookups):
                for c in done.result():
                    connection_id = c["connectionId"]
                    owners[connection_id] = lookups[done]
                    if connection_id != exclude_connection:
                        future = self._executor().submit(
                            self._post_one, connection_id, data, stored_at
                        )
                        posts.append((connection_id, future))
            report = self._tally([(c, f.result()) for c, f in posts], stored_at)
        # A connection that answered 410 was already gone: a user with only such ones had
        # no live connection either (a missed $disconnect must not silence notifications).
        gone = set(report.gone)
        alive = {user for c, user in owners.items() if c not in gone}
        report.offline = [u for u in unique if u not in alive]
        return report

    def notify_offline(
        self, message: Message | MessageFrame, offline: list[str], rule: NotifyRule
    ) -> None:
        """Hand the offline members who should be notified of `message` to the notifier
        (protocol 10): text, file and custom messages only, never the sender, and under the
        `mentions` rule only the users the message mentions. Best effort: a failure is
        counted (`NotifyEnqueueFailed`), never raised, so the send is never failed by it."""
        if self.notify is None or not offline:
            return
        body = message["body"]
        if body.get("type") not in NOTIFYING_TYPES:
            return
        users = [u for u in offline if u != message["senderId"]]
        if rule == "mentions":
            mentioned = set(body.get("mentions") or ())
            users = [u for u in users if u in mentioned]
        if not users:
            return
        items: list[NotifyItem] = [
            {
                "conversationId": message["conversationId"],
                "seq": int(message["seq"]),
                "userIds": users[i : i + NOTIFY_ITEM_USERS],
            }
            for i in range(0, len(users), NOTIFY_ITEM_USERS)
        ]
        try:
            self.notify.send_all(items)
        except Exception:
            self.metric("NotifyEnqueueFailed", len(users))
            return
        self.metric("NotifyUsersQueued", len(users))

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
            self._close_stale(connection_id)
        self.metric("PushesDelivered", report.delivered)
        if report.gone:
            self.metric("PushesGone", len(report.gone))
        if report.failed:
            self.metric("PushesFailed", len(report.failed))
        if report.throttled:
            self.metric("PushesThrottled", len(report.throttled))
        return report

    def _close_stale(self, connection_id: str) -> None:
        """Close the socket of a connection whose post answered 410. Usually it is gone and
        the close answers 410 too; but a 410 for a socket that is in fact open (a stale
        route, as the soak's `connections-gone` profile injects) would otherwise leave a
        device connected with its record deleted: silently receiving nothing until its
        token ran out. Closed, it reconnects and syncs. Best effort: a failure is logged."""
        try:
            self.gateway.close(connection_id)
        except Exception:
            logger.warning(
                "closing a gone connection failed", extra={"connectionId": connection_id}
            )
            self.metric("GoneClosesFailed", 1)

    def retry_later(
        self,
        report: DeliveryReport,
        ref: MessageRef,
        correlation_id: str | None,
        lane: Lane = "normal",
    ) -> None:
        """Queue the failed and throttled posts of a message as `connections` items (which
        carry the reference: the retry reads the message as it is then), in `lane`."""
        retry = report.failed + report.throttled
        if not retry or self.queue is None:
            return
        items: list[WorkItem] = []
        for i in range(0, len(retry), 50):
            work: ConnectionsWork = {
                "kind": "connections",
                "connectionIds": retry[i : i + 50],
                "message": ref,
                "correlationId": correlation_id,
            }
            if lane == "bulk":
                work["lane"] = lane
            items.append(work)
        try:
            self._enqueue(items, lane)
        except Exception:
            self.metric("PushRetryEnqueueFailed", len(retry))

    def _users_item(self, users: list[str], item: ConversationWork, rule: NotifyRule) -> UsersWork:
        work: UsersWork = {
            "kind": "users",
            "userIds": list(users),
            "message": item["message"],
            "exclude": item.get("exclude"),
            "correlationId": item.get("correlationId"),
            "notify": rule,
        }
        if "lane" in item:
            work["lane"] = item["lane"]
        return work

    def _enqueue(self, items: list[WorkItem], lane: Lane = "normal") -> None:
        if not items:
            return
        if self.queue is None:
            raise RuntimeError("push queue not configured")
        # A function without the bulk lane (none routes there but send and fanout) falls
        # back to the normal queue: the work is delivered, only without the isolation.
        queue = self.bulk_queue if lane == "bulk" and self.bulk_queue is not None else self.queue
        queue.send_all(items)

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
