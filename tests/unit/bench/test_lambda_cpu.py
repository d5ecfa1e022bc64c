"""The fan-out report's Lambda CPU check (parley_bench.sdkcpu, suite, report)."""

from __future__ import annotations

from typing import Any

import pytest
from parley_bench import report, sdkcpu, suite


def test_a_function_gets_cpu_in_proportion_to_memory_up_to_one_vcpu() -> None:
    # GIVEN Lambda's rule (one vCPU at 1,769 MB)
    # WHEN shares are asked for small, exact and large sizes
    # THEN they scale with memory and stop at one
    assert sdkcpu.vcpu_share(1769) == 1.0
    assert sdkcpu.vcpu_share(3538) == 1.0
    assert sdkcpu.vcpu_share(256) == pytest.approx(256 / 1769)


def test_the_sdk_costs_some_cpu_per_call() -> None:
    # GIVEN a local endpoint that answers at once
    # WHEN a few posts and queries go through botocore
    cpu = sdkcpu.measure(calls=20, rounds=1, threads=2)
    # THEN each kind of call is measured, in positive milliseconds
    assert set(cpu) == {"post_cpu_ms", "query_cpu_ms", "put_cpu_ms"}
    assert all(value > 0 for value in cpu.values())


def test_the_busiest_container_is_checked_at_the_template_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 1 ms per post and 2 ms per query, and the template's event source and memory
    monkeypatch.setattr(
        sdkcpu, "measured", lambda: {"post_cpu_ms": 1.0, "query_cpu_ms": 2.0, "put_cpu_ms": 0.5}
    )
    row: dict[str, Any] = {"members": 10_000, "last_ms": 2500.0, "dilated_last_ms": 1500.0}
    # WHEN the check runs for the 10,000-member row
    cpu = suite.lambda_cpu_check(row)
    # THEN each container's share of lookups and posts is priced at 256 MB and at the
    # template's size
    per_container = 10_000 / suite.fanout_max_concurrency()
    assert cpu["calls_per_container"] == per_container
    assert cpu["cpu_ms_per_container"] == pytest.approx(per_container * 3.0)
    size = cpu["template_memory_mb"]
    assert cpu["by_memory"][str(size)] == pytest.approx(
        per_container * 3.0 / sdkcpu.vcpu_share(size)
    )
    assert cpu["by_memory"]["256"] == pytest.approx(per_container * 3.0 * 1769 / 256)
    # AND the report says it, next to the design's own time
    text = "\n".join(report._lambda_cpu_text(cpu, row))
    assert "`PostToConnection` 1.00 ms, `Query` 2.00 ms" in text
    assert "1.50 s the design's waits take" in text
    assert report._lambda_cpu_text(None, row) == []


def test_a_send_is_billed_for_its_sdk_cpu_on_the_functions_share_of_a_vcpu() -> None:
    # GIVEN a direct message's bill: one post and seven DynamoDB calls, 10 ms in-process
    from parley_bench.meter import Bill

    bill = Bill()
    bill.calls = {"PostToConnection": 1, "GetItem": 1, "PutItem": 1, "Query": 4, "UpdateItem": 1}
    bill.add_invocation(256, 10.0)
    sdk = {"post_cpu_ms": 1.0, "query_cpu_ms": 2.0, "put_cpu_ms": 0.5}
    # WHEN it is re-billed for a 256 MB function
    aws = suite.send_on_aws(bill, sdk, 256)
    # THEN the SDK's 10.5 ms of CPU (1 post, 4 queries, 3 small calls) stretch to the
    # function's share, plus the round trips
    assert aws["cpu_ms"] == pytest.approx(1.0 + 4 * 2.0 + 3 * 0.5)
    assert aws["waits_ms"] == pytest.approx(4 * 5.0 + 20.0)
    assert aws["billed_ms"] == pytest.approx(10.5 * 1769 / 256 + 40.0)
    # AND only the Lambda duration changes in the total
    modeled = bill.costs()["Lambda duration"] * 1e6
    assert aws["total_per_million"] == pytest.approx(
        bill.total() * 1e6 - modeled + aws["lambda_duration_per_million"]
    )
    # AND the cost section says so for the direct message
    result = {
        "scenarios": [
            {"name": "dm", "costs_per_million": {"Lambda duration": modeled}, "on_aws": aws}
        ]
    }
    text = "\n".join(report._on_aws_text(result))
    assert "0.14 of a vCPU" in text and "with the rate limiter" in text
    assert report._on_aws_text({"scenarios": []}) == []
