"""The send path's AWS calls (performance issue): one limits write per send, the burst of
sends bounded by that write in DynamoDB, and the frame count left to the other routes."""

from __future__ import annotations

import boto3
import pytest
from parley.repositories.limits import LimitsRepository
from parley_bench.cost import TEXT, conn_id, seed_connection, seed_users, user_id
from parley_bench.world import World

T0 = 1_700_000_040_000


def test_the_limits_table_counts_a_burst_in_the_same_item(aws: object) -> None:
    # GIVEN the Limits table of the template (moto)
    from tests.support.stack import Stack

    assert isinstance(aws, Stack)
    repo = LimitsRepository(aws.tables["LimitsTable"])
    # WHEN 3 hits fit a burst of 2 per 1 s slice (10 per minute)
    results = [
        repo.hit("send#a", 10, 60_000, T0 + 100, burst=2, burst_window_ms=1000) for _ in range(3)
    ]
    # THEN the third waits for the slice's end; in the next slice hits pass again
    assert results == [None, None, 900]
    assert repo.hit("send#a", 10, 60_000, T0 + 1000, burst=2, burst_window_ms=1000) is None
    item = boto3.client("dynamodb").get_item(
        TableName=aws.tables["LimitsTable"], Key={"pk": {"S": f"send#a#{T0}"}}
    )["Item"]
    assert (item["n"]["N"], item["b0"]["N"], item["b1"]["N"]) == ("3", "2", "1")


def test_a_full_minute_window_waits_for_the_window_not_the_slice(aws: object) -> None:
    from tests.support.stack import Stack

    assert isinstance(aws, Stack)
    repo = LimitsRepository(aws.tables["LimitsTable"])
    assert repo.hit("send#b", 1, 60_000, T0, burst=5, burst_window_ms=1000) is None
    assert repo.hit("send#b", 1, 60_000, T0 + 10, burst=5, burst_window_ms=1000) == 59_990


@pytest.mark.parametrize("limiter", [True, False])
def test_a_text_send_makes_two_limits_writes_and_other_frames_one_each(limiter: bool) -> None:
    # GIVEN two users online, through the real handlers, every AWS call recorded
    with World(inspect=False, limiter=limiter) as world:
        seed_users(world, [user_id(1), user_id(2)])
        seed_connection(user_id(1), conn_id(1))
        seed_connection(user_id(2), conn_id(2))
        world.send(user_id(1), conn_id(1), "first", TEXT, to=user_id(2))
        limits = world.table("LimitsTable")
        # WHEN alice sends, then pings
        with world.metered() as _:
            world.send(user_id(1), conn_id(1), "second", TEXT, to=user_id(2))
        sends = [c for c in world.meter.calls if c.table == limits]
        with world.metered() as _:
            world.ws("ping", {"action": "ping", "id": "p"}, user=user_id(1), connection=conn_id(1))
        pings = [c for c in world.meter.calls if c.table == limits][len(sends) :]
    # THEN the send wrote the limits table twice, side by side (its send counter and the
    # repeated-text counter of protocol 13), the ping once (its frame counter); with the
    # limiter off, never
    assert len(sends) == (2 if limiter else 0) and len(pings) == (1 if limiter else 0)
    if limiter:
        keys = sorted(c.params["Key"]["pk"]["S"] for c in sends)
        assert keys[0].startswith(f"send#{user_id(1)}#")
        assert keys[1].startswith(f"text#{user_id(1)}#")
        assert pings[0].params["Key"]["pk"]["S"].startswith(f"frame#{conn_id(1)}#")
