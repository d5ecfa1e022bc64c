"""The push lanes of template.yaml (issue 15, docs/architecture.md "Fan-out budget"): the bulk
push queue is configured as the push queue is and dead-letters where its alarm looks, the
fanout function consumes both with a smaller concurrency on the bulk lane, and only the
functions that route work there may send to it."""

from __future__ import annotations

from typing import Any

from tests.integration.test_template import source
from tests.integration.test_template_attachments import actions_on, resource

PUSH = {"Fn::GetAtt": ["PushQueue", "Arn"]}
BULK = {"Fn::GetAtt": ["PushBulkQueue", "Arn"]}


def functions() -> list[str]:
    return [
        name
        for name, res in source()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    ]


def test_the_bulk_queue_is_configured_as_the_push_queue_and_shares_its_dlq() -> None:
    # GIVEN both queues
    push = resource("PushQueue")["Properties"]
    bulk = resource("PushBulkQueue")["Properties"]
    # THEN the bulk queue has the same visibility timeout, retention, encryption and redrive
    assert bulk == push
    assert bulk["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]
    }
    # AND the DLQ's alarm, which reads that one DLQ, covers both lanes
    dimensions = resource("PushDeadLetterAlarm")["Properties"]["Dimensions"]
    assert dimensions == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PushDeadLetterQueue", "QueueName"]}}
    ]


def test_the_fanout_function_consumes_both_lanes_the_bulk_one_with_less_concurrency() -> None:
    # GIVEN the fanout function's SQS event sources
    events = resource("FanoutFunction")["Properties"]["Events"]
    by_queue: dict[str, dict[str, Any]] = {
        e["Properties"]["Queue"]["Fn::GetAtt"][0]: e["Properties"]
        for e in events.values()
        if e["Type"] == "SQS"
    }
    assert set(by_queue) == {"PushQueue", "PushBulkQueue"}
    normal, bulk = by_queue["PushQueue"], by_queue["PushBulkQueue"]
    # THEN each reports its failed records alone, one work item per invocation
    for props in (normal, bulk):
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == 1
    # AND the bulk lane's concurrency is a parameter whose default is under the normal lane's
    assert bulk["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "FanoutBulkConcurrency"}
    parameter = source()["Parameters"]["FanoutBulkConcurrency"]
    assert 2 <= parameter["MinValue"] <= parameter["Default"]  # SQS's minimum is 2
    assert parameter["Default"] < normal["ScalingConfig"]["MaximumConcurrency"]


def test_only_the_send_and_fanout_functions_may_queue_bulk_work() -> None:
    # GIVEN every function's grants and environment
    with_policies = [f for f in functions() if "Policies" in resource(f)["Properties"]]
    senders = {f for f in with_policies if "sqs:SendMessage" in actions_on(f, BULK)}
    told = {
        f
        for f in functions()
        if "PARLEY_PUSH_BULK_QUEUE_URL"
        in resource(f)["Properties"].get("Environment", {}).get("Variables", {})
    }
    # THEN exactly the send function (whose charge picks the lane) and the fanout function
    # (which keeps member batches and retries in their lane) are given the bulk queue
    assert senders == told == {"SendFunction", "FanoutFunction"}
    # AND both may still send to the normal lane
    assert all("sqs:SendMessage" in actions_on(f, PUSH) for f in senders)
    assert (
        "PARLEY_PUSH_BULK_QUEUE_URL"
        not in source()["Globals"]["Function"]["Environment"]["Variables"]
    )


def test_the_bulk_share_is_a_bounded_parameter_every_function_reads() -> None:
    parameter = source()["Parameters"]["FanoutBulkSharePercent"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (0, 100)
    assert 0 < parameter["Default"] < 100
    variables = source()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["PARLEY_FANOUT_BULK_SHARE_PERCENT"] == {"Ref": "FanoutBulkSharePercent"}
