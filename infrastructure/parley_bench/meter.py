"""Counting every AWS call an application makes, and what it bills.

:class:`AwsMeter` hooks a boto3 session's event system (``before-parameter-build`` and
``after-call``): every call is recorded with its service, operation, request parameters,
parsed response, start and end time and thread. For DynamoDB an :class:`Inspector` (a
separate, unhooked client on the same endpoint) reads the items a call touched, before and
after it, so the units are computed from real item sizes by DynamoDB's rules
(:mod:`parley_bench.capacity`). The meter can also inject latency into every call (to make
overlap visible in a timeline) and refuse operations (a test fails on any Scan).

:class:`Bill` adds up the billable units of a set of calls plus what the harness reports
(WebSocket frames in and out of API Gateway, Lambda invocations and duration, connection
minutes) and prices them with :mod:`parley_bench.prices`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from parley_bench.capacity import TableSchema, Units, item_size, read_cost, write_cost
from parley_bench.prices import PRICES, SQS_CHUNK_BYTES, WS_MESSAGE_BYTES, Prices


@dataclass
class Call:
    """One AWS API call as the application made it."""

    service: str  # botocore service name: dynamodb, sqs, apigatewaymanagementapi, ...
    operation: str  # PutItem, Query, PostToConnection, ...
    params: dict[str, Any]
    start: float
    end: float = 0.0
    thread: str = ""
    response: dict[str, Any] | None = None
    error: str | None = None
    units: Units = field(default_factory=Units)
    label: str = ""  # the invocation it belongs to, when the harness says so

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"

    @property
    def table(self) -> str | None:
        value = self.params.get("TableName")
        return str(value) if value else None


class Refused(Exception):
    """An operation the meter was told to refuse (for example a DynamoDB Scan)."""


class Inspector:
    """Reads DynamoDB items behind the application's back, to size its calls exactly."""

    def __init__(self, client: Any, schemas: Mapping[str, TableSchema]) -> None:
        self.client = client
        self.schemas = dict(schemas)  # physical table name -> schema

    def schema(self, table: str) -> TableSchema:
        return self.schemas.get(table) or TableSchema(table, ())

    def get(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        if not key:
            return None
        item = self.client.get_item(TableName=table, Key=dict(key), ConsistentRead=True)
        found = item.get("Item")
        return dict(found) if found else None

    # -- before a write: the items as they were ------------------------------------------
    def snapshot(self, operation: str, params: Mapping[str, Any]) -> list[Any]:
        if operation == "PutItem":
            table = params["TableName"]
            return [self.get(table, self.schema(table).key_of(params["Item"]))]
        if operation in {"UpdateItem", "DeleteItem"}:
            return [self.get(params["TableName"], params["Key"])]
        if operation == "TransactWriteItems":
            out: list[Any] = []
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                table = body["TableName"]
                key = body["Item"] if kind == "Put" else body["Key"]
                out.append(self.get(table, self.schema(table).key_of(key)))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self.schema(table).key_of(request["PutRequest"]["Item"])
                    else:
                        key = request["DeleteRequest"]["Key"]
                    out.append(self.get(table, key))
            return out
        return []

    # -- after the call: its units ------------------------------------------------------
    def units(
        self,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any],
        before: list[Any],
        failed: bool,
    ) -> Units:
        handler = getattr(self, f"_units_{operation.lower()}", None)
        if handler is None:
            return Units()
        result = handler(params, response, before, failed)
        assert isinstance(result, Units)
        return result

    def _units_getitem(
        self, params: Mapping[str, Any], response: Mapping[str, Any], *_: Any
    ) -> Units:
        table = params["TableName"]
        if "ProjectionExpression" in params or "AttributesToGet" in params:
            item = self.get(table, params["Key"])
        else:
            item = response.get("Item")
        return read_cost([item_size(item)], bool(params.get("ConsistentRead")))

    def _units_query(
        self, params: Mapping[str, Any], response: Mapping[str, Any], *_: Any
    ) -> Units:
        table = params["TableName"]
        schema = self.schema(table)
        index = schema.index(params.get("IndexName"))
        # A Query is billed on the items it read (full items, or index entries), whatever
        # the projection expression kept: read them again without one.
        again = {
            k: v
            for k, v in params.items()
            if k not in {"ProjectionExpression", "Select", "AttributesToGet"}
        }
        names = again.get("ExpressionAttributeNames")
        if names:
            condition = str(again.get("KeyConditionExpression", ""))
            kept = {k: v for k, v in names.items() if k in condition}
            if kept:
                again["ExpressionAttributeNames"] = kept
            else:
                again.pop("ExpressionAttributeNames")
        items = self.client.query(**again).get("Items", [])
        entries = [schema.entry(index, i) or i for i in items] if index is not None else items
        return read_cost([item_size(i) for i in entries], bool(params.get("ConsistentRead")))

    def _units_scan(self, params: Mapping[str, Any], *_: Any) -> Units:
        again = {k: v for k, v in params.items() if k not in {"ProjectionExpression", "Select"}}
        again.pop("ExpressionAttributeNames", None)
        items = self.client.scan(**again).get("Items", [])
        return read_cost([item_size(i) for i in items], bool(params.get("ConsistentRead")))

    def _units_batchgetitem(self, params: Mapping[str, Any], *_: Any) -> Units:
        total = Units()
        for table, request in params.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            sizes = [item_size(self.get(table, key)) for key in request.get("Keys", [])]
            total.add(read_cost(sizes, consistent, per_item=True))
        return total

    def _units_putitem(
        self, params: Mapping[str, Any], _r: Any, before: list[Any], failed: bool
    ) -> Units:
        schema = self.schema(params["TableName"])
        return write_cost(schema, before[0], params["Item"], applied=not failed)

    def _units_updateitem(
        self, params: Mapping[str, Any], _r: Any, before: list[Any], failed: bool
    ) -> Units:
        table = params["TableName"]
        after = before[0] if failed else self.get(table, params["Key"])
        return write_cost(self.schema(table), before[0], after, applied=not failed)

    def _units_deleteitem(
        self, params: Mapping[str, Any], _r: Any, before: list[Any], failed: bool
    ) -> Units:
        schema = self.schema(params["TableName"])
        return write_cost(schema, before[0], None, applied=not failed)

    def _units_transactwriteitems(
        self, params: Mapping[str, Any], _r: Any, before: list[Any], failed: bool
    ) -> Units:
        total = Units()
        for entry, old in zip(params.get("TransactItems", []), before, strict=False):
            ((kind, body),) = entry.items()
            table = body["TableName"]
            schema = self.schema(table)
            if kind == "ConditionCheck" or failed:
                total.add(write_cost(schema, old, old, applied=False, transactional=True))
                continue
            if kind == "Put":
                new = body["Item"]
            elif kind == "Delete":
                new = None
            else:
                new = self.get(table, body["Key"])
            total.add(write_cost(schema, old, new, transactional=True))
        return total

    def _units_batchwriteitem(
        self, params: Mapping[str, Any], _r: Any, before: list[Any], failed: bool
    ) -> Units:
        total = Units()
        olds = iter(before)
        for table, requests in params.get("RequestItems", {}).items():
            schema = self.schema(table)
            for request in requests:
                old = next(olds, None)
                new = request["PutRequest"]["Item"] if "PutRequest" in request else None
                total.add(write_cost(schema, old, new))
        return total


_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class AwsMeter:
    """Records the calls made through one boto3 session while :meth:`recording`."""

    def __init__(
        self,
        inspector: Inspector | None = None,
        *,
        latency: float = 0.0,
        forbid: Iterable[str] = (),
    ) -> None:
        self.inspector = inspector
        self.latency = latency  # seconds added to every call (before it is sent)
        self.forbid = set(forbid)  # "dynamodb.Scan"
        self.calls: list[Call] = []
        self.refused: list[str] = []  # forbidden operations that were attempted
        self.active = False
        self.label = ""
        self.clock: Callable[[], float] = time.perf_counter
        self._lock = threading.Lock()
        self._events: Any = None

    # -- installation ------------------------------------------------------------------
    def install(self, session: Any) -> None:
        """Hook `session` (a boto3 Session); clients made from it afterwards are metered."""
        events = session.events
        events.register("before-parameter-build", self._before, unique_id="parley-bench-b")
        events.register("after-call", self._after, unique_id="parley-bench-a")
        events.register("after-call-error", self._after_error, unique_id="parley-bench-e")
        self._events = events

    def uninstall(self) -> None:
        if self._events is None:
            return
        self._events.unregister("before-parameter-build", unique_id="parley-bench-b")
        self._events.unregister("after-call", unique_id="parley-bench-a")
        self._events.unregister("after-call-error", unique_id="parley-bench-e")
        self._events = None

    @contextmanager
    def recording(self, label: str = "") -> Iterator[list[Call]]:
        """Record calls made inside the block; yields the list they are added to."""
        start = len(self.calls)
        self.active, self.label = True, label
        out: list[Call] = []
        try:
            yield out
        finally:
            self.active = False
            with self._lock:
                out.extend(self.calls[start:])

    def record(self, call: Call) -> None:
        """Add a call made outside boto3 (the in-memory model reports its own)."""
        if not self.active:
            return
        call.label = call.label or self.label
        with self._lock:
            self.calls.append(call)

    # -- hooks -------------------------------------------------------------------------
    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.service_name
        operation = model.name
        if f"{service}.{operation}" in self.forbid or f"*.{operation}" in self.forbid:
            with self._lock:
                self.refused.append(f"{service}.{operation}")
            raise Refused(f"{service}.{operation} is not allowed")
        if not self.active:
            return
        call = Call(
            service=service,
            operation=operation,
            params=dict(params),
            start=self.clock(),
            thread=threading.current_thread().name,
            label=self.label,
        )
        before: list[Any] = []
        if self.inspector is not None and service == "dynamodb" and operation in _WRITES:
            before = self.inspector.snapshot(operation, params)
        context["parley_bench"] = (call, before)
        if self.latency:
            time.sleep(self.latency)

    def _after(
        self,
        http_response: Any,
        parsed: dict[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        stash = context.pop("parley_bench", None)
        if stash is None:
            return
        call, before = stash
        call.end = self.clock()
        call.response = parsed
        error = (parsed or {}).get("Error", {}).get("Code")
        call.error = str(error) if error else None
        if self.inspector is not None and call.service == "dynamodb":
            call.units = self.inspector.units(
                call.operation, call.params, parsed or {}, before, call.error is not None
            )
        with self._lock:
            self.calls.append(call)

    def _after_error(self, context: dict[str, Any], exception: Exception, **_: Any) -> None:
        stash = context.pop("parley_bench", None)
        if stash is None:
            return
        call, _before = stash
        call.end = self.clock()
        call.error = type(exception).__name__
        with self._lock:
            self.calls.append(call)


# ---- billing -------------------------------------------------------------------------------


def ws_units(size: int) -> int:
    """API Gateway WebSocket messages are metered in 32 KB units (at least one)."""
    return max(1, math.ceil(size / WS_MESSAGE_BYTES))


@dataclass
class Bill:
    """Billable units of a scenario, and their price."""

    ddb_read: float = 0.0
    ddb_write: float = 0.0
    ddb_index_write: float = 0.0
    ws_in: float = 0  # client -> server message units
    ws_out: float = 0  # server -> client message units (route responses and posts)
    ws_posts: float = 0  # how many of ws_out were @connections posts
    connection_minutes: float = 0.0
    lambda_requests: float = 0
    lambda_gb_s: float = 0.0
    lambda_ms: list[float] = field(default_factory=list)
    sqs_requests: float = 0
    secrets_calls: float = 0
    calls: dict[str, float] = field(default_factory=dict)

    def add_calls(self, calls: Iterable[Call]) -> None:
        for call in calls:
            self.calls[call.name] = self.calls.get(call.name, 0) + 1
            if call.service == "dynamodb":
                self.ddb_read += call.units.read
                self.ddb_write += call.units.write
                self.ddb_index_write += call.units.index_write
            elif call.service == "apigatewaymanagementapi" and call.operation == "PostToConnection":
                data = call.params.get("Data", b"")
                units = ws_units(len(data))
                self.ws_out += units
                self.ws_posts += units
            elif call.service == "sqs":
                if call.operation in {"SendMessageBatch", "SendMessage"}:
                    entries = call.params.get("Entries") or [call.params]
                    size = sum(len(str(e.get("MessageBody", "")).encode()) for e in entries)
                    self.sqs_requests += max(1, math.ceil(size / SQS_CHUNK_BYTES))
                else:
                    self.sqs_requests += 1
            elif call.service == "secretsmanager":
                self.secrets_calls += 1

    def add_invocation(self, memory_mb: int, duration_ms: float) -> None:
        billed = max(1, math.ceil(duration_ms))
        self.lambda_requests += 1
        self.lambda_gb_s += memory_mb / 1024 * billed / 1000
        self.lambda_ms.append(duration_ms)

    _SUMMED = (
        "ddb_read",
        "ddb_write",
        "ddb_index_write",
        "ws_in",
        "ws_out",
        "ws_posts",
        "connection_minutes",
        "lambda_requests",
        "lambda_gb_s",
        "sqs_requests",
        "secrets_calls",
    )

    def merge(self, other: Bill) -> None:
        for name in self._SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lambda_ms += other.lambda_ms
        for key, value in other.calls.items():
            self.calls[key] = self.calls.get(key, 0) + value

    def scaled(self, factor: float) -> Bill:
        """This bill times `factor` (per message from a run of several messages)."""
        out = Bill()
        for name in self._SUMMED:
            setattr(out, name, getattr(self, name) * factor)
        out.lambda_ms = list(self.lambda_ms)
        out.calls = {k: v * factor for k, v in self.calls.items()}
        return out

    def costs(self, prices: Prices = PRICES) -> dict[str, float]:
        """Dollars by component."""
        return {
            "API Gateway messages": (self.ws_in + self.ws_out) * prices.ws_message,
            "API Gateway connection minutes": self.connection_minutes * prices.ws_connection_minute,
            "Lambda requests": self.lambda_requests * prices.lambda_request,
            "Lambda duration": self.lambda_gb_s * prices.lambda_gb_second,
            "DynamoDB writes": self.ddb_write * prices.ddb_write_unit,
            "DynamoDB reads": self.ddb_read * prices.ddb_read_unit,
            "SQS": self.sqs_requests * prices.sqs_request,
            "Secrets Manager": self.secrets_calls * prices.secrets_call,
        }

    def total(self, prices: Prices = PRICES) -> float:
        return sum(self.costs(prices).values())
