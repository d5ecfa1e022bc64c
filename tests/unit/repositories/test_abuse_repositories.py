"""The abuse counters and the flags on moto's DynamoDB: the conditions do what the limits
need, also when many callers race (each caller its own client, as Lambda containers are)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from parley.errors import Conflict, PayloadTooLarge
from parley.records import Member, member_row
from parley.repositories.abuse import AbuseCountersRepository
from parley.repositories.conversations import MembershipRepository
from parley.repositories.flags import FlagsRepository
from parley_memory.abuse import AbuseCounters as MemoryCounters

from tests.unit.repositories.conftest import Stubbed, cancelled

HOUR = 3_600_000
NOW = 1_800_000_000_000 - 1_800_000_000_000 % HOUR + 5


@pytest.fixture
def tables() -> Iterator[dict[str, str]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="limits",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        client.create_table(
            TableName="flags",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "userId", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "userId", "KeyType": "RANGE"},
            ],
        )
        yield {"limits": "limits", "flags": "flags"}


def _counters() -> AbuseCountersRepository:
    return AbuseCountersRepository("limits", boto3.client("dynamodb", region_name="us-east-1"))


def _items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return list(client.scan(TableName="limits")["Items"])


def test_take_admits_amounts_up_to_the_limit_and_says_when_the_window_ends(
    tables: dict[str, str],
) -> None:
    # GIVEN a budget of 5 an hour
    counters = _counters()
    # WHEN 3, then 2, then 1 are taken
    # THEN the first two fit exactly and the third waits for the window's end
    assert counters.take("added#alice", 3, 5, HOUR, NOW) is None
    assert counters.take("added#alice", 2, 5, HOUR, NOW) is None
    assert counters.take("added#alice", 1, 5, HOUR, NOW) == HOUR - 5
    # AND an amount larger than the whole budget never fits
    assert counters.take("added#bob", 6, 5, HOUR, NOW) == HOUR - 5
    # AND the next window starts from zero, and every item expires by TTL
    assert counters.take("added#alice", 5, 5, HOUR, NOW + HOUR) is None
    assert all("expiresAt" in item for item in _items())


@pytest.mark.parametrize("memory", [False, True], ids=["dynamodb", "memory"])
def test_spend_tells_the_windows_total_from_the_one_write(
    tables: dict[str, str], memory: bool
) -> None:
    # GIVEN a budget of 100 a minute, in DynamoDB (one conditional UpdateItem) or in memory
    counters = MemoryCounters() if memory else _counters()
    minute = 60_000
    # WHEN 30, then 50, then 30 are spent
    # THEN each fit says the window's total after it; the refusal says the wait and 0
    assert counters.spend("fanout#alice", 30, 100, minute, NOW) == (None, 30)
    assert counters.spend("fanout#alice", 50, 100, minute, NOW) == (None, 80)
    assert counters.spend("fanout#alice", 30, 100, minute, NOW) == (minute - 5, 0)
    # AND another key and the next window count from zero
    assert counters.spend("fanout#bob", 100, 100, minute, NOW) == (None, 100)
    assert counters.spend("fanout#alice", 40, 100, minute, NOW + minute) == (None, 40)


def test_distinct_counts_each_member_once(tables: dict[str, str]) -> None:
    # GIVEN a set admitting 2 members per window
    counters = _counters()
    assert counters.distinct("text#alice#h", "dm:a:b", 2, HOUR, NOW) is None
    assert counters.distinct("text#alice#h", "dm:a:b", 2, HOUR, NOW) is None
    assert counters.distinct("text#alice#h", "dm:a:c", 2, HOUR, NOW) is None
    # WHEN a third member comes
    # THEN it is refused until the window ends, while the two admitted stay admitted
    assert counters.distinct("text#alice#h", "dm:a:d", 2, HOUR, NOW) == HOUR - 5
    assert counters.distinct("text#alice#h", "dm:a:c", 2, HOUR, NOW) is None


def test_join_leave_and_members_of_a_windowless_set(tables: dict[str, str]) -> None:
    # GIVEN a set of at most 2
    counters = _counters()
    assert counters.join("live#alice", "c1", 2, 100) and counters.join("live#alice", "c2", 2, 100)
    # WHEN a third joins, then one leaves and it tries again
    assert not counters.join("live#alice", "c3", 2, 100)
    counters.leave("live#alice", {"c1"})
    # THEN there is room again, and the set lists exactly its members
    assert counters.join("live#alice", "c3", 2, 100)
    assert counters.members("live#alice") == {"c2", "c3"}
    # AND leaving twice, or an unknown set, changes nothing
    counters.leave("live#alice", {"c1"})
    counters.leave("live#nobody", {"c1"})
    assert counters.members("live#nobody") == set()


def test_nonempty_sets_are_those_with_a_member_that_have_not_expired(
    tables: dict[str, str],
) -> None:
    # GIVEN alice's set holds one id, bob's held one that left, carol's expired, dave none
    counters = _counters()
    counters.join("live#alice", "a1", 20, 1_000)
    counters.join("live#bob", "b1", 20, 1_000)
    counters.leave("live#bob", {"b1"})
    counters.join("live#carol", "c1", 20, 10)
    # WHEN presence asks which are non-empty at t = 100 s
    found = counters.nonempty(["live#alice", "live#bob", "live#carol", "live#dave"], 100)
    # THEN only alice's
    assert found == {"live#alice"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.integers(1, 12),
    amounts=st.lists(st.integers(1, 4), max_size=12),
    members=st.lists(st.sampled_from("abcdefgh"), max_size=12),
)
def test_counters_admit_exactly_what_a_model_admits(
    tables: dict[str, str], limit: int, amounts: list[int], members: list[str]
) -> None:
    # GIVEN a fresh budget and a fresh set (hypothesis runs every example on one table)
    counters = _counters()
    key = uuid.uuid4().hex
    # WHEN amounts are taken and members added one after another
    # THEN each is admitted exactly when the model (a sum, a set) says it fits
    total = 0
    for amount in amounts:
        fits = total + amount <= limit
        assert (counters.take(f"t#{key}", amount, limit, HOUR, NOW) is None) == fits
        total += amount if fits else 0
    seen: set[str] = set()
    for member in members:
        fits = member in seen or len(seen) < limit
        assert (counters.distinct(f"d#{key}", member, limit, HOUR, NOW) is None) == fits
        seen |= {member} if fits else set()


@settings(max_examples=20, deadline=None)
@given(limit=st.integers(1, 12), callers=st.integers(1, 24), amount=st.integers(1, 3))
def test_concurrent_takes_never_overshoot_the_limit(limit: int, callers: int, amount: int) -> None:
    # GIVEN many callers racing for one budget on the in-memory counters, whose every call
    # is atomic as a conditional UpdateItem is (moto's own server does not promise that
    # under threads, so the conditions are checked above, one call at a time)
    counters = MemoryCounters()

    def one(_: int) -> bool:
        return counters.take("race", amount, limit, HOUR, NOW) is None

    # WHEN they all take at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(one, range(callers)))
    # THEN exactly as many are admitted as the budget holds, never more
    assert admitted == min(callers, limit // amount)


def test_flags_keep_the_latest_reason_per_user_in_userid_order(tables: dict[str, str]) -> None:
    # GIVEN two users flagged, one of them twice
    flags = FlagsRepository("flags", boto3.client("dynamodb", region_name="us-east-1"))
    flags.flag("mallory", "first", 1)
    flags.flag("eve", "spam", 2)
    flags.flag("mallory", "second", 3)
    # WHEN the admins list them
    # THEN each appears once, with the newest reason, and the list is bounded
    assert flags.all(10) == [
        {"userId": "eve", "reason": "spam", "at": 2},
        {"userId": "mallory", "reason": "second", "at": 3},
    ]
    assert len(flags.all(1)) == 1


# ---- the rows after an addition's system message (stubbed transaction answers) ----------


def _rows(n: int) -> list[Member]:
    return [member_row("grp:G", f"user{i:03d}", "member", 5, 0) for i in range(n)]


def test_add_rows_is_one_transaction_of_the_counter_and_the_rows(dynamodb: Stubbed) -> None:
    # GIVEN 99 rows
    repo = MembershipRepository("Conversations", "Members", "Messages", dynamodb.client)
    dynamodb.stub.add_response("transact_write_items", {})
    # WHEN they are added
    repo.add_rows("grp:G", _rows(99), 10_000)
    # THEN one transaction of 100 items: memberCount up by 99 if there is room, then the rows
    (call,) = dynamodb.calls("TransactWriteItems")
    items = call["TransactItems"]
    assert len(items) == 100
    assert items[0]["Update"]["ExpressionAttributeValues"] == {
        ":d": {"N": "99"},
        ":room": {"N": "9901"},
    }
    assert all(i["Put"]["ConditionExpression"] == "attribute_not_exists(userId)" for i in items[1:])
    # AND nothing is written for no rows
    repo.add_rows("grp:G", [], 10_000)


@pytest.mark.parametrize(
    ("reasons", "error"),
    [
        (("ConditionalCheckFailed", "None", "None"), PayloadTooLarge),
        (("None", "None", "ConditionalCheckFailed"), Conflict),
    ],
)
def test_add_rows_refusals_name_their_cause(
    dynamodb: Stubbed, reasons: tuple[str, ...], error: type[Exception]
) -> None:
    repo = MembershipRepository("Conversations", "Members", "Messages", dynamodb.client)
    cancelled(dynamodb, *reasons)
    with pytest.raises(error):
        repo.add_rows("grp:G", _rows(2), 10_000)


def test_add_rows_raises_other_cancellations(dynamodb: Stubbed) -> None:
    repo = MembershipRepository("Conversations", "Members", "Messages", dynamodb.client)
    cancelled(dynamodb, "None", "ThrottlingError", "None")
    with pytest.raises(ClientError):
        repo.add_rows("grp:G", _rows(2), 10_000)
