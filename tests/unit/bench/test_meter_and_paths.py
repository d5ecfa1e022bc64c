"""Billing arithmetic, the price table and the critical-path chain (parley_bench)."""

from __future__ import annotations

import pytest
from parley_bench.capacity import Units
from parley_bench.critical import longest_chain
from parley_bench.meter import Bill, Call, ws_units
from parley_bench.prices import PRICES, PRICES_DATE


def call(name: str, start: float, end: float, **params: object) -> Call:
    service, operation = name.split(".")
    return Call(service, operation, dict(params), start=start, end=end)


def test_the_floor_of_a_delivered_message_is_383_per_million() -> None:
    # GIVEN 3 WebSocket messages, 1 write unit and 1 Lambda request
    bill = Bill(ws_in=1, ws_out=2, ddb_write=1, lambda_requests=1)
    # THEN it costs $3.825 per million at the dated prices
    assert bill.total() * 1e6 == pytest.approx(3.825)
    assert PRICES_DATE.startswith("20")


def test_websocket_messages_are_metered_in_32_kb_units() -> None:
    assert [ws_units(n) for n in (0, 1, 32 * 1024, 32 * 1024 + 1, 96 * 1024)] == [1, 1, 1, 2, 3]
    bill = Bill()
    bill.add_calls([call("apigatewaymanagementapi.PostToConnection", 0, 1, Data=b"x" * 40_000)])
    assert (bill.ws_out, bill.ws_posts) == (2, 2)


def test_sqs_batches_bill_per_64_kb_chunk_and_dynamodb_units_add_up() -> None:
    entries = [{"Id": str(i), "MessageBody": "y" * 10_000} for i in range(10)]
    ddb = call("dynamodb.PutItem", 0, 1)
    ddb.units = Units(write=2, index_write=1)
    bill = Bill()
    bill.add_calls([call("sqs.SendMessageBatch", 0, 1, Entries=entries), ddb])
    assert bill.sqs_requests == 2  # 100,000 bytes = two 64 KB chunks
    assert (bill.ddb_write, bill.ddb_index_write) == (2, 1)
    assert bill.calls == {"sqs.SendMessageBatch": 1, "dynamodb.PutItem": 1}


def test_lambda_duration_is_billed_per_started_millisecond() -> None:
    bill = Bill()
    bill.add_invocation(256, 10.2)
    assert bill.lambda_gb_s == pytest.approx(0.25 * 0.011)
    assert bill.costs()["Lambda duration"] == pytest.approx(0.25 * 0.011 * PRICES.lambda_gb_second)


def test_scaling_a_bill_gives_per_message_figures() -> None:
    bill = Bill(ws_in=10, ddb_read=5, lambda_requests=10, calls={"dynamodb.Query": 20})
    per = bill.scaled(0.1)
    assert (per.ws_in, per.ddb_read, per.lambda_requests) == (1, 0.5, 1)
    assert per.calls == {"dynamodb.Query": 2}


def test_the_longest_chain_counts_sequential_calls_not_parallel_ones() -> None:
    # GIVEN two parallel reads, then a write, then a post (and a call after the post)
    calls = [
        call("dynamodb.GetItem", 0, 10),
        call("dynamodb.Query", 1, 11),
        call("dynamodb.PutItem", 12, 20),
        call("dynamodb.UpdateItem", 21, 30),
        call("apigatewaymanagementapi.PostToConnection", 31, 40),
    ]
    # WHEN the chain before the post is taken
    chain = longest_chain(calls, before=31)
    # THEN the parallel reads count once
    assert [c.operation for c in chain] == ["GetItem", "PutItem", "UpdateItem"]
    assert longest_chain(calls, before=5) == []
