"""CPU the AWS SDK spends per call, the cost that the in-memory fan-out model leaves out.

The fan-out benchmark's data layer is in memory, so its posts and lookups cost almost no
CPU; on Lambda each `PostToConnection` and each `Query` goes through botocore (validate,
serialise, sign, send, parse), and a function gets CPU in proportion to its memory (one
vCPU at 1,769 MB). This measures botocore's client-side CPU per call against a local
endpoint that answers at once with a canned body, so that the fan-out report can check
whether a container of the template's size is waiting on the network or on its CPU.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at this memory size

_QUERY_REPLY = json.dumps(
    {
        "Items": [
            {
                "connectionId": {"S": "Cx0000000000001="},
                "userId": {"S": "member00001"},
                "sessionId": {"S": "c2Vzc2lvbi1pZC0xMjM0NTY"},
                "connectedAt": {"N": "1795773600000"},
                "tokenExp": {"N": "1795774500"},
                "ttl": {"N": "4102444800"},
            }
        ],
        "Count": 1,
        "ScannedCount": 1,
    }
).encode()


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in a child process
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            body = _QUERY_REPLY if target.endswith(".Query") else b"{}" if target else b""
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    with contextlib.suppress(EOFError):
        conn.recv()


def measure(calls: int = 400, rounds: int = 3, threads: int = 16) -> dict[str, float]:
    """Client CPU ms per `PostToConnection`, per DynamoDB `Query` (one item back) and per
    small DynamoDB write (`PutItem`; also stands for GetItem and UpdateItem), median of
    rounds."""
    import boto3
    from botocore.config import Config

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        port = parent.recv()
        endpoint = f"http://127.0.0.1:{port}"
        options: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "bench",
            "aws_secret_access_key": "bench",
            "config": Config(max_pool_connections=threads, retries={"max_attempts": 1}),
        }
        posts = boto3.client("apigatewaymanagementapi", **options)
        ddb = boto3.client("dynamodb", **options)
        data = json.dumps(
            {
                "type": "message",
                "conversationId": "grp:01JBENCH0000000000000000GR",
                "seq": 2,
                "messageId": "01JBENCH000000000000000002",
                "senderId": "member00000",
                "clientMsgId": "bench-fanout-1",
                "body": {"type": "text", "text": "x" * 64},
                "ts": 1_795_773_600_000,
            },
            separators=(",", ":"),
        ).encode()

        def post(i: int) -> None:
            posts.post_to_connection(ConnectionId=f"Cx{i:014d}=", Data=data)

        def put(i: int) -> None:
            ddb.put_item(
                TableName="MessagesTable",
                Item={
                    "conversationId": {"S": "dm:member00000:member00001"},
                    "seq": {"N": str(i + 1)},
                    "senderId": {"S": "member00000"},
                    "body": {"S": '{"type":"text","text":"hello"}'},
                },
                ConditionExpression="attribute_not_exists(seq)",
            )

        def query(i: int) -> None:
            ddb.query(
                TableName="ConnectionsTable",
                IndexName="byUser",
                KeyConditionExpression="userId = :u",
                ExpressionAttributeValues={":u": {"S": f"member{i:05d}"}},
            )

        out: dict[str, float] = {}
        for name, call in (("post_cpu_ms", post), ("query_cpu_ms", query), ("put_cpu_ms", put)):
            call(0)  # build the client's caches (models, endpoint rules) first
            samples = []
            for _ in range(rounds):
                started = time.process_time()
                # The fan-out posts from a pool of threads; measure the same way.
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(call, range(calls)))
                samples.append((time.process_time() - started) * 1000 / calls)
            out[name] = statistics.median(samples)
        return out
    finally:
        parent.close()
        server.join(timeout=2)
        if server.is_alive():
            server.kill()


@functools.cache
def measured() -> dict[str, float]:
    """`measure()` once per process: the cost and fan-out benchmarks both use it."""
    return measure()


def vcpu_share(memory_mb: int) -> float:
    """The share of one vCPU a Lambda function of `memory_mb` gets (capped at one)."""
    return min(1.0, memory_mb / LAMBDA_FULL_VCPU_MB)
