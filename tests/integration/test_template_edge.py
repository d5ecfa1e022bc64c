"""The optional edge of template.yaml (EdgeProtection): CloudFront with an AWS WAF
per-address rate rule in front of the HTTP API. Off by default, with nothing of it in the
default deploy; on, the rule limits each address, the distribution forwards every request
(Authorization included) and caches nothing, and the execute-api URL cannot skip it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from parley.web import EDGE_HEADER
from parley_local.intrinsics import Resolver
from parley_local.template import Template, load_template

from tests.integration.test_template import ENVIRONMENTS, _translated, overrides, source
from tests.support.iam_policy import role_statements

ROOT = Path(__file__).resolve().parents[2]
EDGE_RESOURCES = {"EdgeOriginSecret", "EdgeOriginSecretRead", "EdgeWebAcl", "EdgeDistribution"}
EDGE_CONDITIONS = {"EdgeOn", "EdgeCreatesWebAcl"}
EDGE_PARAMETERS = {"EdgeProtection", "EdgeRateLimitPer5Min", "EdgeWebAclArn"}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
GIVEN_ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shared/0a1b2c3d-4e5f"


@cache
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def stack(region: str = "us-east-1", **parameters: str) -> Resolver:
    """The template's parameters and conditions for one deploy; a resource resolves to a
    marker (`ref:Name`, `Name.Attribute`)."""
    return Resolver(
        template(),
        ref=lambda name, where: f"ref:{name}",
        get_att=lambda name, attribute, where: f"{name}.{attribute}",
        parameter_overrides=parameters,
        region=region,
    )


def props(name: str) -> dict[str, Any]:
    return template().resources[name].properties


def names_in(value: Any) -> set[str]:
    """Every resource or parameter a value refers to (Ref, GetAtt, ${} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(str(arg[0] if isinstance(arg, list) else arg.split(".")[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {part.split("}")[0].split(".")[0] for part in text.split("${")[1:]}
            found |= names_in(arg)
    elif isinstance(value, list):
        for item in value:
            found |= names_in(item)
    return found


def edge_env(resolver: Resolver) -> Any:
    return resolver.resolve(
        source()["Globals"]["Function"]["Environment"]["Variables"]["PARLEY_EDGE_SECRET_ARN"],
        "Globals",
    )


@pytest.mark.parametrize("env", [None, *ENVIRONMENTS])
def test_the_edge_is_off_by_default_and_in_every_environment(env: str | None) -> None:
    # GIVEN the template's defaults, or an environment's samconfig overrides
    resolver = stack(**(overrides(env) if env else {}))
    # THEN no edge resource nor output is created, and functions get an empty secret ARN
    assert source()["Parameters"]["EdgeProtection"]["Default"] == "off"
    for name in EDGE_RESOURCES:
        assert not resolver.condition(str(template().resources[name].condition)), name
    assert not resolver.condition(source()["Outputs"]["EdgeUrl"]["Condition"])
    assert edge_env(resolver) == ""


def test_nothing_else_in_the_template_depends_on_the_edge() -> None:
    # GIVEN every resource and output outside the edge's own
    edge_names = EDGE_RESOURCES | EDGE_PARAMETERS
    for name, resource in source()["Resources"].items():
        if name in EDGE_RESOURCES:
            # THEN each edge resource is conditional ...
            assert resource["Condition"] in EDGE_CONDITIONS, name
            continue
        # ... and no other resource refers to it or to its parameters (the one use is the
        # functions' PARLEY_EDGE_SECRET_ARN, empty when off: the test above)
        assert not names_in(resource) & edge_names, name
        assert "Condition" not in resource or resource["Condition"] not in EDGE_CONDITIONS
    for name, output in source()["Outputs"].items():
        assert (name == "EdgeUrl") == bool(names_in(output) & edge_names), name


def test_on_in_us_east_1_the_stack_makes_a_per_address_rate_rule_with_the_limit() -> None:
    # GIVEN the edge on, in us-east-1, with a limit of 300 requests per 5 minutes
    resolver = stack(EdgeProtection="on", EdgeRateLimitPer5Min="300")
    # THEN the stack makes its own CLOUDFRONT web ACL and puts it on the distribution
    assert resolver.condition("EdgeCreatesWebAcl")
    acl = props("EdgeWebAcl")
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    distribution = resolver.resolve(props("EdgeDistribution"), "EdgeDistribution")
    assert distribution["DistributionConfig"]["WebACLId"] == "EdgeWebAcl.Arn"
    # AND its one rule counts per source address over 5 minutes, with the parameter's limit
    [rule] = resolver.resolve(acl["Rules"], "EdgeWebAcl.Rules")
    statement = rule["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert int(statement["Limit"]) == 300
    assert statement["EvaluationWindowSec"] == 300
    assert set(statement) == {"AggregateKeyType", "Limit", "EvaluationWindowSec"}
    # AND past it blocks with a 429 whose body is Parley's own rate-limited error
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    body = acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    assert json.loads(body["Content"])["code"] == 1005
    # AND WAF's own floor (10 per window) is the parameter's
    assert source()["Parameters"]["EdgeRateLimitPer5Min"]["MinValue"] == 10


def test_outside_us_east_1_the_edge_takes_a_given_web_acl_and_the_rules_demand_one() -> None:
    rule = template().raw["Rules"]["EdgeWebAclOutsideUsEast1"]

    def admitted(resolver: Resolver) -> bool:
        if not resolver._truth(rule["RuleCondition"], "Rules"):
            return True
        return all(resolver._truth(a["Assert"], "Rules") for a in rule["Assertions"])

    # GIVEN the edge on in eu-west-1 without a web ACL: CloudFormation refuses the deploy
    assert not admitted(stack("eu-west-1", EdgeProtection="on"))
    # GIVEN one: the stack makes none and the distribution uses it
    resolver = stack("eu-west-1", EdgeProtection="on", EdgeWebAclArn=GIVEN_ACL)
    assert admitted(resolver)
    assert not resolver.condition("EdgeCreatesWebAcl")
    distribution = resolver.resolve(props("EdgeDistribution"), "EdgeDistribution")
    assert distribution["DistributionConfig"]["WebACLId"] == GIVEN_ACL
    # AND the rule never stands in the way of the default deploy, nor of us-east-1
    assert admitted(stack("eu-west-1")) and admitted(stack(EdgeProtection="on"))


def test_the_distribution_forwards_every_request_to_the_http_api_and_caches_nothing() -> None:
    resolver = stack(EdgeProtection="on")
    config = resolver.resolve(props("EdgeDistribution"), "EdgeDistribution")["DistributionConfig"]
    # THEN its one origin is the HTTP API's execute-api domain, over HTTPS only
    [origin] = config["Origins"]
    assert origin["DomainName"] == "ref:HttpApi.execute-api.us-east-1.amazonaws.com"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    # AND every method the API has reaches it
    assert set(behavior["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }
    # AND nothing is cached (CachingDisabled), errors included, and the origin request
    # carries every viewer header (Authorization) but Host (AllViewerExceptHostHeader)
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert "ForwardedValues" not in behavior
    assert {e["ErrorCachingMinTTL"] for e in config["CustomErrorResponses"]} == {0}
    assert {e["ErrorCode"] for e in config["CustomErrorResponses"]} >= {403, 404, 500, 502, 503}
    # AND clients find it in the EdgeUrl output
    assert resolver.resolve(source()["Outputs"]["EdgeUrl"]["Value"], "Outputs") == (
        "https://EdgeDistribution.DomainName"
    )


def test_the_execute_api_url_cannot_skip_the_edge() -> None:
    resolver = stack(EdgeProtection="on")
    config = resolver.resolve(props("EdgeDistribution"), "EdgeDistribution")["DistributionConfig"]
    # THEN CloudFront sends the stack's generated secret with every request ...
    [origin] = config["Origins"]
    [header] = origin["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == EDGE_HEADER
    assert header["HeaderValue"] == "{{resolve:secretsmanager:ref:EdgeOriginSecret:SecretString}}"
    assert props("EdgeOriginSecret")["GenerateSecretString"]["PasswordLength"] >= 32
    # ... every function learns which secret (PARLEY_EDGE_SECRET_ARN) ...
    assert edge_env(resolver) == "ref:EdgeOriginSecret"
    # ... and every function behind an HTTP route may read it, so that each refuses a
    # request without it (parley.web.through_edge); /health reads nothing (no layer)
    http_functions = {
        name
        for name, resource in source()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(e["Type"] == "HttpApi" for e in resource["Properties"].get("Events", {}).values())
    }
    assert "HealthFunction" in http_functions
    assert source()["Resources"]["HealthFunction"]["Properties"]["Layers"] == []
    read = props("EdgeOriginSecretRead")
    assert {r["Ref"] for r in read["Roles"]} == {
        f"{name}Role" for name in http_functions - {"HealthFunction"}
    }
    [statement] = read["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": {"Ref": "EdgeOriginSecret"},
    }


def test_the_sam_transform_keeps_the_edge_and_its_roles_exist() -> None:
    # GIVEN the CloudFormation SAM makes of the template
    cfn = _translated("dev")
    # THEN the rule, the edge resources and the roles the read policy names are all there
    assert "EdgeWebAclOutsideUsEast1" in cfn["Rules"]
    assert set(cfn["Resources"]) >= EDGE_RESOURCES
    for role in cfn["Resources"]["EdgeOriginSecretRead"]["Properties"]["Roles"]:
        assert cfn["Resources"][role["Ref"]]["Type"] == "AWS::IAM::Role"
    # AND the IAM audit sees the read in the role of a function behind HTTP routes
    assert {"Ref": "EdgeOriginSecret"} in [
        s.get("Resource") for s in role_statements(cfn, "AuthFunction")
    ]
