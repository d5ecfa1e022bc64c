"""Erasure against moto (protocol 9.2: a deleted file's object goes within a minute): the
send function schedules it on the erase queue with its delay, the erase function removes the
object and the record of an erased attachment only, idempotently, and `GET
/attachments/{id}` answers 2003 from the delete on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from parley import runtime

from tests.integration.conftest import CONTEXT, Harness
from tests.integration.helpers import create_group, get_item, send_frame
from tests.integration.test_attachments import download, file_frame, token, uploaded
from tests.support import events
from tests.support.handlers import load
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def team(app: Harness) -> str:
    """alice (owner), bob and carol in a group."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
    return str(create_group(app, token(app, "alice"), ["bob", "carol"])["conversationId"])


def key(attachment_id: str) -> str:
    return f"a/{attachment_id}"


def stored(app: Harness, attachment_id: str) -> bool:
    listed = client("s3").list_objects_v2(Bucket=app.stack.bucket, Prefix=key(attachment_id))
    return bool(listed.get("Contents"))


def erased_record(app: Harness, attachment_id: str = ULID, state: str = "erased") -> None:
    """A record as the delete's transaction leaves it (or in `state`), and its object."""
    item: dict[str, Any] = {
        "attachmentId": {"S": attachment_id},
        "conversationId": {"S": "grp:01ARZ3NDEKTSV4RRFFQ69G5FAW"},
        "uploaderId": {"S": "alice"},
        "size": {"N": "5"},
        "createdAt": {"N": "1"},
        "state": {"S": state},
        "seq": {"N": "1"},
    }
    if state != "erased":
        item.update(name={"S": "a.txt"}, contentType={"S": "text/plain"})
    client("dynamodb").put_item(TableName=app.stack.tables["AttachmentsTable"], Item=item)
    client("s3").put_object(Bucket=app.stack.bucket, Key=key(attachment_id), Body=b"hello")


def erase(*bodies: Any) -> dict[str, Any]:
    """The erase function over one SQS batch."""
    return dict(load("erase").handler(events.sqs_event(list(bodies)), CONTEXT))


def record(app: Harness, attachment_id: str) -> dict[str, Any] | None:
    return get_item(app, "AttachmentsTable", attachmentId=attachment_id)


def queued(app: Harness) -> dict[str, int]:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=app.stack.erase_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return {name: int(value) for name, value in attributes.items()}


# ---- the erase function ------------------------------------------------------------------


def test_an_erased_attachment_loses_its_object_and_record(app: Harness) -> None:
    # GIVEN an erased record whose object is still in the bucket
    erased_record(app)
    # WHEN the erase function gets its erasure
    result = erase({"attachmentId": ULID})
    # THEN nothing failed, and neither the object nor the record is left
    assert result == {"batchItemFailures": []}
    assert not stored(app, ULID)
    assert record(app, ULID) is None


@pytest.mark.parametrize("state", ["pending", "used"])
def test_a_record_whose_delete_never_committed_is_untouched(app: Harness, state: str) -> None:
    # GIVEN a pending or used record (its message's delete refused or crashed before commit)
    erased_record(app, state=state)
    before = record(app, ULID)
    # WHEN its erasure is delivered THEN the record and the object stay
    assert erase({"attachmentId": ULID}) == {"batchItemFailures": []}
    assert record(app, ULID) == before
    assert stored(app, ULID)


def test_an_absent_record_and_a_redelivery_are_no_error(app: Harness) -> None:
    # GIVEN an erasure that completed
    erased_record(app)
    erase({"attachmentId": ULID})
    # WHEN SQS delivers it again, twice in one batch THEN no failure, nothing left
    assert erase({"attachmentId": ULID}, {"attachmentId": ULID}) == {"batchItemFailures": []}
    assert not stored(app, ULID) and record(app, ULID) is None


def test_an_unreadable_erasure_is_dropped_and_the_rest_of_the_batch_runs(app: Harness) -> None:
    # GIVEN a batch with bodies the send function cannot have written, and a real one
    erased_record(app)
    # WHEN the erase function runs it
    result = erase("not json", {"attachmentId": "../etc"}, ["x"], {"attachmentId": ULID})
    # THEN the unreadable ones are dropped (not retried) and the real one is erased
    assert result == {"batchItemFailures": []}
    assert record(app, ULID) is None


def test_a_failing_erasure_is_reported_for_retry(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two erasures, the storage failing for one of them
    other = "01ARZ3NDEKTSV4RRFFQ69G5FAX"
    erased_record(app)
    erased_record(app, other)
    objects = runtime.objects()
    delete = objects.delete

    def flaky(object_key: str) -> None:
        if object_key == key(other):
            raise RuntimeError("storage down")
        delete(object_key)

    monkeypatch.setattr(objects, "delete", flaky)
    # WHEN the batch runs
    result = erase({"attachmentId": ULID}, {"attachmentId": other})
    # THEN only the failed record is reported (SQS retries it, then the DLQ), and its record
    # is kept so the retry can finish
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert record(app, ULID) is None
    kept = record(app, other)
    assert kept is not None and kept["state"] == "erased"


def test_a_batch_whose_every_erasure_fails_is_a_function_error(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN storage failing for every object
    erased_record(app)

    def down(object_key: str) -> None:
        raise RuntimeError("storage down")

    monkeypatch.setattr(runtime.objects(), "delete", down)
    # WHEN the batch runs THEN the invocation fails (Lambda Errors: the function's alarm and
    # a canary's rollback see it), SQS retries the batch, and the record is kept
    with pytest.raises(BatchProcessingError):
        erase({"attachmentId": ULID})
    kept = record(app, ULID)
    assert kept is not None and kept["state"] == "erased"


# ---- the adapter and the send function's side ----------------------------------------------


def test_the_adapter_holds_the_erasure_back_for_the_delay(app: Harness) -> None:
    # GIVEN the send function's settings (the default delay, 15 s)
    # WHEN an erasure is scheduled
    runtime.erasure_queue().schedule(ULID)
    # THEN SQS holds it back: nothing can be received yet
    assert queued(app) == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesDelayed": 1,
    }
    got = client("sqs").receive_message(QueueUrl=app.stack.erase_queue_url)
    assert not got.get("Messages")


def test_deleting_a_file_message_erases_it_through_the_queue(
    app: Harness, team: str, reconfigure: Any
) -> None:
    # GIVEN a file message bob can download, and no delay (the test need not wait)
    reconfigure(PARLEY_ERASE_DELAY_SECONDS=0)
    attachment = uploaded(app, "alice", team)
    sent = send_frame(app, file_frame("f1", team, attachment), user="alice")
    assert sent["type"] == "ack", sent
    assert download(app, "bob", attachment)[0] == 200
    # WHEN alice deletes it
    frame = {
        "action": "send",
        "id": "r-d1",
        "conversationId": team,
        "clientMsgId": "d1",
        "body": {"type": "delete", "target": sent["seq"]},
    }
    deleted = send_frame(app, frame, user="alice")
    assert deleted["type"] == "ack", deleted
    # THEN the record is erased at once and a download answers 404 2003 for everyone
    erased = record(app, attachment)
    assert erased is not None and erased["state"] == "erased"
    assert "name" not in erased and "contentType" not in erased
    for user in ("alice", "bob"):
        status, body = download(app, user, attachment)
        assert (status, body["code"]) == (404, 2003)
    # AND the queue holds the erasure, which the erase function carries out
    [message] = client("sqs").receive_message(QueueUrl=app.stack.erase_queue_url)["Messages"]
    assert json.loads(message["Body"]) == {"attachmentId": attachment}
    assert erase(message["Body"]) == {"batchItemFailures": []}
    assert not stored(app, attachment)
    assert record(app, attachment) is None
