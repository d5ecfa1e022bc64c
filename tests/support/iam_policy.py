"""IAM policy evaluation offline, on a template after the SAM transform.

A function's role (its inline policies and the IAM policies attached to it), evaluated for
one handler invocation: Allow and Deny, `NotAction`/`NotResource`, wildcards in actions
(case-insensitive) and resources, `Fn::If` on the template's conditions, and `Ref`,
`Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split` resolved to the physical
names the handler saw in its environment. Statements with a `Condition` never grant.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.iam_names import ACCOUNT, PARTITION, queue_arn, table_arn


class Unresolved(ValueError):
    """An intrinsic function the audit cannot evaluate offline."""


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


def evaluate(
    cfn: dict[str, Any], function: str, env: dict[str, str], action: str, resource: str
) -> Verdict:
    """Whether `function`'s role allows `action` on `resource` for a handler that ran with
    the settings `env` (an explicit Deny wins over any Allow)."""
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
        match = _matching_resource(resolver, statement, action, resource, notes)
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
    resolver: Resolver, statement: dict[str, Any], action: str, resource: str, notes: list[str]
) -> str | None:
    """The statement's resource (as written) that covers `action` on `resource`, or None."""
    if "Action" in statement:
        actions = listed(statement["Action"])
        if not any(_pattern(a, ignore_case=True).fullmatch(action) for a in actions):
            return None
    elif any(
        _pattern(a, ignore_case=True).fullmatch(action) for a in listed(statement["NotAction"])
    ):
        return None
    negated = "Resource" not in statement
    written = listed(statement["NotResource" if negated else "Resource"])
    for entry in written:
        try:
            values = listed(resolver.value(entry))
        except Unresolved as exc:
            notes.append(f"unresolved resource ({exc})")
            continue
        if any(_pattern(v, ignore_case=False).fullmatch(resource) for v in values):
            return None if negated else as_written(entry)
    return "NotResource" if negated else None


def as_written(resource: Any) -> str:
    """A policy resource as the template writes it (`MessagesTable.Arn`, a `Fn::Sub` text)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        args = resource["Fn::GetAtt"]
        return ".".join(args) if isinstance(args, list) else str(args)
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        args = resource["Fn::Sub"]
        return str(args if isinstance(args, str) else args[0])
    if isinstance(resource, dict) and "Ref" in resource:
        return f"Ref {resource['Ref']}"
    return str(resource)
