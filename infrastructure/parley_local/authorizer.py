"""REQUEST authorizers of WebSocket APIs: identity sources and the policy decision.

As API Gateway: a missing identity source answers 401 without calling the authorizer; an
authorizer that fails with `Unauthorized` answers 401; an explicit Deny (or no Allow for
the `$connect` method ARN) answers 403; a malformed answer or any other failure answers
500. On Allow, `principalId` and the `context` keys become `requestContext.authorizer`
of every event of that connection.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AuthDecision:
    status: int  # 200 = allowed; else the handshake's HTTP status
    principal_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


def identity_present(
    sources: Sequence[str],
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> bool:
    """True when every identity source has a non-empty value in the request."""
    lower_headers = {k.lower(): v for k, v in headers.items()}
    for source in sources:
        text = source.strip()
        for prefix in ("route.request.", "$request."):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        else:
            continue  # stage variables and context values are always there
        kind, _, name = text.partition(".")
        if kind == "header":
            value = lower_headers.get(name.lower())
        elif kind == "querystring":
            value = query.get(name)
        else:
            continue
        if not value:
            return False
    return True


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(patterns: list[Any], value: str) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value, p) for p in patterns)


def policy_effect(policy: Any, method_arn: str) -> str | None:
    """ "Allow", "Deny" or None for `method_arn` under an IAM policy document."""
    if not isinstance(policy, dict):
        return None
    effect: str | None = None
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = _as_list(statement.get("Action"))
        if not _matches(actions, "execute-api:Invoke"):
            continue
        if not _matches(_as_list(statement.get("Resource")), method_arn):
            continue
        if str(statement.get("Effect", "")).lower() == "deny":
            return "Deny"
        if str(statement.get("Effect", "")).lower() == "allow":
            effect = "Allow"
    return effect


def decide(
    ok: bool, payload: Any, error: Mapping[str, Any] | None, method_arn: str
) -> AuthDecision:
    """The gateway's decision from the authorizer's invocation outcome."""
    if not ok:
        message = str((error or {}).get("errorMessage", ""))
        if message == "Unauthorized":
            return AuthDecision(401, reason="authorizer answered Unauthorized")
        return AuthDecision(500, reason=f"authorizer failed: {message or 'error'}")
    if payload == "Unauthorized":
        return AuthDecision(401, reason="authorizer answered Unauthorized")
    if not isinstance(payload, dict):
        return AuthDecision(500, reason=f"authorizer answer is not a policy: {payload!r}")
    principal = payload.get("principalId")
    if principal is None or principal == "":
        return AuthDecision(500, reason="authorizer answer has no principalId")
    context = payload.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return AuthDecision(500, reason="authorizer context is not a mapping")
    for key, value in context.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            return AuthDecision(
                500, reason=f"authorizer context value {key!r} must be a string, number or boolean"
            )
    effect = policy_effect(payload.get("policyDocument"), method_arn)
    if effect != "Allow":
        reason = "policy denies" if effect == "Deny" else "policy does not allow"
        return AuthDecision(403, reason=f"{reason} {method_arn}")
    return AuthDecision(200, principal_id=str(principal), context=dict(context))
