"""DynamoDB repositories against a stubbed client: what moto cannot reproduce exactly
(condition failures, transaction cancellation reasons, throttling) and the request shapes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY
from parley import ddb
from parley.errors import Conflict, ConversationNotFound, Forbidden, PayloadTooLarge, Unavailable
from parley.repositories.conversations import (
    MembershipRepository,
    MembersRepository,
    SeqTaken,
    member_row,
)
from parley.repositories.messages import (
    MessagesRepository,
    Newest,
    decode_message,
    decode_own,
    encode_message,
)
from parley.repositories.sessions import SessionsRepository
from parley.repositories.users import UsersRepository

from tests.unit.repositories.conftest import Stubbed

CID = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
CCF = "ConditionalCheckFailed"


def message(seq: int = 3, sender: str = "alice") -> dict[str, Any]:
    return {
        "conversationId": CID,
        "seq": seq,
        "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "senderId": sender,
        "clientMsgId": "c-1",
        "body": {"type": "text", "text": "héllo"},
        "ts": 1_700_000_000_000,
    }


# ---- messages ----------------------------------------------------------------------------


def test_put_if_absent_stores_with_the_seq_condition(dynamodb: Stubbed) -> None:
    # GIVEN a free seq
    # WHEN a message is put
    # THEN the answer is True and the put is conditional on the seq being free
    dynamodb.stub.add_response(
        "put_item",
        {},
        {
            "TableName": "Messages",
            "Item": encode_message(message()),
            "ConditionExpression": "attribute_not_exists(seq)",
        },
    )
    assert MessagesRepository("Messages", dynamodb.client).put_if_absent(message()) is True


def test_encoded_message_keeps_body_as_compact_json_and_a_dedupe_key() -> None:
    # GIVEN a message
    # WHEN it is encoded for storage
    # THEN the body is compact UTF-8 JSON text and the dedupe key is sender#clientMsgId
    item = ddb.decode(encode_message(message()))
    assert item["body"] == '{"type":"text","text":"héllo"}'
    assert item["dedupeKey"] == "alice#c-1"
    assert item["seq"] == 3


def test_put_if_absent_returns_false_when_the_seq_is_taken(dynamodb: Stubbed) -> None:
    # GIVEN a seq already taken (ConditionalCheckFailedException)
    # WHEN a message is put
    # THEN the answer is False, no exception
    dynamodb.stub.add_client_error("put_item", "ConditionalCheckFailedException")
    assert MessagesRepository("Messages", dynamodb.client).put_if_absent(message()) is False


def test_put_if_absent_throttled_is_unavailable(dynamodb: Stubbed) -> None:
    # GIVEN DynamoDB throttling
    # WHEN a message is put
    # THEN Unavailable (2001: not stored, retry)
    dynamodb.stub.add_client_error("put_item", "ProvisionedThroughputExceededException")
    with pytest.raises(Unavailable):
        MessagesRepository("Messages", dynamodb.client).put_if_absent(message())


def test_put_if_absent_other_errors_propagate(dynamodb: Stubbed) -> None:
    # GIVEN a validation error
    # WHEN a message is put
    # THEN it propagates (a bug, not a race)
    dynamodb.stub.add_client_error("put_item", "ValidationException")
    with pytest.raises(ClientError):
        MessagesRepository("Messages", dynamodb.client).put_if_absent(message())


def test_find_by_client_id_returns_the_full_first_copy(dynamodb: Stubbed) -> None:
    # GIVEN a stored message found on the byClientMsgId index
    # WHEN it is looked up
    # THEN the query is strongly consistent on the sender's dedupe key, and the whole message
    # (sender and body included) comes back, so a retried send can re-push it intact
    dynamodb.stub.add_response(
        "query",
        {"Items": [encode_message(message())]},
        {
            "TableName": "Messages",
            "IndexName": "byClientMsgId",
            "KeyConditionExpression": "conversationId = :c AND dedupeKey = :d",
            "ExpressionAttributeValues": {":c": {"S": CID}, ":d": {"S": "alice#c-1"}},
            "ConsistentRead": True,
            "Limit": 1,
        },
    )
    found = MessagesRepository("Messages", dynamodb.client).find_by_client_id(CID, "alice", "c-1")
    assert found == message()


def test_find_by_client_id_none_when_absent(dynamodb: Stubbed) -> None:
    # GIVEN nothing stored under the key
    # WHEN it is looked up
    # THEN None
    dynamodb.stub.add_response("query", {"Items": []})
    assert MessagesRepository("Messages", dynamodb.client).find_by_client_id(CID, "a", "c") is None


def test_last_seq_is_a_consistent_descending_query(dynamodb: Stubbed) -> None:
    # GIVEN a conversation whose newest message is 41
    # WHEN its last seq is read
    # THEN the query is descending, Limit 1, strongly consistent (the same query as `newest`),
    # and the answer 41
    dynamodb.stub.add_response(
        "query",
        {"Items": [{"seq": {"N": "41"}}]},
        {
            "TableName": "Messages",
            "KeyConditionExpression": "conversationId = :c",
            "ExpressionAttributeValues": {":c": {"S": CID}},
            "ProjectionExpression": "seq, own, n, ts",
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
        },
    )
    assert MessagesRepository("Messages", dynamodb.client).last_seq(CID) == 41


def test_newest_reads_the_seq_and_the_own_map_in_the_same_query(dynamodb: Stubbed) -> None:
    # GIVEN a direct conversation whose newest message (41) carries an `own` map
    # WHEN its newest is read
    # THEN it is last_seq's query (descending, Limit 1, consistent) also projecting `own`
    dynamodb.stub.add_response(
        "query",
        {
            "Items": [
                {
                    "seq": {"N": "41"},
                    "own": {"M": {"alice": {"N": "40"}, "bob": {"N": "41"}}},
                    "ts": {"N": "1700000000123"},
                }
            ]
        },
        {
            "TableName": "Messages",
            "KeyConditionExpression": "conversationId = :c",
            "ExpressionAttributeValues": {":c": {"S": CID}},
            "ProjectionExpression": "seq, own, n, ts",
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
        },
    )
    newest = MessagesRepository("Messages", dynamodb.client).newest(CID)
    assert newest == Newest(41, {"alice": 40, "bob": 41}, None, 1700000000123)


def test_newest_of_a_message_without_a_map_or_of_nothing(dynamodb: Stubbed) -> None:
    # GIVEN a newest message stored without `own` (a group's, or an older direct message),
    # and an empty conversation
    # WHEN their newest is read
    # THEN the map is empty; an empty conversation is (0, {})
    dynamodb.stub.add_response("query", {"Items": [{"seq": {"N": "7"}}]})
    dynamodb.stub.add_response("query", {"Items": []})
    repo = MessagesRepository("Messages", dynamodb.client)
    assert repo.newest(CID) == (7, {}, None, None)
    assert repo.newest(CID) == (0, {}, 0, None)


def test_own_is_stored_as_a_map_and_never_decoded_into_a_message() -> None:
    # GIVEN a message with an `own` map and one without
    # WHEN they are encoded and decoded
    # THEN `own` is a map of numbers in the item (absent when not given), and the decoded
    # message has the protocol's fields only
    item = encode_message(message(), {"alice": 3, "bob": 2})
    assert item["own"] == {"M": {"alice": {"N": "3"}, "bob": {"N": "2"}}}
    assert "own" not in encode_message(message())
    assert decode_own(item) == {"alice": 3, "bob": 2}
    assert decode_own(encode_message(message())) == {}
    assert decode_message(item) == message()


def test_after_with_own_gives_the_last_messages_map(dynamodb: Stubbed) -> None:
    # GIVEN a page of messages 3 and 4, the last with a map
    # WHEN read with after_with_own
    # THEN the messages come without `own`, and the map is the last one's
    dynamodb.stub.add_response(
        "query",
        {
            "Items": [
                encode_message(message(3)),
                encode_message(message(4, "bob"), {"alice": 3, "bob": 4}),
            ]
        },
    )
    dynamodb.stub.add_response("query", {"Items": []})
    repo = MessagesRepository("Messages", dynamodb.client)
    page, own = repo.after_with_own(CID, 2, 10)
    assert [m["seq"] for m in page] == [3, 4] and all("own" not in m for m in page)
    assert own == {"alice": 3, "bob": 4}
    assert repo.after_with_own(CID, 4, 10) == ([], {})


def test_before_reverses_a_descending_page(dynamodb: Stubbed) -> None:
    # GIVEN a descending page 5, 4
    # WHEN messages before 6 from seq 1 are read
    # THEN they come back ascending and the key condition is min..before-1
    dynamodb.stub.add_response(
        "query",
        {"Items": [encode_message(message(5)), encode_message(message(4))]},
        {
            "TableName": "Messages",
            "KeyConditionExpression": "conversationId = :c AND seq BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":c": {"S": CID}, ":lo": {"N": "1"}, ":hi": {"N": "5"}},
            "ScanIndexForward": False,
            "Limit": 2,
        },
    )
    page = MessagesRepository("Messages", dynamodb.client).before(CID, 6, 1, 2)
    assert [m["seq"] for m in page] == [4, 5]


def test_before_at_or_below_the_floor_makes_no_call(dynamodb: Stubbed) -> None:
    # GIVEN before_seq <= min_seq
    # WHEN read
    # THEN nothing is queried
    assert MessagesRepository("Messages", dynamodb.client).before(CID, 3, 3, 10) == []
    assert dynamodb.requests == []


# ---- other conditional writes ------------------------------------------------------------


def test_users_create_taken_is_conflict(dynamodb: Stubbed) -> None:
    # GIVEN a taken userId
    # WHEN it is created
    # THEN Conflict (1008)
    dynamodb.stub.add_client_error("put_item", "ConditionalCheckFailedException")
    with pytest.raises(Conflict):
        UsersRepository("Users", dynamodb.client).create("alice", "h", "Alice", 0)


def test_sessions_rotate_of_a_spent_generation_is_false(dynamodb: Stubbed) -> None:
    # GIVEN a generation that is no longer current
    # WHEN rotated
    # THEN False, and the update was conditional on the generation, revocation and expiry
    dynamodb.stub.add_client_error("update_item", "ConditionalCheckFailedException")
    assert SessionsRepository("Sessions", dynamodb.client).rotate("s", 1, 100, 200) is False
    [call] = dynamodb.calls("UpdateItem")
    assert call["ConditionExpression"] == "gen = :gen AND revoked = :false AND expiresAt > :now"
    assert call["ExpressionAttributeValues"][":gen"] == {"N": "1"}
    assert call["ExpressionAttributeValues"][":next"] == {"N": "2"}


def test_members_advance_read_only_forward(dynamodb: Stubbed) -> None:
    # GIVEN a readSeq already at or beyond the target
    # WHEN advanced
    # THEN False; a successful advance is True
    dynamodb.stub.add_client_error("update_item", "ConditionalCheckFailedException")
    dynamodb.stub.add_response("update_item", {})
    members = MembersRepository("Members", dynamodb.client)
    assert members.advance_read(CID, "alice", 3) is False
    assert members.advance_read(CID, "alice", 4) is True
    assert dynamodb.calls("UpdateItem")[0]["ConditionExpression"] == (
        "attribute_exists(userId) AND readSeq < :s"
    )


def test_members_page_returns_the_continuation_user(dynamodb: Stubbed) -> None:
    # GIVEN a page cut by Limit
    # WHEN a page of members is read after "bob"
    # THEN the rows and the last userId come back, and the query started after bob
    dynamodb.stub.add_response(
        "query",
        {
            "Items": [ddb.encode({"userId": "carol", "role": "member", "joinedSeq": 1})],
            "LastEvaluatedKey": ddb.key(conversationId=CID, userId="carol"),
        },
    )
    rows, last = MembersRepository("Members", dynamodb.client).page(CID, 1, "bob")
    assert rows == [{"userId": "carol", "role": "member", "joinedSeq": 1}]
    assert last == "carol"
    assert dynamodb.calls("Query")[0]["ExclusiveStartKey"] == ddb.key(
        conversationId=CID, userId="bob"
    )


# ---- membership transactions -------------------------------------------------------------


def membership(dynamodb: Stubbed) -> MembershipRepository:
    return MembershipRepository("Conversations", "Members", "Messages", dynamodb.client)


def cancel(dynamodb: Stubbed, *codes: str) -> None:
    dynamodb.stub.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        "Transaction cancelled",
        modeled_fields={
            "CancellationReasons": [
                {"Code": c, "Message": "x"} if c != "None" else {"Code": "None"} for c in codes
            ]
        },
    )


def rows(*users: str, seq: int = 3) -> list[dict[str, Any]]:
    return [member_row(CID, u, "member", seq, 0) for u in users]


def test_change_builds_one_transaction(dynamodb: Stubbed) -> None:
    # GIVEN an addition of two members
    # WHEN the change is applied
    # THEN one transaction holds: the message (seq must be free), the member count with the
    # size condition (room = max - delta), and each new member (must not exist)
    dynamodb.stub.add_response("transact_write_items", {})
    membership(dynamodb).change(CID, message(), add=rows("dave", "erin"), max_members=10)
    [call] = dynamodb.calls("TransactWriteItems")
    items = call["TransactItems"]
    assert len(items) == 4
    assert items[0]["Put"]["TableName"] == "Messages"
    assert items[0]["Put"]["ConditionExpression"] == "attribute_not_exists(seq)"
    update = items[1]["Update"]
    assert update["ConditionExpression"] == (
        "attribute_exists(conversationId) AND memberCount <= :room"
    )
    assert update["ExpressionAttributeValues"] == {":d": {"N": "2"}, ":room": {"N": "8"}}
    assert [i["Put"]["Item"]["userId"]["S"] for i in items[2:]] == ["dave", "erin"]
    assert all(i["Put"]["ConditionExpression"] == "attribute_not_exists(userId)" for i in items[2:])


def test_change_removal_has_no_size_condition(dynamodb: Stubbed) -> None:
    # GIVEN a removal
    # WHEN the change is applied
    # THEN the counter moves by -1 with only an existence condition, and the delete requires
    # the member to exist
    dynamodb.stub.add_response("transact_write_items", {})
    membership(dynamodb).change(CID, message(), remove=["bob"], max_members=10)
    items = dynamodb.calls("TransactWriteItems")[0]["TransactItems"]
    assert items[1]["Update"]["ConditionExpression"] == "attribute_exists(conversationId)"
    assert items[1]["Update"]["ExpressionAttributeValues"] == {":d": {"N": "-1"}}
    assert items[2]["Delete"]["ConditionExpression"] == "attribute_exists(userId)"


def test_seq_taken(dynamodb: Stubbed) -> None:
    # GIVEN the message's seq taken by a concurrent writer
    # WHEN the change is applied
    # THEN SeqTaken (the caller re-reads and retries)
    cancel(dynamodb, CCF, "None", "None")
    with pytest.raises(SeqTaken):
        membership(dynamodb).change(CID, message(), add=rows("dave"), max_members=10)


def test_seq_taken_wins_over_other_failures(dynamodb: Stubbed) -> None:
    # GIVEN the seq taken and an added user already a member
    # WHEN the change is applied
    # THEN SeqTaken (retrying re-evaluates everything)
    cancel(dynamodb, "ConditionalCheckFailed", "None", "ConditionalCheckFailed")
    with pytest.raises(SeqTaken):
        membership(dynamodb).change(CID, message(), add=rows("dave"), max_members=10)


def test_full_group_is_payload_too_large(dynamodb: Stubbed) -> None:
    # GIVEN the member-count condition failing on an addition
    # WHEN the change is applied
    # THEN PayloadTooLarge (1006)
    cancel(dynamodb, "None", "ConditionalCheckFailed", "None")
    with pytest.raises(PayloadTooLarge):
        membership(dynamodb).change(CID, message(), add=rows("dave"), max_members=10)


def test_vanished_conversation_is_not_found(dynamodb: Stubbed) -> None:
    # GIVEN the conversation gone (counter condition failing) on a removal
    # WHEN the change is applied
    # THEN ConversationNotFound (2002)
    cancel(dynamodb, "None", "ConditionalCheckFailed", "None")
    with pytest.raises(ConversationNotFound):
        membership(dynamodb).change(CID, message(), remove=["bob"], max_members=10)


def test_added_user_already_member_is_conflict(dynamodb: Stubbed) -> None:
    # GIVEN the second added user already a member
    # WHEN the change is applied
    # THEN Conflict (1008)
    cancel(dynamodb, "None", "None", "None", "ConditionalCheckFailed")
    with pytest.raises(Conflict):
        membership(dynamodb).change(CID, message(), add=rows("dave", "erin"), max_members=10)


@pytest.mark.parametrize(
    ("kwargs", "reasons"),
    [
        ({"remove": ["bob"]}, ["None", "None", CCF]),
        ({"set_role": ("bob", "admin")}, ["None", "None", CCF]),
        ({"set_role": ("bob", "owner"), "demote": "alice"}, ["None", "None", "None", CCF]),
    ],
)
def test_vanished_target_is_forbidden(
    dynamodb: Stubbed, kwargs: dict[str, Any], reasons: list[str]
) -> None:
    # GIVEN the removed / re-roled member gone, or the demoted owner no longer the owner
    # WHEN the change is applied
    # THEN Forbidden (1004)
    cancel(dynamodb, *reasons)
    with pytest.raises(Forbidden):
        membership(dynamodb).change(CID, message(), max_members=10, **kwargs)


def test_ownership_handover_demotes_the_owner_in_the_same_transaction(dynamodb: Stubbed) -> None:
    # GIVEN a handover from alice to bob
    # WHEN the change is applied
    # THEN the transaction sets bob's role and makes alice admin only if she is the owner
    dynamodb.stub.add_response("transact_write_items", {})
    membership(dynamodb).change(
        CID, message(), set_role=("bob", "owner"), demote="alice", max_members=10
    )
    items = dynamodb.calls("TransactWriteItems")[0]["TransactItems"]
    assert items[2]["Update"]["Key"]["userId"] == {"S": "bob"}
    assert items[2]["Update"]["ExpressionAttributeValues"] == {":r": {"S": "owner"}}
    demote = items[3]["Update"]
    assert demote["Key"]["userId"] == {"S": "alice"}
    assert demote["ConditionExpression"] == "#r = :owner"
    assert demote["ExpressionAttributeValues"] == {
        ":admin": {"S": "admin"},
        ":owner": {"S": "owner"},
    }


def test_cancellation_without_condition_failure_propagates(dynamodb: Stubbed) -> None:
    # GIVEN a transaction cancelled for another reason (a conflict with another transaction)
    # WHEN the change is applied
    # THEN the ClientError propagates unchanged
    cancel(dynamodb, "TransactionConflict", "None")
    with pytest.raises(ClientError):
        membership(dynamodb).change(CID, message(), remove=["bob"], max_members=10)


def test_transaction_throttled_is_unavailable(dynamodb: Stubbed) -> None:
    # GIVEN DynamoDB throttling the transaction
    # WHEN the change is applied
    # THEN Unavailable
    dynamodb.stub.add_client_error("transact_write_items", "ThrottlingException")
    with pytest.raises(Unavailable):
        membership(dynamodb).change(CID, message(), remove=["bob"], max_members=10)


def test_create_dm_already_existing_is_false(dynamodb: Stubbed) -> None:
    # GIVEN a dm created concurrently
    # WHEN it is created again
    # THEN the answer is False; a fresh creation is True
    cancel(dynamodb, "ConditionalCheckFailed", "None", "None")
    dynamodb.stub.add_response("transact_write_items", {}, {"TransactItems": ANY})
    repo = membership(dynamodb)
    conversation = {"conversationId": "dm:alice:bob", "type": "dm", "memberCount": 2}
    members = [member_row("dm:alice:bob", u, "member", 1, 0) for u in ("alice", "bob")]
    assert repo.create_dm(conversation, members) is False
    assert repo.create_dm(conversation, members) is True
