"""Cold start: importing each function's handler module in a fresh interpreter.

Each run starts a new Python process with an environment like Lambda's (tracing off as the
template sets it without `TracingMode=Active`, every resource variable set to a dummy,
the function's CodeUri directory first on `sys.path`, the layer's directory next as
`/opt/python` would be) and times, inside that process:

* **import**: `import app` (the handler module), which is what Lambda's init phase does;
* **first ready**: import, then build the boto3 clients the function's main path uses
  (Parley imports boto3 lazily, on first use, so this is where it is paid).

Runs alternate with a bare `import boto3` (and `import boto3` + the same clients) in the
same kind of process, so the ratio compares like with like on a noisy machine. Medians of
`runs` processes. `-X importtime` of one extra run names what dominates.

The bar is on *first ready*: at most 1.3 times boto3 and the same clients alone, for every
function; the first request pays for both, so the ratio is what a user waits for beyond
what any boto3 function costs. What a function adds goes to its imports (Powertools'
Logger and Metrics; pydantic where frames or bodies are validated) and, unless avoided, to
a full garbage collection over everything imported (`parley.observability` freezes what
init imported).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from parley_bench.template import FUNCTIONS, ROOT, template

LAYER = ROOT / "layers" / "parley"

# The boto3 clients each function's main path builds (its first invocation pays for them).
CLIENTS: dict[str, tuple[str, ...]] = {
    "authorizer": ("secretsmanager", "dynamodb"),
    "fanout": ("dynamodb", "apigatewaymanagementapi", "sqs"),
    "health": (),
    "http_auth": ("secretsmanager", "dynamodb"),
    "http_conversations": ("secretsmanager", "dynamodb"),
    "http_groups": ("secretsmanager", "dynamodb", "sqs"),
    "http_rtc": ("secretsmanager", "dynamodb"),
    "http_users": ("secretsmanager", "dynamodb"),
    "ws_connect": ("dynamodb",),
    "ws_disconnect": ("dynamodb",),
    "ws_live": ("dynamodb", "apigatewaymanagementapi"),
    "ws_send": ("dynamodb", "apigatewaymanagementapi"),
    "ws_sync": ("dynamodb",),
}

LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "dummy",
    "AWS_SECRET_ACCESS_KEY": "dummy",
    "AWS_SESSION_TOKEN": "dummy",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "parley",
    "POWERTOOLS_METRICS_NAMESPACE": "Parley",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PARLEY_ENVIRONMENT": "prod",
    "PARLEY_USERS_TABLE": "parley-UsersTable-DUMMY",
    "PARLEY_SESSIONS_TABLE": "parley-SessionsTable-DUMMY",
    "PARLEY_CONNECTIONS_TABLE": "parley-ConnectionsTable-DUMMY",
    "PARLEY_CONVERSATIONS_TABLE": "parley-ConversationsTable-DUMMY",
    "PARLEY_MEMBERS_TABLE": "parley-MembersTable-DUMMY",
    "PARLEY_MESSAGES_TABLE": "parley-MessagesTable-DUMMY",
    "PARLEY_LIMITS_TABLE": "parley-LimitsTable-DUMMY",
    "PARLEY_PUSH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parley-push",
    "PARLEY_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
    "PARLEY_TURN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
    "PARLEY_WS_API_ENDPOINT": "wss://abcdef1234.execute-api.us-east-1.amazonaws.com",
    "PARLEY_WS_STAGE": "v1",
    "PARLEY_STUN_URLS": "stun:stun.l.google.com:19302",
}

# Runs inside the fresh interpreter. argv: mode, code dir, layer dir, site dir, clients.
_CHILD = r"""
import sys, time, json
mode, code, layer, site, clients = sys.argv[1:6]
sys.path[:0] = [p for p in (code, layer, site) if p]
t0 = time.perf_counter()
if mode == "app":
    import app
else:
    import boto3
t1 = time.perf_counter()
names = [c for c in clients.split(",") if c]
url = {"apigatewaymanagementapi": "https://example.invalid"}
if mode == "app":
    if names:
        from parley import aws
        for name in names:
            aws.client(name, url.get(name))
else:
    session = boto3.session.Session()
    for name in names:
        session.client(name, endpoint_url=url.get(name))
t2 = time.perf_counter()
print(json.dumps({"import": (t1 - t0) * 1000, "ready": (t2 - t0) * 1000,
                  "modules": len(sys.modules)}))
"""


@dataclass
class ColdStart:
    function: str
    import_ms: list[float] = field(default_factory=list)
    ready_ms: list[float] = field(default_factory=list)
    boto3_ms: list[float] = field(default_factory=list)
    boto3_ready_ms: list[float] = field(default_factory=list)
    modules: int = 0
    clients: tuple[str, ...] = ()
    top: list[tuple[str, float]] = field(default_factory=list)  # (module, cumulative ms)

    @property
    def import_median(self) -> float:
        return statistics.median(self.import_ms)

    @property
    def ready_median(self) -> float:
        return statistics.median(self.ready_ms)

    @property
    def boto3_median(self) -> float:
        return statistics.median(self.boto3_ms)

    @property
    def boto3_ready_median(self) -> float:
        return statistics.median(self.boto3_ready_ms)

    @property
    def ratio(self) -> float:
        return self.import_median / self.boto3_median

    @property
    def ready_ratio(self) -> float:
        return self.ready_median / self.boto3_ready_median


def template_env() -> dict[str, str]:
    """The literal variables of the template's `Globals.Function.Environment`."""
    variables = template().get("Globals", {}).get("Function", {}).get("Environment", {})
    return {k: v for k, v in variables.get("Variables", {}).items() if isinstance(v, str)}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "POWERTOOLS_"))}
    for name in ("AWS_ENDPOINT_URL", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"):
        env.pop(name, None)
    env.update(LAMBDA_ENV)
    env.update(template_env())
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _command(python: str, site: Path | None, *extra: str) -> list[str]:
    # With a layer-like site directory, start without the venv's site-packages (-S), as
    # Lambda has only the runtime's packages, /opt/python and the CodeUri directory.
    return [python, *(["-S"] if site is not None else []), *extra]


def _run(
    mode: str, function: str, clients: tuple[str, ...], python: str, site: Path | None
) -> dict[str, float]:
    code = str(FUNCTIONS / function) if mode == "app" else ""
    layer = str(LAYER) if mode == "app" else ""
    out = subprocess.run(
        [
            *_command(python, site, "-c", _CHILD),
            mode,
            code,
            layer,
            str(site or ""),
            ",".join(clients),
        ],
        env=_env(),
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold start of {function} failed:\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def importtime(
    function: str, python: str = sys.executable, site: Path | None = None, top: int = 8
) -> list[tuple[str, float]]:
    """The biggest imports under the handler module by cumulative time (`-X importtime`)."""
    code, layer = str(FUNCTIONS / function), str(LAYER)
    out = subprocess.run(
        [
            *_command(python, site, "-X", "importtime", "-c", _CHILD),
            "app",
            code,
            layer,
            str(site or ""),
            "",
        ],
        env=_env(),
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    rows: list[tuple[str, float, int]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cumulative, name = line[len("import time:") :].split("|")
            depth = (len(name) - len(name.lstrip())) // 2
            rows.append((name.strip(), int(cumulative) / 1000, depth))
        except ValueError:
            continue
    # Depth 0 is what the child imports itself (app); 1-3 are what app pulls in.
    found: dict[str, float] = {}
    for name, ms, depth in rows:
        if 1 <= depth <= 3 and not name.startswith(("encodings", "_")):
            found[name] = max(found.get(name, 0.0), ms)
    return sorted(found.items(), key=lambda kv: -kv[1])[:top]


def measure(
    functions: list[str] | None = None,
    runs: int = 7,
    python: str = sys.executable,
    site: Path | None = None,
) -> list[ColdStart]:
    """Median cold-start figures for each function (all of `functions/` by default)."""
    names = functions or sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").exists())
    results = []
    for name in names:
        clients = CLIENTS.get(name, ("dynamodb",))
        result = ColdStart(name, clients=clients)
        for _ in range(runs):
            # Alternate the module and the baseline so noise hits both alike.
            app = _run("app", name, clients, python, site)
            base = _run("boto3", name, clients, python, site)
            result.import_ms.append(app["import"])
            result.ready_ms.append(app["ready"])
            result.boto3_ms.append(base["import"])
            result.boto3_ready_ms.append(base["ready"])
            result.modules = int(app["modules"])
        result.top = importtime(name, python, site)
        results.append(result)
    return results


def build_layer(target: Path, python: str = sys.executable) -> Path | None:
    """`pip install --target` of what the layer ships plus the runtime's boto3 (what
    `sam build` puts in /opt/python, and what the python3.13 runtime has); None if it
    cannot be built (no network): the venv is then used and the report says so."""
    import boto3

    requirements = LAYER / "requirements.txt"
    import hashlib

    digest = hashlib.sha256((requirements.read_text() + boto3.__version__).encode()).hexdigest()
    stamp = target / f".stamp-{digest[:16]}"
    if stamp.exists():
        return target
    done = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
            str(target),
            "-r",
            str(requirements),
            f"boto3=={boto3.__version__}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        return None
    stamp.touch()
    return target
