"""`repositories.base` against a stubbed DynamoDB: error translation, batching, retries."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from parley import concurrency, ddb
from parley.errors import Code, Unavailable
from parley.repositories import base

from tests.unit.repositories.conftest import Stubbed

TABLE = "t-Table"


def key(i: int) -> dict[str, object]:
    return ddb.key(pk=f"k{i:03d}")


# ---- translate ---------------------------------------------------------------------------


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutItem")


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    ],
)
def test_translate_maps_throttling_and_faults_to_unavailable(code: str) -> None:
    # GIVEN a throttling or service-fault ClientError
    # WHEN it leaves a translate() block
    # THEN it is Unavailable, code 2001 ("retry"), with the original as cause
    with pytest.raises(Unavailable) as caught, base.translate():
        raise client_error(code)
    assert caught.value.code == Code.MESSAGE_SEND_FAILED
    assert int(caught.value.code) == 2001
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "code",
    [
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "ValidationException",
        "ResourceNotFoundException",
        "AccessDeniedException",
    ],
)
def test_translate_passes_other_client_errors_through(code: str) -> None:
    # GIVEN a ClientError that is a domain answer or a bug, not a transient fault
    # WHEN it leaves a translate() block
    # THEN it is re-raised unchanged
    with pytest.raises(ClientError) as caught, base.translate():
        raise client_error(code)
    assert base.error_code(caught.value) == code


@pytest.mark.parametrize(
    "exc",
    [EndpointConnectionError(endpoint_url="https://x"), ReadTimeoutError(endpoint_url="https://x")],
)
def test_translate_maps_botocore_errors_to_unavailable(exc: Exception) -> None:
    # GIVEN a connection error or timeout below the service
    # WHEN it leaves a translate() block
    # THEN it is Unavailable
    with pytest.raises(Unavailable), base.translate():
        raise exc


def test_translate_leaves_other_exceptions_alone() -> None:
    # GIVEN a non-AWS exception
    # WHEN it leaves a translate() block
    # THEN it is unchanged
    with pytest.raises(KeyError), base.translate():
        raise KeyError("x")


def test_translate_with_a_stubbed_client(dynamodb: Stubbed) -> None:
    # GIVEN DynamoDB answering ProvisionedThroughputExceededException
    # WHEN a call runs inside translate()
    # THEN Unavailable is raised
    dynamodb.stub.add_client_error("get_item", "ProvisionedThroughputExceededException")
    with pytest.raises(Unavailable), base.translate():
        dynamodb.client.get_item(TableName=TABLE, Key=key(1))


def test_error_code_of_non_client_errors_is_empty() -> None:
    # GIVEN an exception without an AWS response
    # WHEN its code is asked
    # THEN it is ""
    assert base.error_code(ValueError("x")) == ""


# ---- backoff ---------------------------------------------------------------------------


def test_backoff_is_full_jitter_below_a_capped_exponential(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the random draw at its top (uniform(a, b) returns b)
    # WHEN the wait before each retry is asked
    # THEN it doubles from 25 ms and stops at 1 s
    monkeypatch.setattr(base.random, "uniform", lambda low, high: high)
    waits = [base.backoff(attempt) for attempt in range(8)]
    assert waits == [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_draws_from_zero_up_to_the_bound() -> None:
    # GIVEN many draws for the same attempt
    # WHEN they are compared with the bound
    # THEN every one lies in [0, bound] and they differ (jitter)
    draws = [base.backoff(3) for _ in range(200)]
    assert all(0 <= d <= 0.2 for d in draws)
    assert len(set(draws)) > 100


# ---- batch_get ---------------------------------------------------------------------------


def rows(indexes: range | list[int]) -> dict[str, object]:
    return {"Responses": {TABLE: [ddb.encode({"pk": f"k{i:03d}"}) for i in indexes]}}


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50])]
)
def test_batch_get_chunks_at_100(dynamodb: Stubbed, count: int, sizes: list[int]) -> None:
    # GIVEN `count` keys
    # WHEN they are batch-read
    # THEN BatchGetItem is called with chunks of at most 100 keys and every row is returned
    start = 0
    for size in sizes:
        dynamodb.stub.add_response("batch_get_item", rows(range(start, start + size)))
        start += size
    found = base.batch_get(
        dynamodb.client, TABLE, [key(i) for i in range(count)], ProjectionExpression="pk"
    )
    calls = dynamodb.calls("BatchGetItem")
    assert [len(c["RequestItems"][TABLE]["Keys"]) for c in calls] == sizes
    assert all(c["RequestItems"][TABLE]["ProjectionExpression"] == "pk" for c in calls)
    assert sorted(ddb.decode(r)["pk"] for r in found) == [f"k{i:03d}" for i in range(count)]


def test_batch_get_retries_unprocessed_keys(dynamodb: Stubbed) -> None:
    # GIVEN DynamoDB answering part of the keys and returning the rest as unprocessed
    # WHEN the keys are batch-read
    # THEN the second call asks exactly for the unprocessed keys, and all rows are returned
    keys = [key(i) for i in range(4)]
    unprocessed = {TABLE: {"Keys": keys[2:], "ProjectionExpression": "pk"}}
    dynamodb.stub.add_response("batch_get_item", {**rows([0, 1]), "UnprocessedKeys": unprocessed})
    dynamodb.stub.add_response("batch_get_item", rows([2, 3]))
    slept: list[float] = []
    found = base.batch_get(
        dynamodb.client, TABLE, keys, sleep=slept.append, ProjectionExpression="pk"
    )
    calls = dynamodb.calls("BatchGetItem")
    assert calls[1]["RequestItems"] == unprocessed
    assert len(found) == 4
    assert len(slept) == 1 and 0 <= slept[0] <= base.BACKOFF_BASE  # one wait, before the retry


def test_batch_get_gives_up_with_unavailable(dynamodb: Stubbed) -> None:
    # GIVEN DynamoDB never processing a key
    # WHEN the key is batch-read
    # THEN after 8 bounded attempts it raises Unavailable
    keys = [key(0)]
    for _ in range(8):
        dynamodb.stub.add_response(
            "batch_get_item", {"Responses": {}, "UnprocessedKeys": {TABLE: {"Keys": keys}}}
        )
    slept: list[float] = []
    with pytest.raises(Unavailable) as caught:
        base.batch_get(dynamodb.client, TABLE, keys, sleep=slept.append)
    assert caught.value.__context__ is None  # raised by the bound, not by a 9th call
    assert len(dynamodb.calls("BatchGetItem")) == 8
    # A growing, capped wait before each of the 7 retries.
    bounds = [min(base.BACKOFF_CAP, base.BACKOFF_BASE * 2**i) for i in range(7)]
    assert len(slept) == 7 and all(0 <= s <= b for s, b in zip(slept, bounds, strict=True))


def test_batch_get_of_nothing_makes_no_call(dynamodb: Stubbed) -> None:
    # GIVEN no keys
    # WHEN batch-read
    # THEN the answer is empty and no call is made
    assert base.batch_get(dynamodb.client, TABLE, []) == []
    assert dynamodb.requests == []


# ---- query_all ---------------------------------------------------------------------------


def test_query_all_follows_last_evaluated_key(dynamodb: Stubbed) -> None:
    # GIVEN a Query answered in three pages
    # WHEN all items are read
    # THEN every page is fetched, each continuing from the previous LastEvaluatedKey
    dynamodb.stub.add_response(
        "query", {"Items": [ddb.encode({"pk": "a"})], "LastEvaluatedKey": key(1)}
    )
    dynamodb.stub.add_response(
        "query", {"Items": [ddb.encode({"pk": "b"})], "LastEvaluatedKey": key(2)}
    )
    dynamodb.stub.add_response("query", {"Items": []})
    items = list(base.query_all(dynamodb.client, TableName=TABLE, KeyConditionExpression="pk = :p"))
    assert [ddb.decode(i)["pk"] for i in items] == ["a", "b"]
    starts = [c.get("ExclusiveStartKey") for c in dynamodb.calls("Query")]
    assert starts == [None, key(1), key(2)]


# ---- parallel helpers --------------------------------------------------------------------


def test_parallel_map_keeps_order_and_gather_returns_results_in_order() -> None:
    # GIVEN independent calls
    # WHEN run in parallel
    # THEN results come back in the order of the inputs
    assert concurrency.parallel_map(lambda x: x * 2, list(range(50))) == [x * 2 for x in range(50)]
    assert concurrency.parallel_map(lambda x: x, []) == []
    assert concurrency.gather(lambda: 1, lambda: "b", lambda: None) == [1, "b", None]


def test_gather_raises_the_first_error() -> None:
    # GIVEN one failing call among several
    # WHEN gathered
    # THEN its exception propagates
    def boom() -> None:
        raise Unavailable()

    with pytest.raises(Unavailable):
        concurrency.gather(lambda: 1, boom)
