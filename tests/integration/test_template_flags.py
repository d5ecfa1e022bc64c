"""Feature flags in template.yaml (issue 17): an AppConfig application, one environment per
stack environment with the release alarms as rollback monitors, a hosted Powertools Feature
Flags profile whose first version holds every flag of parley.features at its default, a
gradual deployment strategy and the deployment, the PARLEY_FLAGS_* settings on every
function, and the read grant only where flags are evaluated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.feature_flags.schema import SchemaValidator
from parley.features import BOOLEAN_DEFAULTS, NUMERIC_DEFAULTS
from parley_local.intrinsics import Resolver

from tests.integration.test_template import ENVIRONMENTS, overrides
from tests.integration.test_template_fis import stack, template

# The functions that evaluate flags: send (rich kinds, fan-out budget), live (kill
# switches), users (GET /me) and the notifier (previews).
EVALUATING = {"SendFunction", "LiveFunction", "UsersFunction", "NotifierFunction"}
PROFILE_ARN = (
    "arn:aws:appconfig:eu-west-1:123456789012:application/"
    "FeatureFlagsApplication.ApplicationId/environment/FeatureFlagsEnvironment.EnvironmentId"
    "/configuration/FeatureFlagsProfile.ConfigurationProfileId"
)


def resolved(resolver: Resolver, name: str) -> dict[str, Any]:
    return resolver.resolve(template().resources[name].properties, name)


def functions() -> list[str]:
    return [
        name
        for name, res in template().resources.items()
        if res.type == "AWS::Serverless::Function"
    ]


def appconfig_statements(resolver: Resolver, name: str) -> list[dict[str, Any]]:
    policies = resolved(resolver, name).get("Policies", [])
    return [
        s
        for policy in policies
        for s in policy.get("Statement", [])
        if "appconfig" in str(s.get("Action"))
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_application_and_an_environment_named_by_the_stack_environment(env: str) -> None:
    # GIVEN each environment's deploy
    resolver = stack(**overrides(env))
    environment = resolved(resolver, "FeatureFlagsEnvironment")
    # THEN the AppConfig environment is named after it, in the stack's application
    assert environment["Name"] == env
    assert environment["ApplicationId"] == "FeatureFlagsApplication.ApplicationId"
    assert template().resources["FeatureFlagsApplication"].type == "AWS::AppConfig::Application"


def test_the_release_alarms_roll_a_flag_deployment_back() -> None:
    resolver = stack()
    monitors = resolved(resolver, "FeatureFlagsEnvironment")["Monitors"]
    # THEN both release alarms are monitors, read through the stack's monitor role
    assert {m["AlarmArn"] for m in monitors} == {
        "ServerErrorRateAlarm.Arn",
        "DeliveryLatencyAlarm.Arn",
    }
    assert {m["AlarmRoleArn"] for m in monitors} == {"FeatureFlagsMonitorRole.Arn"}
    # AND that role is AppConfig's (this account's) and may only describe those alarms
    role = resolved(resolver, "FeatureFlagsMonitorRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "appconfig.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    [policy] = role["Policies"]
    [grant] = policy["PolicyDocument"]["Statement"]
    assert grant["Action"] == ["cloudwatch:DescribeAlarms"]
    assert sorted(grant["Resource"]) == ["DeliveryLatencyAlarm.Arn", "ServerErrorRateAlarm.Arn"]


def test_the_profile_is_hosted_freeform_json_with_every_flag_at_its_default() -> None:
    resolver = stack()
    profile = resolved(resolver, "FeatureFlagsProfile")
    # THEN a hosted freeform profile (Powertools reads freeform JSON) with a validator
    assert (profile["LocationUri"], profile["Type"]) == ("hosted", "AWS.Freeform")
    [validator] = profile["Validators"]
    assert validator["Type"] == "JSON_SCHEMA" and json.loads(validator["Content"])
    # AND its first version is a valid Powertools document naming every flag of
    # parley.features at its default (Parley without flags)
    version = resolved(resolver, "FeatureFlagsDefaults")
    assert version["ContentType"] == "application/json"
    assert version["ConfigurationProfileId"] == "FeatureFlagsProfile.ConfigurationProfileId"
    document = json.loads(version["Content"])
    SchemaValidator(schema=document).validate()
    assert {name: flag["default"] for name, flag in document.items()} == {
        **BOOLEAN_DEFAULTS,
        **NUMERIC_DEFAULTS,
    }
    assert all(document[name].get("boolean_type") is False for name in NUMERIC_DEFAULTS)


def test_the_defaults_are_deployed_gradually() -> None:
    resolver = stack()
    strategy = resolved(resolver, "FeatureFlagsStrategy")
    # THEN linear over 10 minutes with a bake time watched by the alarms
    assert strategy["GrowthType"] == "LINEAR"
    assert strategy["DeploymentDurationInMinutes"] == 10
    assert 0 < strategy["GrowthFactor"] < 100
    assert strategy["FinalBakeTimeInMinutes"] >= 5
    deployment = resolved(resolver, "FeatureFlagsDeployment")
    assert deployment == {
        **deployment,
        "ApplicationId": "FeatureFlagsApplication.ApplicationId",
        "EnvironmentId": "FeatureFlagsEnvironment.EnvironmentId",
        "ConfigurationProfileId": "FeatureFlagsProfile.ConfigurationProfileId",
        "ConfigurationVersion": "FeatureFlagsDefaults.VersionNumber",
        "DeploymentStrategyId": "ref:FeatureFlagsStrategy",
    }


def test_every_function_is_told_where_the_flags_are() -> None:
    resolver = stack()
    for name in functions():
        variables = resolved(resolver, name)["Environment"]["Variables"]
        # THEN each has the application, environment, profile and cache age
        assert variables["PARLEY_FLAGS_APPLICATION"] == "FeatureFlagsApplication.ApplicationId"
        assert variables["PARLEY_FLAGS_ENVIRONMENT"] == "FeatureFlagsEnvironment.EnvironmentId"
        assert variables["PARLEY_FLAGS_PROFILE"] == "FeatureFlagsProfile.ConfigurationProfileId"
        assert variables["PARLEY_FLAGS_MAX_AGE"] == "30", name


def test_only_the_evaluating_functions_may_read_the_profile_and_only_it() -> None:
    resolver = stack()
    for name in functions():
        grants = appconfig_statements(resolver, name)
        if name not in EVALUATING:
            assert grants == [], name
            continue
        # THEN the two AppConfigData calls on the one profile's ARN
        [grant] = grants
        assert sorted(grant["Action"]) == [
            "appconfig:GetLatestConfiguration",
            "appconfig:StartConfigurationSession",
        ]
        assert grant["Resource"] == PROFILE_ARN, name
