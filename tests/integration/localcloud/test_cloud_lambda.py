"""Lambda emulation (workers, environment, context, limits) and the resources made in moto."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.integration.localcloud.helpers import FIXTURE, pid_alive

pytestmark = pytest.mark.timeout(60)


def echo(cloud: LocalCloud) -> dict[str, Any]:
    result = cloud.invoke("EchoFunction", {"requestContext": {"routeKey": "direct"}})
    assert result.ok, result.error
    answer: dict[str, Any] = json.loads(result.payload["body"])
    return answer


def test_environment_and_context_come_from_the_template(cloud: LocalCloud) -> None:
    # WHEN the echo function reports what it sees
    seen = echo(cloud)
    env, context = seen["env"], seen["context"]
    stack = cloud.stack
    assert stack is not None
    # THEN its environment is Globals + its own variables, resolved
    assert env["TABLE_NAME"] == cloud.ref("Table")
    assert env["QUEUE_URL"] == cloud.ref("Queue")
    assert env["SECRET_ARN"] == cloud.ref("Secret")
    assert env["WS_API_ENDPOINT"] == cloud.ws_url
    assert env["HTTP_ENDPOINT"] == cloud.http_url + "/"
    assert env["WS_STAGE"] == "test"
    assert env["LIMIT"] == "75"
    assert env["ONLY_IN_PROD"] is None
    assert (
        env["SUB_WITH_VARS"] == f"{stack.queues['Queue'].name}@us-east-1.amazonaws.com/${{Literal}}"
    )
    # AND the AWS SDK goes to moto, never to real AWS
    assert env["AWS_ENDPOINT_URL"] == cloud.aws_endpoint_url
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == (
        "testing",
        "us-east-1",
        "us-east-1",
    )
    # AND the Lambda runtime's variables and context are there
    function = stack.functions["EchoFunction"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == function.name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["LAMBDA_TASK_ROOT"] == str(FIXTURE / "functions" / "echo")
    assert context["function_name"] == function.name
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"] == function.arn
    assert context["function_version"] == "$LATEST"
    assert context["log_group_name"] == f"/aws/lambda/{function.name}"
    assert 0 < context["remaining_ms"] <= 5000
    # AND the code directory is the working directory and first on sys.path; layers import
    assert seen["cwd"] == str(FIXTURE / "functions" / "echo")
    assert seen["sys_path0"] == str(FIXTURE / "functions" / "echo")
    assert seen["layer"] == "hello from the layer"


def test_a_warm_worker_is_reused(cloud: LocalCloud) -> None:
    first, second = echo(cloud), echo(cloud)
    assert first["pid"] == second["pid"]
    assert second["invocations"] == first["invocations"] + 1


def test_concurrency_is_capped_at_the_worker_limit(cloud: LocalCloud) -> None:
    # GIVEN more concurrent calls than the function may have workers (4)
    event = {"body": json.dumps({"seconds": 0.5})}
    cloud.invoke("SleepFunction", {"body": json.dumps({"seconds": 0})})  # one warm worker
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: cloud.invoke("SleepFunction", event), range(8)))
    elapsed = time.monotonic() - started
    # THEN they all succeed, in two waves, on at most 4 workers
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert elapsed >= 1.0
    runtime = cloud.functions["SleepFunction"]
    assert len(runtime.worker_pids()) <= 4


def test_a_timed_out_worker_is_killed_and_replaced(cloud: LocalCloud) -> None:
    runtime = cloud.functions["SleepFunction"]
    before = set(runtime.worker_pids())
    result = cloud.invoke("SleepFunction", {"body": json.dumps({"seconds": 5})})
    assert not result.ok
    assert result.timed_out
    assert result.error is not None
    assert result.error["errorMessage"] == "Task timed out after 1.00 seconds"
    killed = before - set(runtime.worker_pids())
    assert killed
    assert not any(pid_alive(pid) for pid in killed)
    assert cloud.invoke("SleepFunction", {"body": json.dumps({"seconds": 0})}).ok


def test_an_init_error_fails_every_call_like_lambda(cloud: LocalCloud) -> None:
    for _ in range(2):
        result = cloud.invoke("BrokenFunction", {})
        assert not result.ok
        assert result.cold_start
        assert result.error is not None
        assert result.error["errorType"] == "Runtime.ImportModuleError"
        assert result.error["errorMessage"] == (
            "Unable to import module 'app': No module named 'module_that_does_not_exist'"
        )
    cloud.wait_for_log("[ERROR] Runtime.ImportModuleError")


def test_unknown_functions_are_named(cloud: LocalCloud) -> None:
    with pytest.raises(KeyError, match="EchoFunction"):
        cloud.invoke("Nope", {})


def test_tables_queues_secrets_and_parameters_exist_in_moto(cloud: LocalCloud) -> None:
    ddb = cloud.client("dynamodb")
    table = ddb.describe_table(TableName=cloud.ref("Table"))["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    ttl = ddb.describe_time_to_live(TableName=cloud.ref("Table"))["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    assert "parley-local-named" in ddb.list_tables()["TableNames"]
    sqs = cloud.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=cloud.ref("Queue"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "6"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 2
    secrets = cloud.client("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=cloud.ref("Secret"))["SecretString"])
    assert value["kid"] == "k1"
    assert len(value["key"]) == 48
    plain = secrets.get_secret_value(SecretId="fixture/plain")["SecretString"]
    assert json.loads(plain) == {"hello": "world"}
