"""WebSocket REQUEST authorizer decisions, as API Gateway takes them."""

from __future__ import annotations

from typing import Any

import pytest
from parley_local.authorizer import decide, identity_present, policy_effect

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/v1/$connect"


def policy(effect: str, resource: Any = ARN, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": action, "Effect": effect, "Resource": resource}],
    }


@pytest.mark.parametrize(
    ("sources", "headers", "query", "present"),
    [
        (["route.request.querystring.token"], {}, {"token": "t"}, True),
        (["route.request.querystring.token"], {}, {}, False),
        (["route.request.querystring.token"], {}, {"token": ""}, False),
        (["route.request.header.Authorization"], {"authorization": "x"}, {}, True),
        (["$request.header.Auth", "$request.querystring.q"], {"Auth": "x"}, {}, False),
        (["stageVariables.x", "context.y"], {}, {}, True),
    ],
)
def test_identity_sources(
    sources: list[str], headers: dict[str, str], query: dict[str, str], present: bool
) -> None:
    assert identity_present(sources, headers, query) is present


def test_policy_effects() -> None:
    assert policy_effect(policy("Allow"), ARN) == "Allow"
    assert policy_effect(policy("Deny"), ARN) == "Deny"
    assert policy_effect(policy("Allow", "arn:aws:execute-api:*:*:abc/*"), ARN) == "Allow"
    assert policy_effect(policy("Allow", ["arn:other", ARN]), ARN) == "Allow"
    assert policy_effect(policy("Allow", "arn:other"), ARN) is None
    assert policy_effect(policy("Allow", action="s3:GetObject"), ARN) is None
    assert policy_effect(policy("Allow", action=["execute-api:*"]), ARN) == "Allow"
    # Deny wins over Allow
    both = policy("Allow")
    both["Statement"].append({"Action": "*", "Effect": "Deny", "Resource": "*"})
    assert policy_effect(both, ARN) == "Deny"
    assert policy_effect(None, ARN) is None


def test_allow_carries_principal_and_context() -> None:
    # GIVEN an Allow policy with a context
    answer = {"principalId": "alice", "policyDocument": policy("Allow"), "context": {"n": 1}}
    # WHEN the gateway decides
    decision = decide(True, answer, None, ARN)
    # THEN the connection is allowed with that principal and context
    assert decision.allowed
    assert decision.principal_id == "alice"
    assert decision.context == {"n": 1}


@pytest.mark.parametrize(
    ("ok", "payload", "error", "status"),
    [
        (False, None, {"errorMessage": "Unauthorized", "errorType": "Exception"}, 401),
        (True, "Unauthorized", None, 401),
        (False, None, {"errorMessage": "boom", "errorType": "ValueError"}, 500),
        (True, {"principalId": "a", "policyDocument": policy("Deny")}, None, 403),
        (True, {"principalId": "a", "policyDocument": policy("Allow", "arn:x")}, None, 403),
        (True, {"policyDocument": policy("Allow")}, None, 500),
        (True, {"principalId": "a", "policyDocument": policy("Allow"), "context": []}, None, 500),
        (
            True,
            {"principalId": "a", "policyDocument": policy("Allow"), "context": {"o": {}}},
            None,
            500,
        ),
        (True, ["not", "a", "policy"], None, 500),
    ],
)
def test_refusals(ok: bool, payload: Any, error: dict[str, str] | None, status: int) -> None:
    decision = decide(ok, payload, error, ARN)
    assert not decision.allowed
    assert decision.status == status
    assert decision.reason
