"""The account lifecycle resources of template.yaml (protocol 12): the account jobs queue, its
DLQ and alarm, the erasure's delay against the auth function's timeout, who may send jobs,
and the exports' bucket prefix, grants and expiry."""

from __future__ import annotations

from typing import Any

from tests.integration.test_template import _translated, alarms_on, source
from tests.integration.test_template_attachments import actions_on, resource
from tests.integration.test_template_erasure import timeout

JOBS_QUEUE = {"Fn::GetAtt": ["AccountJobsQueue", "Arn"]}
EXPORTS = {"Fn::Sub": "${AttachmentsBucket.Arn}/exports/*"}


def test_the_erasure_delay_outlasts_the_deletion_request() -> None:
    # GIVEN the auth function, which schedules the erasure before committing the deletion
    env = resource("AuthFunction")["Properties"]["Environment"]["Variables"]
    # THEN the job is delivered only after the request can no longer be running
    assert env["PARLEY_ACCOUNT_JOBS_QUEUE_URL"] == {"Ref": "AccountJobsQueue"}
    assert int(env["PARLEY_ACCOUNT_ERASE_DELAY_SECONDS"]) > timeout("AuthFunction")
    # AND a delayed job plus one run stay well inside the 5 minutes promised
    assert int(env["PARLEY_ACCOUNT_ERASE_DELAY_SECONDS"]) + timeout("AccountJobsFunction") < 300


def test_the_jobs_queue_redrives_to_a_dlq_and_is_consumed_one_job_at_a_time() -> None:
    queue = resource("AccountJobsQueue")["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["AccountJobsDeadLetterQueue", "Arn"]
    }
    assert queue["VisibilityTimeout"] >= 6 * timeout("AccountJobsFunction")
    dlq = resource("AccountJobsDeadLetterQueue")["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    [event] = resource("AccountJobsFunction")["Properties"]["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"] == JOBS_QUEUE
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source()["Outputs"]["AccountJobsDeadLetterQueueArn"]["Value"] == {
        "Fn::GetAtt": ["AccountJobsDeadLetterQueue", "Arn"]
    }


def test_only_the_deletion_the_exports_and_the_jobs_themselves_send_jobs() -> None:
    senders = {
        name
        for name, res in source()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
        and "Policies" in res["Properties"]
        and "sqs:SendMessage" in actions_on(name, JOBS_QUEUE)
    }
    assert senders == {"AuthFunction", "UsersFunction", "AccountJobsFunction"}


def test_exports_are_written_by_the_jobs_signed_by_the_users_function_and_expire() -> None:
    # THEN the jobs function only writes exports, the users function only reads them
    assert actions_on("AccountJobsFunction", EXPORTS) == {"s3:PutObject"}
    assert actions_on("UsersFunction", EXPORTS) == {"s3:GetObject"}
    # AND the bucket expires them after a day, the Users table their records
    rules = resource("AttachmentsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    [rule] = [r for r in rules if r.get("Prefix") == "exports/"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 1
    ttl = resource("UsersTable")["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiresAt", "Enabled": True}


def test_an_account_job_in_the_dlq_alarms() -> None:
    cfn: dict[str, Any] = _translated("dev")
    [alarm] = [
        p
        for p in alarms_on(cfn, "AWS/SQS", "ApproximateNumberOfMessagesVisible").values()
        if p["Dimensions"][0]["Value"]
        == {"Fn::GetAtt": ["AccountJobsDeadLetterQueue", "QueueName"]}
    ]
    assert alarm["Threshold"] == 0 and alarm["EvaluationPeriods"] == 1
    assert "operations.md#account-jobs-dlq" in alarm["AlarmDescription"]
