"""No code path issues a DynamoDB Scan (docs/architecture.md, section 2).

Two checks: the source of the package and the handlers never mentions a Scan, and the main
scenarios, run through the real handlers against moto with a botocore hook that refuses
any Scan, never attempt one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "parley" / "parley", ROOT / "functions"]
SCAN = re.compile(r"""\.scan\(|["']Scan["']|\bscan_table\b|paginate\(\s*["']scan""")


def test_no_source_file_issues_a_scan() -> None:
    # GIVEN every Python file of the layer and the handlers
    files = [p for root in SOURCES for p in root.rglob("*.py")]
    assert len(files) > 20
    # WHEN they are searched for a Scan call
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if SCAN.search(line)
    ]
    # THEN there is none
    assert found == []


def test_the_grep_would_catch_a_scan() -> None:
    # GIVEN the ways boto3 code spells a Scan
    # THEN the pattern matches each of them (so the test above means something)
    for line in ("client.scan(TableName=t)", 'paginator = c.get_paginator("Scan")', "op='Scan'"):
        assert SCAN.search(line), line


@pytest.mark.parametrize(
    "scenario", ["dm_online", "dm_offline_then_sync", "connect", "group", "sync"]
)
def test_scenarios_never_attempt_a_scan(scenario: str) -> None:
    # GIVEN the real handlers against moto, with a hook that refuses any DynamoDB Scan
    from parley_bench import cost
    from parley_bench.world import World

    runners = {
        "dm_online": cost._dm_online,
        "dm_offline_then_sync": cost._dm_offline_then_sync,
        "connect": cost._connect_disconnect,
        "group": cost._group(60),
        "sync": cost._sync_backlog(150),
    }
    # WHEN a scenario runs (metered: every call is recorded)
    with World(inspect=False, forbid=("dynamodb.Scan",)) as world:
        runners[scenario](world, 1)
        calls = {c.name for c in world.meter.calls}
        refused = list(world.meter.refused)
    # THEN it made DynamoDB calls, and not one Scan was attempted
    assert any(name.startswith("dynamodb.") for name in calls)
    assert "dynamodb.Scan" not in calls
    assert refused == []


def test_the_hook_refuses_a_scan() -> None:
    # GIVEN the same hook
    import boto3
    from parley import aws
    from parley_bench.meter import Refused
    from parley_bench.world import World

    with World(inspect=False, forbid=("dynamodb.Scan",)) as world:
        table = world.table("UsersTable")
        # WHEN application code would Scan
        with pytest.raises(Refused):
            aws.client("dynamodb").scan(TableName=table)
        # THEN it was refused and recorded; other clients are unaffected
        assert world.meter.refused == ["dynamodb.Scan"]
        boto3.client("dynamodb").describe_table(TableName=table)
