"""Fan-out isolation (issue 15): one account flooding group A while a member of group B
sends at a modest rate; B's delivery time is measured with and without the fan-out budget,
and with one push queue or the two lanes the template configures.

A large group's fan-out goes through a push queue consumed in order by the fanout
function, whose event source runs at most `MaximumConcurrency` invocations at once. With one
queue, that bounded pool is what lets one account's flood delay everybody else's messages:
the flood's work items sit in the queue ahead of B's. With the lanes, a sender past
`FanoutBulkSharePercent` of the budget has their work queued on `PushBulkQueue`, consumed by
the same function through its own event source (`FanoutBulkConcurrency` invocations), so the
flood queues behind itself. The bench runs the same pool as :mod:`parley_bench.fanout` (the
real `fanout` handler in emulated containers, `BatchSize` records each, over FIFO queues in
the in-memory store with DynamoDB/`@connections`/SQS latencies), one event source per queue
with the template's settings, and the real `ws_send` handler for both senders, with the
real send limit and the real fan-out budget over in-memory counters:

* the flooder sends into A back to back from one thread, ignoring `retryAfterMs` (as an
  abusive client would), for `seconds`;
* B's members send one message every `interval` seconds over the same span, `b_senders`
  of them in turn (a group's traffic comes from its members: one member alone sending
  twice a second into a 300-member group would spend 36,000 deliveries a minute, past the
  bulk share, and be a heavy sender itself); a B message's delivery time runs from the
  start of its send to the post that reached the last of B's members;
* four conditions, each on a fresh store: no flood (two lanes); a flood with the budget off
  (a budget no sender reaches, one queue: the behaviour before issue 15, the send limit
  alone); a flood with the budget at its default over one queue (the budget alone); the same
  with the two lanes (as deployed).

Both fixed-window limits (the send limit and the budget) run on :class:`WindowClock`, whose
first window starts when the run does: the flooder gets one window's allowance, as in the
steady state, not two back to back around a window boundary (the worst case, which doubles
the budget's burst).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley_memory import Delivery, PushQueue, Store

from parley_bench import fanout
from parley_bench.fanout import EventSource
from parley_bench.memory import Latency, memory, patched_runtime
from parley_bench.template import (
    fanout_batch_size,
    fanout_max_concurrency,
    fanout_threads,
    parameter_default,
)
from parley_bench.world import BASE_ENV, LambdaContext, environment, load_handler, ws_event

GROUP_A = "grp:01JBENCHF100D00000000000GA"
GROUP_B = "grp:01JBENCHF100D00000000000GB"
WINDOW_MS = 60_000  # both the send limit and the budget count per fixed minute
BUDGET_OFF = 10**12  # member deliveries a minute no sender reaches


def user_id(group: str, i: int) -> str:
    """Member `i` of group `"a"` or `"b"`."""
    return f"{group}member{i:05d}"


def connection_id(group: str, i: int) -> str:
    """Member `i`'s one connection (16 characters, like API Gateway's ids)."""
    return f"C{group}{i:013d}="


FLOODER = user_id("a", 0)
B_SENDERS = 10  # B's members who send, in turn


@dataclass(frozen=True)
class Condition:
    """One of the runs side by side: with or without a flood, and the budget's size."""

    name: str
    title: str
    flood: bool
    budget_per_minute: int
    # Two lanes (the bulk queue and its event source) or one push queue for everything.
    lanes: bool = True
    bulk_share: float = 0.2


def conditions(default_budget: int, bulk_share: float = 0.2) -> list[Condition]:
    """Baseline; flood with the budget off (one queue); flood with the budget at
    `default_budget` over one queue; the same with the two lanes."""
    on = f"budget {default_budget:,}/min"
    return [
        Condition("baseline", "no flood", False, default_budget, True, bulk_share),
        Condition("flood-off", "flood, budget off, one queue", True, BUDGET_OFF, False),
        Condition("flood-one-lane", f"flood, {on}, one queue", True, default_budget, False),
        Condition(
            "flood-on",
            f"flood, {on}, two lanes (bulk past {bulk_share:.0%})",
            True,
            default_budget,
            True,
            bulk_share,
        ),
    ]


class WindowClock:
    """A clock for the fixed-window limits whose window starts when it is made.

    `now_ms()` is a multiple of `window_ms` at construction and advances with `source`
    (epoch milliseconds), so a run sees its first window whole whatever the wall clock says.
    """

    def __init__(self, window_ms: int = WINDOW_MS, source: Callable[[], int] | None = None) -> None:
        self.source = source or (lambda: time.time_ns() // 1_000_000)
        self.started = self.source()
        self.base = (self.started // window_ms + 1) * window_ms

    def now_ms(self) -> int:
        return self.base + self.source() - self.started


def outcome(reply: dict[str, Any]) -> str:
    """What a send's reply was: `ack`, `budget` (1005 from the fan-out budget), `limit`
    (1005 from the send limit) or `error` (anything else)."""
    if reply.get("type") == "ack":
        return "ack"
    if reply.get("type") == "error" and reply.get("code") == 1005:
        return "budget" if "fan-out budget" in str(reply.get("message", "")) else "limit"
    return "error"


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of `values` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class SendB:
    """One of B's sends: its seq and when the send started (`time.perf_counter()`)."""

    seq: int
    started: float


def delivery_ms(
    sends: Sequence[SendB], arrivals: dict[int, list[float]], expected: int
) -> list[float | None]:
    """For each send, ms from its start to the last of its `expected` deliveries (None
    when fewer than `expected` arrived)."""
    out: list[float | None] = []
    for send in sends:
        got = arrivals.get(send.seq, [])
        out.append((max(got) - send.started) * 1000 if len(got) >= expected else None)
    return out


def sent_since(sends: Sequence[SendB], times: Sequence[float | None], since: float) -> list[float]:
    """The delivery times (those known) of the sends started at or after `since`."""
    return [t for s, t in zip(sends, times, strict=True) if t is not None and s.started >= since]


def ratio(value: float, base: float) -> float:
    """`value / base` (0.0 when there is no base)."""
    return value / base if base > 0 else 0.0


def pool_posts_per_second(concurrency: int, threads: int, post_ms: float) -> float:
    """What the fanout pool can post at most: every post thread of every container busy."""
    return concurrency * threads / (post_ms / 1000)


@dataclass
class ConditionResult:
    condition: Condition
    seconds: float
    b_sends: int = 0
    b_delivery_ms: list[float] = field(default_factory=list)
    b_missing: int = 0
    b_ack_ms: list[float] = field(default_factory=list)
    b_second_half_ms: list[float] = field(default_factory=list)  # sends in the run's 2nd half
    flood: dict[str, int] = field(default_factory=dict)  # outcome -> sends
    flood_deliveries: int = 0
    posts_per_second: float = 0.0  # every delivery of the run over its span
    peak_backlog: int = 0  # work items waiting in the push queue, at most
    peak_bulk_backlog: int = 0  # the same in the bulk queue (two lanes)
    bulk_items: int = 0  # work items that went through the bulk queue
    drain_s: float = 0.0  # from the end of the sends to B's last delivery
    invocations: int = 0

    def as_dict(self) -> dict[str, Any]:
        times = self.b_delivery_ms
        return {
            "name": self.condition.name,
            "title": self.condition.title,
            "flood": self.condition.flood,
            "budget_per_minute": self.condition.budget_per_minute,
            "lanes": self.condition.lanes,
            "bulk_share": self.condition.bulk_share,
            "seconds": self.seconds,
            "b_sends": self.b_sends,
            "b_delivered": len(times),
            "b_missing": self.b_missing,
            "b_median_ms": statistics.median(times) if times else 0.0,
            "b_p95_ms": percentile(times, 95),
            "b_max_ms": max(times, default=0.0),
            "b_second_half_median_ms": statistics.median(self.b_second_half_ms)
            if self.b_second_half_ms
            else 0.0,
            "b_ack_median_ms": statistics.median(self.b_ack_ms) if self.b_ack_ms else 0.0,
            "flood_sends": sum(self.flood.values()),
            "flood_acked": self.flood.get("ack", 0),
            "flood_budget_1005": self.flood.get("budget", 0),
            "flood_limit_1005": self.flood.get("limit", 0),
            "flood_errors": self.flood.get("error", 0),
            "flood_deliveries": self.flood_deliveries,
            "posts_per_second": self.posts_per_second,
            "peak_backlog_items": self.peak_backlog,
            "peak_bulk_backlog_items": self.peak_bulk_backlog,
            "bulk_items": self.bulk_items,
            "drain_s": self.drain_s,
            "invocations": self.invocations,
        }


def seed_group(store: Store, conversation: str, group: str, members: int) -> None:
    """Group `"a"` or `"b"`: `members` users, each online on one connection."""
    fanout.seed_group(
        store,
        conversation,
        members,
        user=lambda i: user_id(group, i),
        connection=lambda i: connection_id(group, i),
        first_message_id=f"01JBENCHF100D0000000000{group.upper()}01",
    )


def _frame(conversation: str, client_id: str) -> str:
    frame = {
        "action": "send",
        "id": client_id,
        "conversationId": conversation,
        "clientMsgId": client_id,
        "body": {"type": "text", "text": "x" * 64},
    }
    return json.dumps(frame, separators=(",", ":"))


def run_condition(
    condition: Condition,
    *,
    members_a: int,
    members_b: int,
    seconds: float,
    interval: float,
    latency: Latency | None = None,
    drain_timeout: float = 180.0,
    b_senders: int = B_SENDERS,
) -> ConditionResult:
    """Run one condition on a fresh store and measure B's delivery times."""
    from parley import runtime
    from parley.config import settings
    from parley.services.budget import FanoutBudget
    from parley.services.limits import RateLimiter
    from parley_memory.abuse import AbuseCounters

    latency = latency or Latency()
    repos = memory(latency)
    seed_group(repos.store, GROUP_A, "a", members_a)
    seed_group(repos.store, GROUP_B, "b", members_b)
    result = ConditionResult(condition, seconds)
    lock = threading.Lock()
    b_count = 0

    def on_delivery(delivery: Delivery) -> None:
        nonlocal b_count
        if delivery.connection_id[1] == "b":
            with lock:
                b_count += 1

    repos.gateway.on_delivery = on_delivery
    env = {
        **BASE_ENV,
        "PARLEY_PUSH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-push",
        "PARLEY_WS_API_ENDPOINT": "wss://abcdef1234.execute-api.us-east-1.amazonaws.com",
        "PARLEY_WS_STAGE": "v1",
        "PARLEY_FANOUT_THREADS": str(fanout_threads()),
        "PARLEY_FANOUT_BATCH_USERS": str(parameter_default("FanoutBatchUsers", 100)),
        "PARLEY_INLINE_FANOUT_MAX": str(parameter_default("InlineFanoutMax", 50)),
        # The send limit as deployed (the template's defaults).
        "PARLEY_SENDS_PER_MINUTE": str(parameter_default("SendsPerMinute", 600)),
        "PARLEY_FRAMES_PER_SECOND": str(parameter_default("FramesPerSecond", 50)),
        "PARLEY_FRAME_BURST": str(parameter_default("FrameBurst", 100)),
        "PARLEY_LIMITS_TABLE": None,
        # The bulk lane, given to the send and fanout functions as the template does.
        "PARLEY_PUSH_BULK_QUEUE_URL": (
            "https://sqs.us-east-1.amazonaws.com/123456789012/bench-push-bulk"
            if condition.lanes
            else None
        ),
    }
    bulk_queue = PushQueue(repos.store) if condition.lanes else None
    stop = threading.Event()
    errors: list[BaseException] = []
    sends: list[SendB] = []

    with environment(env), patched_runtime(repos), contextlib.redirect_stdout(io.StringIO()):
        cfg = settings()
        clock = WindowClock()
        # The real send limit and budget over the in-memory limits (patched_runtime turns
        # the limiter off; the budget needs a limits table the in-memory store replaces).
        limiter = RateLimiter(
            limits=repos.limits,
            clock=clock,
            frames_per_second=cfg.frames_per_second,
            frame_burst=cfg.frame_burst,
            sends_per_minute=cfg.sends_per_minute,
            failed_logins=cfg.failed_logins_per_window,
            connects_per_minute=cfg.connects_per_minute,
            window_seconds=cfg.rate_window_seconds,
        )
        budget = FanoutBudget(
            counters=AbuseCounters(),
            clock=clock,
            per_minute=condition.budget_per_minute,
            free_members=cfg.inline_fanout_max,
            bulk_share=condition.bulk_share if condition.lanes else 1.0,
        )
        saved_budget = runtime.fanout_budget
        saved_bulk = runtime.push_bulk_queue
        setattr(runtime, "limiter", lambda: limiter)  # noqa: B010 - a module attribute
        setattr(runtime, "fanout_budget", lambda: budget)  # noqa: B010 - a module attribute
        setattr(runtime, "push_bulk_queue", lambda: bulk_queue)  # noqa: B010 - a module attribute
        # One event source per queue, each with the template's concurrency and batch size.
        source = EventSource(repos, fanout_max_concurrency(), fanout_batch_size())
        sources = [source]
        if bulk_queue is not None:
            bulk = "PushBulkQueue"
            sources.append(
                EventSource(
                    repos,
                    fanout_max_concurrency(bulk),
                    fanout_batch_size(bulk),
                    queue=bulk_queue,
                    name="fanout-bulk",
                )
            )

        def watch() -> None:
            result.peak_backlog = max(result.peak_backlog, len(repos.queue.pending))
            if bulk_queue is not None:
                result.peak_bulk_backlog = max(result.peak_bulk_backlog, len(bulk_queue.pending))

        send = load_handler("ws_send")

        def flood() -> None:
            context = LambdaContext("ws_send")
            n = 0
            while not stop.is_set():
                n += 1
                body = _frame(GROUP_A, f"flood-{n}")
                event = ws_event("send", body, user=FLOODER, connection=connection_id("a", 0))
                try:
                    reply = json.loads(send.handler(event, context)["body"])
                except BaseException as exc:  # the run reports it instead of hanging
                    errors.append(exc)
                    return
                kind = outcome(reply)
                result.flood[kind] = result.flood.get(kind, 0) + 1

        flooder = threading.Thread(target=flood, name="flooder", daemon=True)
        try:
            for each in sources:
                each.start()
                each.gate.set()
            started = time.perf_counter()
            if condition.flood:
                flooder.start()
            context = LambdaContext("ws_send")
            k = 0
            while k * interval < seconds:
                due = started + k * interval
                while time.perf_counter() < due:
                    watch()
                    time.sleep(min(0.02, max(0.0, due - time.perf_counter())))
                sender = k % b_senders
                event = ws_event(
                    "send",
                    _frame(GROUP_B, f"b-{k}"),
                    user=user_id("b", sender),
                    connection=connection_id("b", sender),
                )
                began = time.perf_counter()
                reply = json.loads(send.handler(event, context)["body"])
                result.b_ack_ms.append((time.perf_counter() - began) * 1000)
                if outcome(reply) != "ack":
                    raise RuntimeError(f"B's send was refused: {reply}")
                sends.append(SendB(int(reply["seq"]), began))
                k += 1
            stop.set()
            ended = time.perf_counter()
            want = len(sends) * (members_b - 1)
            deadline = ended + drain_timeout

            def failed() -> bool:
                return any(each.errors for each in sources)

            while b_count < want and time.perf_counter() < deadline and not failed():
                watch()
                time.sleep(0.02)
            result.drain_s = time.perf_counter() - ended
        finally:
            stop.set()
            for each in sources:
                each.close()
            if condition.flood:
                flooder.join(timeout=10)
            setattr(runtime, "fanout_budget", saved_budget)  # noqa: B010 - a module attribute
            setattr(runtime, "push_bulk_queue", saved_bulk)  # noqa: B010 - a module attribute
        failures = [*errors, *(e for each in sources for e in each.errors)]
        if failures:
            raise RuntimeError(f"the run failed: {failures[0]!r}")

    deliveries = list(repos.gateway.deliveries)
    arrivals: dict[int, list[float]] = {}
    for d in deliveries:
        if d.connection_id[1] == "b":
            arrivals.setdefault(int(json.loads(d.data)["seq"]), []).append(d.at)
    times = delivery_ms(sends, arrivals, members_b - 1)
    result.b_sends = len(sends)
    result.b_delivery_ms = [t for t in times if t is not None]
    result.b_missing = sum(1 for t in times if t is None)
    result.b_second_half_ms = sent_since(sends, times, started + seconds / 2)
    result.flood_deliveries = sum(1 for d in deliveries if d.connection_id[1] == "a")
    if deliveries:
        span = deliveries[-1].at - started
        result.posts_per_second = len(deliveries) / span if span > 0 else 0.0
    result.invocations = sum(len(each.invocations) for each in sources)
    result.bulk_items = len(bulk_queue.items) if bulk_queue is not None else 0
    return result


def run(
    *,
    members_a: int,
    members_b: int,
    seconds: float,
    interval: float,
    b_senders: int = B_SENDERS,
    log: Callable[[str], None] | None = None,
) -> list[ConditionResult]:
    """The four conditions, one after the other."""
    out = []
    budget = parameter_default("FanoutDeliveriesPerMinute", 50_000)
    share = parameter_default("FanoutBulkSharePercent", 20) / 100
    for condition in conditions(budget, share):
        if log is not None:
            log(f"[parley_bench] flood: {condition.title} ...")
        out.append(
            run_condition(
                condition,
                members_a=members_a,
                members_b=members_b,
                seconds=seconds,
                interval=interval,
                b_senders=b_senders,
            )
        )
    return out
