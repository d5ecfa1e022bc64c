"""Load: N simulated users over real WebSockets against any Parley endpoint.

    python -m parley_bench.load [--http URL --ws URL] --users N --rate R --duration S

Without URLs it starts the local cloud (`parley_local.cloud.LocalCloud`) and drives that.
Each user is a :class:`parley_client.ParleyClient`; at `rate` messages per second in all, a
random user sends a direct message to another random user. Measured per message:
send → ack (the `ack` reply) and send → delivery (the recipient's client emitting the
`message`). At the end every recipient syncs once more: a message acknowledged but neither
delivered nor returned by that sync is *lost* (must be 0). A one-line progress bar goes
to stderr while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley_bench.template import ROOT, TEMPLATE

PASSWORD = "load-test password 1"  # noqa: S105 - a test account on a throwaway stack


@dataclass
class Sample:
    sent: float
    acked: float | None = None
    delivered: float | None = None
    synced: bool = False
    error: int | None = None


@dataclass
class LoadResult:
    users: int
    rate: float
    duration: float
    sent: int = 0
    samples: dict[str, Sample] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def ack_ms(self) -> list[float]:
        return [(s.acked - s.sent) * 1000 for s in self.samples.values() if s.acked is not None]

    def delivery_ms(self) -> list[float]:
        return [
            (s.delivered - s.sent) * 1000 for s in self.samples.values() if s.delivered is not None
        ]

    @property
    def acked(self) -> int:
        return sum(1 for s in self.samples.values() if s.acked is not None)

    @property
    def lost(self) -> int:
        return sum(
            1
            for s in self.samples.values()
            if s.acked is not None and s.delivered is None and not s.synced
        )

    @property
    def late(self) -> int:
        """Acknowledged, not pushed, but returned by the final sync."""
        return sum(1 for s in self.samples.values() if s.delivered is None and s.synced)

    @property
    def qps(self) -> float:
        return self.acked / self.elapsed if self.elapsed else 0.0

    @property
    def error_rate(self) -> float:
        return sum(self.errors.values()) / self.sent if self.sent else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _bar(done: float, total: float, width: int = 30) -> str:
    filled = int(width * min(1.0, done / total)) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


async def run_load(
    http_url: str,
    ws_url: str,
    *,
    users: int,
    rate: float,
    duration: float,
    progress: bool = True,
    seed: int | None = None,
) -> LoadResult:
    from parley_client.client import ParleyClient
    from parley_client.errors import ParleyError
    from parley_client.http_client import HttpClient
    from parley_client.options import ClientOptions

    rng = random.Random(seed)
    prefix = "ld" + secrets.token_hex(3)
    names = [f"{prefix}u{i:04d}" for i in range(users)]
    result = LoadResult(users=users, rate=rate, duration=duration)
    syncing = False

    def listener(event: dict[str, Any]) -> None:
        if event.get("type") != "message":
            return
        text = (event.get("body") or {}).get("text", "")
        sample = result.samples.get(text)
        if sample is None:
            return
        if syncing:
            sample.synced = True
        elif sample.delivered is None:
            sample.delivered = time.perf_counter()

    https = [HttpClient(http_url) for _ in names]
    for http, name in zip(https, names, strict=True):
        await http.register(name, PASSWORD)
        await http.login(name, PASSWORD)
    clients = [
        ParleyClient(
            ws_url,
            http.token_provider,
            ClientOptions(request_timeout=30.0),
            on_event=listener,
        )
        for http in https
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    # Warm-up (not measured): every user sends a few messages at once, so the functions'
    # first (cold) invocations and the first connections are out of the figures.
    for round_ in range(3):
        await asyncio.gather(
            *(
                c.send(f"{prefix}-warm-{round_}-{i}", to=names[(i + 1) % users])
                for i, c in enumerate(clients)
            ),
            return_exceptions=True,
        )
    pending: set[asyncio.Task[None]] = set()

    async def send_one(index: int) -> None:
        peer = rng.randrange(users - 1)
        peer += peer >= index
        text = f"{prefix}-{result.sent}"
        result.sent += 1
        sample = Sample(sent=time.perf_counter())
        result.samples[text] = sample
        try:
            await clients[index].send(text, to=names[peer])
            sample.acked = time.perf_counter()
        except ParleyError as exc:
            sample.error = int(exc.code)
            result.errors[str(exc.code)] = result.errors.get(str(exc.code), 0) + 1
        except Exception as exc:  # timeouts, connection errors: counted by kind
            kind = type(exc).__name__
            result.errors[kind] = result.errors.get(kind, 0) + 1

    started = time.perf_counter()
    next_report = started
    total = int(rate * duration)
    for n in range(total):
        due = started + n / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(send_one(rng.randrange(users)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if progress and time.perf_counter() >= next_report:
            next_report += 1.0
            _progress(result, time.perf_counter() - started, duration)
    if pending:
        await asyncio.wait(pending, timeout=60)
    result.elapsed = time.perf_counter() - started
    # Give pushes a moment, then a final sync on every client: whatever it returns was not
    # pushed in time; whatever is still missing after it is lost.
    deadline = time.perf_counter() + 5.0
    while time.perf_counter() < deadline and any(
        s.acked is not None and s.delivered is None for s in result.samples.values()
    ):
        await asyncio.sleep(0.05)
    syncing = True
    for client in clients:
        with contextlib.suppress(Exception):
            await client.sync()
    if progress:
        _progress(result, result.elapsed, duration, final=True)
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return result


def _progress(result: LoadResult, elapsed: float, duration: float, final: bool = False) -> None:
    ack = result.ack_ms()
    delivered = result.delivery_ms()
    line = (
        f"\r{_bar(elapsed, duration)} {min(elapsed, duration):5.1f}/{duration:.0f} s  "
        f"sent {result.sent}  acked {result.acked}  delivered {len(delivered)}  "
        f"errors {sum(result.errors.values())}  "
        f"p50 ack {percentile(ack, 50):.0f} ms  p50 delivery {percentile(delivered, 50):.0f} ms"
    )
    print(line, end="\n" if final else "", file=sys.stderr, flush=True)


def summarize(result: LoadResult) -> dict[str, Any]:
    ack, delivery = result.ack_ms(), result.delivery_ms()
    return {
        "users": result.users,
        "rate": result.rate,
        "duration": result.duration,
        "sent": result.sent,
        "acked": result.acked,
        "qps": result.qps,
        "ack_p50": percentile(ack, 50),
        "ack_p95": percentile(ack, 95),
        "ack_p99": percentile(ack, 99),
        "delivery_p50": percentile(delivery, 50),
        "delivery_p95": percentile(delivery, 95),
        "delivery_p99": percentile(delivery, 99),
        "delivered": len(delivery),
        "late": result.late,
        "lost": result.lost,
        "errors": dict(result.errors),
        "error_rate": result.error_rate,
    }


def render(summary: dict[str, Any]) -> str:
    errors = ", ".join(f"{k}: {v}" for k, v in summary["errors"].items()) or "none"
    return (
        f"{summary['users']} users, {summary['rate']:g} messages/s for {summary['duration']:g} s: "
        f"{summary['acked']}/{summary['sent']} acked ({summary['qps']:.1f}/s); send→ack p50 "
        f"{summary['ack_p50']:.0f} / p95 {summary['ack_p95']:.0f} / "
        f"p99 {summary['ack_p99']:.0f} ms; "
        f"send→delivery p50 {summary['delivery_p50']:.0f} / p95 {summary['delivery_p95']:.0f} / "
        f"p99 {summary['delivery_p99']:.0f} ms; errors {errors} "
        f"({summary['error_rate']:.2%}); only by sync {summary['late']}; lost {summary['lost']}"
    )


@contextlib.contextmanager
def local_cloud() -> Any:
    from parley_local.cloud import LocalCloud

    with open(os.devnull, "w") as quiet:
        cloud = LocalCloud(
            TEMPLATE, http_port=0, ws_port=0, workers=4, log_stream=quiet, reload=False
        )
        cloud.start()
        try:
            yield cloud
        finally:
            cloud.stop()


def time_to_health(timeout: float = 120.0) -> float:
    """Seconds from starting the local cloud as `make dev` does (`python -m parley_local`)
    to `GET /health` answering 200."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        http_port = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ws_port = s.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parley_local",
            "--http-port",
            str(http_port),
            "--ws-port",
            str(ws_port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{http_port}/health"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError("the local cloud exited before /health answered")
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("/health did not answer 200 in time")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def available() -> str | None:
    """Why the load benchmark cannot run here, or None."""
    try:
        from parley_client.client import ParleyClient  # noqa: F401
        from parley_local.cloud import LocalCloud  # noqa: F401
    except Exception as exc:  # the colleagues' packages may be mid-change
        return f"skipped: the local cloud or the client cannot be imported ({exc!r})"
    return None


def bench(quick: bool) -> dict[str, Any]:
    """What `python -m parley_bench --only load` records."""
    why = available()
    if why:
        return {"skipped": why}
    out: dict[str, Any] = {}
    out["health_seconds"] = time_to_health()
    runs = [
        ("two clients", 2, 10.0, 20.0 if quick else 100.0),  # 200 (quick) or 1,000 messages
        ("20 users, 10/s", 20, 10.0, 10.0 if quick else 60.0),
        ("20 users, 25/s", 20, 25.0, 10.0 if quick else 60.0),
        ("20 users, 50/s", 20, 50.0, 10.0 if quick else 60.0),
    ]
    samples: dict[str, list[float]] = {}
    summaries = []
    with local_cloud() as cloud:
        for label, users, rate, duration in runs:
            before = cpu_by_component(cloud)
            result = asyncio.run(
                run_load(cloud.http_url, cloud.ws_url, users=users, rate=rate, duration=duration)
            )
            after = cpu_by_component(cloud)
            summary = summarize(result)
            summary["label"] = label
            acked = max(1, summary["acked"])
            summary["cpu_ms_per_message"] = {
                # A worker retired during the run takes its CPU with it: never below zero.
                name: max(0.0, after[name] - before.get(name, 0.0)) * 1000 / acked
                for name in after
            }
            summaries.append(summary)
            samples[f"{label}: send→delivery"] = result.delivery_ms()
    out["runs"] = summaries
    out["samples"] = samples
    main = summaries[-1]
    out["summary"] = (
        f"p99 send→delivery {main['delivery_p99']:.0f} ms at {main['rate']:g}/s "
        f"({main['duration']:g} s), lost {main['lost']}; /health after "
        f"{out['health_seconds']:.1f} s"
    )
    rows = [
        "| run | users | rate/s | s | acked | QPS | ack p50/p95/p99 ms "
        "| delivery p50/p95/p99 ms | errors | by sync only | lost |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        errors = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "none"
        rows.append(
            f"| {s['label']} | {s['users']} | {s['rate']:g} | {s['duration']:g} | "
            f"{s['acked']}/{s['sent']} | {s['qps']:.1f} | "
            f"{s['ack_p50']:.0f} / {s['ack_p95']:.0f} / "
            f"{s['ack_p99']:.0f} | {s['delivery_p50']:.0f} / {s['delivery_p95']:.0f} / "
            f"{s['delivery_p99']:.0f} | {errors} | {s['late']} | **{s['lost']}** |"
        )
    out["markdown"] = "\n".join(
        [
            "Real WebSockets (`parley_client.ParleyClient`) against the local cloud "
            "(`LocalCloud`, 4 workers per function, moto behind it, all on this 2-core "
            "machine), direct messages between random pairs. "
            f"`make dev` (`python -m parley_local`) to `/health` 200: "
            f"**{out['health_seconds']:.1f} s**.",
            "",
            *rows,
            "",
            *cpu_table(summaries),
        ]
    )
    return out


def cpu_by_component(cloud: Any) -> dict[str, float]:
    """CPU seconds used so far by moto, by each function's workers and by this process
    (the gateways and the simulated users); empty where /proc is not there to read."""
    out: dict[str, float] = {}

    def seconds(pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    if not Path("/proc/self/stat").exists():
        return out
    out["moto"] = seconds(cloud.moto.pid)
    for runtime in cloud.functions.values():
        name = f"function {runtime.name}"
        out[name] = out.get(name, 0.0) + sum(seconds(pid) for pid in runtime.worker_pids())
    out["gateways + simulated users"] = seconds(os.getpid())
    return out


def cpu_table(summaries: list[dict[str, Any]]) -> list[str]:
    """Where each message's CPU went, per run: why the machine saturates where it does."""
    if not summaries or not summaries[0].get("cpu_ms_per_message"):
        return []
    names = sorted({n for s in summaries for n, ms in s["cpu_ms_per_message"].items() if ms >= 0.5})
    head = "| run | " + " | ".join(names) + " | all |"
    rows = [
        "CPU per acknowledged message, ms, by process of the local cloud, including each "
        "run's setup (register, log in and connect its users: the auth function hashes "
        "passwords with scrypt) and its final syncs. Two cores give 2,000 ms of CPU per "
        "second, so N messages/s need N x *all* well under 2,000 before queues stay short. "
        "The send function's CPU is mostly the AWS SDK's (about 1 ms per call, 9 calls per "
        "send), moto's is about 2 ms per DynamoDB request:",
        "",
        head,
        "|---" * (len(names) + 2) + "|",
    ]
    for s in summaries:
        cpu = s["cpu_ms_per_message"]
        cells = [f"{cpu.get(n, 0.0):.1f}" for n in names]
        rows.append(f"| {s['label']} | " + " | ".join(cells) + f" | **{sum(cpu.values()):.1f}** |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_bench.load", description=__doc__)
    parser.add_argument("--http", help="HTTP API URL (default: start the local cloud)")
    parser.add_argument("--ws", help="WebSocket API URL")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second in all")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.users < 2:
        parser.error("--users must be at least 2")
    if bool(args.http) != bool(args.ws):
        parser.error("give both --http and --ws, or neither (local cloud)")

    def go(http_url: str, ws_url: str) -> dict[str, Any]:
        result = asyncio.run(
            run_load(
                http_url,
                ws_url,
                users=args.users,
                rate=args.rate,
                duration=args.duration,
                seed=args.seed,
            )
        )
        return summarize(result)

    if args.http:
        summary = go(args.http, args.ws)
    else:
        with local_cloud() as cloud:
            summary = go(cloud.http_url, cloud.ws_url)
    print(render(summary))
    return 1 if summary["lost"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
