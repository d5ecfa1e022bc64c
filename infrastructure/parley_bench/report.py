"""`docs/benchmarks.md` and the charts in `docs/bench/`, rendered from saved results.

Results live in `docs/bench/results.json` (one entry per benchmark, each with the command
that produced it, the machine and the date), so `--only NAME` refreshes one section and
keeps the others. `docs/bench/baseline.json`, when present, holds the figures measured
before the changes this issue made; sections show them beside the current ones.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley_bench.prices import PRICES, PRICES_DATE, REGION, SOURCES

Result = dict[str, Any]

TARGETS = {
    "coldstart": "first ready ≤ 1.3x `import boto3` and the same clients, for every function",
    "cost": "≤ $6.00 per million direct messages delivered to one online device",
    "critical": "≤ 4 sequential AWS calls before the first post",
    "fanout": "≤ 2 s from ack to last delivery at 10,000 members",
    "flood": "one account flooding a group does not delay another group's delivery (issue 15)",
    "catchup": "every reply < 96 KB; every seq exactly once",
    "login": "login ≤ 150 ms at the auth function's memory (Argon2id, OWASP parameters)",
    "load": "p99 send→delivery ≤ 100 ms at 50 messages/s on the local cloud; 0 lost",
}


def load_results(path: Path) -> dict[str, Result]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def save_results(path: Path, results: dict[str, Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _meta(result: Result) -> str:
    meta = result.get("meta", {})
    machine = meta.get("machine", {})
    return (
        f"*Command:* `{meta.get('command', '?')}` · *mode:* {meta.get('mode', '?')} · "
        f"*measured:* {machine.get('date', '?')} on {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores, Python {machine.get('python', '?')} "
        f"(commit {machine.get('commit', '?')}) · *took:* {result.get('seconds_taken', 0):.0f} s"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# ---- sections --------------------------------------------------------------------------------


def coldstart_section(r: Result, before: Result | None) -> str:
    old = {f["function"]: f for f in (before or {}).get("functions", [])}
    rows = []
    for f in r["functions"]:
        b = old.get(f["function"])
        rows.append(
            [
                f"`{f['function']}`",
                f"{f['memory_mb']}",
                f"{f['import_ms']:.0f}",
                f"{f['boto3_ms']:.0f}",
                f"**{f['ratio']:.2f}x**" + (f" (was {b['ratio']:.2f}x)" if b else ""),
                f"{f['ready_ms']:.0f}",
                f"{f['boto3_ready_ms']:.0f}",
                f"**{f['ready_ratio']:.2f}x**" + (f" (was {b['ready_ratio']:.2f}x)" if b else ""),
                ", ".join(f["clients"]) or "none",
            ]
        )
    heavy = max(r["functions"], key=lambda f: f["import_ms"])
    top = ", ".join(f"`{name}` {ms:.0f} ms" for name, ms in heavy["top"][:8])
    layout = (
        "a layer-like `sys.path` (`pip install --target` of `layers/parley/requirements.txt` "
        "plus the runtime's boto3, interpreter started with `-S`)"
        if r.get("layout") == "layer"
        else "the project's virtualenv (the layer could not be built)"
    )
    text = [
        "## Cold start",
        "",
        f"Target: {TARGETS['coldstart']}. Each figure is the median of {r['runs']} fresh "
        f"interpreters per function, alternating with a bare `import boto3` process; "
        f"{layout}; environment as the template sets it (tracing off, every resource "
        "variable a dummy, the CodeUri directory first on `sys.path`). *Import* is "
        "`import app` (Lambda's init); *first ready* adds what the first request pays "
        "before any network call: `import boto3` (Parley imports it lazily) and building "
        "the clients the function's main path uses. Times vary ±30% between runs on this "
        "machine; read the ratios.",
        "",
        _table(
            [
                "function",
                "MB",
                "import ms",
                "`import boto3` ms",
                "ratio",
                "first ready ms",
                "boto3 + clients ms",
                "ratio",
                "clients",
            ],
            rows,
        ),
        "",
        f"What the heaviest handler (`{heavy['function']}`) spends its import on "
        f"(`-X importtime`, cumulative): {top}.",
    ]
    return "\n".join(text)


def cost_section(r: Result, before: Result | None) -> str:
    prior = {s["name"]: s for s in (before or {}).get("scenarios", [])}
    rows = []
    for s in r["scenarios"]:
        c = s["costs_per_million"]
        was = prior.get(s["name"])
        per_delivery = (
            f"{_money(s['total_per_million'] / s['deliveries'])}" if s["deliveries"] > 1 else ""
        )
        rows.append(
            [
                s["title"],
                f"**{_money(s['total_per_million'])}**"
                + (f" (was {_money(was['total_per_million'])})" if was else ""),
                per_delivery,
                _money(c["API Gateway messages"] + c["API Gateway connection minutes"]),
                _money(c["Lambda requests"] + c["Lambda duration"]),
                _money(c["DynamoDB writes"]),
                _money(c["DynamoDB reads"]),
                _money(c["SQS"] + c["Secrets Manager"]),
            ]
        )
    floor = r["floor"]
    scan = r["scan"]
    rows.append(
        [
            "*Floor*: 3 frames, 1 write unit, 1 Lambda request",
            f"**{_money(floor['total_per_million'])}**",
            "",
            _money(floor["costs_per_million"]["API Gateway messages"]),
            _money(floor["costs_per_million"]["Lambda requests"]),
            _money(floor["costs_per_million"]["DynamoDB writes"]),
            "$0.00",
            "$0.00",
        ]
    )
    rows.append(
        [
            "*Scan-per-message design* (AWS sample chat app), 1,000 connected users",
            f"**{_money(scan['total_per_million'])}**",
            _money(scan["total_per_million"] / 1000),
            _money(scan["costs_per_million"]["API Gateway messages"]),
            _money(
                scan["costs_per_million"]["Lambda requests"]
                + scan["costs_per_million"]["Lambda duration"]
            ),
            "$0.00",
            _money(scan["costs_per_million"]["DynamoDB reads"]),
            "$0.00",
        ]
    )
    units = []
    for s in r["scenarios"]:
        calls = ", ".join(f"{k.split('.', 1)[1]} {v:g}" for k, v in s["calls"].items())
        units.append(
            [
                s["title"],
                f"{s['ws_in']:g} in / {s['ws_out']:g} out ({s['ws_posts']:g} posts)",
                f"{s['ddb_write']:g} ({s['ddb_index_write']:g} index)",
                f"{s['ddb_read']:g}",
                f"{s['lambda_requests']:g} x {s['lambda_ms_median']:.0f} ms",
                f"{s['sqs_requests']:g}",
                calls,
            ]
        )
    mem = r["memory_mb"]
    text = [
        "## Cost per message",
        "",
        f"Target: {TARGETS['cost']}. Prices: {REGION} list prices of {PRICES_DATE} "
        f"(`infrastructure/parley_bench/prices.py`: WebSocket ${PRICES.ws_message * 1e6:.2f}/M "
        f"messages and ${PRICES.ws_connection_minute * 1e6:.2f}/M connection minutes, Lambda arm64 "
        f"${PRICES.lambda_gb_second}/GB-s and ${PRICES.lambda_request * 1e6:.2f}/M requests, "
        f"DynamoDB on-demand ${PRICES.ddb_write_unit * 1e6:.3f}/M WRU and "
        f"${PRICES.ddb_read_unit * 1e6:.3f}/M RRU, SQS ${PRICES.sqs_request * 1e6:.2f}/M requests, "
        f"Secrets Manager ${PRICES.secrets_call * 1e4:.2f}/10k calls; sources: "
        f"{'; '.join(SOURCES)}).",
        "",
        "How it is counted: the real handlers run against moto with a botocore hook on every "
        "AWS call. DynamoDB units follow DynamoDB's rules from the real item sizes (read back "
        "before and after each write; queries re-read without projection, since a Query bills "
        "what it reads): a write is ceil(KB) of the larger image plus one unit per secondary "
        "index entry written, transactional items twice; a read is ceil(size / 4 KB), half "
        "when eventually consistent, at least one unit. WebSocket messages are the client's "
        "frame, the route response and every `PostToConnection`, each in 32 KB units. Lambda "
        f"duration is the handler's wall time in-process against moto (an estimate: moto is "
        f"no faster than DynamoDB here) at the template's memory sizes (send {mem['ws_send']} MB, "
        f"sync {mem['ws_sync']} MB, fanout {mem['fanout']} MB). Steady state: warm containers, "
        "the signing secret cached (Secrets Manager is paid per container per 5 minutes, not per "
        "message), the direct conversation created by an earlier message. SQS counts the "
        "event source's ReceiveMessage and DeleteMessageBatch per batch. The 10,000-member row "
        "runs the send through moto and the fan-out through the in-memory model of the fan-out "
        "benchmark (moto needs minutes for 10,000 index queries); the 100-member model row "
        "checks that model against the moto run. Text of every message: 73 characters.",
        "",
        _table(
            [
                "scenario (per message unless said)",
                "per million",
                "per delivery",
                "API Gateway",
                "Lambda",
                "DDB writes",
                "DDB reads",
                "SQS + SM",
            ],
            rows,
        ),
        "",
        "Units per scenario (per message, or per connection / per sync of 1,000):",
        "",
        _table(
            ["scenario", "WebSocket messages", "WRU", "RRU", "Lambda", "SQS", "AWS calls"], units
        ),
        "",
        f"Scan design: {scan['note']}.",
        "",
        "**Events cost more than a text message, in DynamoDB writes only.** An edit, a "
        "reaction or a delete is a message of its own plus its target's new state, written "
        'in one TransactWriteItems (docs/architecture.md, "Events and current state"): '
        "transactions bill every item twice, and the target's update rewrites its "
        "`byClientMsgId` index entry too (the index projects every attribute, so that a "
        "retried send's answer is the message as it is now). So about 7 write units "
        "against a text message's 3, and one more consistent read (the target's GetItem, "
        "made in the same parallel round as the membership and newest-seq reads, so no "
        "added round trip). Frames, posts and Lambda requests are those of a text message. "
        "A delete of a message with k edits adds 2k units (each edit's text is erased in "
        "the same transaction), and a file's delete adds the attachment record's update "
        "and the erasure queue's SendMessage.",
    ]
    text += _on_aws_text(r)
    return "\n".join(text)


def _on_aws_text(r: Result) -> list[str]:
    by_name = {s["name"]: s for s in r["scenarios"]}
    dm = by_name.get("dm", {}).get("on_aws")
    if not dm:
        return []
    off = by_name.get("dm-no-limiter", {}).get("on_aws")
    modeled = by_name["dm"]["costs_per_million"].get("Lambda duration", 0.0)
    text = (
        "**The send on Lambda's CPU.** The rows above bill each handler's wall time in this "
        "process, at a full core's speed. A Lambda function of "
        f"{dm['memory_mb']} MB has {dm['memory_mb'] / 1769:.2f} of a vCPU, and most of a "
        "send's CPU is the AWS SDK's: measured here against a local endpoint that answers "
        "at once (client CPU per `PostToConnection`, `Query` and small write), "
        f"{dm['cpu_ms']:.1f} ms for the direct message's calls, which take "
        f"{dm['cpu_ms'] * 1769 / dm['memory_mb']:.0f} ms on that share, plus "
        f"{dm['waits_ms']:.0f} ms of round trips (4 sequential DynamoDB calls at 5 ms, the "
        f"post at 20 ms): about {dm['billed_ms']:.0f} ms billed. Lambda duration is then "
        f"{_money(dm['lambda_duration_per_million'])} per million instead of "
        f"{_money(modeled)}, and the direct message costs "
        f"**{_money(dm['total_per_million'])}** per million with the rate limiter"
    )
    if off:
        text += f", {_money(off['total_per_million'])} without"
    text += (
        ". More memory would not make it cheaper: the CPU part costs the same GB-seconds at "
        "any size below 1,769 MB, and the waits cost more."
    )
    return ["", text]


def critical_section(r: Result, before: Result | None) -> str:
    text = [
        "## Critical path of a send",
        "",
        f"Target: {TARGETS['critical']}. One direct message through `ws_send` against moto "
        f"with {r['latency_ms']:.0f} ms added to every AWS call, so calls that run in parallel "
        "overlap in time as they do against DynamoDB. *Depth* is the longest chain of calls "
        "that do not overlap, among those that end before the first `PostToConnection` (the "
        "median of several sends).",
        "",
    ]
    prior = {run["limiter"]: run for run in (before or {}).get("runs", [])}
    for run in r["runs"]:
        was = prior.get(run["limiter"])
        label = "rate limiter on" if run["limiter"] else "rate limiter off"
        text.append(
            f"**{label}: depth {run['depth']}**"
            + (f" (was {was['depth']})" if was else "")
            + f"; first post {run['first_post_ms']:.0f} ms after the frame"
            + (f" (was {was['first_post_ms']:.0f} ms)" if was else "")
            + f"; invocation {run['invocation_ms']:.0f} ms."
        )
        text.append("")
        rows = [
            [f"{s:.0f}", f"{e:.0f}", thread, f"`{name}`", what]
            for s, e, thread, name, what in run["timeline"]
        ]
        text.append(_table(["start ms", "end ms", "thread", "call", "table / connection"], rows))
        text.append("")
    return "\n".join(text)


def fanout_section(r: Result, before: Result | None, chart: str | None) -> str:
    lat = r["latency"]
    prior = {row["members"]: row for row in (before or {}).get("rows", [])}
    rows = []
    for row in r["rows"]:
        was = prior.get(row["members"])
        rows.append(
            [
                f"{row['members']:,}",
                f"{row['delivered']:,} / {row['expected']:,}",
                f"{row['ack_ms']:.0f}",
                f"{row['first_ms']:.0f}",
                f"**{row['last_ms'] / 1000:.2f} s**"
                + (f" (was {was['last_ms'] / 1000:.2f} s)" if was else ""),
                _dilated(row, was),
                f"{row.get('cpu_s', 0):.1f}",
                f"{row['posts_per_second']:,.0f}",
                f"{row['invocations']} ({row['records']} records)",
                f"{row['peak_invocations']}",
                f"{row['peak_posts_in_flight']}",
                f"{row['members'] * lat['post_ms'] / 1000:,.0f} s",
            ]
        )
    big = r["rows"][-1]
    text = [
        "## Fan-out at scale",
        "",
        f"Target: {TARGETS['fanout']}. One message to a group whose members are all online "
        "(one connection each). The real `ws_send` handler stores it and enqueues one work "
        "item; an emulated SQS event source runs the real `fanout` handler in up to "
        f"{r['concurrency']} concurrent invocations (`ScalingConfig.MaximumConcurrency` in the "
        f"template), batches of {r['batch_size']} records, each invocation in its own "
        f"container with its own pool of {r['threads']} post threads (`PARLEY_FANOUT_THREADS`) "
        f"and `users` items of {r['batch_users']} members (`FanoutBatchUsers`). **Data lives in "
        f"an in-memory model, not moto**, with {lat['dynamodb_ms']:.0f} ms per DynamoDB call, "
        f"{lat['post_ms']:.0f} ms per `@connections` post (like AWS in-region) and "
        f"{lat['sqs_ms']:.0f} ms per SQS call; Python threads on 2 cores do the work. "
        f"Median of {r['repeats']} run(s). All invocations share one Python process (one "
        "GIL, 2 shared cores) here, where Lambda gives each its own CPU: at 10,000 members "
        "the emulation is CPU-bound (CPU seconds close to the wall time). The column with "
        f"latencies x{r.get('dilation', 5)} reruns the same thing with every latency "
        f"multiplied by {r.get('dilation', 5)} and divides the time back: waits then dominate "
        "the same CPU work, which gives what the design itself takes.",
        "",
        _table(
            [
                "members",
                "delivered",
                "send ms",
                "ack → first ms",
                "ack → last",
                f"ack → last, latencies x{r.get('dilation', 5)} ÷ {r.get('dilation', 5)}",
                "CPU s (1 process)",
                "posts/s",
                "invocations",
                "peak concurrent invocations",
                "peak posts in flight",
                "sequential would take",
            ],
            rows,
        ),
        "",
        f"Real limits: the peak of {big['peak_posts_in_flight']} posts in flight at "
        f"~{lat['post_ms']:.0f} ms each is about "
        f"{big['peak_posts_in_flight'] / (lat['post_ms'] / 1000):,.0f} requests/s, under the "
        "account's API Gateway rate of 10,000 requests/s (shared with `@connections`); Lambda "
        f"concurrency used is {big['peak_invocations']} of the {r['concurrency']} the event source "
        "allows. Larger groups or several at once are bounded by "
        "`MaximumConcurrency x PARLEY_FANOUT_THREADS / post latency`, the knob to lower in an "
        "account with a smaller quota.",
    ]
    text += _lambda_cpu_text(r.get("lambda_cpu"), big)
    if chart:
        text += ["", f"![fan-out time vs group size]({chart})"]
    return "\n".join(text)


def flood_section(r: Result) -> str:
    base = next(c for c in r["conditions"] if c["name"] == "baseline")
    rows = []
    size = f"A {r['members_a']:,}, B {r['members_b']:,} members; {r['seconds']:.0f} s"
    for c in r["conditions"]:
        times = f"{c['b_median_ms'] / 1000:.2f} s / {c['b_p95_ms'] / 1000:.2f} s"
        backlog = f"{c['peak_backlog_items']:,}"
        if c.get("lanes"):
            backlog += f" / {c.get('peak_bulk_backlog_items', 0):,}"
        rows.append(
            [
                size,
                c["title"],
                f"**{times}**",
                f"{c['b_max_ms'] / 1000:.2f} s",
                f"{c['b_median_ms'] / base['b_median_ms']:.1f}x / "
                f"{c['b_p95_ms'] / base['b_p95_ms']:.1f}x"
                if base["b_median_ms"] and base["b_p95_ms"]
                else "-",
                f"{c['b_delivered']} / {c['b_sends']}",
                f"{c['flood_sends']:,}: {c['flood_acked']:,} stored, "
                f"{c['flood_budget_1005']:,} budget 1005, {c['flood_limit_1005']:,} send-limit 1005"
                if c["flood"]
                else "-",
                f"{c['flood_deliveries']:,}",
                backlog,
                f"{c['posts_per_second']:,.0f}",
            ]
        )
    ratios = r["ratios"]
    off, on = ratios["off"], ratios["on"]
    one = ratios.get("one_lane", on)
    lat = r["latency"]
    by = {c["name"]: c for c in r["conditions"]}
    lanes = by["flood-on"]
    one_lane = by.get("flood-one-lane", lanes)
    share = int(r.get("bulk_share_percent", 20))
    # What one member sending all of B's messages would spend: why B's senders take turns.
    single = 60 / r["interval"] * (r["members_b"] - 1)
    share_deliveries = r["budget_per_minute"] * share / 100
    alone = f"one member alone at that rate would spend {single:,.0f} deliveries a minute"
    if single > share_deliveries:
        alone += f", past the bulk share of {share_deliveries:,.0f}: a heavy sender itself"

    def half(name: str) -> str:
        return f"{by[name].get('b_second_half_median_ms', 0) / 1000:.2f} s"

    return "\n".join(
        [
            "## Fan-out isolation under a flood (issue 15)",
            "",
            f"Target: {TARGETS['flood']}. Two groups (A of {r['members_a']:,} members, B of "
            f"{r['members_b']:,}), everyone online on one connection. For "
            f"{r['seconds']:.0f} s one account sends into group A back to back from one thread "
            "with the real `ws_send` handler, ignoring `retryAfterMs`, while group B gets one "
            f"message every {r['interval']:g} s from {r.get('b_senders', 1)} of its members in "
            f"turn ({alone}). Large groups' fan-out goes through "
            "a push queue consumed in order by the real `fanout` handler in at most "
            f"{r['concurrency']} concurrent invocations (`MaximumConcurrency`), batches of "
            f"{r['batch_size']}, {r['threads']} post threads each, `users` items of "
            f"{r['batch_users']}: the fan-out bench's emulation, with {lat['dynamodb_ms']:.0f} ms "
            f"per DynamoDB call, {lat['post_ms']:.0f} ms per post and {lat['sqs_ms']:.0f} ms per "
            "SQS call. With *two lanes* (as deployed) a sender past "
            f"`FanoutBulkSharePercent` ({share}%) of the budget has its fan-out queued on "
            "`PushBulkQueue` instead, consumed by the same handler through a second event "
            f"source of at most {r.get('bulk_concurrency', 0)} invocations "
            "(`FanoutBulkConcurrency`); with *one queue* everything shares the push queue, as "
            "before the lanes. The send limit ("
            f"{r['sends_per_minute']} sends a minute) applies in every condition; the budget is "
            "either out of reach (*off*: the behaviour before issue 15) or at its default of "
            f"{r['budget_per_minute']:,} member deliveries a minute. Both fixed-window limits "
            "start a window with the run. B's delivery time runs from the start of its send to "
            "the post that reached the last of B's members. Without a flood that is mostly "
            f"one `users` item of {r['batch_users']} members posted by {r['threads']} threads "
            f"(about {r['batch_users'] / r['threads'] * lat['post_ms'] / 1000:.1f} s). All of "
            "it runs in one Python process on 2 shared cores: the flooder's sends, refused ones "
            "included, and the bulk lane's containers take CPU from the normal lane here, "
            "where on AWS they run in other containers.",
            "",
            _table(
                [
                    "groups, run",
                    "condition",
                    "B median / p95",
                    "B max",
                    "x no-flood (median / p95)",
                    "B messages delivered",
                    "flooder's sends",
                    "flood deliveries",
                    "peak backlog, items (normal / bulk)",
                    "posts/s (all)",
                ],
                rows,
            ),
            "",
            f"With the budget off a flood stretches B's median {off['median']:.1f}x and its p95 "
            f"{off['p95']:.1f}x. With the budget over one queue, {one['median']:.1f}x and "
            f"{one['p95']:.1f}x: the budget bounds what one sender can put in the queue, not "
            "where. The flooder's first "
            f"{r['budget_per_minute']:,} member deliveries of a window are accepted as fast as "
            "it can send them, and every message queued behind them, B's included, waits until "
            f"the pool has posted them: up to about {r['budget_seconds_here']:.0f} s at the rate "
            "this emulation's pool reaches when saturated (the *budget off* row's posts/s), "
            f"about {r['budget_seconds_aws']:.1f} s at the template's "
            f"{r['pool_posts_per_second_aws']:,.0f} posts/s ({r['concurrency']} x "
            f"{r['threads']} posts in flight at {lat['post_ms']:.0f} ms); B's p95 there is "
            f"{one_lane['b_p95_ms'] / 1000:.1f} s. With the two lanes, {on['median']:.1f}x and "
            f"{on['p95']:.1f}x (B's p95 {lanes['b_p95_ms'] / 1000:.1f} s): past {share}% of "
            "its budget the flooder's work went to the bulk queue "
            f"({lanes.get('bulk_items', 0):,} work items went through it, at most "
            f"{lanes.get('peak_bulk_backlog_items', 0):,} waiting), and at most its share was "
            f"ever ahead of B in the normal lane (at most {lanes['peak_backlog_items']:,} "
            "items waiting there). Messages B sent in the second half of the run took (median) "
            f"{half('baseline')} without a flood, {half('flood-off')} with the budget off, "
            f"{half(one_lane['name'])} with it over one queue and {half('flood-on')} with the "
            f"lanes. The flooder stored {by['flood-off']['flood_acked']:,} messages in the "
            f"{r['seconds']:.0f} s without the budget and {lanes['flood_acked']:,} with it. "
            "What the lanes do not remove: each window the flooder's first "
            f"{share}% still goes through the normal lane (twice that around a window "
            "boundary), several abusive accounts each bring their own share, and every sender "
            "past its share, a legitimate announcement account included, waits in the one "
            "bulk lane behind whoever floods it.",
        ]
    )


def _lambda_cpu_text(cpu: Result | None, big: Result) -> list[str]:
    if not cpu:
        return []
    design_s = float(big.get("dilated_last_ms") or big["last_ms"]) / 1000
    by_memory = ", ".join(
        f"**{float(ms) / 1000:.2f} s** at {int(mb):,} MB" for mb, ms in cpu["by_memory"].items()
    )
    return [
        "",
        "**Lambda CPU check.** The in-memory model's lookups and posts cost no SDK CPU; on "
        "Lambda each goes through botocore. Measured here (client CPU per call, 16 threads, "
        "against a local endpoint that answers at once): "
        f"`PostToConnection` {cpu['post_cpu_ms']:.2f} ms, `Query` {cpu['query_cpu_ms']:.2f} ms. "
        f"The busiest container at {cpu['members']:,} members makes "
        f"{cpu['calls_per_container']:,.0f} lookups and as many posts: "
        f"{cpu['cpu_ms_per_container'] / 1000:.2f} s of one vCPU, which takes {by_memory} "
        "(Lambda gives `MemorySize / 1769` of a vCPU). Beside the "
        f"{design_s:.2f} s the design's waits take, a 256 MB container would be bound by its "
        "CPU; the template gives the fanout function "
        f"{cpu['template_memory_mb']:,} MB. Where the CPU figure exceeds the wait-bound one, "
        "it is the better estimate of the time on AWS.",
    ]


def _dilated(row: Result, was: Result | None) -> str:
    if "dilated_last_ms" not in row:
        return ""
    text = f"{row['dilated_last_ms'] / 1000:.2f} s"
    if was and "dilated_last_ms" in was:
        text += f" (was {was['dilated_last_ms'] / 1000:.2f} s)"
    return text


def catchup_section(r: Result, before: Result | None) -> str:
    b = r["bill"]
    text = [
        "## Catch-up after a long absence",
        "",
        f"Target: {TARGETS['catchup']}. A user who missed {r['messages']:,} messages over "
        f"{r['conversations']} conversations reconnects and syncs (`limit` {r['limit']}) until "
        "`complete`, through the real `ws_sync` handler against moto (backlog written "
        "straight into the tables in the repositories' shapes).",
        "",
        _table(
            [
                "messages",
                "frames",
                "largest frame",
                "total time",
                "delivered",
                "duplicates",
                "missing",
                "verdict",
            ],
            [
                [
                    f"{r['messages']:,}",
                    f"{r['frames']}",
                    f"{r['largest_frame']:,} bytes ({r['largest_frame'] / 1024:.1f} KB)",
                    f"{r['seconds']:.1f} s (moto)",
                    f"{r['delivered']:,}",
                    f"{r['duplicates']}",
                    f"{r['missing']}",
                    "**ok**" if r["ok"] else "**FAILED**",
                ]
            ],
        ),
        "",
        f"Cost of the whole catch-up: {_money(b['total_per_million'] / 1e6)} "
        f"({b['ws_in']:g} frames in, {b['ws_out']:g} message units out, {b['ddb_read']:g} RRU, "
        f"{b['ddb_write']:g} WRU). Time is moto's: each sync queries every conversation in "
        "parallel in one process.",
    ]
    return "\n".join(text)


def login_section(r: Result) -> str:
    """Login latency with Argon2id (issue 15) and the auth function's memory size."""
    p, cpu = r["parameters"], r["cpu"]
    rows = "\n".join(
        f"| {s['memory_mb']:,} MB{' (template)' if s['memory_mb'] == r['auth_memory_mb'] else ''} "
        f"| {s['vcpu_share']:.2f} | {s['login_ms']:.0f} ms | {s['legacy_login_ms']:.0f} ms "
        f"| {_money(s['cost_per_million'])} |"
        for s in r["sizes"]
    )
    return (
        "## Login (Argon2id)\n\n"
        "The real `AuthService.login` over the in-memory repositories (the limiter's "
        "counters, the user, the session and the tokens; no network), each figure the "
        f"fastest of {r['runs']} runs on one core here: a login takes "
        f"{cpu['login_ms']:.0f} ms of CPU (the Argon2id check alone, m="
        f"{p['memory_kib'] // 1024} MiB, t={p['time_cost']}, p={p['parallelism']}, OWASP's "
        f"first configuration: {cpu['verify_ms']:.0f} ms); a wrong password costs the same "
        f"({cpu['wrong_password_ms']:.0f} ms), and the first login of an account with a "
        f"legacy scrypt hash {cpu['legacy_login_ms']:.0f} ms (the scrypt check alone: "
        f"{cpu['scrypt_verify_ms']:.0f} ms, then the rehash). Argon2id runs "
        "on one thread, and Lambda gives `MemorySize / 1769` of a vCPU, so each size below "
        f"is that CPU / share plus {r['round_trips']} sequential DynamoDB round trips of "
        f"{r['round_trip_ms']:.0f} ms.\n\n"
        "| memory | vCPU share | login | first login, legacy hash | Lambda $ per million "
        "logins |\n|---|---|---|---|---|\n"
        f"{rows}\n\n"
        "The auth function gets the smallest size whose login stays within "
        f"{r['target_ms']:.0f} ms with its CPU counted {r['cpu_margin']}x (room for a Graviton "
        "core slower than this machine's and for a busy host): "
        f"**{r['smallest_fitting_mb'] or 'none of these'} MB** by this run; the template "
        f"has {r['auth_memory_mb']:,} MB. Logins are rare beside messages, so a larger size "
        "costs cents per million logins; it also shortens how long a refused guess (a "
        "conditional write, no hash) holds a concurrent execution."
    )


def load_section(r: Result, chart: str | None) -> str:
    if r.get("skipped"):
        return "## Load (local cloud)\n\n" + str(r["skipped"])
    text = ["## Load (local cloud)", "", f"Target: {TARGETS['load']}.", ""]
    text.append(str(r.get("markdown", "")))
    if chart:
        text += ["", f"![latency distribution]({chart})"]
    return "\n".join(text)


# ---- charts --------------------------------------------------------------------------------


def charts(
    results: dict[str, Result], directory: Path, baseline: dict[str, Result] | None = None
) -> dict[str, str]:
    """PNG charts; {name: file name relative to docs/}. Empty when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    fan = results.get("fanout")
    if fan and fan.get("rows"):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        xs = [row["members"] for row in fan["rows"]]
        ax.plot(xs, [r["last_ms"] / 1000 for r in fan["rows"]], marker="o", label="ack → last")
        if all("dilated_last_ms" in r for r in fan["rows"]):
            ax.plot(
                xs,
                [r["dilated_last_ms"] / 1000 for r in fan["rows"]],
                marker="^",
                label="ack → last, latency-bound (x5 ÷ 5)",
            )
        ax.plot(xs, [r["first_ms"] / 1000 for r in fan["rows"]], marker="s", label="ack → first")
        before = (baseline or {}).get("fanout")
        if before and before.get("rows"):
            ax.plot(
                [r["members"] for r in before["rows"]],
                [r["last_ms"] / 1000 for r in before["rows"]],
                marker="o",
                linestyle=":",
                color="grey",
                label="ack → last, before the changes",
            )
        ax.axhline(2.0, color="red", linestyle="--", linewidth=1, label="target at 10,000")
        ax.set_xscale("log")
        ax.set_xlabel("group size (members, all online)")
        ax.set_ylabel("seconds")
        ax.set_title("Fan-out time vs group size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "fanout.png", dpi=110)
        plt.close(fig)
        out["fanout"] = "bench/fanout.png"
    load = results.get("load")
    samples: dict[str, list[float]] = {}
    if load and not load.get("skipped"):
        samples = {k: v for k, v in load.get("samples", {}).items() if v}
    if not samples:
        critical = results.get("critical")
        if critical:
            samples["send invocation, 20 ms per AWS call"] = [
                run["invocation_ms"] for run in critical["runs"]
            ]
    if samples:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for label, values in samples.items():
            ordered = sorted(values)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            p50 = statistics.median(ordered)
            ax.step(ordered, ys, where="post", label=f"{label} (p50 {p50:,.0f} ms)")
        ax.axvline(100, color="red", linestyle="--", linewidth=1, label="100 ms")
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds (log scale)")
        ax.set_ylabel("fraction of messages")
        ax.set_title("Latency distribution (cumulative)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(directory / "latency.png", dpi=110)
        plt.close(fig)
        out["latency"] = "bench/latency.png"
    return out


# ---- the page ------------------------------------------------------------------------------


def render(
    results: dict[str, Result], baseline: dict[str, Result], chart_files: dict[str, str]
) -> str:
    parts = [
        "# Benchmarks",
        "",
        "*Generated by `make bench` (`python -m parley_bench --quick`) or `make bench-full`; "
        "do not edit by hand.* Each section names the command that produced it, the machine "
        "and the date. Benchmarks report figures; no test asserts a wall-clock time. The "
        "machine is small and shared (2 noisy cores): read medians and ratios, not absolute "
        "milliseconds. Where a section shows *was*, that is the figure before the changes "
        "listed at the end (`docs/bench/baseline.json`).",
        "",
        "| benchmark | target | result |",
        "|---|---|---|",
    ]
    parts += [
        f"| {name} | {TARGETS[name]} | {summary(name, results.get(name))} |" for name in TARGETS
    ]
    renderers: dict[str, Callable[[Result], str]] = {
        "coldstart": lambda r: coldstart_section(r, baseline.get("coldstart")),
        "cost": lambda r: cost_section(r, baseline.get("cost")),
        "critical": lambda r: critical_section(r, baseline.get("critical")),
        "fanout": lambda r: fanout_section(r, baseline.get("fanout"), chart_files.get("fanout")),
        "flood": flood_section,
        "catchup": lambda r: catchup_section(r, baseline.get("catchup")),
        "login": login_section,
        "load": lambda r: load_section(r, chart_files.get("latency")),
    }
    for name, render_one in renderers.items():
        result = results.get(name)
        if not result:
            continue
        parts += ["", render_one(result), "", _meta(result)]
    load_missing = "load" not in results or results["load"].get("skipped")
    if load_missing and chart_files.get("latency"):
        parts += ["", f"![latency distribution]({chart_files['latency']})"]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        parts += ["", notes.read_text().strip()]
    return "\n".join(parts).rstrip() + "\n"


def summary(name: str, r: Result | None) -> str:
    if not r:
        return "not run"
    if r.get("skipped"):
        return "skipped"
    if name == "coldstart":
        worst = max(r["functions"], key=lambda f: f["ratio"])
        worst_ready = max(r["functions"], key=lambda f: f["ready_ratio"])
        return (
            f"import ≤ {worst['ratio']:.2f}x (`{worst['function']}`); first ready ≤ "
            f"{worst_ready['ready_ratio']:.2f}x (`{worst_ready['function']}`)"
        )
    if name == "cost":
        s = {x["name"]: x for x in r["scenarios"]}
        on_aws = s["dm"].get("on_aws")
        share = (
            f" ({_money(on_aws['total_per_million'])} with Lambda's CPU share at "
            f"{on_aws['memory_mb']} MB)"
            if on_aws
            else ""
        )
        return (
            f"{_money(s['dm']['total_per_million'])} per million with the rate limiter{share}, "
            f"{_money(s['dm-no-limiter']['total_per_million'])} without; floor "
            f"{_money(r['floor']['total_per_million'])}"
        )
    if name == "critical":
        runs = {run["limiter"]: run for run in r["runs"]}
        return f"depth {runs[True]['depth']} with the limiter, {runs[False]['depth']} without"
    if name == "fanout":
        big = r["rows"][-1]
        rate = f"{big['posts_per_second']:,.0f} posts/s"
        design = (
            f"; {big['dilated_last_ms'] / 1000:.2f} s latency-bound"
            if "dilated_last_ms" in big
            else ""
        )
        check = r.get("lambda_cpu")
        if check:
            mb = str(check["template_memory_mb"])
            design += (
                f"; SDK CPU of the busiest container {check['by_memory'][mb] / 1000:.2f} s "
                f"at {check['template_memory_mb']:,} MB"
            )
        return f"{big['last_ms'] / 1000:.2f} s at {big['members']:,} ({rate}){design}"
    if name == "flood":
        off, on = r["ratios"]["off"], r["ratios"]["on"]
        one = r["ratios"].get("one_lane", on)
        spent = next(c for c in r["conditions"] if c["name"] == "flood-on")
        unlimited = next(c for c in r["conditions"] if c["name"] == "flood-off")
        return (
            f"B's median / p95 under a flood: {off['median']:.1f}x / {off['p95']:.1f}x of "
            f"no flood with the budget off, {one['median']:.1f}x / {one['p95']:.1f}x with it "
            f"over one queue, {on['median']:.1f}x / {on['p95']:.1f}x with the two lanes; "
            f"the flooder stored {spent['flood_acked']:,} messages with it "
            f"({unlimited['flood_acked']:,} without); {spent['flood_budget_1005']:,} of its "
            f"{spent['flood_sends']:,} sends answered 1005 by the budget, "
            f"{spent['flood_limit_1005']:,} by the send limit"
        )
    if name == "catchup":
        return (
            f"{r['frames']} frames for {r['messages']:,} messages, largest "
            f"{r['largest_frame'] / 1024:.1f} KB, {'nothing skipped' if r['ok'] else 'FAILED'}"
        )
    if name == "login":
        auth = next(s for s in r["sizes"] if s["memory_mb"] == r["auth_memory_mb"])
        return (
            f"{auth['login_ms']:.0f} ms at {auth['memory_mb']} MB "
            f"({r['cpu']['login_ms']:.0f} ms of CPU on one core)"
        )
    if name == "load":
        return str(r.get("summary", ""))
    return ""
