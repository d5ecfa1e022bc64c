"""What an HTTP dispatch costs a cold start: Parley's `web.py` against Powertools'
`APIGatewayHttpResolver(enable_validation=True)`, the one that would generate the OpenAPI.

`python -m parley_schema.dispatch_cost [runs]` starts fresh interpreters, alternating the two,
and prints medians (docs/architecture.md, "The protocol as schema", quotes them). Both sides
start from what every handler imports anyway (`parley.observability`), run with the
template's `PYDANTIC_DISABLE_PLUGINS`, and serve the same route (`PATCH
/groups/{id}/members/{userId}` with a `RoleBody`: `web.py` validates the runtime's
dataclass, Powertools needs its pydantic twin from `parley_schema.requests`):

* `ready`: importing the dispatch and declaring the route, in ms (wall and CPU);
* `first`: the first request through it;
* `importtime`: the sum of `-X importtime` cumulative times of what the import adds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "parley",
    "POWERTOOLS_METRICS_NAMESPACE": "Parley",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}
_BASE = "from parley import observability"
_MARK = "import sys; sys.stderr.write('MARK\\n'); sys.stderr.flush()"
_EVENT = {
    "version": "2.0",
    "routeKey": "PATCH /groups/{id}/members/{userId}",
    "rawPath": "/groups/g/members/u",
    "rawQueryString": "",
    "pathParameters": {"id": "g", "userId": "u"},
    "headers": {"content-type": "application/json"},
    "body": '{"role":"admin"}',
    "isBase64Encoded": False,
    "requestContext": {
        "requestId": "r",
        "stage": "$default",
        "http": {"method": "PATCH", "path": "/groups/g/members/u", "sourceIp": "192.0.2.1"},
    },
}

DISPATCHES: dict[str, tuple[str, str, str]] = {
    # name: (import, route declaration, first request)
    "web.py": (
        "from parley.web import http_response, public, serve_http",
        "from parley.models import RoleBody, validate\n"
        "def role(request):\n"
        "    return http_response(200, {'role': validate(RoleBody, request.json()).role})\n"
        "ROUTES = {'PATCH /groups/{id}/members/{userId}': public(role)}\n",
        "response = serve_http(EVENT, ROUTES)",
    ),
    "powertools": (
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver",
        "from typing import Annotated\n"
        "from aws_lambda_powertools.event_handler.openapi.params import Body\n"
        "from parley_schema.requests import RoleBody\n"
        "app = APIGatewayHttpResolver(enable_validation=True)\n"
        "@app.patch('/groups/<id>/members/<userId>')\n"
        "def role(id: str, userId: str, body: Annotated[RoleBody, Body()]) -> dict:\n"
        "    return {'role': body.role}\n",
        "class Context:\n"
        "    function_name = 'f'; memory_limit_in_mb = 256\n"
        "    invoked_function_arn = 'arn'; aws_request_id = 'r'\n"
        "response = app.resolve(EVENT, Context())",
    ),
}


def _program(imports: str, declare: str, call: str) -> str:
    return "\n".join(
        [
            "import json, time",
            _BASE,
            f"EVENT = json.loads({json.dumps(json.dumps(_EVENT))})",
            "t0, c0 = time.perf_counter(), time.process_time()",
            imports,
            declare,
            "t1, c1 = time.perf_counter(), time.process_time()",
            call,
            "t2, c2 = time.perf_counter(), time.process_time()",
            "assert response['statusCode'] == 200, response",
            "print(json.dumps({'ready': t1 - t0, 'ready_cpu': c1 - c0,"
            " 'first': t2 - t1, 'first_cpu': c2 - c1}))",
        ]
    )


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env={**os.environ, **_ENV}
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return result


def imported_after_marker(stderr: str) -> float:
    """Milliseconds of the top-level imports `-X importtime` reports after the marker line."""
    lines = stderr.splitlines()
    total_us = 0
    for line in lines[lines.index("MARK") + 1 :]:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if len(name) - len(name.lstrip()) == 1:  # one space: a top-level import
            total_us += int(cumulative)
    return total_us / 1000


def measure(runs: int) -> dict[str, dict[str, float]]:
    """Median timings (ms) of each dispatch over `runs` fresh interpreters each."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in DISPATCHES}
    for _ in range(runs):
        for name, (imports, declare, call) in DISPATCHES.items():
            # The program's last line: the log lines of the request come before it.
            output = _run(["-c", _program(imports, declare, call)]).stdout
            timing = json.loads(output.strip().splitlines()[-1])
            profile = _run(["-X", "importtime", "-c", f"{_BASE}; {_MARK}; {imports}"])
            timing["importtime"] = imported_after_marker(profile.stderr) / 1000
            samples[name].append(timing)
    return {
        name: {key: round(statistics.median(s[key] for s in rows) * 1000, 1) for key in rows[0]}
        for name, rows in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Print the medians as JSON."""
    args = sys.argv[1:] if argv is None else argv
    runs = int(args[0]) if args else 15
    result: dict[str, Any] = {"runs": runs, **measure(runs)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
