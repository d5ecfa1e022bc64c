"""The local cloud's moto patches answer exactly what plain moto answers.

Each scenario runs twice against a fresh in-process moto, once plain and once patched, and
the two transcripts (every response, every error code, the final table contents) must be
equal. The scenarios cover every Query shape Parley uses (newest item, pages in both
directions, range conditions, filters, the LSI dedupe lookup, a GSI lookup) and
transactions that succeed, that are cancelled after an update, and that name a missing
table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from parley_local import moto_speedups

Scenario = Callable[[Any], list[Any]]


@pytest.fixture(autouse=True)
def _plain_moto_afterwards() -> Iterator[None]:
    yield
    moto_speedups.uninstall()


def _table(ddb: Any) -> None:
    ddb.create_table(
        TableName="messages",
        KeySchema=[
            {"AttributeName": "conversationId", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "conversationId", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
            {"AttributeName": "dedupe", "AttributeType": "S"},
            {"AttributeName": "senderId", "AttributeType": "S"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "byClientMsgId",
                "KeySchema": [
                    {"AttributeName": "conversationId", "KeyType": "HASH"},
                    {"AttributeName": "dedupe", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "bySender",
                "KeySchema": [{"AttributeName": "senderId", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(60):
        conversation = f"c{n % 3}"
        ddb.put_item(
            TableName="messages",
            Item={
                "conversationId": {"S": conversation},
                "seq": {"N": str(n // 3 + 1)},
                "dedupe": {"S": f"u{n % 4}#m{n}"},
                "senderId": {"S": f"u{n % 4}"},
                "msg": {"S": "x" * (n % 7)},
            },
        )


def _run(patched: bool, scenario: Scenario) -> list[Any]:
    if patched:
        assert all(moto_speedups.install().values())
    else:
        moto_speedups.uninstall()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _table(ddb)
            transcript = scenario(ddb)
            scan = ddb.scan(TableName="messages")["Items"]
            transcript.append(
                sorted(scan, key=lambda i: (i["conversationId"]["S"], int(i["seq"]["N"])))
            )
            return transcript
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _queries(ddb: Any) -> list[Any]:
    out: list[Any] = []

    def q(**kwargs: Any) -> None:
        try:
            out.append(_strip(ddb.query(TableName="messages", **kwargs)))
        except ClientError as exc:
            out.append(exc.response["Error"]["Code"])

    key = "conversationId = :c"
    q(
        KeyConditionExpression=key,
        ExpressionAttributeValues={":c": {"S": "c1"}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    q(KeyConditionExpression=key, ExpressionAttributeValues={":c": {"S": "c2"}}, Limit=7)
    q(
        KeyConditionExpression=key,
        ExpressionAttributeValues={":c": {"S": "c2"}},
        Limit=7,
        ExclusiveStartKey={"conversationId": {"S": "c2"}, "seq": {"N": "7"}},
    )
    q(
        KeyConditionExpression=f"{key} AND seq > :s",
        ExpressionAttributeValues={":c": {"S": "c0"}, ":s": {"N": "15"}},
    )
    q(
        KeyConditionExpression=f"{key} AND seq < :s",
        ScanIndexForward=False,
        Limit=4,
        ExpressionAttributeValues={":c": {"S": "c0"}, ":s": {"N": "10"}},
    )
    q(
        KeyConditionExpression=f"{key} AND seq BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":c": {"S": "c1"},
            ":a": {"N": "3"},
            ":b": {"N": "9"},
            ":u": {"S": "u1"},
        },
        FilterExpression="senderId = :u",
    )
    q(KeyConditionExpression=key, ExpressionAttributeValues={":c": {"S": "nobody"}})
    q(
        IndexName="byClientMsgId",
        KeyConditionExpression=f"{key} AND dedupe = :d",
        ExpressionAttributeValues={":c": {"S": "c1"}, ":d": {"S": "u1#m13"}},
        ConsistentRead=True,
    )
    q(
        IndexName="byClientMsgId",
        KeyConditionExpression=f"{key} AND dedupe = :d",
        ExpressionAttributeValues={":c": {"S": "c1"}, ":d": {"S": "u1#m12"}},
        ConsistentRead=True,
    )
    q(
        IndexName="byClientMsgId",
        KeyConditionExpression=f"{key} AND begins_with(dedupe, :d)",
        ExpressionAttributeValues={":c": {"S": "c0"}, ":d": {"S": "u2#"}},
        Limit=3,
    )
    q(
        IndexName="bySender",
        KeyConditionExpression="senderId = :u",
        ExpressionAttributeValues={":u": {"S": "u3"}},
    )
    q(IndexName="nope", KeyConditionExpression=key, ExpressionAttributeValues={":c": {"S": "c1"}})
    return out


def _transactions(ddb: Any) -> list[Any]:
    out: list[Any] = []

    def tx(items: list[dict[str, Any]]) -> None:
        try:
            out.append(_strip(ddb.transact_write_items(TransactItems=items)))
        except ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response.get("CancellationReasons")))

    def key(c: str, s: int) -> dict[str, Any]:
        return {"conversationId": {"S": c}, "seq": {"N": str(s)}}

    # Succeeds: a put, an update and a delete.
    tx(
        [
            {
                "Put": {
                    "TableName": "messages",
                    "Item": {**key("c9", 1), "msg": {"S": "new"}},
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            },
            {
                "Update": {
                    "TableName": "messages",
                    "Key": key("c0", 2),
                    "UpdateExpression": "SET msg = :t",
                    "ExpressionAttributeValues": {":t": {"S": "edited"}},
                }
            },
            {"Delete": {"TableName": "messages", "Key": key("c1", 3)}},
        ]
    )
    # Cancelled after an update of an existing item: everything is rolled back.
    tx(
        [
            {
                "Update": {
                    "TableName": "messages",
                    "Key": key("c0", 4),
                    "UpdateExpression": "SET msg = :t",
                    "ExpressionAttributeValues": {":t": {"S": "lost"}},
                }
            },
            {"Put": {"TableName": "messages", "Item": {**key("c9", 2), "msg": {"S": "lost"}}}},
            {
                "Put": {
                    "TableName": "messages",
                    "Item": key("c2", 5),
                    "ConditionExpression": "attribute_not_exists(seq)",
                }
            },
        ]
    )
    # Cancelled by a condition check on a missing item, after a delete.
    tx(
        [
            {"Delete": {"TableName": "messages", "Key": key("c0", 6)}},
            {
                "ConditionCheck": {
                    "TableName": "messages",
                    "Key": key("c8", 1),
                    "ConditionExpression": "attribute_exists(seq)",
                }
            },
        ]
    )
    # Names a table that does not exist; and one with a malformed action.
    tx([{"Put": {"TableName": "missing", "Item": key("c0", 1)}}])
    tx([{"Put": {"TableName": "messages", "Item": {"seq": {"N": "1"}}}}])
    return out


@pytest.mark.parametrize("scenario", [_queries, _transactions], ids=["queries", "transactions"])
def test_patched_moto_answers_like_plain_moto(scenario: Scenario) -> None:
    # GIVEN the same table and the same requests
    # WHEN they run on plain moto and on patched moto
    plain = _run(False, scenario)
    patched = _run(True, scenario)
    # THEN every answer and the final contents are the same
    assert patched == plain
    assert any(isinstance(entry, tuple) for entry in plain) or scenario is _queries


def test_install_is_idempotent_and_uninstall_restores_moto() -> None:
    # GIVEN plain moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    query, transact = Table.query, DynamoDBBackend.transact_write_items
    # WHEN the patches go in twice and come out once
    assert moto_speedups.install() == {"query": True, "transactions": True, "dispatch": True}
    assert moto_speedups.install() == {"query": True, "transactions": True, "dispatch": True}
    assert Table.query is not query
    moto_speedups.uninstall()
    # THEN moto's own methods are back
    assert Table.query is query
    assert DynamoDBBackend.transact_write_items is transact


def test_rollback_copy_delegates_everything_but_tables() -> None:
    # GIVEN the stand-in for the copy module, naming one item of one table
    stand_in = moto_speedups._RollbackCopy({"t": {("a", None)}})
    value = {"nested": [1, 2]}
    # WHEN it copies something that is not a table
    copied = stand_in.deepcopy(value)
    # THEN it is a real deep copy, and the module's other functions are the real ones
    assert copied == value and copied["nested"] is not value["nested"]
    assert stand_in.copy([1]) == [1]
