"""The optional AWS FIS experiment of template.yaml (FaultInjection): off by default, with
nothing of it in any environment's deploy; on (staging), an experiment template that fails
and slows invocations of the send and fanout functions, stops on the delivery-latency
alarm, and runs under a role that may do only that."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from parley_local.intrinsics import Resolver
from parley_local.template import Template, load_template

from tests.integration.test_template import ENVIRONMENTS, overrides, source

ROOT = Path(__file__).resolve().parents[2]
FIS_RESOURCES = {
    "FisConfigBucket",
    "FisConfigBucketPolicy",
    "FisExperimentRole",
    "FisLambdaExperiment",
}
TARGETS = ("SendFunction", "FanoutFunction")
LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:aws-fis-extension-arm64:9"
ON = {"FaultInjection": "on", "FisExtensionLayerArn": LAYER, "Environment": "staging"}


@cache
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def stack(**parameters: str) -> Resolver:
    """The template's parameters and conditions for one deploy; a resource resolves to a
    marker (`ref:Name`, `Name.Attribute`)."""
    return Resolver(
        template(),
        ref=lambda name, where: f"ref:{name}",
        get_att=lambda name, attribute, where: f"{name}.{attribute}",
        parameter_overrides=parameters,
        region="eu-west-1",
    )


def function(resolver: Resolver, name: str) -> dict[str, Any]:
    """A function's properties as that deploy resolves them (Globals merged in)."""
    return resolver.resolve(template().resources[name].properties, name)


def statements(resolver: Resolver, name: str) -> list[dict[str, Any]]:
    [policy] = function(resolver, name)["Policies"]
    return list(policy["Statement"])


def admitted(resolver: Resolver) -> bool:
    """Whether the template's Rules let this deploy through."""
    rule = template().raw["Rules"]["FaultInjectionOutsideProduction"]
    if not resolver._truth(rule["RuleCondition"], "Rules"):
        return True
    return all(resolver._truth(a["Assert"], "Rules") for a in rule["Assertions"])


@pytest.mark.parametrize("env", [None, *ENVIRONMENTS])
def test_with_the_option_off_nothing_of_fis_exists(env: str | None) -> None:
    # GIVEN the defaults, or an environment's samconfig overrides
    resolver = stack(**(overrides(env) if env else {}))
    # THEN no FIS resource nor output is created ...
    assert source()["Parameters"]["FaultInjection"]["Default"] == "off"
    assert not resolver.condition("FaultInjectionOn")
    for name in FIS_RESOURCES:
        assert template().resources[name].condition == "FaultInjectionOn", name
    assert source()["Outputs"]["FisExperimentTemplateId"]["Condition"] == "FaultInjectionOn"
    # ... and the send and fanout functions carry no extension, wrapper, setting or grant
    for name in TARGETS:
        props = function(resolver, name)
        assert props["Layers"] == ["ref:ParleyLayer"], name
        variables = props["Environment"]["Variables"]
        assert not {k for k in variables if k.startswith(("AWS_FIS", "AWS_LAMBDA_EXEC"))}, name
        assert "FisConfigBucket" not in str(statements(resolver, name)), name
    # AND the Rules stand in no one's way
    assert admitted(resolver)


def test_nothing_else_in_the_template_refers_to_fis() -> None:
    # GIVEN every resource and output outside the experiment's own and its two targets
    names = FIS_RESOURCES | {"FaultInjection", "FisExtensionLayerArn", "FaultInjectionOn"}
    for name, resource in source()["Resources"].items():
        if name in FIS_RESOURCES or name in TARGETS:
            continue
        # THEN none mentions FIS
        assert not any(word in str(resource) for word in names), name
    for name, output in source()["Outputs"].items():
        assert (name == "FisExperimentTemplateId") == ("FisLambdaExperiment" in str(output))


def test_on_the_experiment_targets_send_and_fanout_and_stops_on_the_delivery_alarm() -> None:
    # GIVEN the option on in staging with the region's extension layer
    resolver = stack(**ON)
    assert resolver.condition("FaultInjectionOn") and admitted(resolver)
    experiment = resolver.resolve(props("FisLambdaExperiment"), "FisLambdaExperiment")
    # THEN its one target is exactly the send and fanout functions ...
    [target] = experiment["Targets"].values()
    assert target["ResourceType"] == "aws:lambda:function"
    assert sorted(target["ResourceArns"]) == ["FanoutFunction.Arn", "SendFunction.Arn"]
    assert target["SelectionMode"] == "ALL"
    # ... every action injects Lambda errors or latency into it, for a bounded time ...
    actions = experiment["Actions"]
    assert {a["ActionId"] for a in actions.values()} == {
        "aws:lambda:invocation-error",
        "aws:lambda:invocation-add-delay",
    }
    for action in actions.values():
        assert action["Targets"] == {"Functions": next(iter(experiment["Targets"]))}
        assert action["Parameters"]["duration"].startswith("PT")
        assert 0 < int(action["Parameters"]["invocationPercentage"]) <= 10
    # ... errors both before the handler and after it ran (its effects stored)
    errors = [a for a in actions.values() if a["ActionId"] == "aws:lambda:invocation-error"]
    assert {a["Parameters"]["preventExecution"] for a in errors} == {"true", "false"}
    # AND it stops on the delivery-latency alarm, under its own role
    assert experiment["StopConditions"] == [
        {"Source": "aws:cloudwatch:alarm", "Value": "DeliveryLatencyAlarm.Arn"}
    ]
    assert experiment["RoleArn"] == "FisExperimentRole.Arn"


def test_on_the_targets_carry_the_extension_and_read_only_its_config() -> None:
    resolver = stack(**ON)
    for name in TARGETS:
        props = function(resolver, name)
        # THEN the extension joins Parley's layer, and the wrapper points at the configs
        assert props["Layers"] == ["ref:ParleyLayer", LAYER], name
        variables = props["Environment"]["Variables"]
        assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/aws-fis/bootstrap"
        assert variables["AWS_FIS_CONFIGURATION_LOCATION"] == "FisConfigBucket.Arn/FisConfigs/"
        # AND the function may list that prefix and read its objects, nothing more
        grants = [s for s in statements(resolver, name) if "FisConfigBucket" in str(s)]
        assert grants == [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": "FisConfigBucket.Arn",
                "Condition": {"StringLike": {"s3:prefix": ["FisConfigs/*"]}},
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": "FisConfigBucket.Arn/FisConfigs/*",
            },
        ]


def test_the_experiment_role_is_least_privilege() -> None:
    resolver = stack(**ON)
    role = resolver.resolve(props("FisExperimentRole"), "FisExperimentRole")
    # THEN only FIS, for this account's experiments, may assume it
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    # AND it may write and remove the configs and read the two targets, nothing else
    [policy] = role["Policies"]
    granted = {
        (action, str(resource))
        for statement in policy["PolicyDocument"]["Statement"]
        for action in statement["Action"]
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    }
    assert granted == {
        ("s3:PutObject", "FisConfigBucket.Arn/FisConfigs/*"),
        ("s3:DeleteObject", "FisConfigBucket.Arn/FisConfigs/*"),
        ("lambda:GetFunction", "SendFunction.Arn"),
        ("lambda:GetFunction", "FanoutFunction.Arn"),
    }


def test_the_rules_refuse_fis_in_production_or_without_its_layer() -> None:
    # GIVEN the option on in prod, or on without the layer: CloudFormation refuses the deploy
    assert not admitted(stack(**{**ON, "Environment": "prod"}))
    assert not admitted(stack(FaultInjection="on", Environment="staging"))
    # AND on without a layer would create nothing anyway (the condition needs both)
    assert not stack(FaultInjection="on", Environment="staging").condition("FaultInjectionOn")


def test_the_config_bucket_is_private_encrypted_and_short_lived() -> None:
    bucket = stack(**ON).resolve(props("FisConfigBucket"), "FisConfigBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    expiry = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert expiry["expire-configs"]["ExpirationInDays"] == 1
    policy = stack(**ON).resolve(props("FisConfigBucketPolicy"), "FisConfigBucketPolicy")
    [deny] = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def props(name: str) -> dict[str, Any]:
    return template().resources[name].properties
