"""The Messages repository under retention, against a stubbed client: DynamoDB applies
`Limit` before a FilterExpression, so the paging past expired items is checked here on
exact answers (`ScannedCount`, `LastEvaluatedKey`) that moto does not reproduce alike."""

from __future__ import annotations

from typing import Any

from botocore.stub import ANY
from parley.repositories.messages import MessagesRepository, encode_message

from tests.unit.repositories.conftest import Stubbed

CID = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
CUTOFF = 1_700_000_000_000


def item(seq: int, ts: int = CUTOFF, n: int | None = None, kind: str = "text") -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "text": "x"} if kind == "text" else {"type": kind}
    return encode_message(
        {
            "conversationId": CID,
            "seq": seq,
            "messageId": f"m{seq}",
            "senderId": "alice",
            "clientMsgId": f"c{seq}",
            "body": body,
            "ts": ts,
        },
        n=n,
    )


def key(seq: int) -> dict[str, Any]:
    return {"conversationId": {"S": CID}, "seq": {"N": str(seq)}}


def page(items: list[dict[str, Any]], scanned: int, last: int | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": scanned}
    if last is not None:
        answer["LastEvaluatedKey"] = key(last)
    return answer


def query(limit: int, start: int | None = None, *, forward: bool = True) -> dict[str, Any]:
    expected: dict[str, Any] = {
        "TableName": "Messages",
        "KeyConditionExpression": ANY,
        "FilterExpression": "ts >= :t",
        "ExpressionAttributeValues": ANY,
        "ScanIndexForward": forward,
        "Limit": limit,
    }
    if forward:
        expected["ConsistentRead"] = False
    if start is not None:
        expected["ExclusiveStartKey"] = key(start)
    return expected


def test_sync_pages_skip_an_expired_run_with_growing_pages(dynamodb: Stubbed) -> None:
    # GIVEN messages 1-6 past retention that TTL has not removed yet, then 7 and 8 kept
    dynamodb.stub.add_response("query", page([], 2, 2), query(2))
    dynamodb.stub.add_response("query", page([], 4, 6), query(4, 2))
    dynamodb.stub.add_response("query", page([item(7), item(8)], 8, 8), query(8, 6))
    # WHEN a sync round reads two messages above seq 0 with the retention filter
    found, _ = MessagesRepository("Messages", dynamodb.client).after_with_own(
        CID, 0, 2, min_ts=CUTOFF
    )
    # THEN the empty pages are followed by pages twice as large, and the kept ones come back
    assert [m["seq"] for m in found] == [7, 8]


def test_sync_pages_stop_at_limit_and_continue_a_partly_kept_page(dynamodb: Stubbed) -> None:
    # GIVEN a page whose first message is expired and the rest kept
    dynamodb.stub.add_response("query", page([item(2), item(3)], 3, 3), query(3))
    dynamodb.stub.add_response("query", page([item(4)], 1, 4), query(1, 3))
    # WHEN three messages are read
    found, _ = MessagesRepository("Messages", dynamodb.client).after_with_own(
        CID, 0, 3, min_ts=CUTOFF
    )
    # THEN the next page asks only for what is missing, and three come back
    assert [m["seq"] for m in found] == [2, 3, 4]


def test_history_stops_at_the_first_expired_message(dynamodb: Stubbed) -> None:
    # GIVEN, read downwards from 10, messages 9 and 8 kept and 7 past retention
    dynamodb.stub.add_response("query", page([item(9), item(8)], 3, 7), query(5, forward=False))
    # WHEN a history page of five is read
    found = MessagesRepository("Messages", dynamodb.client).before(CID, 10, 1, 5, min_ts=CUTOFF)
    # THEN it ends there: everything below 7 is older
    assert [m["seq"] for m in found] == [8, 9]


def test_history_continues_a_page_cut_by_the_size_limit(dynamodb: Stubbed) -> None:
    # GIVEN a page cut short by DynamoDB's 1 MB with nothing filtered out
    dynamodb.stub.add_response("query", page([item(9)], 1, 9), query(3, forward=False))
    dynamodb.stub.add_response("query", page([item(8), item(7)], 2, 7), query(2, 9, forward=False))
    # WHEN a page of three is read
    found = MessagesRepository("Messages", dynamodb.client).before(CID, 10, 1, 3, min_ts=CUTOFF)
    # THEN it is continued, so a short page always means the kept messages ended
    assert [m["seq"] for m in found] == [7, 8, 9]


def test_expire_is_a_conditional_update_of_expires_at(dynamodb: Stubbed) -> None:
    # GIVEN a stored message 4, then one already gone (removed by TTL meanwhile)
    expected = {
        "TableName": "Messages",
        "Key": key(4),
        "UpdateExpression": "SET expiresAt = :e",
        "ConditionExpression": "attribute_exists(seq)",
        "ExpressionAttributeValues": {":e": {"N": "1700172800"}},
    }
    dynamodb.stub.add_response("update_item", {}, expected)
    dynamodb.stub.add_client_error(
        "update_item", "ConditionalCheckFailedException", expected_params=expected
    )
    repo = MessagesRepository("Messages", dynamodb.client)
    # WHEN each is given its expiry
    # THEN the first is updated, and the second is not recreated as a stub item
    assert repo.expire(CID, 4, 1_700_172_800) is True
    assert repo.expire(CID, 4, 1_700_172_800) is False


def test_count_below_kept_is_the_oldest_kept_messages_count_less_itself(
    dynamodb: Stubbed,
) -> None:
    # GIVEN the oldest kept message above a read position: a text with n = 5, then a
    # reaction with n = 5, then none kept
    dynamodb.stub.add_response("query", page([item(6, n=5)], 1, 6))
    dynamodb.stub.add_response("query", page([item(7, n=5, kind="reaction")], 1, 7))
    dynamodb.stub.add_response("query", page([], 1, None))
    repo = MessagesRepository("Messages", dynamodb.client)
    # WHEN the count just below it is read
    # THEN a countable message takes itself off its count; none kept is None
    assert repo.count_below_kept(CID, 2, CUTOFF) == (6, 4)
    assert repo.count_below_kept(CID, 2, CUTOFF) == (7, 5)
    assert repo.count_below_kept(CID, 2, CUTOFF) is None
    assert dynamodb.calls("Query")[0]["ProjectionExpression"] == "seq, n, body"
