"""`python -m parley_soak [options]` (or `make soak ARGS="..."`).

Without `--http`/`--ws` it starts its own local cloud of `template.yaml`, with the fault
profile of `--faults` (a file, or a built-in name such as `all5`), and stops it at the
end. With them it drives a running `make dev` (start that one with `--faults`), and
reads the dead-letter queues from `--aws-endpoint` (the banner's "AWS (moto)" line).

It prints the table, then every violation, and exits 1 when there is any (0 otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from parley_soak.checker import check
from parley_soak.history import History
from parley_soak.report import summary_line, table
from parley_soak.run import Settings, run_soak

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PROFILES = Path(__file__).resolve().parent / "profiles"

#: Template parameters of the soak's own cloud: every user connects and registers from
#: 127.0.0.1, and the proof-of-work challenge would only burn the CPU the soak measures.
SOAK_PARAMETERS = {
    "ConnectsPerMinute": "100000",
    "RegistrationsPerHour": "100000",
    "RegistrationChallenge": "off",
    "NewDirectConversationsPerHour": "10000",
}
#: A function reads its secrets once per `secret_max_age` (300 s by default, longer than a
#: soak): under a profile that faults Secrets Manager, the soak's own cloud makes them
#: expire this often (PARLEY_SECRET_MAX_AGE), so the reads, and the faults, keep coming.
SECRET_MAX_AGE_UNDER_FAULTS = 5


def resolve_faults(value: str | None) -> str | None:
    """A `--faults` value as the local cloud takes it: a file path as is, a profile name
    of `profiles/` (without `.json`) as that file's path, anything else (a built-in
    profile of the local cloud, e.g. `all5`) unchanged."""
    if value is None:
        return None
    if Path(value).is_file():
        return value
    named = PROFILES / f"{value}.json"
    return str(named) if named.is_file() else value


@contextlib.contextmanager
def own_cloud(faults: str | None, workers: int, log: TextIO) -> Iterator[Any]:
    """A started local cloud with `faults` (see :func:`resolve_faults`), stopped on exit."""
    from parley_local.cloud import LocalCloud
    from parley_local.faults import load_profile

    extra: dict[str, Any] = {}
    if faults is not None:
        profile = load_profile(faults)
        extra["faults"] = profile
        if "secretsmanager" in profile.kinds:
            max_age = str(SECRET_MAX_AGE_UNDER_FAULTS)
            extra["function_environment"] = {"PARLEY_SECRET_MAX_AGE": max_age}
    cloud = LocalCloud(
        TEMPLATE,
        parameter_overrides=SOAK_PARAMETERS,
        workers=workers,
        log_stream=log,
        reload=False,
        **extra,
    )
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def soak(
    settings: Settings,
    *,
    faults: str | None = None,
    http: str | None = None,
    ws: str | None = None,
    aws_endpoint: str | None = None,
    workers: int = 2,
    log: TextIO | None = None,
    progress: bool = True,
) -> History:
    """Run a soak (its own cloud unless `http` and `ws` are given) and return its history."""
    if http and ws:
        return asyncio.run(
            run_soak(http, ws, settings, aws_endpoint=aws_endpoint, progress=progress)
        )
    with own_cloud(resolve_faults(faults), workers, log or io.StringIO()) as cloud:
        return asyncio.run(
            run_soak(
                cloud.http_url,
                cloud.ws_url,
                settings,
                aws_endpoint=cloud.aws_endpoint_url,
                progress=progress,
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the soak, print the table; 1 on any violation."""
    parser = argparse.ArgumentParser(prog="python -m parley_soak", description=__doc__)
    defaults = Settings()
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--groups", type=int, default=defaults.groups)
    parser.add_argument("--group-size", type=int, default=defaults.group_size)
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="messages per second in all"
    )
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--faults",
        help="fault profile of the soak's own cloud: a JSON file, a name under "
        "infrastructure/parley_soak/profiles/, or a built-in profile (all5)",
    )
    parser.add_argument("--http", help="HTTP API of a running cloud (default: start one)")
    parser.add_argument("--ws", help="WebSocket API of a running cloud")
    parser.add_argument("--aws-endpoint", help="the running cloud's moto (reads the DLQs)")
    parser.add_argument("--workers", type=int, default=2, help="workers per function (own cloud)")
    parser.add_argument("--log", help="write the own cloud's log to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.users < 3:
        parser.error("--users must be at least 3")
    if bool(args.http) != bool(args.ws):
        parser.error("give both --http and --ws, or neither (own local cloud)")
    if args.http and args.faults:
        parser.error("--faults configures the soak's own cloud; start `make dev` with it")
    settings = Settings(
        users=args.users,
        groups=args.groups,
        group_size=max(2, min(args.group_size, args.users)),
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
    )
    with contextlib.ExitStack() as stack:
        log: TextIO | None = None
        if args.log:
            log = stack.enter_context(open(args.log, "w"))
        history = soak(
            settings,
            faults=args.faults,
            http=args.http,
            ws=args.ws,
            aws_endpoint=args.aws_endpoint,
            workers=args.workers,
            log=log,
            progress=not args.quiet,
        )
    violations = check(history)
    print(table(history, violations))
    print()
    print(summary_line(history, violations))
    if violations:
        print(f"\nFAILED: {len(violations)} violations", file=sys.stderr)
    return 1 if violations else 0
