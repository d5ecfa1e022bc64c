"""The soak's table: faults by kind, retries, acks, latencies, live vs only by sync."""

from __future__ import annotations

import math
import re

from parley_soak.checker import Violation
from parley_soak.history import History, Send
from parley_soak.report import figures, percentile, summary_line, table

GROUP = "grp:01TESTGROUP"


def _history() -> History:
    """Two messages into a group of three: the first pushed to both others, the second to
    one only; a third send given up after three attempts."""
    history = History(members={GROUP: frozenset({"a", "b", "c"})}, profile="all5 (seed 5)")
    first = Send("a", GROUP, "m1", started=10.0, attempts=1, acked_seq=2, acked_at=10.1)
    second = Send("b", GROUP, "m2", started=20.0, attempts=3, acked_seq=3, acked_at=20.5)
    second.errors = ["2001", "timeout"]
    third = Send("c", GROUP, "m3", started=30.0, attempts=3, given_up="no ack")
    third.errors = ["timeout", "timeout", "timeout"]
    history.sends = [first, second, third]
    history.live = {("b", GROUP, 2): 10.2, ("c", GROUP, 2): 10.3, ("a", GROUP, 3): 20.6}
    history.faults = {"dynamodb:ThrottlingException": 4, "lambda:error:after": 0}
    return history


def test_figures_count_retries_copies_and_latencies() -> None:
    # GIVEN the history above
    # WHEN its figures are computed
    f = figures(_history())
    # THEN retries are attempts beyond the first, copies exclude the sender
    assert (f.sends, f.acked, f.given_up, f.retries) == (3, 2, 1, 4)
    assert f.errors == {"2001": 1, "timeout": 4}
    assert (f.copies, f.live, f.by_sync_only) == (4, 3, 1)
    assert [round(ms) for ms in f.ack_ms] == [100, 500]
    assert [round(ms) for ms in f.delivery_ms] == [200, 300, 600]


def test_the_table_shows_every_figure_and_the_violations() -> None:
    # GIVEN the history and one violation
    violation = Violation("given up", "c/m3 in grp after 3 attempts: no ack")
    # WHEN the table is drawn
    text = table(_history(), [violation])
    # THEN it names the profile, the faults by kind (zero counters left out), the figures
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if "  " in line]
    lines = {row[0]: row[-1] for row in rows}
    assert "all5 (seed 5)" in text
    assert lines["faults injected"] == "4"
    assert lines["dynamodb:ThrottlingException"] == "4"
    assert "lambda:error:after" not in text
    assert lines["retries (same clientMsgId)"] == "4"
    assert lines["after timeout"] == "4"
    assert lines["delivered live"] == "3"
    assert lines["only by sync"] == "1"
    assert "ack latency p50 / p99 ms" in text and "100 / 500" in text
    assert lines["violations"] == "1"
    assert text.splitlines()[-1] == f"VIOLATION {violation}"


def test_the_summary_line_gives_the_verdict() -> None:
    # GIVEN the history and no violation
    # WHEN its summary line is written
    line = summary_line(_history(), [])
    # THEN it has the counts, the faults and the verdict
    assert line.startswith("2/3 acked, 1 given up, 4 retries; faults 4 (dynamodb:Thrott")
    assert "3 copies live, 1 only by sync" in line
    assert line.endswith("**0 violations**")


def test_percentiles_of_nothing_are_nan_and_the_table_says_so() -> None:
    # GIVEN a history with no send at all
    # WHEN the table is drawn
    # THEN latencies show "-" and a percentile of nothing is NaN
    assert math.isnan(percentile([], 50))
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    text = table(History(), [])
    assert re.search(r"ack latency p50 / p99 ms\s+-$", text, re.MULTILINE)
