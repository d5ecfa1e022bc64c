"""`python -m parley_schema.dispatch_cost`: the measurement quoted in docs/architecture.md."""

from __future__ import annotations

from parley_schema.dispatch_cost import DISPATCHES, imported_after_marker, measure

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        900 | parley.models
MARK
import time:       300 |        300 |   parley.tokens
import time:      1200 |       1500 | parley.web
import time:        50 |        250 | aws_lambda_powertools.event_handler
"""


def test_only_top_level_imports_after_the_marker_count() -> None:
    # GIVEN `-X importtime` lines before and after the marker, nested and top-level
    # WHEN the time the measured import added is read
    # THEN it is the sum of the top-level cumulative times after the marker, in ms
    assert imported_after_marker(IMPORTTIME) == 1.75


def test_both_dispatches_serve_the_route_in_a_fresh_interpreter() -> None:
    # GIVEN the two dispatches
    # WHEN each is measured once (each program asserts its response is a 200)
    result = measure(1)
    # THEN each reports every timing, all positive
    assert set(result) == set(DISPATCHES)
    for timings in result.values():
        assert set(timings) == {"ready", "ready_cpu", "first", "first_cpu", "importtime"}
        assert all(value > 0 for value in timings.values())
