"""`python -m parley_local` / `parley-local`: run the template in the foreground."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TypeVar

from parley_local.cloud import LocalCloud, PortInUseError
from parley_local.faults import BUILTIN_PROFILES, FaultProfileError, load_profile
from parley_local.flags import FlagsError, load_flags
from parley_local.template import TemplateError

DEFAULT_HTTP_PORT = 3000
DEFAULT_WS_PORT = 3001
DEFAULT_WEB_PORT = 3002

_N = TypeVar("_N", int, float)


def _parsed(value: str, convert: Callable[[str], _N], what: str) -> _N:
    try:
        return convert(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {value!r}") from None


def _port(value: str) -> int:
    port = _parsed(value, int, "a port number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _positive(value: str) -> float:
    number = _parsed(value, float, "a number")
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return number


def _workers(value: str) -> int:
    number = _parsed(value, int, "an integer")
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1 worker")
    return number


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return _port(raw)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"parley-local: {name}: {exc}") from None


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """`K=V` pairs (also `ParameterKey=K,ParameterValue=V`, as `sam` accepts)."""
    overrides: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, _, value_part = item.partition(",ParameterValue=")
            key, value = key_part[len("ParameterKey=") :], value_part
        else:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"parameter override {item!r} is not KEY=VALUE")
        if not key:
            raise ValueError(f"parameter override {item!r} has no name")
        overrides[key] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley-local",
        description="Run Parley's SAM template on this machine: HTTP API, WebSocket API, "
        "Lambda functions, DynamoDB, SQS and Secrets Manager (moto). State is in memory.",
        epilog="`parley-local flags get|set FILE [--port N]` shows or replaces the feature "
        "flags of a running cloud.",
    )
    parser.add_argument(
        "-t", "--template", default="template.yaml", help="SAM template (default ./template.yaml)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the HTTP, WebSocket and web gateways listen on (127.0.0.1); "
        "moto always listens on 127.0.0.1",
    )
    parser.add_argument(
        "--http-port",
        type=_port,
        default=None,
        help=f"HTTP API port (env PARLEY_HTTP_PORT, default {DEFAULT_HTTP_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--ws-port",
        type=_port,
        default=None,
        help=f"WebSocket API port (env PARLEY_WS_PORT, default {DEFAULT_WS_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--web-port",
        type=_port,
        default=None,
        help=f"web client port (env PARLEY_WEB_PORT, default {DEFAULT_WEB_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--no-web", action="store_true", help="do not serve the web client (clients/web/dist)"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=4,
        help="max concurrent workers (warm sandboxes) per function (default 4)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive,
        default=600.0,
        help="WebSocket idle timeout in seconds (default 600, as API Gateway)",
    )
    parser.add_argument(
        "--max-connection-age",
        type=_positive,
        default=7200.0,
        help="WebSocket maximum connection age in seconds (default 7200, as API Gateway)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="values for the template's Parameters",
    )
    parser.add_argument("--stack-name", default="parley-local", help="AWS::StackName")
    parser.add_argument("--region", default="us-east-1", help="AWS::Region (default us-east-1)")
    parser.add_argument("--json", action="store_true", help="raw JSON log lines")
    parser.add_argument("--no-color", action="store_true", help="no colours in the log")
    parser.add_argument(
        "--no-reload", action="store_true", help="keep warm workers when code changes on disk"
    )
    parser.add_argument(
        "--faults",
        metavar="FILE|NAME",
        default=None,
        help="inject faults at the emulator's boundaries: a JSON fault profile, or a built-in "
        f"one ({', '.join(BUILTIN_PROFILES)}); see docs/local-development.md, Faults",
    )
    parser.add_argument(
        "--flags",
        metavar="FILE",
        default=None,
        help="serve this Powertools Feature Flags JSON document instead of the template's "
        "hosted configuration; change it while running with `python -m parley_local flags "
        "set FILE` (see docs/local-development.md, Feature flags)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug lines of the cloud")
    return parser


def build_flags_parser() -> argparse.ArgumentParser:
    """`python -m parley_local flags get|set`: the running cloud's feature flags."""
    parser = argparse.ArgumentParser(
        prog="parley-local flags",
        description="Show or replace the feature flags a running local cloud serves "
        "(GET/PUT /_local/flags on its HTTP API).",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"the cloud's HTTP API port (env PARLEY_HTTP_PORT, default {DEFAULT_HTTP_PORT})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the cloud's address (127.0.0.1)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("get", help="print the document served now")
    put = commands.add_parser("set", help="serve the document in FILE from now on")
    put.add_argument("file", metavar="FILE", help="a Powertools Feature Flags JSON document")
    return parser


def flags_main(argv: Sequence[str]) -> int:
    """`flags get` prints the served document; `flags set FILE` validates FILE and PUTs it.
    Exit 2 for a bad document or a refused one, 1 when no cloud answers."""
    args = build_flags_parser().parse_args(argv)
    port = args.port if args.port is not None else _env_port("PARLEY_HTTP_PORT", DEFAULT_HTTP_PORT)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/_local/flags"
    request = urllib.request.Request(url, method="GET")
    if args.command == "set":
        try:
            document = load_flags(args.file)
        except FlagsError as exc:
            print(f"parley-local: flags: {exc}", file=sys.stderr)
            return 2
        request = urllib.request.Request(
            url,
            data=json.dumps(document).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own URL)
            body = response.read().decode()
            version = response.headers.get("X-Parley-Flags-Version", "?")
    except urllib.error.HTTPError as exc:
        print(f"parley-local: flags: {exc.code} {exc.read().decode()}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"parley-local: flags: no local cloud at {url}: {exc}", file=sys.stderr)
        return 1
    if args.command == "set":
        print(f"flags version {version} served; functions see it within their cache TTL")
    else:
        print(body)
    return 0


def banner(cloud: LocalCloud) -> str:
    stack = cloud.stack
    assert stack is not None
    http, ws = cloud.http_url, cloud.ws_url
    lines = [
        "",
        "Parley local cloud is running",
        f"  template    {cloud.template_path}",
        f"  HTTP API    {http}",
    ]
    for api in stack.http_apis:
        if api.stage != "$default":
            lines.append(
                f"              {http}/{api.stage}   ({api.logical_id}, stage {api.stage})"
            )
    if stack.websocket_api is not None:
        lines.append(f"  WebSocket   {ws}")
        for stage in stack.websocket_api.stages:
            lines.append(f"              {ws}/{stage}   (@connections at {http_like(ws)}/{stage})")
    if cloud.web_url is not None:
        lines.append(f"  Web client  {cloud.web_url}   (the SDK at {cloud.web_url}/parley.js)")
    lines.append(f"  AWS (moto)  {cloud.aws_endpoint_url}")
    if cloud.fault_profile is not None:
        described = textwrap.wrap(cloud.fault_profile.describe(), 86, break_on_hyphens=False)
        lines.append(f"  Faults      {described[0]}")
        lines += [f"              {more}" for more in described[1:]]
        proxied = "DynamoDB and SQS"
        if "secretsmanager" in cloud.fault_profile.kinds:
            proxied = "DynamoDB, SQS and Secrets Manager"
        lines.append(
            f"              {proxied} via {cloud.fault_proxy_url}; counters at {http}/_local/faults"
        )
    if cloud.flags is not None:
        lines.append(f"  Flags       {cloud.flags.current.source}")
        lines.append(
            f"              AppConfigData at {cloud.appconfigdata_url}; GET/PUT {http}/_local/flags"
        )
    counts = ", ".join(
        _plural(n, what)
        for n, what in (
            (len(stack.tables), "table"),
            (len(stack.queues), "queue"),
            (len(stack.secrets), "secret"),
            (len(stack.sqs_mappings), "SQS event source"),
        )
    )
    lines.append(
        f"  {_plural(len(stack.functions), 'function')} (up to {cloud.workers} "
        f"workers each), {counts}; state is in memory"
    )
    lines += ["", "Try it:"]
    if cloud.web_url is not None:
        lines.append(f"  open {cloud.web_url} in a browser")
    lines.append(f"  curl {http}/health")
    if (cloud.http_port, cloud.ws_port) != (DEFAULT_HTTP_PORT, DEFAULT_WS_PORT):
        lines.append(f"  export PARLEY_HTTP_URL={http} PARLEY_WS_URL={ws}")
    lines += [
        "  parley register alice",
        "  parley login alice",
        "  parley chat bob",
        f"  aws --endpoint-url {cloud.aws_endpoint_url} dynamodb list-tables",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _plural(count: int, what: str) -> str:
    return f"{count} {what}" + ("" if count == 1 else "s")


def http_like(ws_url: str) -> str:
    return "http://" + ws_url.removeprefix("ws://")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["flags"]:
        return flags_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    try:
        overrides = parse_overrides(args.parameter_overrides)
    except ValueError as exc:
        parser.error(str(exc))
    http_port = args.http_port
    if http_port is None:
        http_port = _env_port("PARLEY_HTTP_PORT", DEFAULT_HTTP_PORT)
    ws_port = args.ws_port
    if ws_port is None:
        ws_port = _env_port("PARLEY_WS_PORT", DEFAULT_WS_PORT)
    try:
        faults = load_profile(args.faults) if args.faults is not None else None
    except FaultProfileError as exc:
        print(f"parley-local: faults: {exc}", file=sys.stderr)
        return 2
    try:  # checked before anything starts; the cloud reads it again and names its source
        if args.flags is not None:
            load_flags(args.flags)
    except FlagsError as exc:
        print(f"parley-local: flags: {exc}", file=sys.stderr)
        return 2
    web_port = args.web_port
    if web_port is None and not args.no_web:
        web_port = _env_port("PARLEY_WEB_PORT", DEFAULT_WEB_PORT)

    stop = threading.Event()
    signals = {"count": 0}
    cloud = LocalCloud(
        args.template,
        http_port=http_port,
        ws_port=ws_port,
        host=args.host,
        workers=args.workers,
        idle_timeout=args.idle_timeout,
        max_connection_age=args.max_connection_age,
        parameter_overrides=overrides,
        stack_name=args.stack_name,
        region=args.region,
        json_logs=args.json,
        color=False if args.no_color else None,
        verbose=args.verbose,
        reload=not args.no_reload,
        web_port=None if args.no_web else web_port,
        faults=faults,
        flags=args.flags,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] == 1:
            stop.set()
            return
        # A second Ctrl-C: no more waiting for $disconnect calls. This runs inside the
        # interrupted stop(), so it takes no lock: kill the children and leave.
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(130)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cloud.start()
        except TemplateError as exc:
            print(f"parley-local: template error: {exc}", file=sys.stderr)
            return 2
        except PortInUseError as exc:
            print(
                f"parley-local: {exc.strerror} (choose another with --http-port/--ws-port/"
                "--web-port or PARLEY_HTTP_PORT/PARLEY_WS_PORT/PARLEY_WEB_PORT)",
                file=sys.stderr,
            )
            return 2
        except FileNotFoundError as exc:
            print(f"parley-local: {exc}", file=sys.stderr)
            return 2
        except FaultProfileError as exc:
            print(f"parley-local: faults: {exc}", file=sys.stderr)
            return 2
        if stop.is_set():
            return 130
        if args.json:
            cloud.sink.info(
                "cloud",
                "running",
                http_url=cloud.http_url,
                ws_url=cloud.ws_url,
                web_url=cloud.web_url,
                aws_endpoint_url=cloud.aws_endpoint_url,
                faults=None if cloud.fault_profile is None else cloud.fault_profile.to_json(),
                flags=None if cloud.flags is None else cloud.flags.current.source,
                appconfigdata_url=cloud.appconfigdata_url,
            )
        else:
            cloud.sink.raw(banner(cloud))
        stop.wait()
        cloud.sink.info("cloud", "stopping (Ctrl-C again to force)")
        return 0
    finally:
        cloud.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
