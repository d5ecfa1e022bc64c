"""The events repository against stubbed DynamoDB answers (botocore Stubber): the shape of
an event's transaction, and what each cancellation reason means (moto reports reasons
less precisely than DynamoDB)."""

from __future__ import annotations

import pytest
from parley.errors import Unavailable
from parley.ports import Change, EventOutcome
from parley.records import Message
from parley.repositories.events import EventsRepository
from parley.repositories.messages import MessagesRepository

from tests.unit.repositories.conftest import Stubbed, cancelled

CID = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
DELETE: Message = {
    "conversationId": CID,
    "seq": 9,
    "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAW",
    "senderId": "alice",
    "clientMsgId": "c-9",
    "body": {"type": "delete", "target": 3},
    "ts": 5,
}


def change(**overrides: object) -> Change:
    fields: dict[str, object] = {
        "seq": 3,
        "version": 2,
        "body": {"type": "deleted"},
        "edited": None,
        "deleted": {"seq": 9, "ts": 5, "by": "alice"},
        "reactions": None,
        "edits": None,
        "erase_edits": [4, 6],
        "erase_attachment": "01ARZ3NDEKTSV4RRFFQ69G5FAX",
    }
    fields.update(overrides)
    return Change(**fields)  # type: ignore[arg-type]


def repo(dynamodb: Stubbed) -> EventsRepository:
    return EventsRepository("messages", "attachments", dynamodb.client)


def test_a_delete_is_one_transaction_of_event_target_edits_and_attachment(
    dynamodb: Stubbed,
) -> None:
    # GIVEN a delete of a file message edited twice (a file cannot be, but the shape holds)
    dynamodb.stub.add_response("transact_write_items", {})
    # WHEN it is committed
    assert repo(dynamodb).commit(DELETE, None, 4, change()) is EventOutcome.STORED
    # THEN one transaction: the event's put on a free seq, the target on its version,
    # each edit reduced to its target, the attachment erased
    [request] = dynamodb.calls("TransactWriteItems")
    put, target, edit4, edit6, attachment = request["TransactItems"]
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(seq)"
    assert put["Put"]["Item"]["n"] == {"N": "4"}
    update = target["Update"]
    assert update["ConditionExpression"] == "ver = :ver"
    assert update["ExpressionAttributeValues"][":ver"] == {"N": "2"}
    assert update["ExpressionAttributeValues"][":next"] == {"N": "3"}
    assert update["UpdateExpression"].startswith("SET body = :body, ver = :next, deleted = :")
    assert update["UpdateExpression"].endswith("REMOVE edited, reactions, edits")
    for item, seq in ((edit4, "4"), (edit6, "6")):
        assert item["Update"]["Key"]["seq"] == {"N": seq}
        assert item["Update"]["ExpressionAttributeValues"][":body"] == {
            "S": '{"type":"edit","target":3}'
        }
    assert attachment["Update"]["TableName"] == "attachments"
    assert "REMOVE #name, contentType, expiresAt" in attachment["Update"]["UpdateExpression"]


def test_a_first_change_requires_the_target_and_no_version(dynamodb: Stubbed) -> None:
    # GIVEN a reaction on a message never changed before
    dynamodb.stub.add_response("transact_write_items", {})
    first = change(
        version=0,
        body={"type": "text", "text": "hi"},
        deleted=None,
        reactions={"+1": ["bob"]},
        erase_edits=[],
        erase_attachment=None,
    )
    repo(dynamodb).commit(DELETE, None, 4, first)
    # THEN the update is conditioned on an existing item without a version, and sets reactions
    [request] = dynamodb.calls("TransactWriteItems")
    assert len(request["TransactItems"]) == 2
    update = request["TransactItems"][1]["Update"]
    assert update["ConditionExpression"] == "attribute_exists(seq) AND attribute_not_exists(ver)"
    assert update["ExpressionAttributeValues"][":reactions"] == {"S": '{"+1":["bob"]}'}


@pytest.mark.parametrize(
    ("reasons", "outcome"),
    [
        (("ConditionalCheckFailed", "None"), EventOutcome.SEQ_TAKEN),
        (("ConditionalCheckFailed", "ConditionalCheckFailed"), EventOutcome.SEQ_TAKEN),
        (("None", "ConditionalCheckFailed"), EventOutcome.TARGET_CHANGED),
        (("None", "TransactionConflict"), EventOutcome.TARGET_CHANGED),
    ],
)
def test_cancellation_reasons_say_what_to_re_read(
    dynamodb: Stubbed, reasons: tuple[str, str], outcome: EventOutcome
) -> None:
    cancelled(dynamodb, *reasons)
    assert repo(dynamodb).commit(DELETE, None, 4, change()) is outcome


def test_another_cancellation_is_unavailable(dynamodb: Stubbed) -> None:
    cancelled(dynamodb, "None", "None", "ThrottlingError")
    with pytest.raises(Unavailable):
        repo(dynamodb).commit(DELETE, None, 4, change())


def test_the_target_is_read_consistently_with_its_internal_state(dynamodb: Stubbed) -> None:
    # GIVEN a stored message with a version, edits and a count
    dynamodb.stub.add_response(
        "get_item",
        {
            "Item": {
                "conversationId": {"S": CID},
                "seq": {"N": "3"},
                "messageId": {"S": "01ARZ3NDEKTSV4RRFFQ69G5FAW"},
                "senderId": {"S": "alice"},
                "clientMsgId": {"S": "c-3"},
                "body": {"S": '{"type":"text","text":"b"}'},
                "ts": {"N": "1"},
                "n": {"N": "3"},
                "ver": {"N": "2"},
                "edits": {"L": [{"N": "4"}]},
                "edited": {"S": '{"seq":4,"ts":2}'},
            }
        },
    )
    # WHEN it is read as a target THEN everything comes back, consistently read
    target = repo(dynamodb).target(CID, 3)
    assert target is not None
    assert (target["ver"], target["edits"], target["n"]) == (2, [4], 3)
    assert target["edited"] == {"seq": 4, "ts": 2}
    assert dynamodb.calls("GetItem")[0]["ConsistentRead"] is True


def test_counts_at_projects_the_count_and_says_which_have_none(dynamodb: Stubbed) -> None:
    # GIVEN two read positions, one stored before counts
    dynamodb.stub.add_response(
        "batch_get_item",
        {
            "Responses": {
                "messages": [
                    {"conversationId": {"S": CID}, "seq": {"N": "3"}, "n": {"N": "2"}},
                    {"conversationId": {"S": "dm:a:b"}, "seq": {"N": "1"}},
                ]
            }
        },
    )
    # WHEN their counts are read THEN one BatchGetItem of the key and `n`
    counts = MessagesRepository("messages", dynamodb.client).counts_at([(CID, 3), ("dm:a:b", 1)])
    assert counts == {(CID, 3): 2, ("dm:a:b", 1): None}
    [request] = dynamodb.calls("BatchGetItem")
    assert request["RequestItems"]["messages"]["ProjectionExpression"] == "conversationId, seq, n"
