"""What the functions write to stdout: JSON log lines and CloudWatch EMF metric blobs.

The real handlers run against moto (see conftest); stdout is captured and parsed line by
line. Log lines must carry the correlation id (the API Gateway request id, also across the
push queue), `userId`, `connectionId`, `route`, the outcome `code` and `latencyMs`, and never
a token, a password or a message body (unless the dev-only debug flag asks for bodies).
Metrics must be in the `Parley` namespace, with the documented names and units, and small
dimension sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from parley import runtime

from tests.fakes.gateway import FakeGateway
from tests.integration.conftest import CONTEXT, PASSWORD, Harness
from tests.support import events
from tests.support.handlers import load

SECRET_TEXT = "the eagle lands at midnight"


@dataclass
class Output:
    """One stretch of captured stdout, split into log lines and EMF blobs."""

    text: str
    logs: list[dict[str, Any]] = field(default_factory=list)
    emf: list[dict[str, Any]] = field(default_factory=list)

    def lines(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("message") == message]

    def metrics(self) -> dict[str, set[str]]:
        """Every metric name emitted, with the set of units it was emitted in."""
        found: dict[str, set[str]] = {}
        for blob in self.emf:
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found.setdefault(metric["Name"], set()).add(metric["Unit"])
        return found

    def values(self, name: str) -> list[float]:
        out: list[float] = []
        for blob in self.emf:
            if name in blob:
                value = blob[name]
                out.extend(value if isinstance(value, list) else [value])
        return out

    def dimension_sets(self, name: str) -> list[dict[str, str]]:
        """The dimension name/value maps under which `name` was emitted."""
        found = []
        for blob in self.emf:
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                if any(m["Name"] == name for m in directive["Metrics"]):
                    for dims in directive["Dimensions"]:
                        found.append({d: blob[d] for d in dims})
        return found


def parse(text: str) -> Output:
    out = Output(text)
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        doc = json.loads(raw)
        if "_aws" in doc and "CloudWatchMetrics" in doc["_aws"]:
            out.emf.append(doc)
        else:
            out.logs.append(doc)
    return out


Capture = Callable[[], Output]


@pytest.fixture
def stdout(capsys: pytest.CaptureFixture[str]) -> Capture:
    """Read (and reset) what the handlers printed since the last call (the root conftest
    points the Logger's handler at the current sys.stdout)."""

    def read() -> Output:
        return parse(capsys.readouterr().out)

    read()
    return read


@pytest.fixture
def small_inline(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway) -> Iterator[None]:
    """Groups above one member go through the push queue (keeps the FakeGateway patched)."""
    monkeypatch.setenv("PARLEY_INLINE_FANOUT_MAX", "1")
    monkeypatch.setenv("PARLEY_FANOUT_BATCH_USERS", "2")
    runtime.reset()
    monkeypatch.setattr(runtime, "gateway", lambda: gateway)
    yield
    runtime.reset()


def ws_call(
    function: str,
    route: str,
    body: Any = None,
    *,
    user: str,
    connection: str,
    raw: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Invoke a WebSocket handler; its request id (the correlation id) and reply frame."""
    event = events.ws_event(route, body, user=user, connection=connection, raw=raw)
    response = load(function).handler(event, CONTEXT)
    assert response["statusCode"] == 200
    reply = json.loads(response["body"]) if response.get("body") else {}
    return event["requestContext"]["requestId"], reply


def send_frame(client_id: str, **target: Any) -> dict[str, Any]:
    return {
        "action": "send",
        "id": f"r-{client_id}",
        "clientMsgId": client_id,
        "body": {"type": "text", "text": SECRET_TEXT},
        **target,
    }


def secrets_of(app: Harness) -> list[str]:
    """Every credential the test users hold: none may show up in any output."""
    values = [PASSWORD]
    for tokens in app.tokens.values():
        values += [tokens["accessToken"], tokens["refreshToken"]]
    return values


def assert_small_dimensions(out: Output) -> None:
    for blob in out.emf:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "Parley"
            for dims in directive["Dimensions"]:
                assert len(dims) <= 2, (dims, blob)
                assert not {"userId", "connectionId", "conversationId"} & set(dims)


# ---- a send with inline push -------------------------------------------------------------


def test_send_logs_correlation_id_user_connection_route_code_and_latency(
    app: Harness, stdout: Capture
) -> None:
    # GIVEN alice and bob, both connected
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    setup = stdout()
    # WHEN alice sends to bob (pushed inline by the send function)
    request_id, ack = ws_call(
        "ws_send", "send", send_frame("m1", to="bob"), user="alice", connection="a1"
    )
    out = stdout()
    assert ack["type"] == "ack"
    assert app.gateway.frames("b1", "message")
    # THEN one "frame done" line tells who, where, what, how it ended and how long it took
    [done] = out.lines("frame done")
    assert done["correlation_id"] == request_id
    assert done["userId"] == "alice"
    assert done["connectionId"] == "a1"
    assert done["route"] == "send"
    assert done["code"] == 0
    assert isinstance(done["latencyMs"], int | float) and done["latencyMs"] >= 0
    assert done["level"] == "INFO" and done["service"] == "parley"
    # AND no token, password or message body appears anywhere (setup included)
    for secret in [*secrets_of(app), SECRET_TEXT]:
        assert secret not in out.text
        assert secret not in setup.text
    assert all("body" not in line for line in out.logs)


def test_send_emits_messages_sent_pushes_delivered_and_delivery_latency(
    app: Harness, stdout: Capture
) -> None:
    # GIVEN alice and bob (on two devices), all connected
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    app.connect("bob", "b2")
    stdout()
    # WHEN alice sends to bob
    ws_call("ws_send", "send", send_frame("m1", to="bob"), user="alice", connection="a1")
    out = stdout()
    # THEN the send's EMF has the counters and one latency value per delivered post
    metrics = out.metrics()
    assert metrics["MessagesSent"] == {"Count"}
    assert metrics["Requests"] == {"Count"}
    assert metrics["PushesDelivered"] == {"Count"}
    assert metrics["DeliveryLatency"] == {"Milliseconds"}
    assert out.values("MessagesSent") == [1]
    assert out.values("PushesDelivered") == [2]
    latencies = out.values("DeliveryLatency")
    assert len(latencies) == 2 and all(0 <= v < 60_000 for v in latencies)
    # AND under the one dimension the alarm and dashboard read
    assert {"service": "parley"} in out.dimension_sets("DeliveryLatency")
    assert {"service": "parley"} in out.dimension_sets("MessagesSent")
    assert "Errors" not in metrics
    assert_small_dimensions(out)


def test_refused_frame_logs_its_code_and_counts_errors_by_code(
    app: Harness, stdout: Capture
) -> None:
    # GIVEN a connected user
    app.user("alice")
    app.connect("alice", "a1")
    stdout()
    # WHEN a frame that is not JSON reaches the send route
    request_id, reply = ws_call("ws_send", "send", user="alice", connection="a1", raw="{nope")
    out = stdout()
    # THEN the client gets 1001, the log line says so, and Errors is counted under Code=1001
    assert reply["type"] == "error" and reply["code"] == 1001
    [refused] = out.lines("frame refused")
    assert refused["code"] == 1001
    assert refused["correlation_id"] == request_id
    assert refused["route"] == "send" and refused["userId"] == "alice"
    assert isinstance(refused["latencyMs"], int | float)
    assert out.metrics()["Errors"] == {"Count"}
    assert {"service": "parley", "Code": "1001"} in out.dimension_sets("Errors")
    assert "MessagesSent" not in out.metrics()
    assert_small_dimensions(out)


def test_http_request_line_has_route_code_latency_and_no_credentials(
    app: Harness, stdout: Capture
) -> None:
    # GIVEN a registered user
    app.register("alice")
    stdout()
    # WHEN alice logs in
    event = events.http_event("POST", "/auth/login", body={"userId": "alice", "password": PASSWORD})
    response = load("http_auth").handler(event, CONTEXT)
    out = stdout()
    assert response["statusCode"] == 200
    tokens = json.loads(response["body"])
    # THEN the line carries the request id, route, outcome and latency, and no credential
    [done] = out.lines("request done")
    assert done["correlation_id"] == event["requestContext"]["requestId"]
    assert done["route"] == "POST /auth/login"
    assert done["code"] == 0 and done["status"] == 200
    assert isinstance(done["latencyMs"], int | float)
    for secret in (PASSWORD, tokens["accessToken"], tokens["refreshToken"]):
        assert secret not in out.text
    assert out.metrics()["Requests"] == {"Count"}


def test_connect_disconnect_and_sync_metrics(app: Harness, stdout: Capture) -> None:
    # GIVEN alice with a stored message
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.send("alice", "a1", to="bob", client_id="m1")
    stdout()
    # WHEN bob connects, syncs and disconnects
    app.connect("bob", "b1")
    connected = stdout()
    request_id, reply = ws_call(
        "ws_sync", "sync", {"action": "sync", "id": "s", "cursors": {}}, user="bob", connection="b1"
    )
    synced = stdout()
    app.disconnect("bob", "b1")
    disconnected = stdout()
    # THEN each step is counted and logged with who and which connection
    assert reply["type"] == "sync"
    assert connected.metrics()["Connects"] == {"Count"}
    [line] = connected.lines("connected")
    assert line["userId"] == "bob" and line["connectionId"] == "b1" and line["correlation_id"]
    assert synced.metrics()["SyncFrames"] == {"Count"}
    [done] = synced.lines("frame done")
    assert done["route"] == "sync" and done["correlation_id"] == request_id
    assert disconnected.metrics()["Disconnects"] == {"Count"}
    [line] = disconnected.lines("disconnected")
    assert line["connectionId"] == "b1"
    for out in (connected, synced, disconnected):
        assert_small_dimensions(out)
        for secret in [*secrets_of(app), SECRET_TEXT]:
            assert secret not in out.text
    assert SECRET_TEXT not in json.dumps(synced.logs)


# ---- a fan-out through the push queue ----------------------------------------------------


def make_group(app: Harness, owner: str, members: list[str]) -> str:
    token = app.tokens[owner]["accessToken"]
    status, group = app.http(
        "http_groups", "POST", "/groups", token=token, body={"name": "ops", "members": members}
    )
    assert status == 201, group
    return str(group["conversationId"])


@pytest.mark.usefixtures("small_inline")
def test_fanout_logs_carry_the_sends_request_id(app: Harness, stdout: Capture) -> None:
    # GIVEN a group of four, all connected, too large to push inline
    for user in ("alice", "bob", "carol", "dave"):
        app.user(user)
        app.connect(user, f"{user}-1")
    group = make_group(app, "alice", ["bob", "carol", "dave"])
    app.drain_queue()
    stdout()
    # WHEN alice sends to the group and the fanout function drains the push queue
    request_id, ack = ws_call(
        "ws_send",
        "send",
        send_frame("g1", conversationId=group),
        user="alice",
        connection="alice-1",
    )
    sent = stdout()
    assert ack["type"] == "ack"
    assert app.drain_queue() >= 2  # the conversation item, then its users batches
    fanned = stdout()
    # THEN every member but the sender got it
    for user in ("bob", "carol", "dave"):
        assert [f["seq"] for f in app.gateway.frames(f"{user}-1", "message")][-1] == ack["seq"]
    # AND the send's metrics count the message but no inline delivery
    assert sent.metrics()["MessagesSent"] == {"Count"}
    assert "DeliveryLatency" not in sent.metrics()
    # AND every fanout line links back to the send by its request id
    done = fanned.lines("work item done")
    assert {line["kind"] for line in done} == {"conversation", "users"}
    assert all(line["correlation_id"] == request_id for line in done)
    assert all(isinstance(line["latencyMs"], int | float) for line in done)
    assert sum(line.get("delivered", 0) for line in done) == 3
    # AND the fan-out emits deliveries and their latency, in milliseconds
    metrics = fanned.metrics()
    assert metrics["PushesDelivered"] == {"Count"}
    assert metrics["DeliveryLatency"] == {"Milliseconds"}
    assert sum(fanned.values("PushesDelivered")) == 3
    assert len(fanned.values("DeliveryLatency")) == 3
    assert "FanoutBatchFailures" not in metrics
    assert_small_dimensions(fanned)
    for secret in [*secrets_of(app), SECRET_TEXT]:
        assert secret not in sent.text
        assert secret not in fanned.text


@pytest.mark.usefixtures("small_inline")
def test_failing_fanout_batch_counts_failures_by_reason(app: Harness, stdout: Capture) -> None:
    # GIVEN a group whose member bob has a connection that fails and one that is gone
    for user in ("alice", "bob", "carol"):
        app.user(user)
        app.connect(user, f"{user}-1")
    app.connect("bob", "bob-2")
    group = make_group(app, "alice", ["bob", "carol"])
    app.drain_queue()
    app.gateway.failing.add("bob-1")
    app.gateway.gone.add("bob-2")
    stdout()
    # WHEN alice sends and the fanout function drains the queue (retries end in the DLQ)
    request_id, _ = ws_call(
        "ws_send",
        "send",
        send_frame("g1", conversationId=group),
        user="alice",
        connection="alice-1",
    )
    app.drain_queue()
    out = stdout()
    # THEN the failures are counted by reason, and failed records are reported as batch failures
    metrics = out.metrics()
    assert metrics["PushesFailed"] == {"Count"}
    assert metrics["PushesGone"] == {"Count"}
    assert metrics["FanoutBatchFailures"] == {"Count"}
    assert sum(out.values("FanoutBatchFailures")) >= 1
    assert {"service": "parley"} in out.dimension_sets("FanoutBatchFailures")
    # AND the retry lines still carry the send's request id, with what failed
    retries = out.lines("work item failed; SQS retries it")
    assert retries and all(line["correlation_id"] == request_id for line in retries)
    assert all(line["failed"] == 1 and line["kind"] == "connections" for line in retries)
    # AND carol got the message while bob's failure never touched it
    assert app.gateway.frames("carol-1", "message")
    assert_small_dimensions(out)
    assert SECRET_TEXT not in out.text


# ---- the dev-only body flag --------------------------------------------------------------


@pytest.mark.parametrize(("environment", "logged"), [("dev", True), ("prod", False)])
def test_log_bodies_flag_only_in_dev(
    app: Harness,
    stdout: Capture,
    monkeypatch: pytest.MonkeyPatch,
    gateway: FakeGateway,
    environment: str,
    logged: bool,
) -> None:
    # GIVEN PARLEY_LOG_BODIES=true in an environment
    monkeypatch.setenv("PARLEY_ENVIRONMENT", environment)
    monkeypatch.setenv("PARLEY_LOG_BODIES", "true")
    runtime.reset()
    monkeypatch.setattr(runtime, "gateway", lambda: gateway)
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    stdout()
    # WHEN alice sends
    ws_call("ws_send", "send", send_frame("m1", to="bob"), user="alice", connection="a1")
    out = stdout()
    # THEN the body is on the send line in dev only, and never a token
    [done] = out.lines("frame done")
    if logged:
        assert done["body"] == {"type": "text", "text": SECRET_TEXT}
    else:
        assert "body" not in done
        assert SECRET_TEXT not in out.text
    for secret in secrets_of(app):
        assert secret not in out.text


def test_log_bodies_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.config import settings

    monkeypatch.setenv("PARLEY_ENVIRONMENT", "dev")
    monkeypatch.delenv("PARLEY_LOG_BODIES", raising=False)
    settings.cache_clear()
    try:
        assert settings().bodies_in_logs is False
    finally:
        settings.cache_clear()


def test_fanout_batch_of_crashing_records_is_a_function_error(
    app: Harness, stdout: Capture
) -> None:
    # GIVEN a batch whose every record is not even JSON (a bug, not a failed post)
    event = events.sqs_event(["{not json", "{nor this"])
    # WHEN the fanout function handles it
    with pytest.raises(json.JSONDecodeError):
        load("fanout").handler(event, CONTEXT)
    out = stdout()
    # THEN it fails as a Lambda error (Errors metric, alarms, canary rollback) after counting
    assert sum(out.values("FanoutBatchFailures")) == 2
    assert_small_dimensions(out)


@pytest.mark.usefixtures("app")
def test_fanout_batch_with_one_crashing_record_reports_only_that_one(stdout: Capture) -> None:
    # GIVEN a crashing record next to a good (empty) work item
    good = {
        "kind": "connections",
        "connectionIds": [],
        "message": {"conversationId": "dm:alice:bob", "seq": 1},
    }
    event = events.sqs_event(["{not json", good])
    # WHEN the fanout function handles it
    result = load("fanout").handler(event, CONTEXT)
    out = stdout()
    # THEN only the crashing record is retried, and the good one is logged as done
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert out.values("FanoutBatchFailures") == [1]
    [done] = out.lines("work item done")
    assert done["kind"] == "connections" and done["delivered"] == 0


@pytest.mark.usefixtures("app")
def test_fanout_drops_an_item_whose_message_is_not_found(stdout: Capture) -> None:
    # GIVEN a work item naming a message that is not stored
    item = {
        "kind": "users",
        "userIds": ["bob"],
        "message": {"conversationId": "dm:alice:bob", "seq": 7},
        "exclude": None,
        "correlationId": "req-404",
    }
    # WHEN the fanout function handles it
    result = load("fanout").handler(events.sqs_event([item]), CONTEXT)
    out = stdout()
    # THEN the record succeeds (it could never be delivered: no retries, no DLQ)
    assert result == {"batchItemFailures": []}
    # AND it is counted and logged as a warning naming the message, linked to its send
    assert out.metrics()["FanoutMessageNotFound"] == {"Count"}
    assert out.values("FanoutMessageNotFound") == [1]
    [dropped] = out.lines("message not found; work item dropped")
    assert dropped["level"] == "WARNING"
    assert (dropped["conversationId"], dropped["seq"]) == ("dm:alice:bob", 7)
    assert dropped["correlation_id"] == "req-404"
    assert out.lines("work item done") == []
    assert_small_dimensions(out)
