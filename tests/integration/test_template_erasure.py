"""The erasure resources of template.yaml (protocol 9.2: a deleted file's object goes within
a minute): the erase queue and its DLQ, the delay, the erase function's least privilege and
the send function's right to schedule, and the alarms that say an erasure is stuck."""

from __future__ import annotations

from typing import Any

from tests.integration.test_template import _translated, alarms_on, source
from tests.integration.test_template_attachments import PREFIX, actions_on, grants, resource
from tests.support.iam_policy import listed

TABLE = {"Fn::GetAtt": ["AttachmentsTable", "Arn"]}
ERASE_QUEUE = {"Fn::GetAtt": ["EraseQueue", "Arn"]}


def timeout(function: str) -> int:
    props = resource(function)["Properties"]
    return int(props.get("Timeout", source()["Globals"]["Function"]["Timeout"]))


def test_the_delay_outlasts_a_send_and_still_erases_within_a_minute() -> None:
    # GIVEN the delay parameter and the send function that schedules with it
    delay = source()["Parameters"]["EraseDelaySeconds"]
    # THEN every allowed delay is longer than a send can last (its Lambda timeout) ...
    assert delay["MinValue"] > timeout("SendFunction")
    assert delay["MinValue"] <= delay["Default"] <= delay["MaxValue"]
    # ... and short enough that delay + one erase invocation stay within a minute
    assert delay["MaxValue"] + timeout("EraseFunction") <= 60
    # AND the send function gets the queue and the delay
    env = resource("SendFunction")["Properties"]["Environment"]["Variables"]
    assert env["PARLEY_ERASE_QUEUE_URL"] == {"Ref": "EraseQueue"}
    assert env["PARLEY_ERASE_DELAY_SECONDS"] == {"Ref": "EraseDelaySeconds"}


def test_the_erase_queue_redrives_to_a_dlq_that_outlives_it() -> None:
    queue = resource("EraseQueue")["Properties"]
    dlq = resource("EraseDeadLetterQueue")["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["EraseDeadLetterQueue", "Arn"]
    }
    assert 1 < int(queue["RedrivePolicy"]["maxReceiveCount"]) <= 10
    assert dlq["MessageRetentionPeriod"] == 1209600 > queue["MessageRetentionPeriod"]
    assert queue["VisibilityTimeout"] >= 6 * timeout("EraseFunction")
    # the DLQ's ARN is a stack output, for the runbook's redrive
    assert source()["Outputs"]["EraseDeadLetterQueueArn"]["Value"] == {
        "Fn::GetAtt": ["EraseDeadLetterQueue", "Arn"]
    }


def test_the_erase_function_consumes_the_queue_reporting_each_failed_record() -> None:
    events = resource("EraseFunction")["Properties"]["Events"]
    [event] = events.values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == ERASE_QUEUE
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resource("EraseFunction")["Properties"]["CodeUri"] == "functions/erase/"


def test_the_erase_function_may_only_delete_objects_and_erased_records() -> None:
    # GIVEN the erase function's own statements
    # THEN it deletes objects under a/ and reads and deletes attachment records, nothing more
    assert actions_on("EraseFunction", PREFIX) == {"s3:DeleteObject"}
    assert actions_on("EraseFunction", TABLE) == {"dynamodb:GetItem", "dynamodb:DeleteItem"}
    granted = {a for s in grants("EraseFunction") for a in listed(s["Action"])}
    assert granted == {"s3:DeleteObject", "dynamodb:GetItem", "dynamodb:DeleteItem"}
    # AND only the functions that delete messages may schedule an erasure: a member's
    # delete (send), an app admin's (admin) and a deleted account's (account jobs)
    senders = {
        name
        for name, res in source()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
        and "Policies" in res["Properties"]
        and "sqs:SendMessage" in actions_on(name, ERASE_QUEUE)
    }
    assert senders == {"SendFunction", "AdminFunction", "AccountJobsFunction"}


def test_a_stuck_erasure_alarms() -> None:
    cfn: dict[str, Any] = _translated("dev")
    [dlq] = [
        p
        for p in alarms_on(cfn, "AWS/SQS", "ApproximateNumberOfMessagesVisible").values()
        if p["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EraseDeadLetterQueue", "QueueName"]}
    ]
    assert dlq["Threshold"] == 0 and dlq["EvaluationPeriods"] == 1
    assert dlq["ComparisonOperator"] == "GreaterThanThreshold"
    assert "operations.md#erase-dlq" in dlq["AlarmDescription"]
    [age] = alarms_on(cfn, "AWS/SQS", "ApproximateAgeOfOldestMessage").values()
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EraseQueue", "QueueName"]}
    assert age["Threshold"] <= 600
