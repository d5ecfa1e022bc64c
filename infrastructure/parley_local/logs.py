"""One place where every line of the local cloud is written: functions, gateways, itself.

Function output arrives line by line. Powertools' JSON lines are rendered compactly
(`INFO message key=value ...`, traceback below) unless raw JSON was asked for (`--json`),
in which case function lines are printed exactly as written and the cloud's own lines are
JSON objects too. The last lines are also kept in memory (`LogSink.lines()`), which tests
and tools use to look at what happened.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable
from typing import Any, TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}

# Powertools Logger keys that repeat on every line and say nothing new locally.
_NOISE_KEYS = {
    "level",
    "message",
    "timestamp",
    "location",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "sampling_rate",
    "exception",
    "exception_name",
    "stack_trace",
}

_RESET = "\033[0m"
_DIM = "\033[2m"
_PALETTE = ("\033[36m", "\033[32m", "\033[35m", "\033[34m", "\033[33m", "\033[96m", "\033[92m")
_LEVEL_COLOURS = {"ERROR": "\033[31m", "CRITICAL": "\033[31m", "WARNING": "\033[33m"}


def _json(value: Any) -> str:
    """Compact JSON of anything a log record holds: what JSON cannot hold is shown as text.

    Not `parley.wire.compact_json`, which refuses such values: writing a log line must never
    fail, so an object becomes its `str()` and a NaN is written as `NaN`.
    """
    return json.dumps(value, separators=(",", ":"), default=str)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return _json(value)


def render_powertools(record: dict[str, Any]) -> tuple[str, list[str]]:
    """(`LEVEL message key=value ...`, extra lines) for one Powertools Logger record."""
    level = str(record.get("level", "INFO")).upper()
    message = record.get("message", "")
    text = message if isinstance(message, str) else _compact(message)
    fields = [f"{k}={_compact(v)}" for k, v in record.items() if k not in _NOISE_KEYS]
    head = f"{level:<5} {text}"
    if fields:
        head += "  " + " ".join(fields)
    extra: list[str] = []
    exception = record.get("exception") or record.get("stack_trace")
    if isinstance(exception, str):
        extra = exception.rstrip("\n").splitlines()
    elif exception is not None:
        extra = [_compact(exception)]
    return head, extra


def render_emf(record: dict[str, Any]) -> str | None:
    """A one-line summary of a CloudWatch embedded-metrics record, or None if it is not one."""
    aws = record.get("_aws")
    if not isinstance(aws, dict) or "CloudWatchMetrics" not in aws:
        return None
    names = [
        str(m.get("Name"))
        for directive in aws.get("CloudWatchMetrics") or []
        for m in directive.get("Metrics") or []
        if isinstance(m, dict)
    ]
    values = " ".join(f"{name}={_compact(record.get(name))}" for name in names)
    return f"METRIC {values}"


def render_function_line(text: str) -> tuple[str | None, list[str]]:
    """(level or None, display lines) for one line a function wrote."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            emf = render_emf(record)
            if emf is not None:
                return "DEBUG", [emf]
            if "level" in record and "message" in record:
                head, extra = render_powertools(record)
                return str(record["level"]).upper(), [head, *extra]
    if stripped.startswith("[ERROR]"):
        return "ERROR", [text]
    return None, [text]


class LogSink:
    """Thread-safe writer of the local cloud's log (and a memory of its last lines)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        json_logs: bool = False,
        color: bool | None = None,
        level: str = "INFO",
        keep: int = 20_000,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.json_logs = json_logs
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty())
        self.color = color and not json_logs
        self.min_level = LEVELS.get(level.upper(), 20)
        self._lock = threading.Lock()
        self._memory: deque[str] = deque(maxlen=keep)

    # ------------------------------------------------------------ output

    def _write(self, lines: Iterable[str], plain: Iterable[str]) -> None:
        with self._lock:
            self._memory.extend(plain)
            try:
                for line in lines:
                    self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not take the cloud down

    def lines(self) -> list[str]:
        """The last lines written, without colour codes."""
        with self._lock:
            return list(self._memory)

    def _colour(self, source: str) -> str:
        return _PALETTE[zlib.crc32(source.encode()) % len(_PALETTE)]

    def _prefix(self, source: str, width: int = 18) -> tuple[str, str]:
        stamp = time.strftime("%H:%M:%S")
        plain = f"{stamp} {source:<{width}} |"
        if not self.color:
            return plain, plain
        return f"{_DIM}{stamp}{_RESET} {self._colour(source)}{source:<{width}}{_RESET} |", plain

    # ------------------------------------------------------------ entry points

    def function_line(self, function: str, stream: str, text: str) -> None:
        """One line written by a function on stdout or stderr."""
        if self.json_logs:
            self._write([text], [f"{function} | {text}"])
            return
        level, rendered = render_function_line(text)
        if level is not None and LEVELS.get(level, 20) < self.min_level:
            return
        prefix, plain_prefix = self._prefix(function)
        colour = _LEVEL_COLOURS.get(level or "", "") if self.color else ""
        if stream == "stderr" and level is None and self.color:
            colour = "\033[31m" if text.lstrip().startswith(("Traceback", "File ")) else ""
        out, plain = [], []
        for line in rendered:
            body = f"{colour}{line}{_RESET}" if colour else line
            out.append(f"{prefix} {body}")
            plain.append(f"{plain_prefix} {line}")
        self._write(out, plain)

    def event(self, source: str, message: str, level: str = "INFO", **fields: Any) -> None:
        """A line of the cloud itself (`source` is e.g. `http`, `ws`, `sqs`, `cloud`)."""
        if LEVELS.get(level, 20) < self.min_level:
            return
        if self.json_logs:
            record = {"source": source, "level": level, "message": message, **fields}
            line = _json(record)
            self._write([line], [line])
            return
        detail = " ".join(f"{k}={_compact(v)}" for k, v in fields.items())
        text = f"{message}  {detail}" if detail else message
        prefix, plain_prefix = self._prefix(source)
        colour = _LEVEL_COLOURS.get(level, "") if self.color else ""
        body = f"{colour}{text}{_RESET}" if colour else text
        self._write([f"{prefix} {body}"], [f"{plain_prefix} {text}"])

    def debug(self, source: str, message: str, **fields: Any) -> None:
        self.event(source, message, "DEBUG", **fields)

    def info(self, source: str, message: str, **fields: Any) -> None:
        self.event(source, message, "INFO", **fields)

    def warning(self, source: str, message: str, **fields: Any) -> None:
        self.event(source, message, "WARNING", **fields)

    def error(self, source: str, message: str, **fields: Any) -> None:
        self.event(source, message, "ERROR", **fields)

    def raw(self, text: str) -> None:
        """Text written as is (the start-up banner)."""
        self._write(text.splitlines() or [""], text.splitlines())
