"""The IAM audit: every AWS call a handler makes, checked against its function's role.

moto does not enforce IAM, so a missing permission would only show after a real deploy.
While the integration tests run, a botocore hook (registered on every session, the way moto
registers its own) records each call a handler makes, including calls from the I/O pool's
threads, as the IAM request AWS would authorize: an action (`dynamodb:Query`) on a resource
ARN (`.../table/t-MessagesTable/index/byClientMsgId`). Posts and closes through the fake
`@connections` gateway are recorded as the `execute-api:ManageConnections` calls the real
one makes, and secrets read from Powertools' cache as the read each function's own
container would make. Each call is then evaluated against the role of the function whose
handler made it, in the template *after the SAM transform* (the policies CloudFormation
would create): Allow and Deny statements, `NotAction`/`NotResource`, wildcards in actions
and resources, `Fn::If` on the template's conditions, and `Ref`/`Fn::GetAtt`/`Fn::Sub`
resolved to the names the handler saw in its `PARLEY_*` settings (as the stack sets them).

AWS managed policies (basic execution, X-Ray) are not evaluated: the code's own calls must
be granted by the template's own statements. Statements with a `Condition` never count as
granting. A call the audit cannot name (a new service or operation) fails the test: add
its rule to `iam_requests` (tests/support/iam_names.py). The policies are evaluated by
tests/support/iam_policy.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from tests.support.handlers import Invocation, running
from tests.support.iam_names import Unnamed, appconfig_sessions, connection_arn, iam_requests
from tests.support.iam_policy import Verdict, evaluate

_PARAMS = "parley_iam_audit_params"


class Call(NamedTuple):
    """One IAM request made by a handler."""

    invocation: Invocation
    action: str
    resource: str


# ---- recording -----------------------------------------------------------------------------


@dataclass
class Recorder:
    """The calls made by handlers, per test and over the whole run (thread-safe)."""

    calls: set[Call] = field(default_factory=set)
    run: set[Call] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.add(call)
            self.run.add(call)

    def take(self) -> set[Call]:
        with self.lock:
            calls, self.calls = self.calls, set()
        return calls


RECORDER = Recorder()


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # `before-parameter-build` sees the API parameters; `before-call` sees the URL.
    if running.get() is not None:
        context[_PARAMS] = params


def _record(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """botocore `before-call`: record the IAM requests of a handler's call (returns None,
    which lets the call proceed)."""
    invocation = running.get()
    if invocation is None:
        return
    service = model.service_model
    try:
        requests = iam_requests(
            service.service_name,
            service.signing_name,
            model.name,
            context.get(_PARAMS, {}),
            context.get("client_region") or "us-east-1",
            params.get("url", ""),
        )
    except (Unnamed, KeyError) as exc:
        requests = [(f"{service.signing_name}:{model.name}", f"<unnamed: {exc}>")]
    for action, resource in requests:
        RECORDER.add(Call(invocation, action, resource))


def _after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    """Follow AppConfig's configuration tokens back to the profile of their session."""
    if running.get() is None or model.service_model.service_name != "appconfigdata":
        return
    params = context.get(_PARAMS, {})
    if model.name == "StartConfigurationSession":
        region = context.get("client_region") or "us-east-1"
        [(_, profile)] = iam_requests("appconfigdata", "appconfig", model.name, params, region, "")
        token = parsed.get("InitialConfigurationToken")
    else:
        profile = appconfig_sessions.get(params.get("ConfigurationToken", ""), "")
        token = parsed.get("NextPollConfigurationToken")
    if token and profile:
        appconfig_sessions[token] = profile


def install() -> None:
    """Hook every botocore session created from now on (call before any client exists)."""
    from botocore.handlers import BUILTIN_HANDLERS

    hooks = [
        ("before-parameter-build", _remember_params),
        ("before-call", _record),
        ("after-call", _after_call),
    ]
    for hook in hooks:
        if hook not in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.append(hook)


def _propagating_submit(original: Callable[..., Future[Any]]) -> Callable[..., Future[Any]]:
    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *a: Any, **k: Any) -> Any:
        invocation = running.get()
        if invocation is None:
            return original(self, fn, *a, **k)

        def run_as_caller(*args: Any, **kwargs: Any) -> Any:
            token = running.set(invocation)
            try:
                return fn(*args, **kwargs)
            finally:
                running.reset(token)

        return original(self, run_as_caller, *a, **k)

    return submit


def _gateway_recorder(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a fake gateway method: record the `@connections` call the real one makes."""

    def call(self: Any, connection_id: str, *args: Any) -> Any:
        invocation = running.get()
        if invocation is not None:
            from parley.aws import management_endpoint

            env = dict(invocation.env)
            base = management_endpoint(env["PARLEY_WS_API_ENDPOINT"], env["PARLEY_WS_STAGE"])
            try:
                resource = connection_arn(f"{base}/@connections/{connection_id}", method)
            except Unnamed as exc:
                resource = f"<unnamed: {exc}>"
            RECORDER.add(Call(invocation, "execute-api:ManageConnections", resource))
        return original(self, connection_id, *args)

    return call


def _secret_recorder(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap Powertools' `get_secret`: a read served from its cache is still the handler's
    read (each function's container fills its own cache, with its own role)."""

    def get_secret(name: str, *args: Any, **kwargs: Any) -> Any:
        invocation = running.get()
        if invocation is not None:
            region = os.environ.get("AWS_REGION", "us-east-1")
            [(action, secret)] = iam_requests(
                "secretsmanager", "secretsmanager", "GetSecretValue", {"SecretId": name}, region, ""
            )
            RECORDER.add(Call(invocation, action, secret))
        return original(name, *args, **kwargs)

    return get_secret


@contextmanager
def recording(patch: Callable[[Any, str, Any], None], gateway: Any) -> Iterator[set[Call]]:
    """Record one test's calls: pool threads run as the handler that submitted to them, the
    fake gateway's `post`/`close` count as PostToConnection/DeleteConnection, and a secret
    read from Powertools' cache as a GetSecretValue.

    `patch` is `monkeypatch.setattr` (undone after the test); the yielded set is filled
    when the block ends.
    """
    patch(ThreadPoolExecutor, "submit", _propagating_submit(ThreadPoolExecutor.submit))
    patch(gateway, "post", _gateway_recorder("POST", gateway.post))
    patch(gateway, "close", _gateway_recorder("DELETE", gateway.close))
    from aws_lambda_powertools.utilities import parameters

    patch(parameters, "get_secret", _secret_recorder(parameters.get_secret))
    RECORDER.take()
    calls: set[Call] = set()
    try:
        yield calls
    finally:
        calls |= RECORDER.take()


# ---- the template ------------------------------------------------------------------------


@cache
def template() -> dict[str, Any]:
    """The CloudFormation of the `dev` deploy (tests/integration/test_template.py)."""
    from tests.integration.test_template import _translated

    return _translated("dev")


@cache
def function_ids() -> dict[str, str]:
    """Directory under functions/ -> logical id of the function built from it."""
    from tests.integration.test_template import source

    found = {}
    for logical, resource in source()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            found[resource["Properties"]["CodeUri"].strip("/").split("/")[-1]] = logical
    return found


# ---- checking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    function: str  # logical id
    call: Call
    verdict: Verdict

    def __str__(self) -> str:
        note = f" ({self.verdict.note})" if self.verdict.note else ""
        return f"{self.function}: {self.call.action} on {self.call.resource}{note}"


def _finding(cfn: dict[str, Any], call: Call) -> Finding:
    function = function_ids().get(call.invocation.function)
    if function is None:
        return Finding(call.invocation.function, call, Verdict(False, note="not in template"))
    return Finding(
        function,
        call,
        evaluate(cfn, function, dict(call.invocation.env), call.action, call.resource),
    )


@cache
def _verdict(call: Call) -> Finding:
    return _finding(template(), call)


def check(calls: Iterable[Call], cfn: dict[str, Any] | None = None) -> list[Finding]:
    """Every call's finding (denied ones have `verdict.allowed` False), sorted; against
    the template's `dev` translation unless given another `cfn`."""
    if cfn is None:
        return sorted((_verdict(c) for c in calls), key=str)
    return sorted((_finding(cfn, c) for c in calls), key=str)


def summary(findings: Iterable[Finding]) -> set[tuple[str, str, str]]:
    """Distinct (function, action, resource as the template grants it) of allowed calls."""
    return {
        (f.function, f.call.action, f.verdict.granted_by) for f in findings if f.verdict.allowed
    }


# ---- the run's summary (pytest hooks in tests/integration/conftest.py) ---------------------

_run_summary: set[tuple[str, str, str]] = set()
_run_denied: set[str] = set()


def publish(config: Any) -> None:
    """At the end of a session: this process's calls into the summary (and, in an xdist
    worker, into `workeroutput` for the controller)."""
    findings = check(RECORDER.run)
    _run_summary.update(summary(findings))
    _run_denied.update(str(f) for f in findings if not f.verdict.allowed)
    if hasattr(config, "workeroutput"):
        config.workeroutput["iam_audit"] = [sorted(_run_summary), sorted(_run_denied)]


def collect(workeroutput: dict[str, Any]) -> None:
    """In the xdist controller: one worker's summary."""
    allowed, denied = workeroutput.get("iam_audit", ([], []))
    _run_summary.update(tuple(entry) for entry in allowed)
    _run_denied.update(denied)


def report(write_line: Callable[[str], None]) -> None:
    """One line for the terminal summary; `PARLEY_IAM_AUDIT=path` also writes the list."""
    if not _run_summary and not _run_denied:
        return
    functions = {function for function, _, _ in _run_summary}
    write_line(
        f"IAM audit: {len(_run_summary)} distinct (function, action, resource) grants used by "
        f"{len(functions)} functions; {len(_run_denied)} calls denied"
    )
    target = os.environ.get("PARLEY_IAM_AUDIT")
    if target:
        lines = [" ".join(entry) for entry in sorted(_run_summary)]
        lines += [f"DENIED {line}" for line in sorted(_run_denied)]
        with open(target, "w") as out:
            out.write("\n".join(lines) + "\n")
