"""Fault injection at the local cloud's boundaries: the profile, its draws and its counters.

A *fault profile* (JSON, `--faults FILE`, or the built-in `all5`) lists rules, each with a
probability and optional scopes. The emulator asks the `FaultInjector` at each boundary
(the AWS endpoint's fault proxy, for DynamoDB, SQS and Secrets Manager; the `@connections`
API; the Lambda runtime) whether a rule fires; Parley's own code is never touched. Every
injected fault is logged on one line (source `fault`) and counted; `snapshot()` is what
`GET /_local/faults` answers.

Draws are seeded: each rule has its own generator (seeded from the profile's seed and the
rule's position), so a rule's sequence of decisions depends only on the order of the calls
that match its scope.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley_local.logs import LogSink

KINDS = ("dynamodb", "connections", "sqs", "lambda", "latency", "secretsmanager")
DYNAMODB_ERRORS = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "InternalServerError",
    "timeout",
)
CONNECTION_STATUSES = (500, 429, 410)
SQS_ERRORS = ("partial",)
LAMBDA_ERRORS = ("error", "timeout")
#: Secrets Manager's throttling and server error, or a read that never answers.
SECRETSMANAGER_ERRORS = ("ThrottlingException", "InternalServiceError", "timeout")
LAMBDA_WHEN = ("before", "after")
LATENCY_TARGETS = ("dynamodb", "connections", "sqs", "lambda")

_COMMON = {"kind", "probability", "function"}
_FIELDS: dict[str, set[str]] = {
    "dynamodb": _COMMON | {"error", "table", "operation", "applied"},
    "connections": _COMMON | {"status"},
    "sqs": _COMMON | {"error", "queue"},
    "lambda": _COMMON | {"error", "when"},
    "latency": _COMMON | {"target", "ms", "table", "operation", "queue"},
    "secretsmanager": _COMMON | {"error", "operation"},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "dynamodb": ("error",),
    "connections": ("status",),
    "sqs": ("error",),
    "lambda": ("error", "when"),
    "latency": ("target", "ms"),
    "secretsmanager": ("error",),
}
MAX_LATENCY_MS = 60_000


class FaultProfileError(ValueError):
    """A fault profile that cannot be used (the message says where and why)."""


@dataclass(frozen=True)
class FaultRule:
    """One rule of a profile; scopes that are None match anything."""

    index: int
    kind: str
    probability: float
    error: str | None = None
    status: int | None = None
    when: str | None = None
    target: str | None = None
    ms: int = 0
    applied: bool = True
    function: str | None = None
    table: str | None = None
    operation: str | None = None
    queue: str | None = None

    @property
    def label(self) -> str:
        """The counter key, `kind:what`: `dynamodb:ThrottlingException`, `lambda:error:after`..."""
        if self.kind == "dynamodb" and self.error == "timeout":
            return f"dynamodb:timeout:{'applied' if self.applied else 'unapplied'}"
        if self.kind == "connections":
            return f"connections:{self.status}"
        if self.kind == "lambda":
            return f"lambda:{self.error}:{self.when}"
        if self.kind == "latency":
            return f"latency:{self.target}"
        return f"{self.kind}:{self.error}"

    @property
    def scope(self) -> dict[str, str]:
        """The rule's scopes that are set (for log lines)."""
        pairs = (
            ("function", self.function),
            ("table", self.table),
            ("operation", self.operation),
            ("queue", self.queue),
        )
        return {name: value for name, value in pairs if value is not None}


@dataclass(frozen=True)
class FaultProfile:
    """A parsed profile: where it came from, its seed, its rules and their source JSON."""

    name: str
    seed: int
    rules: tuple[FaultRule, ...]
    source: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The profile as `GET /_local/faults` shows it."""
        return {"name": self.name, "seed": self.seed, "faults": [dict(f) for f in self.source]}

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of fault its rules inject."""
        return frozenset(rule.kind for rule in self.rules)

    def describe(self) -> str:
        """One line for the banner: name, seed and each rule's label, probability and scope."""
        parts = []
        for rule in self.rules:
            percent = f"{rule.probability * 100:.3g}%"
            text = f"{rule.label} {percent}"
            if rule.kind == "latency":
                text = f"{rule.label} +{rule.ms} ms {percent}"
            if rule.scope:
                text += " (" + ",".join(f"{k}={v}" for k, v in rule.scope.items()) + ")"
            parts.append(text)
        return f"{self.name} (seed {self.seed}): " + ("; ".join(parts) or "no rules")


def _operations(service: str) -> set[str]:
    """The operation names of an AWS service, from botocore's model (as strict as AWS)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return set(model.operation_names)


def _string(rule: Mapping[str, Any], name: str, where: str) -> str | None:
    value = rule.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultProfileError(f"{where}: {name!r} must be a non-empty string")
    return value


def _choice(rule: Mapping[str, Any], name: str, allowed: tuple[Any, ...], where: str) -> Any:
    value = rule.get(name)
    if isinstance(value, bool) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise FaultProfileError(f"{where}: {name} {value!r} is not one of {options}")
    return value


def _rule(index: int, raw: Any) -> FaultRule:
    where = f"faults[{index}]"
    if not isinstance(raw, dict):
        raise FaultProfileError(f"{where}: a rule is a JSON object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise FaultProfileError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    unknown = sorted(set(raw) - _FIELDS[kind])
    if unknown:
        names = ", ".join(unknown)
        raise FaultProfileError(f"{where}: unknown field(s) for kind {kind!r}: {names}")
    for name in ("probability", *_REQUIRED[kind]):
        if name not in raw:
            raise FaultProfileError(f"{where}: {name!r} is required for kind {kind!r}")
    probability = raw["probability"]
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise FaultProfileError(f"{where}: probability must be a number")
    if not 0.0 <= float(probability) <= 1.0:
        raise FaultProfileError(f"{where}: probability {probability} is outside [0, 1]")
    values: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "probability": float(probability),
        "function": _string(raw, "function", where),
        "table": _string(raw, "table", where),
        "operation": _string(raw, "operation", where),
        "queue": _string(raw, "queue", where),
    }
    if kind == "dynamodb":
        values["error"] = _choice(raw, "error", DYNAMODB_ERRORS, where)
        if "applied" in raw:
            if values["error"] != "timeout" or not isinstance(raw["applied"], bool):
                raise FaultProfileError(f"{where}: 'applied' (true/false) is for error 'timeout'")
            values["applied"] = raw["applied"]
    elif kind == "connections":
        values["status"] = _choice(raw, "status", CONNECTION_STATUSES, where)
    elif kind == "sqs":
        values["error"] = _choice(raw, "error", SQS_ERRORS, where)
    elif kind == "secretsmanager":
        values["error"] = _choice(raw, "error", SECRETSMANAGER_ERRORS, where)
    elif kind == "lambda":
        values["error"] = _choice(raw, "error", LAMBDA_ERRORS, where)
        values["when"] = _choice(raw, "when", LAMBDA_WHEN, where)
    else:
        values["target"] = target = _choice(raw, "target", LATENCY_TARGETS, where)
        ms = raw["ms"]
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 < ms <= MAX_LATENCY_MS:
            raise FaultProfileError(f"{where}: ms must be an integer in 1..{MAX_LATENCY_MS}")
        values["ms"] = ms
        if values["table"] is not None and target != "dynamodb":
            raise FaultProfileError(f"{where}: 'table' is a scope of target 'dynamodb' only")
        if values["queue"] is not None and target != "sqs":
            raise FaultProfileError(f"{where}: 'queue' is a scope of target 'sqs' only")
        if values["operation"] is not None and target not in ("dynamodb", "sqs"):
            raise FaultProfileError(f"{where}: 'operation' is a scope of dynamodb or sqs only")
    operation = values["operation"]
    if operation is not None:
        service = values.get("target") or kind
        if operation not in _operations(service):
            raise FaultProfileError(f"{where}: {service} has no operation {operation!r}")
    return FaultRule(**values)


def parse_profile(data: Any, name: str = "profile") -> FaultProfile:
    """Validate a profile's JSON value strictly; raises `FaultProfileError`."""
    if not isinstance(data, dict):
        raise FaultProfileError('a fault profile is a JSON object {"seed": ..., "faults": [...]}')
    unknown = sorted(set(data) - {"seed", "faults"})
    if unknown:
        raise FaultProfileError(f"unknown top-level field(s): {', '.join(unknown)}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaultProfileError("seed must be an integer")
    faults = data.get("faults")
    if not isinstance(faults, list):
        raise FaultProfileError("'faults' must be a list of rules")
    rules = tuple(_rule(i, raw) for i, raw in enumerate(faults))
    return FaultProfile(name, seed, rules, tuple(dict(raw) for raw in faults))


def _all5() -> dict[str, Any]:
    """5% of the calls of every kind fail, the kind's variants sharing the 5% equally.

    Secrets Manager is left out: a function reads its secrets once per `secret_max_age`
    (300 s), so 5% of those reads, each retried by the SDK, would almost never surface,
    while a `timeout` holds a cold start for the SDK's 60 s read timeout. Its degradation
    has its own soak profile (`parley_soak/profiles/secret-unreadable.json`)."""
    dynamodb = [
        {"kind": "dynamodb", "error": error, "probability": 0.01} for error in DYNAMODB_ERRORS[:3]
    ]
    dynamodb.append({"kind": "dynamodb", "error": "timeout", "probability": 0.01})
    dynamodb.append({"kind": "dynamodb", "error": "timeout", "applied": False, "probability": 0.01})
    connections = [
        {"kind": "connections", "status": status, "probability": 0.05 / 3}
        for status in CONNECTION_STATUSES
    ]
    lambdas = [
        {"kind": "lambda", "error": error, "when": when, "probability": 0.05 / 4}
        for error in LAMBDA_ERRORS
        for when in LAMBDA_WHEN
    ]
    latency = [
        {"kind": "latency", "target": target, "ms": 50, "probability": 0.05}
        for target in LATENCY_TARGETS
    ]
    return {
        "seed": 5,
        "faults": [
            *dynamodb,
            *connections,
            {"kind": "sqs", "error": "partial", "probability": 0.05},
            *lambdas,
            *latency,
        ],
    }


BUILTIN_PROFILES = {"all5": _all5}


def load_profile(spec: str) -> FaultProfile:
    """A built-in profile by name (`all5`), or a JSON file's; raises `FaultProfileError`."""
    builtin = BUILTIN_PROFILES.get(spec)
    if builtin is not None:
        return parse_profile(builtin(), spec)
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        names = ", ".join(BUILTIN_PROFILES)
        raise FaultProfileError(
            f"cannot read {spec}: {exc.strerror or exc} (built-in profiles: {names})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultProfileError(f"{spec}: not JSON: {exc}") from None
    try:
        return parse_profile(data, spec)
    except FaultProfileError as exc:
        raise FaultProfileError(f"{spec}: {exc}") from None


def check_scopes(
    profile: FaultProfile,
    *,
    functions: Iterable[str],
    tables: Iterable[str],
    queues: Iterable[str],
) -> None:
    """Every logical id the profile names must be a function, table or queue of the stack."""
    known = {"function": set(functions), "table": set(tables), "queue": set(queues)}
    for rule in profile.rules:
        for what, ids in known.items():
            value = getattr(rule, what)
            if value is not None and value not in ids:
                listed = ", ".join(sorted(ids)) or "none"
                raise FaultProfileError(
                    f"faults[{rule.index}]: no {what} {value!r} in the template ({what}s: {listed})"
                )


def caller_function(user_agent: str) -> str | None:
    """The function a request came from: its SDK's `app/<logical id>` User-Agent part
    (the local cloud sets `AWS_SDK_UA_APP_ID` in each worker when faults are on)."""
    for part in user_agent.split():
        if part.startswith("app/"):
            return part[4:] or None
    return None


class FaultInjector:
    """Decides, logs and counts the faults of one running local cloud (thread-safe)."""

    def __init__(
        self,
        profile: FaultProfile,
        sink: LogSink,
        *,
        tables: Mapping[str, str] | None = None,
        queues: Mapping[str, str] | None = None,
    ) -> None:
        # Scopes name logical ids; requests carry physical names.
        self._tables = dict(tables or {})
        self._queues = dict(queues or {})
        self.sink = sink
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.profile = profile
        self._generators: dict[int, random.Random] = {}
        self.replace(profile)

    def replace(self, profile: FaultProfile) -> None:
        """Use `profile` from now on (draws restart from its seed; counters are kept)."""
        generators = {r.index: random.Random(f"{profile.seed}:{r.index}") for r in profile.rules}
        with self._lock:
            self.profile = profile
            self._generators = generators

    def _matches(
        self,
        rule: FaultRule,
        function: str | None,
        tables: Iterable[str],
        operation: str | None,
        queue: str | None,
    ) -> bool:
        if rule.function is not None and rule.function != function:
            return False
        if rule.table is not None and self._tables.get(rule.table, rule.table) not in set(tables):
            return False
        if rule.operation is not None and rule.operation != operation:
            return False
        return rule.queue is None or self._queues.get(rule.queue, rule.queue) == queue

    def _fires(self, rule: FaultRule) -> bool:
        if rule.probability <= 0.0:
            return False
        with self._lock:
            generator = self._generators.get(rule.index)
            draw = generator.random() if generator is not None else 1.0
        return draw < rule.probability

    def pick(
        self,
        kind: str,
        *,
        function: str | None = None,
        tables: Iterable[str] = (),
        operation: str | None = None,
        queue: str | None = None,
        target: str | None = None,
    ) -> FaultRule | None:
        """The first rule of `kind` (and `target`, for latency) whose scope matches and
        whose draw fires, or None. Nothing is counted: see `record`."""
        tables = tuple(tables)
        for rule in self.profile.rules:
            if rule.kind != kind or (target is not None and rule.target != target):
                continue
            if self._matches(rule, function, tables, operation, queue) and self._fires(rule):
                return rule
        return None

    def latency(
        self,
        target: str,
        *,
        function: str | None = None,
        tables: Iterable[str] = (),
        operation: str | None = None,
        queue: str | None = None,
        detail: str = "",
    ) -> float:
        """Seconds to wait at boundary `target`: the sum of the latency rules that fire
        (each one recorded)."""
        tables = tuple(tables)
        total_ms = 0
        for rule in self.profile.rules:
            if rule.kind != "latency" or rule.target != target:
                continue
            if self._matches(rule, function, tables, operation, queue) and self._fires(rule):
                total_ms += rule.ms
                self.record(rule, detail or f"+{rule.ms} ms", function=function)
        return total_ms / 1000

    def record(self, rule: FaultRule, detail: str, **where: Any) -> None:
        """Count one injected fault and log it on one line."""
        with self._lock:
            self._counts[rule.label] = self._counts.get(rule.label, 0) + 1
        fields: dict[str, Any] = {"rule": rule.index, **rule.scope}
        fields.update((k, v) for k, v in where.items() if v is not None)
        self.sink.info("fault", f"injected {rule.label}: {detail}", **fields)

    def counts(self) -> dict[str, int]:
        """Injected faults so far, by label."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    def snapshot(self) -> dict[str, Any]:
        """`{"profile": ..., "injected": {label: n}}`, as `GET /_local/faults` answers."""
        return {"profile": self.profile.to_json(), "injected": self.counts()}
