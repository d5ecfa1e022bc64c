"""Cost per message: scenarios through the real handlers against moto, every AWS call
counted and priced (see :mod:`parley_bench.meter` for the rules, :mod:`parley_bench.prices`
for the one dated price table).

Each scenario runs twice in a fresh moto stack: once with DynamoDB item sizing on (the
units), once without (the handlers' wall time, billed as Lambda duration; sizing reads
would inflate it). Figures are steady state: warm containers, the signing secret cached
(Powertools Parameters keeps it 5 minutes, so Secrets Manager calls are per container, not
per message), the direct conversation already created by an earlier message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parley_bench.capacity import item_size, read_units
from parley_bench.fanout import run_fanout
from parley_bench.memory import Latency
from parley_bench.meter import AwsMeter, Bill
from parley_bench.prices import PRICES, WS_MESSAGE_BYTES
from parley_bench.template import memory_mb
from parley_bench.world import World

TEXT = "Are we still on for lunch tomorrow? I can book the usual place at 12:30."  # 73 chars
SESSION_ID = "c2Vzc2lvbi1pZC0xMjM0NTY"


def user_id(i: int) -> str:
    return f"user{i:06d}"


def conn_id(i: int) -> str:
    return f"Cx{i:013d}="  # 16 characters, like API Gateway's


@dataclass
class Scenario:
    name: str
    title: str
    unit: str  # what one "unit" is: "message", "connection", "sync of 1,000 messages"
    bill: Bill
    note: str = ""
    deliveries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_million(self) -> float:
        return self.bill.total() * 1e6


# ---- seeding (through the real repositories and services, not metered) --------------------


def seed_users(world: World, users: list[str]) -> None:
    from parley import runtime

    repo = runtime.users()
    for user in users:
        repo.create(user, "scrypt$16384$8$1$c2FsdA$aGFzaA", user, 1_795_773_600_000)


def seed_connection(user: str, connection: str) -> None:
    from parley import runtime

    runtime.connection_service().connect(
        connection, user, SESSION_ID, 4_102_444_800, "203.0.113.10"
    )


def dm_send(world: World, sender: int, recipient: int, client_id: str) -> dict[str, Any]:
    return world.send(user_id(sender), conn_id(sender), client_id, TEXT, to=user_id(recipient))


# ---- scenarios ----------------------------------------------------------------------------

Runner = Callable[[World, int], Bill]


def _dm_online(world: World, n: int) -> Bill:
    seed_users(world, [user_id(1), user_id(2)])
    seed_connection(user_id(1), conn_id(1))
    seed_connection(user_id(2), conn_id(2))
    dm_send(world, 1, 2, "warm-up")
    with world.metered("dm") as bill:
        for i in range(n):
            dm_send(world, 1, 2, f"m{i:05d}")
    return bill


def _dm_offline_then_sync(world: World, n: int) -> Bill:
    seed_users(world, [user_id(1), user_id(2)])
    seed_connection(user_id(1), conn_id(1))
    first = dm_send(world, 1, 2, "warm-up")
    cursor = int(first["seq"])
    # The recipient has no connection record while the message is sent (offline), then
    # syncs on a new connection (the route event carries its identity).
    world.sync(user_id(2), conn_id(2), {})  # warm the sync function
    with world.metered("dm-offline") as bill:
        for i in range(n):
            ack = dm_send(world, 1, 2, f"m{i:05d}")
            reply = world.sync(user_id(2), conn_id(2), {first["conversationId"]: cursor})
            got = [m["seq"] for c in reply["conversations"] for m in c["messages"]]
            assert got == [ack["seq"]], got
            cursor = int(ack["seq"])
    return bill


class LoopbackPushService:
    """A push service on loopback that accepts every POST (201), counting them: the
    notifier's Web Push POST crosses a real socket, as it would to a browser vendor's."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.received += 1
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def browser_keys() -> dict[str, str]:
    """A subscription's `p256dh` (a fresh P-256 public key) and `auth` (16 random bytes),
    base64url as a browser gives them; the notifier encrypts to them."""
    import base64
    import secrets

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {"p256dh": b64(point), "auth": b64(secrets.token_bytes(16))}


def drain_notify(world: World, queue_url: str) -> int:
    """Run the notifier over NotifyQueue as its event source would (batches of 10: one
    invocation, one ReceiveMessage and one DeleteMessageBatch per batch)."""
    import boto3

    from parley_bench.world import sqs_event

    sqs = boto3.client("sqs")
    handled = 0
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return handled
        invocation = world.invoke("notifier", sqs_event([m["Body"] for m in got]))
        assert invocation.response == {"batchItemFailures": []}, invocation.response
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if world.meter.active:
            world.bill.sqs_requests += 2
        handled += len(got)


def _dm_offline_webpush(world: World, n: int) -> Bill:
    """A direct message to a user with no connection and one Web Push device: the send
    (its fan-out finds no connection and queues the notify item), then the notifier (the
    message and member rows read, the device Query, encryption, VAPID signature and the
    POST to a push service on loopback). The user's later sync is not included."""
    import boto3
    from parley import runtime

    from parley_bench.world import environment, load_handler

    sqs = boto3.client("sqs")
    notify_url = sqs.create_queue(QueueName="bench-notify", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    dlq_url = sqs.create_queue(QueueName="bench-notify-dlq")["QueueUrl"]
    vapid = boto3.client("secretsmanager").create_secret(
        Name="bench-vapid", SecretString="bench-vapid-seed-0123456789abcdef0123456789abcdef"
    )["ARN"]
    push = LoopbackPushService()
    env = {
        "PARLEY_DEVICES_TABLE": world.table("DevicesTable"),
        "PARLEY_NOTIFY_QUEUE_URL": notify_url,
        "PARLEY_NOTIFY_DLQ_URL": dlq_url,
        "PARLEY_VAPID_SECRET_ARN": vapid,
        "PARLEY_PUSH_ENDPOINT_POLICY": "loopback",
    }
    try:
        with environment(env):
            runtime.reset()
            load_handler("notifier").transport.cache_clear()
            load_handler("http_devices").vapid_public_key.cache_clear()
            seed_users(world, [user_id(1)])
            seed_connection(user_id(1), conn_id(1))
            token = world.user(user_id(2))
            body = {
                "platform": "webpush",
                "subscription": {"endpoint": push.url("/sub/1"), "keys": browser_keys()},
            }
            status, reply = world.http("http_devices", "POST", "/devices", body, token)
            assert status == 201, reply
            # Warm-up: creates the direct conversation, warms the notifier (its secret read).
            dm_send(world, 1, 2, "warm-up")
            drain_notify(world, notify_url)
            with world.metered("dm-offline-webpush") as bill:
                for i in range(n):
                    dm_send(world, 1, 2, f"m{i:05d}")
                    assert drain_notify(world, notify_url) == 1
            assert push.received == n + 1, push.received
            runtime.reset()
    finally:
        push.close()
    return bill


def _dm_event(kind: str) -> Runner:
    """Events in a direct conversation, both users online: each iteration is one edit of
    alice's message, one reaction (added, then removed, alternately) on it, or the delete of
    one of the messages sent before the metered part (a delete per message)."""

    def run(world: World, n: int) -> Bill:
        seed_users(world, [user_id(1), user_id(2)])
        seed_connection(user_id(1), conn_id(1))
        seed_connection(user_id(2), conn_id(2))
        targets = [int(dm_send(world, 1, 2, f"t{i:05d}")["seq"]) for i in range(n + 1)]

        def event(client_id: str, target: int, on: bool = True) -> None:
            if kind == "edit":
                body: dict[str, Any] = {"type": "edit", "target": target, "text": TEXT[::-1]}
            elif kind == "reaction":
                body = {"type": "reaction", "target": target, "key": "👍", "on": on}
            else:
                body = {"type": "delete", "target": target}
            sender, other = (2, 1) if kind == "reaction" else (1, 2)
            world.send_body(user_id(sender), conn_id(sender), client_id, body, to=user_id(other))

        # Warm-up on a target of its own (a delete cannot be repeated on one).
        event("warm-up", targets[0])
        with world.metered(f"dm-{kind}") as bill:
            for i in range(n):
                # Edits and reactions keep changing one message; each delete takes its own.
                target = targets[i + 1] if kind == "delete" else targets[1]
                event(f"e{i:05d}", target, on=i % 2 == 0)
        return bill

    return run


def _group(members: int) -> Runner:
    def run(world: World, n: int) -> Bill:
        from parley import runtime

        users = [user_id(i) for i in range(members)]
        seed_users(world, users)
        group = runtime.group_service().create(users[0], "bench group", users[1:])
        for i, user in enumerate(users):
            seed_connection(user, conn_id(i))
        world.drain_queue()
        cid = group["conversationId"]
        world.send(users[0], conn_id(0), "warm-up", TEXT, conversationId=cid)
        world.drain_queue()
        with world.metered(f"group-{members}") as bill:
            for i in range(n):
                world.send(users[0], conn_id(0), f"m{i:05d}", TEXT, conversationId=cid)
                world.drain_queue()
        return bill

    return run


def _connect_disconnect(world: World, n: int) -> Bill:
    world.user(user_id(1))
    world.connect(user_id(1), conn_id(900))  # warm: the secret is cached
    world.disconnect(user_id(1), conn_id(900))
    with world.metered("connect") as bill:
        for i in range(n):
            world.connect(user_id(1), conn_id(i))
            world.disconnect(user_id(1), conn_id(i))
    bill.connection_minutes += n  # billed per minute: a connection of up to one minute
    return bill


def _sync_many(conversations: int, each: int) -> Runner:
    """One sync round of a member of `conversations` groups with `each` new messages in
    every one (seeded straight into the tables: the round is what is measured)."""

    def run(world: World, n: int) -> Bill:
        import boto3
        from parley import ddb, runtime
        from parley.records import Message, member_row
        from parley.repositories.messages import encode_message

        seed_users(world, [user_id(1), user_id(2)])
        seed_connection(user_id(2), conn_id(2))
        client = boto3.client("dynamodb")
        rows: dict[str, list[dict[str, Any]]] = {}
        for i in range(conversations):
            cid = f"grp:01JBENCH{i:018d}"
            conversation = {"conversationId": cid, "type": "group", "memberCount": 2}
            rows.setdefault(world.table("ConversationsTable"), []).append(
                {"PutRequest": {"Item": ddb.encode(conversation)}}
            )
            for user in (user_id(1), user_id(2)):
                row = member_row(cid, user, "member", 1, 1_795_773_600_000)
                rows.setdefault(world.table("MembersTable"), []).append(
                    {"PutRequest": {"Item": ddb.encode(row)}}
                )
            for seq in range(1, each + 1):
                message: Message = {
                    "conversationId": cid,
                    "seq": seq,
                    "messageId": f"01JBENCH{i:010d}{seq:08d}",
                    "senderId": user_id(1),
                    "clientMsgId": f"b{i:05d}-{seq}",
                    "body": {"type": "text", "text": TEXT},
                    "ts": 1_795_773_600_000 + seq,
                }
                rows.setdefault(world.table("MessagesTable"), []).append(
                    {"PutRequest": {"Item": encode_message(message, n=seq)}}
                )
        for table, requests in rows.items():
            for start in range(0, len(requests), 25):
                client.batch_write_item(RequestItems={table: requests[start : start + 25]})
        runtime.reset()
        with world.metered("sync-many") as bill:
            for _ in range(n):
                reply = world.sync(user_id(2), conn_id(2), {}, limit=100)
                assert reply["conversations"], reply
        return bill

    return run


def _sync_backlog(messages: int) -> Runner:
    def run(world: World, n: int) -> Bill:
        import boto3
        from parley import runtime
        from parley.repositories.messages import encode_message

        seed_users(world, [user_id(1), user_id(2)])
        seed_connection(user_id(1), conn_id(1))
        seed_connection(user_id(2), conn_id(2))
        ack = dm_send(world, 1, 2, "warm-up")
        cid = ack["conversationId"]
        client = boto3.client("dynamodb")
        table = world.table("MessagesTable")
        rows = [
            {
                "PutRequest": {
                    "Item": encode_message(
                        {
                            "conversationId": cid,
                            "seq": seq,
                            "messageId": f"01JBENCH{seq:018d}",
                            "senderId": user_id(1),
                            "clientMsgId": f"b{seq:06d}",
                            "body": {"type": "text", "text": TEXT},
                            "ts": 1_795_773_600_000 + seq,
                        }
                    )
                }
            }
            for seq in range(2, messages + 2)
        ]
        for start in range(0, len(rows), 25):
            client.batch_write_item(RequestItems={table: rows[start : start + 25]})
        runtime.reset()
        with world.metered("sync") as bill:
            for _ in range(n):
                cursors = {cid: 1}
                seen = 0
                while True:
                    reply = world.sync(user_id(2), conn_id(2), cursors, limit=100)
                    for conv in reply["conversations"]:
                        if conv["messages"]:
                            cursors[conv["conversationId"]] = conv["messages"][-1]["seq"]
                            seen += len(conv["messages"])
                    if reply["complete"]:
                        break
                assert seen == messages, seen
        return bill

    return run


def measure(
    runner: Runner, n: int, *, limiter: bool = True, env: dict[str, str] | None = None
) -> Bill:
    """Units from a sized run, Lambda duration from an unsized run; per unit (n units).
    `env`: settings of the handlers beside the template's defaults."""
    with World(limiter=limiter, inspect=True, env=env) as world:
        sized = runner(world, n)
    with World(limiter=limiter, inspect=False, env=env) as world:
        timed = runner(world, n)
    sized.lambda_gb_s = timed.lambda_gb_s
    sized.lambda_ms = timed.lambda_ms
    return sized.scaled(1 / n)


def group_model(members: int, meter_latency: Latency | None = None) -> Bill:
    """A group message's fan-out through the in-memory model (counted like the moto runs)."""
    meter = AwsMeter()
    result = run_fanout(members, latency=meter_latency or Latency(), meter=meter)
    assert result.bill is not None
    return result.bill


def scan_design(connected: int = 1000, duration_ms: float | None = None) -> tuple[Bill, str]:
    """AWS's sample simple-websockets-chat-app: every message Scans the connections table
    and posts to every connection (one-way route: no route response)."""
    item = {"connectionId": {"S": "Zk1a9eVWIAMCJbA="}}
    size = item_size(item) * connected
    bill = Bill()
    bill.ws_in = 1
    bill.ws_out = connected
    bill.ws_posts = connected
    bill.ddb_read = read_units(size, consistent=False)  # Scan, eventually consistent
    bill.calls.update(
        {"dynamodb.Scan": math.ceil(size / (1024 * 1024)), "PostToConnection": connected}
    )
    # Node's Promise.all over 1,000 posts of ~20 ms with 50 sockets: ~400 ms.
    duration = duration_ms if duration_ms is not None else connected / 50 * 20
    bill.add_invocation(256, duration)
    note = (
        f"{connected:,} items of {item_size(item)} bytes = {size:,} bytes scanned per message "
        f"({bill.ddb_read:g} RRU eventually consistent), {connected:,} posts, one 256 MB "
        f"invocation of ~{duration:.0f} ms"
    )
    return bill, note


def floor() -> Bill:
    """The least a delivered direct message can cost: frame in, ack out, post to the
    recipient; one write unit; one Lambda request."""
    return Bill(ws_in=1, ws_out=2, ws_posts=1, ddb_write=1, lambda_requests=1)


def run(quick: bool = True) -> list[Scenario]:
    n = 5 if quick else 25
    out: list[Scenario] = []
    dm = measure(_dm_online, n, limiter=True)
    out.append(
        Scenario("dm", "Direct message, recipient online (1 device)", "message", dm, deliveries=1)
    )
    dm_off = measure(_dm_online, n, limiter=False)
    out.append(
        Scenario(
            "dm-no-limiter",
            "Direct message, recipient online, rate limiter off",
            "message",
            dm_off,
            deliveries=1,
        )
    )
    kept = measure(_dm_online, n, env={"PARLEY_MESSAGE_RETENTION_DAYS": "30"})
    out.append(
        Scenario(
            "dm-retention",
            "Direct message, recipient online, MessageRetentionDays=30",
            "message",
            kept,
            deliveries=1,
            note="the previous message's expiresAt: one UpdateItem beside the push",
        )
    )
    off = measure(_dm_offline_then_sync, n)
    out.append(
        Scenario(
            "dm-offline",
            "Direct message to an offline user, then the user's sync (1 message)",
            "message",
            off,
            deliveries=1,
        )
    )
    webpush = measure(_dm_offline_webpush, n)
    out.append(
        Scenario(
            "dm-offline-webpush",
            "Direct message to an offline user with one Web Push device (send + notifier)",
            "message",
            webpush,
            deliveries=1,
            note="the push service on loopback answers at once; a vendor's takes ~50-100 ms",
        )
    )
    for kind, title in (
        ("edit", "Edit of a direct message (both online)"),
        ("reaction", "Reaction on a direct message, added or removed (both online)"),
        ("delete", "Delete of a direct message (both online)"),
    ):
        bill = measure(_dm_event(kind), n)
        out.append(Scenario(f"dm-{kind}", title, "event", bill, deliveries=1))
    group100 = measure(_group(100), 2 if quick else 5)
    out.append(
        Scenario(
            "group-100", "Group message, 100 members online", "message", group100, deliveries=99
        )
    )
    # 10,000 members: the send through moto is the same as for 100 members (both take the
    # queue path after reading one page of 51 members); the fan-out runs in the in-memory
    # model, whose counts are checked against moto at 100 members.
    send_part = measure(_group_send_only(100), 2 if quick else 5)
    for members in (100, 10_000):
        fan = group_model(members)
        total = Bill()
        total.merge(send_part)
        total.merge(fan)
        out.append(
            Scenario(
                f"group-{members}-model",
                f"Group message, {members:,} members online (fan-out in the in-memory model)",
                "message",
                total,
                deliveries=members - 1,
                note="send through moto; fan-out counted by the in-memory model",
            )
        )
    conn = measure(_connect_disconnect, n)
    out.append(
        Scenario(
            "connect",
            "Connect (authorizer + $connect) and disconnect, one connection minute",
            "connection",
            conn,
        )
    )
    many = measure(_sync_many(300, 3), 1)
    out.append(
        Scenario(
            "sync-300",
            "One sync round of a member of 300 groups with 3 new messages in each",
            "sync round",
            many,
        )
    )
    backlog = 1000
    sync = measure(_sync_backlog(backlog), 1)
    out.append(
        Scenario(
            "sync-1000",
            f"Sync of {backlog:,} missed messages (until complete)",
            f"sync of {backlog:,} messages",
            sync,
            deliveries=backlog,
        )
    )
    return out


def _group_send_only(members: int) -> Runner:
    """The send invocation of a group message alone (the queue is not drained)."""

    def run(world: World, n: int) -> Bill:
        from parley import runtime

        users = [user_id(i) for i in range(members)]
        seed_users(world, users)
        group = runtime.group_service().create(users[0], "bench group", users[1:])
        seed_connection(users[0], conn_id(0))
        cid = group["conversationId"]
        world.send(users[0], conn_id(0), "warm-up", TEXT, conversationId=cid)
        with world.metered("group-send") as bill:
            for i in range(n):
                world.send(users[0], conn_id(0), f"m{i:05d}", TEXT, conversationId=cid)
        return bill

    return run


def price_rows(bill: Bill) -> list[tuple[str, float]]:
    return [(k, v * 1e6) for k, v in bill.costs(PRICES).items() if v]


def ws_units_note() -> str:
    return f"{WS_MESSAGE_BYTES // 1024} KB"


def lambda_memory(function: str) -> int:
    return memory_mb(function)
