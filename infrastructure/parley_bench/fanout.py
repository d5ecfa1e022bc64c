"""Fan-out at scale: one message to a group whose members are all online.

The real `ws_send` handler stores the message and enqueues one `conversation` work item;
an emulated SQS event source then runs the real `fanout` handler the way Lambda would:

* up to `MaximumConcurrency` (from the template) concurrent "invocations", each on its
  own container (its own copy of the handler module, its own PushService with a pool of
  `PARLEY_FANOUT_THREADS` threads, its own `parallel_map` pool);
* each invocation gets a batch of up to `BatchSize` records; the first expands the
  member list into `users` items of `FanoutBatchUsers`, which are enqueued and picked up
  by the others.

Data lives in the in-memory store (:mod:`parley_bench.memory`; moto is far slower than
DynamoDB in one process)
with a fixed latency per call: 5 ms per DynamoDB call, 20 ms per `@connections` post,
10 ms per SQS call. The figure is the time from the ack (the send handler returned) to
the last post delivered.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parley_memory import PushQueue, Store

from parley_bench.memory import Latency, Repos, memory, patched_runtime
from parley_bench.meter import AwsMeter, Bill
from parley_bench.template import (
    fanout_batch_size,
    fanout_max_concurrency,
    fanout_threads,
    memory_mb,
    parameter_default,
)
from parley_bench.world import (
    BASE_ENV,
    LambdaContext,
    environment,
    load_handler,
    sqs_event,
    ws_event,
)

GROUP = "grp:01JBENCH0000000000000000GR"
SENDER = "member00000"


def member_id(i: int) -> str:
    return f"member{i:05d}"


def connection_id(i: int) -> str:
    # API Gateway connection ids are 16 characters ("Zk1a9eVWIAMCJbA=").
    return f"Cn{i:013d}="


@dataclass
class FanoutResult:
    members: int
    delivered: int
    expected: int
    ack_ms: float  # the send invocation (receive -> ack)
    first_ms: float  # ack -> first delivery
    last_ms: float  # ack -> last delivery
    invocations: int
    peak_invocations: int
    peak_posts_in_flight: int
    invocation_ms: list[float] = field(default_factory=list)
    records: int = 0
    concurrency: int = 50
    threads: int = 16
    batch_size: int = 10
    batch_users: int = 100
    bill: Bill | None = None

    @property
    def posts_per_second(self) -> float:
        return self.delivered / (self.last_ms / 1000) if self.last_ms > 0 else 0.0


class EventSource:
    """An SQS event source mapping: `concurrency` pollers, each one container, on `queue`
    (the push queue unless told; the flood bench adds the bulk lane's as a second source)."""

    def __init__(
        self,
        repos: Repos,
        concurrency: int,
        batch_size: int,
        *,
        queue: PushQueue | None = None,
        name: str = "fanout",
    ) -> None:
        self.repos = repos
        self.queue = queue if queue is not None else repos.queue
        self.name = name
        self.gate = threading.Event()  # pollers wait for it (set at once unless metering)
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.invocations: list[float] = []
        self.records = 0
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.concurrency):
            thread = threading.Thread(
                target=self._poll, args=(i,), name=f"lambda-{self.name}-{i}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _poll(self, index: int) -> None:
        module = load_handler("fanout", instance=f"{self.name}_c{index}")
        context = LambdaContext("fanout")
        self.gate.wait()
        while not self.stop.is_set():
            bodies = self.queue.receive(self.batch_size, timeout=0.05)
            if not bodies:
                continue
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            started = time.perf_counter()
            try:
                result = module.handler(sqs_event(bodies), context)
                if result.get("batchItemFailures"):
                    raise RuntimeError(f"fanout reported failures: {result}")
            except BaseException as exc:  # a benchmark must not hang on a failed container
                self.errors.append(exc)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                with self.lock:
                    self.running -= 1
                    self.invocations.append(elapsed)
                    self.records += len(bodies)

    def close(self) -> None:
        self.stop.set()
        self.gate.set()
        for thread in self.threads:
            thread.join(timeout=5)


def seed_group(
    store: Store,
    conversation: str,
    members: int,
    *,
    user: Callable[[int], str] = member_id,
    connection: Callable[[int], str] = connection_id,
    first_message_id: str = "01JBENCH000000000000000001",
) -> None:
    """A group of `members` users (`user(i)`), each online on one connection
    (`connection(i)`); the first is its owner and sent its creation message."""
    store.seed_conversation(
        {"conversationId": conversation, "type": "group", "name": "bench", "memberCount": members}
    )
    for i in range(members):
        store.seed_member(
            {
                "conversationId": conversation,
                "userId": user(i),
                "role": "owner" if i == 0 else "member",
                "joinedSeq": 1,
                "readSeq": 0,
                "joinedAt": 1_795_773_600_000,
            }
        )
        store.seed_connection(
            {
                "connectionId": connection(i),
                "userId": user(i),
                "sessionId": "c2Vzc2lvbi1pZC0xMjM0NTY",
                "connectedAt": 1_795_773_600_000,
                "sourceIp": "203.0.113.10",
                "tokenExp": 1_795_774_500,
                "ttl": 4_102_444_800,
            }
        )
    store.seed_message(
        {
            "conversationId": conversation,
            "seq": 1,
            "messageId": first_message_id,
            "senderId": user(0),
            "clientMsgId": "created",
            "body": {"type": "system", "event": "group_created"},
            "ts": 1_795_773_600_000,
        }
    )


def seed(store: Store, members: int) -> None:
    """The fan-out bench's group: `members` online users, `member00000` its owner."""
    seed_group(store, GROUP, members)


def run_fanout(
    members: int,
    *,
    latency: Latency | None = None,
    concurrency: int | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    batch_users: int | None = None,
    inline_max: int = 50,
    meter: AwsMeter | None = None,
    text: str = "x" * 64,
    timeout: float = 120.0,
) -> FanoutResult:
    """Send one message to a group of `members` (all online) and time its delivery."""
    concurrency = concurrency or fanout_max_concurrency()
    threads = threads or fanout_threads()
    batch_size = batch_size or fanout_batch_size()
    batch_users = batch_users or parameter_default("FanoutBatchUsers", 100)
    repos = memory(latency or Latency(), meter)
    seed(repos.store, members)
    expected = members - 1  # everyone but the sending connection
    done = threading.Event()
    delivered = 0
    lock = threading.Lock()

    def on_delivery(_: Any) -> None:
        nonlocal delivered
        with lock:
            delivered += 1
            if delivered >= expected:
                done.set()

    repos.gateway.on_delivery = on_delivery
    env = {
        **BASE_ENV,
        "PARLEY_PUSH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-push",
        "PARLEY_WS_API_ENDPOINT": "wss://abcdef1234.execute-api.us-east-1.amazonaws.com",
        "PARLEY_WS_STAGE": "v1",
        "PARLEY_FANOUT_THREADS": str(threads),
        "PARLEY_FANOUT_BATCH_USERS": str(batch_users),
        "PARLEY_INLINE_FANOUT_MAX": str(inline_max),
        "PARLEY_LIMITS_TABLE": None,
    }
    frame = {
        "action": "send",
        "id": "r1",
        "conversationId": GROUP,
        "clientMsgId": "bench-fanout-1",
        "body": {"type": "text", "text": text},
    }
    body = json.dumps(frame, separators=(",", ":"))
    sink = io.StringIO()
    with environment(env), patched_runtime(repos), contextlib.redirect_stdout(sink):
        source = EventSource(repos, concurrency, batch_size)
        source.start()
        if meter is None:
            source.gate.set()
        try:
            send = load_handler("ws_send")
            event = ws_event("send", body, user=SENDER, connection=connection_id(0))
            started = time.perf_counter()
            response = send.handler(event, LambdaContext("ws_send"))
            acked = time.perf_counter()
            reply = json.loads(response["body"])
            if reply.get("type") != "ack":
                raise RuntimeError(f"send failed: {reply}")
            # Metering counts the fan-out only (the send is counted against moto): the
            # event source starts once the send has returned.
            recording = meter.recording("fanout") if meter is not None else contextlib.nullcontext()
            with recording:
                source.gate.set()
                if expected > 0 and not done.wait(timeout):
                    raise RuntimeError(f"only {delivered} of {expected} delivered in {timeout}s")
                # Let the last invocations finish (their duration is billed).
                while source.running or repos.queue.pending:
                    time.sleep(0.005)
        finally:
            source.close()
        if source.errors:
            raise RuntimeError(f"fanout invocation failed: {source.errors[0]!r}")
    times = sorted(d.at for d in repos.gateway.deliveries)
    result = FanoutResult(
        members=members,
        delivered=len(times),
        expected=expected,
        ack_ms=(acked - started) * 1000,
        first_ms=(times[0] - acked) * 1000 if times else 0.0,
        last_ms=(times[-1] - acked) * 1000 if times else 0.0,
        invocations=len(source.invocations),
        peak_invocations=source.peak,
        peak_posts_in_flight=repos.gateway.peak_in_flight,
        invocation_ms=list(source.invocations),
        records=source.records,
        concurrency=concurrency,
        threads=threads,
        batch_size=batch_size,
        batch_users=batch_users,
    )
    if meter is not None:
        bill = Bill()
        bill.add_calls(meter.calls)
        for ms in source.invocations:
            bill.add_invocation(memory_mb("fanout"), ms)
        # The event source's own SQS calls: one ReceiveMessage and one DeleteMessageBatch
        # per batch it hands to the function.
        bill.sqs_requests += 2 * len(source.invocations)
        result.bill = bill
    return result
