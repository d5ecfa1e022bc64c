"""The short soak of `make test`: real WebSocket users under 5% faults of every kind.

A local cloud of its own runs the built-in `all5` profile (5% of DynamoDB calls throttled,
failed or timed out, of `@connections` posts answered 500/429/410, of SQS batches partly
failed, of Lambda invocations failed or timed out before or after the handler, and 5%
with added latency). A handful of users send direct and group messages for about 15
seconds, resending with the same clientMsgId as the protocol says; the checker must find
no violation. The long profile is `make soak` (docs/local-development.md).
"""

from __future__ import annotations

import asyncio

from parley_soak.checker import check
from parley_soak.cli import SOAK_PARAMETERS
from parley_soak.report import figures, table
from parley_soak.run import Settings, run_soak

from tests.e2e.helpers import make_cloud, stop_and_check

SHORT = Settings(users=5, groups=2, group_size=3, rate=1.0, duration=15.0, seed=16, settle=2.0)


def test_short_soak_under_five_percent_faults_of_every_kind_breaks_no_guarantee() -> None:
    # GIVEN a local cloud injecting 5% faults of every kind
    cloud = make_cloud(faults="all5", parameter_overrides=SOAK_PARAMETERS, workers=3).start()
    try:
        # WHEN the short soak runs against it
        history = asyncio.run(
            asyncio.wait_for(
                run_soak(
                    cloud.http_url,
                    cloud.ws_url,
                    SHORT,
                    aws_endpoint=cloud.aws_endpoint_url,
                    progress=False,
                ),
                timeout=240,
            )
        )
    finally:
        stop_and_check(cloud)
    violations = check(history)
    # THEN faults were injected, every message was sent and acked, and no guarantee broke
    assert sum(history.faults.values()) > 0, table(history, violations)
    assert figures(history).acked == int(SHORT.rate * SHORT.duration), table(history, violations)
    assert violations == [], table(history, violations)
