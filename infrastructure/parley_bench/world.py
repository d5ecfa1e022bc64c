"""A Parley stack inside moto, driven through the real handlers with API Gateway- and
SQS-shaped events (the integration-test harness pattern, self-contained for the bench).

Every handler call is one "Lambda invocation": its wall time is measured in-process and,
with the memory size the template gives the function, billed as GB-seconds. The
WebSocket frames that cross API Gateway (the client's frame in, the route response out)
are metered here; the `@connections` posts are real boto3 calls (moto answers them) and
are metered by :class:`~parley_bench.meter.AwsMeter` like every other AWS call.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from parley_bench.capacity import TableSchema
from parley_bench.meter import AwsMeter, Bill, Call, Inspector, ws_units
from parley_bench.template import FUNCTIONS, ROOT, memory_mb, parameter_default, tables, template

EVENTS = ROOT / "events"
WS_ENDPOINT = "wss://abcdef1234.execute-api.us-east-1.amazonaws.com"
WS_STAGE = "v1"
PASSWORD = "correct horse battery"  # noqa: S105 - a test account on a throwaway stack

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_SERVICE_NAME": "parley",
    "POWERTOOLS_METRICS_NAMESPACE": "Parley",
}
_TABLE_ENV = {
    "UsersTable": "PARLEY_USERS_TABLE",
    "SessionsTable": "PARLEY_SESSIONS_TABLE",
    "ConnectionsTable": "PARLEY_CONNECTIONS_TABLE",
    "ConversationsTable": "PARLEY_CONVERSATIONS_TABLE",
    "MembersTable": "PARLEY_MEMBERS_TABLE",
    "MessagesTable": "PARLEY_MESSAGES_TABLE",
    "LimitsTable": "PARLEY_LIMITS_TABLE",
}
_TABLE_PROPS = (
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
)


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@cache
def load_handler(name: str, instance: str = "") -> ModuleType:
    """`functions/<name>/app.py` loaded by file, as the Lambda runtime does (one module per
    `instance`, so emulated containers do not share module state)."""
    path = FUNCTIONS / name / "app.py"
    module_name = f"parley_bench_fn_{name}{'_' + instance if instance else ''}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parley-bench"

    def __init__(self, function: str) -> None:
        self.function_name = f"parley-{function}"
        self.memory_limit_in_mb = memory_mb(function)

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@cache
def _sample(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(_sample(name))


_request_ids = itertools.count(1)


class _Sink(io.StringIO):
    def write(self, text: str) -> int:  # keep nothing
        return len(text)


_SINK = _Sink()


def ws_event(
    route: str,
    body: str | None,
    *,
    user: str,
    connection: str,
    session: str = "sess",
    token_exp: int = 4_102_444_800,
) -> dict[str, Any]:
    name = {"$connect": "ws_connect", "$disconnect": "ws_disconnect"}.get(route, "ws_send")
    event = sample(name)
    ctx = event["requestContext"]
    ctx["routeKey"] = route
    ctx["connectionId"] = connection
    ctx["requestId"] = f"bench-{next(_request_ids)}"
    ctx["authorizer"] = {
        "principalId": user,
        "userId": user,
        "sessionId": session,
        "tokenExp": token_exp,
    }
    if name == "ws_send":
        event["body"] = body
    return event


def http_event(
    method: str, route: str, body: Any = None, token: str | None = None
) -> dict[str, Any]:
    event = sample("http_login")
    event["routeKey"] = f"{method} {route}"
    event["rawPath"] = route
    event["requestContext"]["routeKey"] = f"{method} {route}"
    event["requestContext"]["http"].update(method=method, path=route)
    event["requestContext"]["requestId"] = f"http-{next(_request_ids)}"
    event["pathParameters"] = None
    event["queryStringParameters"] = None
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    event["headers"] = headers
    if body is not None:
        event["body"] = json.dumps(body)
    else:
        event.pop("body", None)
    return event


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    template_record = sample("sqs_push")["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template_record)
        record["messageId"] = f"msg-{i}"
        record["body"] = body
        records.append(record)
    return {"Records": records}


@dataclass
class Invocation:
    function: str
    duration_ms: float
    frames_in: int = 0
    frames_out: int = 0
    response: dict[str, Any] = field(default_factory=dict)


class World:
    """moto + the template's tables + the real handlers, with an AWS meter installed.

    Use as a context manager. `limiter=False` leaves `PARLEY_LIMITS_TABLE` unset (the rate
    limiter is then off). `inspect=False` skips item sizing (for timing runs).
    """

    def __init__(
        self,
        *,
        limiter: bool = True,
        inspect: bool = True,
        latency: float = 0.0,
        forbid: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.limiter = limiter
        self.inspect = inspect
        self.latency = latency
        self.forbid = forbid
        self.extra_env = dict(env or {})
        self.tables: dict[str, str] = {}
        self.queue_url = ""
        self.secret_arn = ""
        self.meter = AwsMeter(latency=latency, forbid=forbid)
        self.invocations: list[Invocation] = []
        self.bill = Bill()
        self.tokens: dict[str, dict[str, Any]] = {}
        self._stack: list[Any] = []
        self._log_level: int | str = "INFO"

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> World:
        from moto import mock_aws

        env_cm = environment({**BASE_ENV, "AWS_ENDPOINT_URL": None})
        env_cm.__enter__()
        self._stack.append(env_cm)
        mock = mock_aws()
        mock.start()
        self._stack.append(mock)
        self._create_stack()
        app_env: dict[str, str | None] = {
            _TABLE_ENV[logical]: name
            for logical, name in self.tables.items()
            if logical in _TABLE_ENV
        }
        if not self.limiter:
            app_env["PARLEY_LIMITS_TABLE"] = None
        app_env.update(
            # As deployed: the template's defaults for the fan-out knobs.
            PARLEY_FANOUT_BATCH_USERS=str(parameter_default("FanoutBatchUsers", 100)),
            PARLEY_INLINE_FANOUT_MAX=str(parameter_default("InlineFanoutMax", 50)),
            PARLEY_PUSH_QUEUE_URL=self.queue_url,
            PARLEY_SIGNING_SECRET_ARN=self.secret_arn,
            PARLEY_WS_API_ENDPOINT=WS_ENDPOINT,
            PARLEY_WS_STAGE=WS_STAGE,
            **self.extra_env,
        )
        app_cm = environment(app_env)
        app_cm.__enter__()
        self._stack.append(app_cm)

        import boto3
        from parley import aws, runtime
        from parley.observability import logger

        self._log_level = logger.log_level
        logger.setLevel("ERROR")
        schemas = tables()
        by_name: dict[str, TableSchema] = {
            name: schemas[logical] for logical, name in self.tables.items()
        }
        if self.inspect:
            self.meter.inspector = Inspector(boto3.session.Session().client("dynamodb"), by_name)
        self.meter.install(aws._session())
        runtime.reset()
        return self

    def __exit__(self, *exc: object) -> None:
        from parley import runtime
        from parley.observability import logger

        logger.setLevel(self._log_level)
        self.meter.uninstall()
        runtime.reset()
        while self._stack:
            item = self._stack.pop()
            if hasattr(item, "stop"):
                item.stop()
            else:
                item.__exit__(None, None, None)

    def _create_stack(self) -> None:
        import boto3

        ddb = boto3.client("dynamodb")
        for logical, res in template()["Resources"].items():
            if res.get("Type") != "AWS::DynamoDB::Table":
                continue
            props = {k: v for k, v in res["Properties"].items() if k in _TABLE_PROPS}
            name = f"bench-{logical}"
            ddb.create_table(TableName=name, **props)
            self.tables[logical] = name
        sqs = boto3.client("sqs")
        self.queue_url = sqs.create_queue(
            QueueName="bench-push", Attributes={"VisibilityTimeout": "0"}
        )["QueueUrl"]
        self.secret_arn = boto3.client("secretsmanager").create_secret(
            Name="bench-signing", SecretString="bench-signing-secret-0123456789abcdef"
        )["ARN"]

    def table(self, logical: str) -> str:
        return self.tables[logical]

    # -- invoking handlers ---------------------------------------------------------------
    def invoke(self, function: str, event: dict[str, Any], *, frames_in: int = 0) -> Invocation:
        handler = load_handler(function).handler
        context = LambdaContext(function)
        with contextlib.redirect_stdout(_SINK):  # EMF metric lines and JSON logs
            started = time.perf_counter()
            response = handler(event, context)
            duration_ms = (time.perf_counter() - started) * 1000
        invocation = Invocation(function, duration_ms, frames_in=frames_in, response=response)
        if self.meter.active:
            self.invocations.append(invocation)
            self.bill.add_invocation(memory_mb(function), duration_ms)
            self.bill.ws_in += frames_in
        return invocation

    def ws(
        self, route: str, frame: dict[str, Any], *, user: str, connection: str
    ) -> dict[str, Any] | None:
        """One client frame through API Gateway to its route's function; the route response."""
        function = {"send": "ws_send", "sync": "ws_sync"}.get(route, "ws_live")
        body = json.dumps(frame, separators=(",", ":"))
        event = ws_event(route, body, user=user, connection=connection)
        invocation = self.invoke(function, event, frames_in=ws_units(len(body.encode())))
        response = invocation.response
        assert response["statusCode"] == 200, response
        reply = response.get("body")
        if reply is None:
            return None
        units = ws_units(len(str(reply).encode()))
        invocation.frames_out = units
        if self.meter.active:
            self.bill.ws_out += units
        parsed = json.loads(reply)
        assert isinstance(parsed, dict)
        return parsed

    def http(
        self, function: str, method: str, route: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        response = self.invoke(function, http_event(method, route, body, token)).response
        raw = response.get("body")
        return int(response["statusCode"]), json.loads(raw) if raw else None

    # -- the usual steps ------------------------------------------------------------------
    def user(self, user: str) -> str:
        """Register and log in; the access token."""
        self.http("http_auth", "POST", "/auth/register", {"userId": user, "password": PASSWORD})
        status, body = self.http(
            "http_auth", "POST", "/auth/login", {"userId": user, "password": PASSWORD}
        )
        assert status == 200, body
        self.tokens[user] = body
        return str(body["accessToken"])

    def authorize(self, user: str) -> dict[str, Any]:
        event = sample("ws_authorizer")
        event["queryStringParameters"] = {"token": self.tokens[user]["accessToken"]}
        policy = self.invoke("authorizer", event).response
        return dict(policy["context"])

    def connect(self, user: str, connection: str) -> None:
        ctx = self.authorize(user)
        event = ws_event(
            "$connect",
            None,
            user=ctx["userId"],
            connection=connection,
            session=ctx["sessionId"],
            token_exp=int(ctx["tokenExp"]),
        )
        response = self.invoke("ws_connect", event).response
        assert response["statusCode"] == 200, response

    def disconnect(self, user: str, connection: str) -> None:
        self.invoke(
            "ws_disconnect", ws_event("$disconnect", None, user=user, connection=connection)
        )

    def send(
        self, user: str, connection: str, client_id: str, text: str, **target: Any
    ) -> dict[str, Any]:
        frame = {
            "action": "send",
            "id": f"r-{client_id}",
            "clientMsgId": client_id,
            "body": {"type": "text", "text": text},
            **target,
        }
        reply = self.ws("send", frame, user=user, connection=connection)
        assert reply is not None and reply.get("type") == "ack", reply
        return reply

    def send_body(
        self, user: str, connection: str, client_id: str, body: dict[str, Any], **target: Any
    ) -> dict[str, Any]:
        """Send any body (an edit, a delete, a reaction...) and return its ack."""
        frame = {
            "action": "send",
            "id": f"r-{client_id}",
            "clientMsgId": client_id,
            "body": body,
            **target,
        }
        reply = self.ws("send", frame, user=user, connection=connection)
        assert reply is not None and reply.get("type") == "ack", reply
        return reply

    def sync(
        self, user: str, connection: str, cursors: dict[str, int], limit: int = 100
    ) -> dict[str, Any]:
        frame = {"action": "sync", "id": "s", "cursors": cursors, "limit": limit}
        reply = self.ws("sync", frame, user=user, connection=connection)
        assert reply is not None and reply.get("type") == "sync", reply
        return reply

    def drain_queue(self, batch_size: int = 10, rounds: int = 1000) -> int:
        """Run the fanout function over the push queue as the SQS event source would (batches
        of `batch_size`); each batch is one invocation plus one ReceiveMessage and one
        DeleteMessageBatch request (the event source's own SQS calls, billed to the account)."""
        import boto3

        sqs = boto3.client("sqs")
        handled = 0
        for _ in range(rounds):
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=batch_size).get(
                "Messages", []
            )
            if not got:
                break
            invocation = self.invoke("fanout", sqs_event([m["Body"] for m in got]))
            failed = {f["itemIdentifier"] for f in invocation.response.get("batchItemFailures", [])}
            done = [m for i, m in enumerate(got) if f"msg-{i}" not in failed]
            for message in done:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if self.meter.active:
                self.bill.sqs_requests += 2
            handled += len(got)
        return handled

    # -- metering ------------------------------------------------------------------------
    @contextmanager
    def metered(self, label: str = "") -> Iterator[Bill]:
        """Meter the block; yields a Bill filled in when the block ends."""
        bill = Bill()
        self.bill = bill
        self.invocations = []
        with self.meter.recording(label) as calls:
            yield bill
        bill.add_calls(calls)

    def calls(self) -> list[Call]:
        return list(self.meter.calls)

    def posts(self, calls: list[Call]) -> list[tuple[str, dict[str, Any]]]:
        """(connectionId, frame) of every PostToConnection among `calls`."""
        out = []
        for call in calls:
            if call.name == "apigatewaymanagementapi.PostToConnection":
                out.append((str(call.params["ConnectionId"]), json.loads(call.params["Data"])))
        return out


def ensure_path() -> None:
    """Make `layers/parley` importable (as the Lambda layer is) when run from a checkout."""
    layer = str(ROOT / "layers" / "parley")
    if layer not in sys.path and not any(Path(p) == Path(layer) for p in sys.path):
        sys.path.append(layer)
