"""Every benchmark as a function that returns plain data (saved as JSON, rendered later).

`run(name, quick)` runs one benchmark and returns its result dict; `BENCHMARKS` lists them
in report order. Rendering lives in :mod:`parley_bench.report`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley_bench.meter import Bill
from parley_bench.prices import PRICES
from parley_bench.template import (
    ROOT,
    fanout_batch_size,
    fanout_max_concurrency,
    fanout_threads,
    memory_mb,
    parameter_default,
)

Result = dict[str, Any]
DILATION = 5  # fan-out latencies x5, time / 5: what the design takes when CPU is not short


def _bill(bill: Bill) -> Result:
    return {
        "total_per_million": bill.total() * 1e6,
        "costs_per_million": {k: v * 1e6 for k, v in bill.costs().items()},
        "ddb_read": bill.ddb_read,
        "ddb_write": bill.ddb_write,
        "ddb_index_write": bill.ddb_index_write,
        "ws_in": bill.ws_in,
        "ws_out": bill.ws_out,
        "ws_posts": bill.ws_posts,
        "lambda_requests": bill.lambda_requests,
        "lambda_gb_s": bill.lambda_gb_s,
        "lambda_ms_median": statistics.median(bill.lambda_ms) if bill.lambda_ms else 0.0,
        "sqs_requests": bill.sqs_requests,
        "secrets_calls": bill.secrets_calls,
        "connection_minutes": bill.connection_minutes,
        "calls": dict(sorted(bill.calls.items())),
    }


def coldstart(quick: bool) -> Result:
    from parley_bench import coldstart as cs

    site = cs.build_layer(ROOT / ".venv" / "parley-bench-layer")
    runs = 5 if quick else 21
    results = cs.measure(runs=runs, site=site)
    return {
        "runs": runs,
        "layout": "layer" if site else "venv",
        "functions": [
            {
                "function": r.function,
                "memory_mb": memory_mb(r.function),
                "clients": list(r.clients),
                "import_ms": r.import_median,
                "boto3_ms": r.boto3_median,
                "ratio": r.ratio,
                "ready_ms": r.ready_median,
                "boto3_ready_ms": r.boto3_ready_median,
                "ready_ratio": r.ready_ratio,
                "modules": r.modules,
                "top": r.top,
            }
            for r in results
        ],
    }


def cost(quick: bool) -> Result:
    from parley_bench import cost as c
    from parley_bench import sdkcpu

    scenarios = c.run(quick)
    scan, scan_note = c.scan_design(1000)
    sdk = sdkcpu.measured()
    return {
        "scenarios": [
            {
                "name": s.name,
                "title": s.title,
                "unit": s.unit,
                "deliveries": s.deliveries,
                "note": s.note,
                **_bill(s.bill),
                **(
                    {"on_aws": send_on_aws(s.bill, sdk, memory_mb("ws_send"))}
                    if s.name in ("dm", "dm-no-limiter")
                    else {}
                ),
            }
            for s in scenarios
        ],
        "floor": _bill(c.floor()),
        "scan": {**_bill(scan), "note": scan_note},
        "memory_mb": {f: memory_mb(f) for f in ("ws_send", "ws_sync", "fanout", "ws_connect")},
    }


DYNAMODB_ROUND_TRIP_MS = 5.0  # in-region, as the fan-out model assumes
POST_ROUND_TRIP_MS = 20.0
SEND_SEQUENTIAL_CALLS = 4  # before the first post: the critical-path benchmark's depth


def send_on_aws(bill: Bill, sdk: dict[str, float], memory: int) -> Result:
    """A direct-message send's Lambda bill with the CPU a container of `memory` MB has.

    The cost run bills the handler's wall time in this process, at a full core's speed.
    On Lambda the SDK's client CPU for each call runs on `memory / 1769` of a vCPU, and the
    send waits on its sequential round trips: SDK CPU / share + round trips is the better
    estimate of the billed duration (it leaves out Parley's own CPU, a few percent).
    """
    from parley_bench import sdkcpu

    posts = sum(n for op, n in bill.calls.items() if "PostToConnection" in op)
    queries = sum(n for op, n in bill.calls.items() if op.endswith("Query"))
    others = sum(bill.calls.values()) - posts - queries
    small = sdk.get("put_cpu_ms", sdk["query_cpu_ms"])
    cpu_ms = posts * sdk["post_cpu_ms"] + queries * sdk["query_cpu_ms"] + others * small
    waits_ms = SEND_SEQUENTIAL_CALLS * DYNAMODB_ROUND_TRIP_MS + posts * POST_ROUND_TRIP_MS
    billed_ms = cpu_ms / sdkcpu.vcpu_share(memory) + waits_ms
    requests = max(1.0, bill.lambda_requests)
    modeled = bill.costs()["Lambda duration"]
    on_aws = requests * memory / 1024 * billed_ms / 1000 * PRICES.lambda_gb_second
    return {
        "cpu_ms": cpu_ms,
        "waits_ms": waits_ms,
        "billed_ms": billed_ms,
        "memory_mb": memory,
        "lambda_duration_per_million": on_aws * 1e6,
        "total_per_million": (bill.total() - modeled + on_aws) * 1e6,
    }


def critical(quick: bool) -> Result:
    from parley_bench import critical as cp

    out: Result = {"latency_ms": 20.0, "runs": []}
    for limiter in (True, False):
        t = cp.measure(limiter=limiter, latency_ms=20.0, repeats=3 if quick else 7)
        out["runs"].append(
            {
                "limiter": limiter,
                "depth": t.depth,
                "first_post_ms": t.first_post_ms,
                "invocation_ms": t.invocation_ms,
                "chain": [
                    c.name + (" " + str(c.params.get("TableName", ""))).rstrip() for c in t.chain
                ],
                "timeline": t.rows(),
            }
        )
    return out


def fanout(quick: bool) -> Result:
    from parley_bench.fanout import run_fanout
    from parley_bench.memory import Latency

    latency = Latency()
    sizes = [100, 1_000, 10_000]
    repeats = 3 if quick else 5
    slow = Latency(latency.dynamodb * DILATION, latency.post * DILATION, latency.sqs * DILATION)
    rows = []
    for members in sizes:
        runs = []
        for _ in range(repeats):
            cpu = time.process_time()
            run = run_fanout(members, latency=latency)
            runs.append((run, time.process_time() - cpu))
        runs.sort(key=lambda pair: pair[0].last_ms)
        r, cpu_s = runs[len(runs) // 2]
        dilated = sorted(
            run_fanout(members, latency=slow).last_ms / DILATION for _ in range(repeats)
        )[repeats // 2]
        rows.append(
            {
                "cpu_s": cpu_s,
                "dilated_last_ms": dilated,
                "members": members,
                "delivered": r.delivered,
                "expected": r.expected,
                "ack_ms": r.ack_ms,
                "first_ms": r.first_ms,
                "last_ms": r.last_ms,
                "all_last_ms": [x.last_ms for x, _ in runs],
                "posts_per_second": r.posts_per_second,
                "invocations": r.invocations,
                "records": r.records,
                "peak_invocations": r.peak_invocations,
                "peak_posts_in_flight": r.peak_posts_in_flight,
                "invocation_ms_median": statistics.median(r.invocation_ms)
                if r.invocation_ms
                else 0,
            }
        )
    return {
        "latency": {
            "dynamodb_ms": latency.dynamodb * 1000,
            "post_ms": latency.post * 1000,
            "sqs_ms": latency.sqs * 1000,
        },
        "lambda_cpu": lambda_cpu_check(rows[-1]),
        "concurrency": fanout_max_concurrency(),
        "batch_size": fanout_batch_size(),
        "threads": fanout_threads(),
        "batch_users": parameter_default("FanoutBatchUsers", 100),
        "repeats": repeats,
        "dilation": DILATION,
        "rows": rows,
    }


def lambda_cpu_check(row: Result) -> Result:
    """Would the template's fanout container wait on its CPU rather than the network?

    The in-memory model's calls cost no SDK CPU; on Lambda every lookup and post does, and
    a container has `MemorySize / 1769` of a vCPU. The busiest container handles
    `members / MaximumConcurrency` lookups and posts.
    """
    from parley_bench import sdkcpu

    sdk = sdkcpu.measured()
    per_container = row["members"] / fanout_max_concurrency()
    cpu_ms = per_container * (sdk["post_cpu_ms"] + sdk["query_cpu_ms"])
    sizes = sorted({256, memory_mb("fanout")})
    return {
        **sdk,
        "members": row["members"],
        "calls_per_container": per_container,
        "cpu_ms_per_container": cpu_ms,
        "by_memory": {str(mb): cpu_ms / sdkcpu.vcpu_share(mb) for mb in sizes},
        "template_memory_mb": memory_mb("fanout"),
    }


def catchup(quick: bool) -> Result:
    from parley_bench.catchup import run as run_catchup

    messages = 2_000 if quick else 10_000
    r = run_catchup(messages=messages, conversations=50, limit=100)
    assert r.bill is not None
    return {
        "messages": r.messages,
        "conversations": r.conversations,
        "limit": r.limit,
        "frames": r.frames,
        "largest_frame": r.largest_frame,
        "seconds": r.seconds,
        "delivered": r.delivered,
        "duplicates": r.duplicates,
        "missing": r.missing,
        "ok": r.ok,
        "frame_sizes": r.frame_sizes,
        "bill": _bill(r.bill),
    }


def login(quick: bool) -> Result:
    """Login latency with Argon2id at each memory size, and the auth function's."""
    from parley_bench.login import measure

    return measure(
        runs=11 if quick else 31,
        memory_of_auth=memory_mb("http_auth"),
        round_trip_ms=DYNAMODB_ROUND_TRIP_MS,
    )


def load(quick: bool) -> Result:
    from parley_bench import load as lt

    return lt.bench(quick)


def flood(quick: bool) -> Result:
    """Issue 15: group B's delivery time while an account floods group A, side by side
    without a flood, with the fan-out budget off, with it at its default over one push
    queue, and with it and the two push lanes (as deployed)."""
    from parley_bench import flood as fl
    from parley_bench.memory import Latency

    members = 300 if quick else 500
    seconds = 60.0 if quick else 120.0  # at least one whole budget window
    interval = 0.5
    latency = Latency()
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731 - a one-line logger
    runs = [
        r.as_dict()
        for r in fl.run(
            members_a=members, members_b=members, seconds=seconds, interval=interval, log=say
        )
    ]
    by = {r["name"]: r for r in runs}
    base = by["baseline"]
    budget = by["flood-on"]["budget_per_minute"]
    aws_pool = fl.pool_posts_per_second(
        fanout_max_concurrency(), fanout_threads(), latency.post * 1000
    )
    saturated = by["flood-off"]["posts_per_second"]
    return {
        "members_a": members,
        "members_b": members,
        "seconds": seconds,
        "interval": interval,
        "b_senders": fl.B_SENDERS,
        "latency": {
            "dynamodb_ms": latency.dynamodb * 1000,
            "post_ms": latency.post * 1000,
            "sqs_ms": latency.sqs * 1000,
        },
        "concurrency": fanout_max_concurrency(),
        "bulk_concurrency": fanout_max_concurrency("PushBulkQueue"),
        "bulk_share_percent": parameter_default("FanoutBulkSharePercent", 20),
        "batch_size": fanout_batch_size(),
        "threads": fanout_threads(),
        "batch_users": parameter_default("FanoutBatchUsers", 100),
        "sends_per_minute": parameter_default("SendsPerMinute", 600),
        "budget_per_minute": budget,
        "pool_posts_per_second_aws": aws_pool,
        "budget_seconds_aws": budget / aws_pool,
        "budget_seconds_here": budget / saturated if saturated else 0.0,
        "conditions": runs,
        "ratios": {
            key: {
                "median": fl.ratio(by[name]["b_median_ms"], base["b_median_ms"]),
                "p95": fl.ratio(by[name]["b_p95_ms"], base["b_p95_ms"]),
            }
            for key, name in (
                ("off", "flood-off"),
                ("one_lane", "flood-one-lane"),
                ("on", "flood-on"),
            )
        },
    }


BENCHMARKS: dict[str, Callable[[bool], Result]] = {
    "coldstart": coldstart,
    "cost": cost,
    "critical": critical,
    "fanout": fanout,
    "flood": flood,
    "catchup": catchup,
    "login": login,
    "load": load,
}


def run(name: str, quick: bool, log: Callable[[str], None] | None = None) -> Result:
    say = log or (lambda text: print(text, file=sys.stderr))
    say(f"[parley_bench] {name} ({'quick' if quick else 'full'}) ...")
    started = time.perf_counter()
    result = BENCHMARKS[name](quick)
    result["seconds_taken"] = time.perf_counter() - started
    say(f"[parley_bench] {name} done in {result['seconds_taken']:.0f} s")
    return result


def results_path(directory: Path) -> Path:
    return directory / "results.json"
