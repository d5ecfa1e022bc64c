"""The fan-out isolation benchmark's pure parts and its smallest run (parley_bench.flood)."""

from __future__ import annotations

from typing import Any

import pytest
from parley import frames, ids
from parley.errors import ParleyError
from parley.services.budget import FanoutBudget
from parley.services.limits import RateLimiter
from parley_bench import flood, report
from parley_bench.memory import Latency
from parley_memory import Limits, Store
from parley_memory.abuse import AbuseCounters


class Ticks:
    """A millisecond source the test moves by hand."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_the_window_clock_starts_a_whole_window_and_follows_its_source() -> None:
    # GIVEN a wall clock 42.5 s into a minute
    ticks = Ticks(1_795_773_642_500)
    # WHEN a window clock is made and the wall clock moves on 1.25 s
    clock = flood.WindowClock(60_000, ticks)
    first = clock.now_ms()
    ticks.now += 1_250
    # THEN it started on a minute boundary and moved by the same 1.25 s
    assert first % 60_000 == 0
    assert clock.now_ms() - first == 1_250


def _refusal(error: ParleyError) -> dict[str, object]:
    return frames.error(error.payload(), "r1")


def test_a_refusal_is_told_apart_by_the_limit_that_raised_it() -> None:
    # GIVEN the real budget and send limit, each already spent
    clock = flood.WindowClock()
    budget = FanoutBudget(counters=AbuseCounters(), clock=clock, per_minute=100)
    limiter = RateLimiter(
        limits=Limits(Store()),
        clock=clock,
        frames_per_second=50,
        frame_burst=100,
        sends_per_minute=1,
        failed_logins=20,
        connects_per_minute=60,
        window_seconds=60,
    )
    budget.charge("flooder", 80)
    limiter.send("flooder")
    # WHEN each refuses the next send
    with pytest.raises(ParleyError) as by_budget:
        budget.charge("flooder", 80)
    with pytest.raises(ParleyError) as by_limit:
        limiter.send("flooder")
    # THEN each reply is classified by what refused it
    assert flood.outcome(_refusal(by_budget.value)) == "budget"
    assert flood.outcome(_refusal(by_limit.value)) == "limit"
    assert flood.outcome({"type": "ack", "seq": 2}) == "ack"
    assert flood.outcome({"type": "error", "code": 2003, "message": "forbidden"}) == "error"


def test_percentiles_are_nearest_rank() -> None:
    # GIVEN twenty samples 1..20
    values = [float(v) for v in range(20, 0, -1)]
    # WHEN the median rank and p95 are taken
    # THEN p95 is the 19th value, p100 the largest, and nothing gives 0
    assert flood.percentile(values, 95) == 19.0
    assert flood.percentile(values, 100) == 20.0
    assert flood.percentile(values, 50) == 10.0
    assert flood.percentile([], 95) == 0.0


def test_a_delivery_time_runs_to_the_last_member_and_only_when_all_got_it() -> None:
    # GIVEN two sends, the first reaching all three members, the second only two
    sends = [flood.SendB(seq=2, started=10.0), flood.SendB(seq=3, started=11.0)]
    arrivals = {2: [10.2, 10.9, 10.5], 3: [11.1, 11.3]}
    # WHEN their delivery times are taken
    times = flood.delivery_ms(sends, arrivals, expected=3)
    # THEN the first runs to its latest post; the second is missing
    assert times[0] == pytest.approx(900.0)
    assert times[1] is None


def test_the_second_half_keeps_the_known_times_of_later_sends() -> None:
    # GIVEN three sends at 1, 5 and 9 s, the last one never fully delivered
    sends = [flood.SendB(seq=n, started=float(at)) for n, at in ((2, 1), (3, 5), (4, 9))]
    times: list[float | None] = [100.0, 200.0, None]
    # WHEN the times of the sends from 5 s on are taken
    # THEN only the second one's is there
    assert flood.sent_since(sends, times, 5.0) == [200.0]


def test_the_conditions_are_baseline_budget_off_one_queue_and_two_lanes() -> None:
    # GIVEN the default budget and bulk share
    # WHEN the conditions are listed
    runs = flood.conditions(50_000, 0.2)
    # THEN the flood runs out of the budget's reach, at the default over one queue, and at
    # the default with the two lanes (as deployed, like the baseline)
    assert [c.name for c in runs] == ["baseline", "flood-off", "flood-one-lane", "flood-on"]
    assert [c.flood for c in runs] == [False, True, True, True]
    assert [c.lanes for c in runs] == [True, False, False, True]
    assert runs[1].budget_per_minute > 600 * 10_000  # the send limit times a large group
    assert runs[2].budget_per_minute == runs[3].budget_per_minute == 50_000
    assert runs[3].bulk_share == 0.2 and "two lanes (bulk past 20%)" in runs[3].title
    # AND the template's pool posts at most 20 x 8 posts in flight at 20 ms each
    assert flood.pool_posts_per_second(20, 8, 20.0) == 8_000
    assert flood.ratio(3.0, 2.0) == 1.5 and flood.ratio(1.0, 0.0) == 0.0


def test_members_and_connections_look_like_the_real_ones() -> None:
    # GIVEN a seeded group
    store = Store()
    flood.seed_group(store, flood.GROUP_B, "b", 3)
    # THEN ids pass Parley's checks and connection ids have API Gateway's length
    assert ids.check_conversation_id(flood.GROUP_A) == flood.GROUP_A
    assert ids.check_user_id(flood.user_id("b", 2)) == "bmember00002"
    assert len(flood.connection_id("a", 12345)) == 16
    assert store.conversations[flood.GROUP_B]["memberCount"] == 3


def tiny_run(condition: flood.Condition) -> dict[str, Any]:
    """`condition` with groups of 100 (A) and 60 (B) members and no latency, for 0.4 s."""
    return flood.run_condition(
        condition,
        members_a=100,
        members_b=60,
        seconds=0.4,
        interval=0.2,
        latency=Latency(0.0, 0.0, 0.0),
        drain_timeout=20.0,
    ).as_dict()


def test_a_tiny_flood_is_refused_by_the_budget_and_b_is_still_delivered() -> None:
    # GIVEN groups of 100 (A) and 60 (B) members, no latency, and a budget of 150 member
    # deliveries a minute: one of A's messages (99), two of B's (118)
    condition = flood.Condition("tiny", "tiny", True, 150)
    # WHEN the flooder floods A for a moment while B sends twice
    result = tiny_run(condition)
    # THEN one flood message is stored, the next are refused, and B's two reach everyone
    assert result["flood_acked"] == 1
    assert result["flood_budget_1005"] >= 1
    assert result["flood_deliveries"] == 99
    assert (result["b_sends"], result["b_delivered"], result["b_missing"]) == (2, 2, 0)
    assert 0 < result["b_median_ms"] <= result["b_p95_ms"] <= result["b_max_ms"]


def test_with_two_lanes_the_flood_past_its_share_goes_through_the_bulk_queue() -> None:
    # GIVEN groups of 100 (A) and 60 (B) members, no latency, a budget of 1,000 member
    # deliveries a minute and a bulk share of 20% (200: A's fourth message is past it)
    condition = flood.Condition("lanes", "lanes", True, 1000, True, 0.2)
    # WHEN the flooder floods A for a moment while B sends twice
    result = tiny_run(condition)
    # THEN ten flood messages are stored (990 deliveries), the first three in the normal
    # lane and the other seven, with their member batches, in the bulk lane; B's two (118
    # deliveries, under the share) reach everyone
    assert result["flood_acked"] == 10
    assert result["flood_deliveries"] == 990
    assert result["bulk_items"] >= 7
    assert (result["b_sends"], result["b_delivered"], result["b_missing"]) == (2, 2, 0)
    assert result["lanes"] is True


def test_the_section_shows_each_condition_and_the_summary_the_ratios() -> None:
    # GIVEN a result with the four conditions
    def condition(
        name: str, flooded: bool, median: float, p95: float, lanes: bool = False
    ) -> dict[str, object]:
        return {
            "name": name,
            "title": name,
            "flood": flooded,
            "lanes": lanes,
            "peak_bulk_backlog_items": 40 if lanes else 0,
            "bulk_items": 160 if lanes and flooded else 0,
            "b_median_ms": median,
            "b_p95_ms": p95,
            "b_max_ms": p95,
            "b_second_half_median_ms": median,
            "b_sends": 10,
            "b_delivered": 10,
            "flood_sends": 700 if flooded else 0,
            "flood_acked": 167 if flooded else 0,
            "flood_budget_1005": 433 if name == "flood-on" else 0,
            "flood_limit_1005": 100 if flooded else 0,
            "flood_deliveries": 49_933 if flooded else 0,
            "peak_backlog_items": 12,
            "posts_per_second": 3000.0,
        }

    result = {
        "members_a": 300,
        "members_b": 300,
        "seconds": 60.0,
        "interval": 0.5,
        "b_senders": 10,
        "latency": {"dynamodb_ms": 5.0, "post_ms": 20.0, "sqs_ms": 10.0},
        "concurrency": 20,
        "bulk_concurrency": 4,
        "bulk_share_percent": 20,
        "batch_size": 1,
        "threads": 8,
        "batch_users": 250,
        "sends_per_minute": 600,
        "budget_per_minute": 50_000,
        "pool_posts_per_second_aws": 8_000.0,
        "budget_seconds_aws": 6.25,
        "budget_seconds_here": 16.0,
        "conditions": [
            condition("baseline", False, 700.0, 800.0, True),
            condition("flood-off", True, 14_000.0, 40_000.0),
            condition("flood-one-lane", True, 770.0, 8_000.0),
            condition("flood-on", True, 720.0, 900.0, True),
        ],
        "ratios": {
            "off": {"median": 20.0, "p95": 50.0},
            "one_lane": {"median": 1.1, "p95": 10.0},
            "on": {"median": 1.0, "p95": 1.1},
        },
    }
    # WHEN the section and the summary are rendered
    section = report.flood_section(result)
    line = report.summary("flood", result)
    # THEN each condition has its row with its ratio to no flood
    size = "| A 300, B 300 members; 60 s |"
    assert f"{size} flood-off | **14.00 s / 40.00 s** | 40.00 s | 20.0x / 50.0x |" in section
    assert f"{size} baseline | **0.70 s / 0.80 s** | 0.80 s | 1.0x / 1.0x |" in section
    assert f"{size} flood-on | **0.72 s / 0.90 s** | 0.90 s | 1.0x / 1.1x |" in section
    # AND the backlog column shows the bulk lane's beside the normal one's, with the lanes
    assert "| 10 / 10 | - | 0 | 12 / 40 | 3,000 |" in section
    assert "| 10 / 10 | 700: 167 stored, 0 budget 1005, 100 send-limit 1005 | 49,933 | 12 |" in (
        section
    )
    assert "about 6.2 s at the template's 8,000 posts/s" in section
    # AND why B's messages come from several members: one alone would be a heavy sender
    assert (
        "from 10 of its members in turn (one member alone at that rate would spend 35,880 "
        "deliveries a minute, past the bulk share of 10,000: a heavy sender itself)"
    ) in section
    assert "B's p95 there is 8.0 s. With the two lanes, 1.0x and 1.1x" in section
    assert "(160 work items went through it, at most 40 waiting)" in section
    assert "0.70 s without a flood, 14.00 s with the budget off, 0.77 s" in section
    assert (
        "20.0x / 50.0x of no flood with the budget off, 1.1x / 10.0x with it over one queue, "
        "1.0x / 1.1x with the two lanes"
    ) in line
    assert "the flooder stored 167 messages with it (167 without)" in line
    assert "433 of its 700 sends answered 1005 by the budget, 100 by the send limit" in line
