"""The benchmark page renders from whatever results exist (parley_bench.report)."""

from __future__ import annotations

from pathlib import Path

from parley_bench import report


def test_an_empty_run_renders_every_target_as_not_run() -> None:
    page = report.render({}, {}, {})
    assert page.startswith("# Benchmarks")
    for target in report.TARGETS.values():
        assert target in page
    assert page.count("not run") == len(report.TARGETS)


def test_a_section_shows_its_command_machine_and_the_figure_before() -> None:
    meta = {
        "command": "python -m parley_bench --only critical",
        "mode": "quick",
        "machine": {"cpu": "CPU X", "cores": "2", "python": "3.11.7", "date": "D", "commit": "c"},
    }
    run = {"depth": 4, "first_post_ms": 90.0, "invocation_ms": 110.0, "timeline": []}
    results = {
        "critical": {
            "latency_ms": 20.0,
            "runs": [{**run, "limiter": True}, {**run, "limiter": False}],
            "meta": meta,
            "seconds_taken": 1.0,
        }
    }
    before = {"critical": {"runs": [{**run, "limiter": True, "depth": 7}]}}
    page = report.render(results, before, {})
    assert "`python -m parley_bench --only critical`" in page
    assert "CPU X, 2 cores, Python 3.11.7" in page
    assert "depth 4** (was 7)" in page
    assert "depth 4 with the limiter, 4 without" in page


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    path = tmp_path / "bench" / "results.json"
    report.save_results(path, {"x": {"a": 1.5}})
    assert report.load_results(path) == {"x": {"a": 1.5}}
    assert report.load_results(tmp_path / "missing.json") == {}
