"""`python -m parley_bench [--quick|--full] [--only NAME ...] [--baseline]`

Runs the benchmarks, saves their results to `docs/bench/results.json` (or, with
`--baseline`, to `docs/bench/baseline.json`: the "before" figures), draws the charts in
`docs/bench/` and regenerates `docs/benchmarks.md`. `--render` only re-renders.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

# Quiet, local-only defaults before any Parley module is imported.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from parley_bench import machine, report, suite
from parley_bench.template import ROOT

DOCS = ROOT / "docs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short runs (default; < 10 min)")
    mode.add_argument("--full", action="store_true", help="long runs")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(suite.BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument("--skip", action="append", default=[], choices=sorted(suite.BENCHMARKS))
    parser.add_argument("--baseline", action="store_true", help="save as the 'before' figures")
    parser.add_argument("--render", action="store_true", help="only re-render the page")
    parser.add_argument("--docs", type=Path, default=DOCS, help="docs directory")
    args = parser.parse_args(argv)
    quick = not args.full
    bench_dir = args.docs / "bench"
    results_file = bench_dir / ("baseline.json" if args.baseline else "results.json")
    results = report.load_results(results_file)
    if not args.render:
        names = args.only or [n for n in suite.BENCHMARKS if n not in args.skip]
        command = "python -m parley_bench " + " ".join(
            shlex.quote(a) for a in (argv or sys.argv[1:])
        )
        info = machine.describe()
        for name in names:
            try:
                result = suite.run(name, quick)
            except Exception as exc:  # one broken benchmark must not lose the others
                print(f"[parley_bench] {name} failed: {exc!r}", file=sys.stderr)
                result = {"skipped": f"failed on this run: {exc!r}"}
            result["meta"] = {
                "command": command.strip(),
                "mode": "quick" if quick else "full",
                "machine": info,
            }
            results[name] = result
            report.save_results(results_file, results)
    current = report.load_results(bench_dir / "results.json")
    baseline = report.load_results(bench_dir / "baseline.json")
    charts = report.charts(current, bench_dir, baseline)
    page = report.render(current, baseline, charts)
    (args.docs / "benchmarks.md").write_text(page)
    print(f"wrote {args.docs / 'benchmarks.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
