"""The attachment repositories against stubbed AWS answers (botocore Stubber): what moto
does not do as S3 and DynamoDB do (cancellation reasons, missing-object errors, the form's
tagging condition, Signature Version 4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from parley.errors import Unavailable
from parley.ports import ClaimOutcome
from parley.records import Message
from parley.repositories.attachments import AttachmentsRepository
from parley.repositories.objects import PENDING_TAGGING, ObjectsRepository, content_disposition

from tests.unit.repositories.conftest import Stubbed, cancelled

MESSAGE: Message = {
    "conversationId": "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "seq": 7,
    "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAW",
    "senderId": "alice",
    "clientMsgId": "c-1",
    "body": {"type": "file", "attachmentId": "01ARZ3NDEKTSV4RRFFQ69G5FAX"},
    "ts": 1,
}


@pytest.fixture
def s3() -> Iterator[Stubbed]:
    client = boto3.client(
        "s3",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    stubbed = Stubbed(client)
    with stubbed.stub:
        yield stubbed
        stubbed.stub.assert_no_pending_responses()


def claim(dynamodb: Stubbed) -> ClaimOutcome:
    repo = AttachmentsRepository("attachments", "messages", dynamodb.client)
    return repo.put_message_claiming(MESSAGE, None, "01ARZ3NDEKTSV4RRFFQ69G5FAX")


def test_the_claim_is_one_transaction_of_the_put_and_the_conditional_update(
    dynamodb: Stubbed,
) -> None:
    dynamodb.stub.add_response("transact_write_items", {})
    assert claim(dynamodb) is ClaimOutcome.STORED
    [request] = dynamodb.calls("TransactWriteItems")
    put, update = request["TransactItems"]
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(seq)"
    assert put["Put"]["TableName"] == "messages"
    assert update["Update"]["ConditionExpression"] == (
        "#state = :pending AND uploaderId = :me AND conversationId = :c"
    )
    assert "REMOVE expiresAt" in update["Update"]["UpdateExpression"]


@pytest.mark.parametrize(
    ("reasons", "outcome"),
    [
        (("ConditionalCheckFailed", "None"), ClaimOutcome.SEQ_TAKEN),
        (("ConditionalCheckFailed", "ConditionalCheckFailed"), ClaimOutcome.SEQ_TAKEN),
        (("None", "ConditionalCheckFailed"), ClaimOutcome.REFUSED),
        (("TransactionConflict", "None"), ClaimOutcome.SEQ_TAKEN),
    ],
)
def test_cancellation_reasons_say_which_condition_failed(
    dynamodb: Stubbed, reasons: tuple[str, str], outcome: ClaimOutcome
) -> None:
    cancelled(dynamodb, *reasons)
    assert claim(dynamodb) is outcome


def test_a_cancellation_for_another_reason_is_unavailable(dynamodb: Stubbed) -> None:
    cancelled(dynamodb, "None", "ThrottlingError")
    with pytest.raises(Unavailable):
        claim(dynamodb)


def test_the_form_is_sigv4_and_pins_size_type_and_tag(s3: Stubbed) -> None:
    form = ObjectsRepository("bucket-x", s3.client).upload_form("a/1", 5, "text/plain", 900)
    assert form["url"] == "https://bucket-x.s3.eu-west-1.amazonaws.com/"
    fields = form["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and fields["tagging"] == PENDING_TAGGING
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 5, 5] in conditions
    assert {"Content-Type": "text/plain"} in conditions
    assert {"tagging": PENDING_TAGGING} in conditions
    assert {"key": "a/1"} in conditions


def test_the_link_names_the_file_and_expires(s3: Stubbed) -> None:
    url = ObjectsRepository("bucket-x", s3.client).download_url("a/1", "a b.txt", "text/plain", 300)
    assert "X-Amz-Expires=300" in url and "response-content-disposition=" in url
    assert "a%2520b.txt" in url  # the RFC 5987 name, itself URL-encoded in the query


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("a.txt", "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"),
        ('q"\\é.txt', "attachment; filename=\"q___.txt\"; filename*=UTF-8''q%22%5C%C3%A9.txt"),
    ],
)
def test_content_disposition_keeps_any_name(name: str, header: str) -> None:
    assert content_disposition(name) == header


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound"])
def test_a_missing_object_has_no_size(s3: Stubbed, code: str) -> None:
    s3.stub.add_client_error("head_object", service_error_code=code, http_status_code=404)
    assert ObjectsRepository("bucket-x", s3.client).size_of("a/1") is None


def test_an_object_has_its_size(s3: Stubbed) -> None:
    s3.stub.add_response("head_object", {"ContentLength": 5})
    assert ObjectsRepository("bucket-x", s3.client).size_of("a/1") == 5


def test_a_forbidden_head_is_not_taken_for_a_missing_object(s3: Stubbed) -> None:
    from botocore.exceptions import ClientError

    s3.stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    with pytest.raises(ClientError):
        ObjectsRepository("bucket-x", s3.client).size_of("a/1")


def test_lifting_the_tag_of_a_missing_object_is_a_no_op(s3: Stubbed) -> None:
    repo = ObjectsRepository("bucket-x", s3.client)
    s3.stub.add_client_error("delete_object_tagging", service_error_code="NoSuchKey")
    repo.mark_used("a/1")
    s3.stub.add_response("delete_object_tagging", {})
    repo.mark_used("a/1")
    s3.stub.add_response("delete_object", {})
    repo.delete("a/1")


def test_a_throttled_s3_call_is_unavailable(s3: Stubbed) -> None:
    s3.stub.add_client_error("delete_object_tagging", service_error_code="ServiceUnavailable")
    with pytest.raises(Unavailable):
        ObjectsRepository("bucket-x", s3.client).mark_used("a/1")
