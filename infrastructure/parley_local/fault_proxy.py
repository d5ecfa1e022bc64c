"""The fault proxy: an HTTP proxy between the function workers and moto, on 127.0.0.1.

With a fault profile, each worker's `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SQS`
point here, and `AWS_ENDPOINT_URL_SECRETS_MANAGER` too when the profile has `secretsmanager`
rules (other services keep talking to moto directly, so presigned S3 links are
unchanged), and `AWS_SDK_UA_APP_ID` names the function in its SDK's User-Agent. Requests
are forwarded to moto unless a rule fires:

* DynamoDB (JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Operation>`): the error answer
  DynamoDB itself sends (HTTP 400 `ProvisionedThroughputExceededException` or
  `ThrottlingException`, HTTP 500 `InternalServerError`), which botocore parses into the
  same exception class and retries as against AWS; or a *timeout*: the reply never comes
  (the request is held until the SDK's read timeout closes the connection). By default a
  timed-out request was applied (forwarded, its reply lost: what makes a retried write
  meet its own first attempt); with `"applied": false` it never reached the table.
* SQS (JSON protocol, `X-Amz-Target: AmazonSQS.SendMessageBatch`): chosen entries are not
  forwarded and come back in `Failed` (`SenderFault: false`, code `InternalError`, as an
  SQS-side failure); the rest are forwarded and moto's answer is merged in.
* Secrets Manager (JSON 1.1, `X-Amz-Target: secretsmanager.<Operation>`): the error answer
  Secrets Manager sends (HTTP 400 `ThrottlingException`, HTTP 500 `InternalServiceError`),
  which botocore parses into the same class and retries; or a *timeout*: the request is
  never forwarded and its reply never comes (a read: nothing to apply).
* Latency rules (targets `dynamodb` and `sqs`) delay the request before it is forwarded.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from parley_local import ids
from parley_local.faults import FaultInjector, FaultRule, caller_function
from parley_local.logs import LogSink

#: DynamoDB's own error answers (status, `__type`, message).
DYNAMODB_ERRORS: dict[str, tuple[int, str, str]] = {
    "ProvisionedThroughputExceededException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "ThrottlingException": (
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Throughput exceeds the current capacity of your table or index. DynamoDB is "
        "automatically scaling your table or index so please try again shortly.",
    ),
    "InternalServerError": (
        500,
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "Internal server error",
    ),
}
#: Secrets Manager's error answers (status, `__type`, message): a throttled account
#: (a common error of every operation) and its modelled server-side failure.
SECRETSMANAGER_ERRORS: dict[str, tuple[int, str, str]] = {
    "ThrottlingException": (400, "ThrottlingException", "Rate exceeded"),
    "InternalServiceError": (500, "InternalServiceError", "An error occurred on the server side."),
}
SQS_ENTRY_ERROR = ("InternalError", "We encountered an internal error. Please try again.")
#: How long a timed-out request is held at most when its caller does not give up first
#: (Parley's SDK reads with a 5 s timeout; the local cloud's own clients with 30 s).
HOLD_LIMIT_S = 60.0
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "proxy-connection",
}
_JSON_10 = "application/x-amz-json-1.0"
_JSON_11 = "application/x-amz-json-1.1"


def _json_error(
    answer: tuple[int, str, str], content_type: str, message_key: str
) -> tuple[int, dict[str, str], bytes]:
    status, error_type, message = answer
    body = json.dumps({"__type": error_type, message_key: message}).encode()
    headers = {"Content-Type": content_type, "x-amzn-RequestId": ids.request_id()}
    return status, headers, body


def dynamodb_error(error: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of DynamoDB's answer for `error`."""
    return _json_error(DYNAMODB_ERRORS[error], _JSON_10, "message")


def secretsmanager_error(error: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of Secrets Manager's answer for `error`."""
    return _json_error(SECRETSMANAGER_ERRORS[error], _JSON_11, "Message")


def request_tables(operation: str, payload: Any) -> set[str]:
    """The table names a DynamoDB request touches (TableName, RequestItems, TransactItems)."""
    if not isinstance(payload, dict):
        return set()
    tables: set[str] = set()
    name = payload.get("TableName")
    if isinstance(name, str):
        tables.add(name)
    items = payload.get("RequestItems")
    if isinstance(items, dict):
        tables.update(str(key) for key in items)
    for item in payload.get("TransactItems") or []:
        if isinstance(item, dict):
            for action in item.values():
                if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                    tables.add(action["TableName"])
    return tables


def queue_name(queue_url: Any) -> str | None:
    """A queue's name from its URL (its last path segment, whatever host moto put in it)."""
    if not isinstance(queue_url, str) or not queue_url:
        return None
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def split_batch(
    payload: dict[str, Any], failed_ids: set[str]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A SendMessageBatch request without the entries in `failed_ids` (None if none is
    left), and the `Failed` records SQS gives for those entries."""
    entries = payload.get("Entries") or []
    kept = [e for e in entries if str(e.get("Id")) not in failed_ids]
    code, message = SQS_ENTRY_ERROR
    failures = [
        {"Id": str(e.get("Id")), "SenderFault": False, "Code": code, "Message": message}
        for e in entries
        if str(e.get("Id")) in failed_ids
    ]
    forward = {**payload, "Entries": kept} if kept else None
    return forward, failures


def merge_batch(upstream: dict[str, Any], failures: list[dict[str, Any]]) -> dict[str, Any]:
    """moto's SendMessageBatch answer with the injected failures added to `Failed`."""
    merged = dict(upstream)
    merged["Successful"] = list(upstream.get("Successful") or [])
    merged["Failed"] = [*(upstream.get("Failed") or []), *failures]
    return merged


class FaultProxy:
    """Forwards AWS requests to `upstream` (moto), injecting the profile's faults."""

    def __init__(self, upstream: str, injector: FaultInjector, sink: LogSink) -> None:
        self.upstream = upstream.rstrip("/")
        self.injector = injector
        self.sink = sink
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        """The aiohttp application (every path, every method)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
            )
        return self._session

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request from a worker's SDK."""
        body = await request.read()
        service, _, operation = request.headers.get("X-Amz-Target", "").partition(".")
        function = caller_function(request.headers.get("User-Agent", ""))
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            payload = None
        if service.startswith("DynamoDB_"):
            return await self._dynamodb(request, body, payload, operation, function)
        if service == "AmazonSQS":
            return await self._sqs(request, body, payload, operation, function)
        if service == "secretsmanager":
            return await self._secretsmanager(request, body, operation, function)
        return await self._forward(request, body)

    async def _dynamodb(
        self,
        request: web.Request,
        body: bytes,
        payload: Any,
        operation: str,
        function: str | None,
    ) -> web.StreamResponse:
        tables = request_tables(operation, payload)
        where = {"function": function, "operation": operation, "tables": sorted(tables)}
        delay = self.injector.latency(
            "dynamodb", function=function, tables=tables, operation=operation
        )
        if delay:
            await asyncio.sleep(delay)
        rule = self.injector.pick("dynamodb", function=function, tables=tables, operation=operation)
        if rule is None:
            return await self._forward(request, body)
        if rule.error != "timeout":
            assert rule.error is not None
            status, headers, answer = dynamodb_error(rule.error)
            self.injector.record(rule, f"{operation} answered {status} {rule.error}", **where)
            return web.Response(status=status, body=answer, headers=headers)
        if rule.applied:
            # The write happens; only its reply is lost on the way back.
            await self._forward(request, body)
        lost = "applied, reply lost" if rule.applied else "never reached the table"
        self.injector.record(rule, f"{operation} timed out ({lost})", **where)
        return await self._hold(request, rule)

    async def _sqs(
        self,
        request: web.Request,
        body: bytes,
        payload: Any,
        operation: str,
        function: str | None,
    ) -> web.StreamResponse:
        queue = queue_name(payload.get("QueueUrl")) if isinstance(payload, dict) else None
        delay = self.injector.latency("sqs", function=function, operation=operation, queue=queue)
        if delay:
            await asyncio.sleep(delay)
        if operation != "SendMessageBatch" or not isinstance(payload, dict):
            return await self._forward(request, body)
        failed: set[str] = set()
        for entry in payload.get("Entries") or []:
            rule = self.injector.pick("sqs", function=function, operation=operation, queue=queue)
            if rule is not None:
                entry_id = str(entry.get("Id"))
                failed.add(entry_id)
                detail = f"SendMessageBatch entry {entry_id} failed"
                self.injector.record(rule, detail, function=function, queue=queue)
        if not failed:
            return await self._forward(request, body)
        forward, failures = split_batch(payload, failed)
        headers = {"Content-Type": _JSON_10, "x-amzn-RequestId": ids.request_id()}
        if forward is None:
            answer = {"Successful": [], "Failed": failures}
            return web.Response(status=200, body=json.dumps(answer).encode(), headers=headers)
        upstream = await self._forward(request, json.dumps(forward).encode())
        if upstream.status != 200 or upstream.body is None:
            return upstream  # the whole call failed anyway: moto's answer stands
        assert isinstance(upstream.body, bytes)
        merged = merge_batch(json.loads(upstream.body), failures)
        return web.Response(status=200, body=json.dumps(merged).encode(), headers=headers)

    async def _secretsmanager(
        self, request: web.Request, body: bytes, operation: str, function: str | None
    ) -> web.StreamResponse:
        rule = self.injector.pick("secretsmanager", function=function, operation=operation)
        if rule is None:
            return await self._forward(request, body)
        where = {"function": function, "operation": operation}
        if rule.error == "timeout":
            self.injector.record(rule, f"{operation} timed out (never answered)", **where)
            return await self._hold(request, rule)
        assert rule.error is not None
        status, headers, answer = secretsmanager_error(rule.error)
        self.injector.record(rule, f"{operation} answered {status} {rule.error}", **where)
        return web.Response(status=status, body=answer, headers=headers)

    async def _hold(self, request: web.Request, rule: FaultRule) -> web.StreamResponse:
        """Answer nothing until the caller gives up (its read timeout closes the socket)."""
        deadline = time.monotonic() + HOLD_LIMIT_S
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            await asyncio.sleep(0.05)
        transport = request.transport
        if transport is not None:
            transport.close()  # a caller that waits longer still gets no answer
        return web.Response(status=504)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = self.upstream + request.raw_path
        async with self._client().request(
            request.method, url, data=body, headers=headers, allow_redirects=False
        ) as upstream:
            data = await upstream.read()
            reply_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            return web.Response(status=upstream.status, body=data, headers=reply_headers)
