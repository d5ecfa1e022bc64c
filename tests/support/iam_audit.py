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
granting. A call the audit cannot name (a new service or operation) fails the test with a
pointer here: add its rule to `iam_requests`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from tests.support.handlers import Invocation, running

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
_PARAMS = "parley_iam_audit_params"


class Call(NamedTuple):
    """One IAM request made by a handler."""

    invocation: Invocation
    action: str
    resource: str


# ---- naming a call as IAM sees it ----------------------------------------------------------


class Unnamed(ValueError):
    """An operation whose IAM action or resource this audit does not know yet."""


_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
_S3_BUCKET_OPERATIONS = {"ListObjects", "ListObjectsV2", "HeadBucket", "GetBucketLocation"}
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_CONNECTION_METHODS = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}
_CONNECTION_METHODS["GetConnection"] = "GET"


def arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def table_arn(region: str, table: str, index: str | None = None) -> str:
    suffix = f"/index/{index}" if index else ""
    return arn("dynamodb", region, f"table/{table}{suffix}")


def queue_arn(region: str, queue_url: str) -> str:
    return arn("sqs", region, urlsplit(queue_url).path.rstrip("/").rsplit("/", 1)[-1])


def connection_arn(url: str, method: str) -> str:
    """`@connections` resource of a management API URL (`https://{api}.execute-api.{region}.
    amazonaws.com/{stage}/@connections/{id}`): `{api}/{stage}/{METHOD}/@connections/{id}`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    api, _, rest = host.partition(".execute-api.")
    region = rest.split(".")[0]
    stage, _, path = unquote(parts.path).lstrip("/").partition("/")
    if not api or not region or not path.startswith("@connections/"):
        raise Unnamed(f"not an @connections URL: {url}")
    return arn("execute-api", region, f"{api}/{stage}/{method}/{path}")


def iam_requests(
    service: str, prefix: str, operation: str, params: dict[str, Any], region: str, url: str
) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM authorizes for one API call.

    `service` is botocore's service name (`dynamodb`, `apigatewaymanagementapi`), `prefix`
    the IAM prefix (its signing name: `dynamodb`, `execute-api`), `url` the request's URL.
    """
    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", table_arn(region, t)) for t in params["RequestItems"]]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [
                (f"dynamodb:{_TRANSACT[kind]}", table_arn(region, spec["TableName"]))
                for item in params["TransactItems"]
                for kind, spec in item.items()
            ]
        if "TableName" in params:
            return [
                (
                    f"dynamodb:{operation}",
                    table_arn(region, params["TableName"], params.get("IndexName")),
                )
            ]
    elif service == "sqs":
        action = operation.removesuffix("Batch")
        if "QueueUrl" in params:
            return [(f"sqs:{action}", queue_arn(region, params["QueueUrl"]))]
        if operation == "GetQueueUrl":
            return [(f"sqs:{action}", arn("sqs", region, params["QueueName"]))]
    elif service == "secretsmanager" and "SecretId" in params:
        secret = params["SecretId"]
        name = secret if secret.startswith("arn:") else arn(prefix, region, f"secret:{secret}")
        return [(f"secretsmanager:{operation}", name)]
    elif service == "sns":
        topic = params.get("TopicArn") or params.get("TargetArn")
        if topic:
            return [(f"sns:{operation.removesuffix('Batch')}", topic)]
    elif service == "s3" and "Bucket" in params:
        action = _S3_ACTIONS.get(operation, operation)
        if operation == "GetObject" and params.get("VersionId"):
            action = "GetObjectVersion"
        bucket = f"arn:{PARTITION}:s3:::{params['Bucket']}"
        if operation in _S3_BUCKET_OPERATIONS or "Key" not in params:
            return [(f"s3:{action}", bucket)]
        return [(f"s3:{action}", f"{bucket}/{params['Key']}")]
    elif service == "appconfigdata":
        if operation == "StartConfigurationSession":
            resource = arn(
                prefix,
                region,
                f"application/{params['ApplicationIdentifier']}"
                f"/environment/{params['EnvironmentIdentifier']}"
                f"/configuration/{params['ConfigurationProfileIdentifier']}",
            )
            return [(f"appconfig:{operation}", resource)]
        if operation == "GetLatestConfiguration":
            # The token stands for the session's profile (remembered by `_after_call`).
            return [(f"appconfig:{operation}", _appconfig_sessions[params["ConfigurationToken"]])]
    elif service == "apigatewaymanagementapi" and operation in _CONNECTION_METHODS:
        return [
            (f"{prefix}:ManageConnections", connection_arn(url, _CONNECTION_METHODS[operation]))
        ]
    raise Unnamed(f"{service}.{operation}")


# AppConfig data: configuration token -> the profile's ARN its session was started for.
_appconfig_sessions: dict[str, str] = {}


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
        profile = _appconfig_sessions.get(params.get("ConfigurationToken", ""), "")
        token = parsed.get("NextPollConfigurationToken")
    if token and profile:
        _appconfig_sessions[token] = profile


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


# ---- the roles, after the SAM transform ----------------------------------------------------


class Unresolved(ValueError):
    """An intrinsic function the audit cannot evaluate offline."""


@dataclass(frozen=True)
class Role:
    """A function's role in the transformed template, evaluated for one set of settings."""

    function: str  # logical id
    statements: tuple[dict[str, Any], ...]


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


def role_statements(cfn: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement of the function's role: its inline policies and the IAM policies
    (`AWS::IAM::Policy`/`ManagedPolicy`, e.g. from SAM connectors) attached to it."""
    resources = cfn["Resources"]
    role_ref = resources[function]["Properties"]["Role"]
    if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
        raise Unresolved(f"{function}: role {role_ref!r} is not a role of this template")
    role = role_ref["Fn::GetAtt"][0]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    for resource in resources.values():
        policy = resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        if policy and {"Ref": role} in resource["Properties"].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    statements: list[dict[str, Any]] = []
    for document in documents:
        found = document["Statement"]
        statements.extend(found if isinstance(found, list) else [found])
    return statements


class Resolver:
    """Evaluates the template's intrinsics for one invocation's settings.

    Physical names come from the function's environment: `PARLEY_USERS_TABLE: !Ref
    UsersTable` tells that `Ref UsersTable` is the table the handler used, and the resource
    type tells how to build the rest (`Fn::GetAtt UsersTable.Arn`).
    """

    def __init__(self, cfn: dict[str, Any], function: str, env: dict[str, str]) -> None:
        self.cfn = cfn
        self.region = os.environ.get("AWS_REGION", "us-east-1")
        self.refs: dict[str, str] = {}
        self.attrs: dict[tuple[str, str], str] = {}
        parameters = cfn.get("Parameters", {})
        self.params = {k: str(v.get("Default", "")) for k, v in parameters.items()}
        variables = cfn["Resources"][function]["Properties"].get("Environment", {})
        for name, value in variables.get("Variables", {}).items():
            if env.get(name):
                self._bind(value, env[name])

    def _bind(self, expression: Any, value: str) -> None:
        """Learn what `expression` (an environment variable's) stands for from its value."""
        if not isinstance(expression, dict):
            return
        if "Ref" in expression:
            parameter = expression["Ref"] in self.cfn.get("Parameters", {})
            (self.params if parameter else self.refs)[expression["Ref"]] = value
        elif "Fn::GetAtt" in expression:
            logical, attribute = expression["Fn::GetAtt"]
            self.attrs[(logical, attribute)] = value
        elif "Fn::If" in expression:
            # `!If [RateLimitsOn, !Ref LimitsTable, ""]`: a value that is not the literal
            # branch came from the other one.
            _, yes, no = expression["Fn::If"]
            for branch, other in ((yes, no), (no, yes)):
                if value != other:
                    self._bind(branch, value)

    # -- values --------------------------------------------------------------------------
    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.refs:
            return self.refs[name]
        kind = self.cfn["Resources"].get(name, {}).get("Type")
        if kind == "AWS::ApiGatewayV2::Api" and (name, "ApiEndpoint") in self.attrs:
            return urlsplit(self.attrs[(name, "ApiEndpoint")]).hostname.split(".")[0]  # type: ignore[union-attr]
        raise Unresolved(f"Ref {name}")

    def get_att(self, name: str, attribute: str) -> str:
        if (name, attribute) in self.attrs:
            return self.attrs[(name, attribute)]
        kind = self.cfn["Resources"].get(name, {}).get("Type")
        value = self.ref(name)
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return table_arn(self.region, value)
        if kind == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName"):
            queue = queue_arn(self.region, value)
            return queue if attribute == "Arn" else queue.rsplit(":", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute in ("TopicArn", "TopicName"):
            return value if attribute == "TopicArn" else value.rsplit(":", 1)[-1]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:{PARTITION}:s3:::{value}"
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return value
        if kind == "AWS::ApiGatewayV2::Api" and attribute == "ApiId":
            return value
        raise Unresolved(f"Fn::GetAtt {name}.{attribute}")

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.value(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        return self.truth(self.cfn.get("Conditions", {})[name])

    def truth(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            [(key, args)] = expression.items()
            if key == "Fn::Equals":
                return self.value(args[0]) == self.value(args[1])
            if key == "Fn::Not":
                return not self.truth(args[0])
            if key == "Fn::And":
                return all(self.truth(a) for a in args)
            if key == "Fn::Or":
                return any(self.truth(a) for a in args)
            if key == "Condition":
                return self.condition(args)
        raise Unresolved(f"condition {expression!r}")

    def value(self, expression: Any) -> Any:
        """A string (or list) for an intrinsic; `None` for `AWS::NoValue`."""
        if isinstance(expression, str | int | float | bool):
            return str(expression)
        if isinstance(expression, list):
            return [v for v in (self.value(e) for e in expression) if v is not None]
        if isinstance(expression, dict) and len(expression) == 1:
            [(key, args)] = expression.items()
            if key == "Ref":
                return None if args == "AWS::NoValue" else self.ref(args)
            if key == "Fn::GetAtt":
                logical, attribute = args.split(".", 1) if isinstance(args, str) else args
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                return self.sub(text, variables)
            if key == "Fn::Join":
                separator, parts = args
                return separator.join(self.value(parts))
            if key == "Fn::If":
                condition, yes, no = args
                return self.value(yes if self.condition(condition) else no)
            if key == "Fn::Select":
                index, items = args
                return self.value(items)[int(self.value(index))]
            if key == "Fn::Split":
                separator, text = args
                return self.value(text).split(separator)
        raise Unresolved(repr(expression))


def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters (also `/` and `:`), `?` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def listed(value: Any) -> list[Any]:
    """A policy field as a list (IAM allows one value or a list)."""
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    granted_by: str = ""  # the granting resource as written in the template
    note: str = ""


def evaluate(cfn: dict[str, Any], function: str, env: dict[str, str], call: Call) -> Verdict:
    """Whether `function`'s role allows the call (explicit Deny wins over any Allow)."""
    resolver = Resolver(cfn, function, env)
    granted, notes = "", []
    for raw in role_statements(cfn, function):
        try:
            statement = _chosen(resolver, raw)
        except Unresolved as exc:
            notes.append(f"unresolved statement ({exc})")
            continue
        if statement is None:
            continue
        match = _matching_resource(resolver, statement, call, notes)
        if match is None:
            continue
        if statement.get("Effect") == "Deny":
            return Verdict(False, note=f"denied by {statement}")
        if "Condition" not in statement and not granted:
            granted = match
    return Verdict(bool(granted), granted, "; ".join(notes))


def _chosen(resolver: Resolver, statement: Any) -> dict[str, Any] | None:
    """The statement an `Fn::If` picks for the invocation's conditions (None: no statement)."""
    while isinstance(statement, dict) and "Fn::If" in statement:
        condition, yes, no = statement["Fn::If"]
        statement = yes if resolver.condition(condition) else no
    return None if statement == {"Ref": "AWS::NoValue"} else statement


def _matching_resource(
    resolver: Resolver, statement: dict[str, Any], call: Call, notes: list[str]
) -> str | None:
    """The statement's resource (as written) that covers the call, or None."""
    if "Action" in statement:
        actions = listed(statement["Action"])
        if not any(_pattern(a, ignore_case=True).fullmatch(call.action) for a in actions):
            return None
    elif any(
        _pattern(a, ignore_case=True).fullmatch(call.action) for a in listed(statement["NotAction"])
    ):
        return None
    negated = "Resource" not in statement
    written = listed(statement["NotResource" if negated else "Resource"])
    for resource in written:
        try:
            values = listed(resolver.value(resource))
        except Unresolved as exc:
            notes.append(f"unresolved resource ({exc})")
            continue
        if any(_pattern(v, ignore_case=False).fullmatch(call.resource) for v in values):
            return None if negated else _as_written(resource)
    return "NotResource" if negated else None


def _as_written(resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        args = resource["Fn::GetAtt"]
        return ".".join(args) if isinstance(args, list) else str(args)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        args = resource["Fn::Sub"]
        return str(args if isinstance(args, str) else args[0])
    if isinstance(resource, dict) and "Ref" in resource:
        return f"Ref {resource['Ref']}"
    return str(resource)


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
    return Finding(function, call, evaluate(cfn, function, dict(call.invocation.env), call))


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
