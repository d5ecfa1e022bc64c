"""The erasure's AWS side against stubbed answers (botocore Stubber): the queue adapter sends
the delay with a compact body, and the record's delete is conditioned on `erased`."""

from __future__ import annotations

import json

import pytest
from parley.errors import Unavailable
from parley.repositories.attachments import AttachmentsRepository
from parley.repositories.erasure_queue import ErasureQueueRepository

from tests.unit.repositories.conftest import Stubbed

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/erase"
ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_schedule_sends_the_attachment_with_the_delay(sqs: Stubbed) -> None:
    # GIVEN the adapter with a 15 s delay
    sqs.stub.add_response("send_message", {"MessageId": "m-1", "MD5OfMessageBody": "0" * 32})
    # WHEN an erasure is scheduled
    ErasureQueueRepository(URL, 15, sqs.client).schedule(ULID)
    # THEN one SendMessage carries the id as compact JSON, held back for 15 s
    [call] = sqs.calls("SendMessage")
    assert call["QueueUrl"] == URL
    assert call["DelaySeconds"] == 15
    assert json.loads(call["MessageBody"]) == {"attachmentId": ULID}
    assert " " not in call["MessageBody"]


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailable"])
def test_a_throttled_schedule_is_unavailable(sqs: Stubbed, code: str) -> None:
    # GIVEN SQS throttling or failing WHEN scheduling THEN 2001-class Unavailable (the
    # delete that asked fails before it commits; the client retries it)
    sqs.stub.add_client_error("send_message", service_error_code=code, http_status_code=400)
    with pytest.raises(Unavailable):
        ErasureQueueRepository(URL, 15, sqs.client).schedule(ULID)


def test_the_record_is_deleted_on_condition_it_is_erased(dynamodb: Stubbed) -> None:
    # GIVEN the attachments table
    repo = AttachmentsRepository("attachments", "messages", dynamodb.client)
    dynamodb.stub.add_response("delete_item", {})
    # WHEN the erased record is removed
    assert repo.remove_erased(ULID) is True
    # THEN DeleteItem names the key and the condition state = erased
    [call] = dynamodb.calls("DeleteItem")
    assert call["TableName"] == "attachments"
    assert call["Key"] == {"attachmentId": {"S": ULID}}
    assert call["ConditionExpression"] == "#state = :erased"
    assert call["ExpressionAttributeNames"] == {"#state": "state"}
    assert call["ExpressionAttributeValues"] == {":erased": {"S": "erased"}}


def test_a_record_not_erased_is_kept(dynamodb: Stubbed) -> None:
    # GIVEN a record in another state (or none) WHEN removal is asked THEN False, no error
    dynamodb.stub.add_client_error(
        "delete_item", service_error_code="ConditionalCheckFailedException"
    )
    repo = AttachmentsRepository("attachments", "messages", dynamodb.client)
    assert repo.remove_erased(ULID) is False
