"""Fault injection at the local cloud's boundaries, and dead idle workers.

One cloud of the fixture template runs a profile whose rules fire always (probability 1)
but only inside narrow scopes, so each test sees exactly its own fault: the real SDK talks
to the fault proxy, the gateways and the Lambda runtime as Parley's functions would.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import websockets
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from parley_local import LocalCloud
from parley_local.cli import banner
from parley_local.faults import parse_profile

from tests.integration.localcloud.helpers import STAGE, make_cloud, run, stop_and_check, ws_url

PROFILE = {
    "seed": 3,
    "faults": [
        {
            "kind": "dynamodb",
            "error": "ThrottlingException",
            "probability": 1,
            "table": "NamedTable",
        },
        {
            "kind": "dynamodb",
            "error": "timeout",
            "probability": 1,
            "table": "Table",
            "operation": "DeleteItem",
        },
        {
            "kind": "dynamodb",
            "error": "timeout",
            "applied": False,
            "probability": 1,
            "table": "Table",
            "operation": "UpdateItem",
        },
        {"kind": "sqs", "error": "partial", "probability": 1, "queue": "Dlq"},
        {"kind": "connections", "status": 429, "probability": 1, "function": "PostFunction"},
        {
            "kind": "lambda",
            "error": "error",
            "when": "after",
            "probability": 1,
            "function": "HttpEchoFunction",
        },
        {
            "kind": "lambda",
            "error": "error",
            "when": "before",
            "probability": 1,
            "function": "BrokenFunction",
        },
        {
            "kind": "lambda",
            "error": "timeout",
            "when": "before",
            "probability": 1,
            "function": "SleepFunction",
        },
        {
            "kind": "latency",
            "target": "lambda",
            "ms": 300,
            "probability": 1,
            "function": "HealthFunction",
        },
        {
            "kind": "secretsmanager",
            "error": "InternalServiceError",
            "probability": 1,
            "function": "PostFunction",
            "operation": "GetSecretValue",
        },
    ],
}


@pytest.fixture(scope="module")
def faulty() -> Iterator[LocalCloud]:
    instance = make_cloud(
        faults=parse_profile(PROFILE, "test"),
        workers=2,
        function_environment={"PARLEY_SECRET_MAX_AGE": "5"},
    ).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def _client(cloud: LocalCloud, service: str, function: str, **config: Any) -> Any:
    """An SDK client configured like a worker's of `function` (endpoint, app id, retries)."""
    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 3},
        "user_agent_appid": function,
        "read_timeout": 5,
    }
    settings.update(config)
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=cloud.region
    ).client(service, endpoint_url=cloud.fault_proxy_url, config=Config(**settings))


def _http(
    url: str, method: str = "GET", data: bytes | None = None, user_agent: str = "test"
) -> tuple[int, dict[str, str], bytes, float]:
    """(status, headers, body, seconds taken) of one request to the local cloud."""
    request = urllib.request.Request(  # noqa: S310 - the local cloud's http URL
        url, data=data, method=method, headers={"User-Agent": user_agent}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:  # noqa: S310
            status, headers, body = int(reply.status), dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    return status, headers, body, time.monotonic() - started


def _snapshot(cloud: LocalCloud) -> dict[str, Any]:
    snapshot: dict[str, Any] = json.loads(_http(f"{cloud.http_url}/_local/faults")[2])
    return snapshot


def _injected(cloud: LocalCloud) -> dict[str, int]:
    counters: dict[str, int] = _snapshot(cloud)["injected"]
    return counters


def test_a_throttled_table_raises_the_sdks_own_exception_after_its_retries(
    faulty: LocalCloud,
) -> None:
    # GIVEN a worker-like client (one retry, to keep the back-off short), and a profile
    # throttling NamedTable only
    dynamodb = _client(
        faulty, "dynamodb", "EchoFunction", retries={"mode": "standard", "max_attempts": 1}
    )
    before = _injected(faulty).get("dynamodb:ThrottlingException", 0)

    # WHEN it writes to NamedTable THEN botocore raised its ThrottlingException after retrying
    with pytest.raises(dynamodb.exceptions.ClientError) as raised:
        dynamodb.put_item(TableName=faulty.ref("NamedTable"), Item={"id": {"S": "x"}})
    error = raised.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    # (`max_attempts` counts retries: 1 call + 1 retry)
    assert error["ResponseMetadata"]["RetryAttempts"] == 1
    assert _injected(faulty)["dynamodb:ThrottlingException"] == before + 2
    # AND another table is untouched: the request went through to moto
    item = {"pk": {"S": "fault-free"}, "sk": {"S": "x"}}
    dynamodb.put_item(TableName=faulty.ref("Table"), Item=item)
    assert "Item" in faulty.client("dynamodb").get_item(TableName=faulty.ref("Table"), Key=item)


def test_a_timed_out_write_was_applied_though_its_reply_was_lost(faulty: LocalCloud) -> None:
    # GIVEN an item, and a profile that times out DeleteItem on Table (applied by default)
    key = {"pk": {"S": "timeout"}, "sk": {"S": "x"}}
    faulty.client("dynamodb").put_item(TableName=faulty.ref("Table"), Item=key)
    dynamodb = _client(
        faulty, "dynamodb", "EchoFunction", read_timeout=1, retries={"total_max_attempts": 1}
    )

    # WHEN it is deleted THEN the caller's read timed out
    with pytest.raises(ReadTimeoutError):
        dynamodb.delete_item(TableName=faulty.ref("Table"), Key=key)

    # AND yet the delete happened
    assert "Item" not in faulty.client("dynamodb").get_item(TableName=faulty.ref("Table"), Key=key)
    assert _injected(faulty)["dynamodb:timeout:applied"] >= 1


def test_an_unapplied_timeout_never_reached_the_table(faulty: LocalCloud) -> None:
    # GIVEN an item, and a profile that loses UpdateItem on Table before it is applied
    key = {"pk": {"S": "unapplied"}, "sk": {"S": "x"}}
    faulty.client("dynamodb").put_item(TableName=faulty.ref("Table"), Item={**key, "n": {"N": "1"}})
    dynamodb = _client(
        faulty, "dynamodb", "EchoFunction", read_timeout=1, retries={"total_max_attempts": 1}
    )

    # WHEN it is updated THEN the caller's read timed out, and the item is unchanged
    with pytest.raises(ReadTimeoutError):
        dynamodb.update_item(
            TableName=faulty.ref("Table"),
            Key=key,
            UpdateExpression="SET n = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
        )
    item = faulty.client("dynamodb").get_item(TableName=faulty.ref("Table"), Key=key)["Item"]
    assert item["n"] == {"N": "1"}
    assert _injected(faulty)["dynamodb:timeout:unapplied"] >= 1


def test_an_unreadable_secret_is_secrets_managers_own_error_to_its_function_only(
    faulty: LocalCloud,
) -> None:
    # GIVEN workers whose Secrets Manager goes through the proxy (the profile faults it),
    # with the extra environment the cloud was given over the template's
    environment = faulty.functions["PostFunction"].environment
    assert environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == faulty.fault_proxy_url
    assert environment["PARLEY_SECRET_MAX_AGE"] == "5"
    before = _injected(faulty).get("secretsmanager:InternalServiceError", 0)
    secrets = _client(
        faulty, "secretsmanager", "PostFunction", retries={"mode": "standard", "max_attempts": 1}
    )

    # WHEN PostFunction reads a secret THEN botocore raised Secrets Manager's own
    # InternalServiceError (HTTP 500) after its retry, and both attempts were counted
    with pytest.raises(secrets.exceptions.InternalServiceError) as raised:
        secrets.get_secret_value(SecretId=faulty.ref("PlainSecret"))
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert _injected(faulty)["secretsmanager:InternalServiceError"] == before + 2
    assert faulty.wait_for_log("injected secretsmanager:InternalServiceError")

    # AND another function reads the same secret through the proxy, from moto
    other = _client(faulty, "secretsmanager", "EchoFunction")
    value = other.get_secret_value(SecretId=faulty.ref("PlainSecret"))
    assert json.loads(value["SecretString"]) == {"hello": "world"}
    assert "DynamoDB, SQS and Secrets Manager via" in banner(faulty)


def test_send_message_batch_fails_the_chosen_entries_only_in_their_queue(
    faulty: LocalCloud,
) -> None:
    sqs = _client(faulty, "sqs", "EchoFunction")
    entries = [{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}]

    # WHEN a batch goes to the faulted queue THEN every entry failed, on the service's side
    answer = sqs.send_message_batch(QueueUrl=faulty.ref("Dlq"), Entries=entries)
    assert answer.get("Successful", []) == []
    assert {(f["Id"], f["SenderFault"], f["Code"]) for f in answer["Failed"]} == {
        ("a", False, "InternalError"),
        ("b", False, "InternalError"),
    }
    # AND nothing reached it
    attributes = faulty.client("sqs").get_queue_attributes(
        QueueUrl=faulty.ref("Dlq"), AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"

    # WHEN a batch goes to another queue THEN it is sent
    answer = sqs.send_message_batch(
        QueueUrl=faulty.ref("Queue"), Entries=[{"Id": "c", "MessageBody": json.dumps({"ok": 1})}]
    )
    assert [s["Id"] for s in answer["Successful"]] == ["c"]
    assert _injected(faulty)["sqs:partial"] >= 2


def test_post_to_connection_answers_the_injected_status_to_its_function_only(
    faulty: LocalCloud,
) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(faulty), proxy=None) as ws:
            conn_id = json.loads(await _echo(ws))["event"]["requestContext"]["connectionId"]
            management = f"{faulty.ws_url.replace('ws://', 'http://')}/{STAGE}/@connections"

            def post(function: str) -> tuple[int, dict[str, str]]:
                url = f"{management}/{conn_id}"
                status, headers, _, _ = _http(url, "POST", b"hello", f"Botocore/1 app/{function}")
                return status, headers

            # WHEN PostFunction posts THEN it gets 429 LimitExceededException, nothing is sent
            status, headers = post("PostFunction")
            assert (status, headers.get("x-amzn-ErrorType")) == (429, "LimitExceededException")
            # WHEN another function posts THEN the socket gets the data
            assert post("ConnectFunction")[0] == 200
            assert await ws.recv() == "hello"

    run(scenario())


async def _echo(ws: Any) -> str:
    await ws.send(json.dumps({"action": "echo"}))
    reply = await ws.recv()
    return reply if isinstance(reply, str) else reply.decode()


def test_a_lambda_error_after_the_handler_ran_fails_the_caller(faulty: LocalCloud) -> None:
    # WHEN the route is called THEN the API answers 500
    assert _http(f"{faulty.http_url}/status/200")[0] == 500
    # AND yet the handler ran, in a sandbox that stays warm
    runtime = faulty.functions["HttpEchoFunction"]
    assert runtime.cold_starts == 1
    assert runtime.worker_pids()
    assert faulty.wait_for_log("HttpEchoFunction error (after the handler ran)")


def test_a_lambda_error_before_the_handler_starts_no_sandbox(faulty: LocalCloud) -> None:
    # WHEN a function whose import is broken is invoked THEN the injected error came first:
    # no sandbox was started, so its import error never showed
    result = faulty.invoke("BrokenFunction", {})
    assert result.error_type == "ServiceException"
    assert faulty.functions["BrokenFunction"].cold_starts == 0


def test_a_lambda_timeout_before_the_handler_waits_out_the_timeout(faulty: LocalCloud) -> None:
    # WHEN the sleep route is called THEN the API answers 500 after the 1 s Timeout
    status, _, _, took = _http(f"{faulty.http_url}/sleep")
    assert status == 500
    assert took >= 1.0
    # AND no handler ever ran: no sandbox was started
    assert faulty.functions["SleepFunction"].cold_starts == 0
    assert _injected(faulty)["lambda:timeout:before"] >= 1


def test_latency_delays_the_invocation_and_the_counters_say_so(faulty: LocalCloud) -> None:
    status, _, _, took = _http(f"{faulty.http_url}/health")
    assert status == 200
    assert took >= 0.3
    snapshot = _snapshot(faulty)
    assert snapshot["profile"]["seed"] == 3
    assert snapshot["profile"]["faults"] == PROFILE["faults"]
    assert snapshot["injected"]["latency:lambda"] >= 1
    assert faulty.wait_for_log("injected latency:lambda")
    # AND the banner shows the profile and where the counters are
    text = banner(faulty)
    assert "Faults      test (seed 3): dynamodb:ThrottlingException 100% (table=NamedTable)" in text
    assert f"counters at {faulty.http_url}/_local/faults" in text


# ---------------------------------------------------------------- dead idle workers


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_that_died_idle_is_replaced_by_a_cold_start(cloud: LocalCloud) -> None:
    # GIVEN a warm worker that is killed while idle
    runtime = cloud.functions["HealthFunction"]
    assert cloud.invoke("HealthFunction", {}).ok
    pids = runtime.worker_pids()
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not all(_dead(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)

    # WHEN the function is invoked THEN a fresh sandbox serves it: a cold start, no error
    result = cloud.invoke("HealthFunction", {})
    assert result.ok, result.error
    assert result.cold_start
    assert not set(runtime.worker_pids()) & set(pids)
    assert cloud.wait_for_log("died while idle")
