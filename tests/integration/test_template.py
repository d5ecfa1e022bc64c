"""The operations contract of template.yaml, checked on its SAM translation (offline).

`samtranslator` (the library behind `sam build`/`sam deploy` and CloudFormation's
`AWS::Serverless-2016-10-31` transform) expands the template into plain CloudFormation with
each environment's parameters from samconfig.toml, the way a deploy would, with no AWS call:
code locations are replaced by placeholder S3 URIs (as `sam package` does) and the managed
policy map is empty. The assertions are on what would be deployed: every alarm of the
issue, the dashboard, a `live` alias and a CodeDeploy group per function that rolls back on
the release alarms, log groups with retention, encryption, least-privilege IAM, the push
DLQ and its redrive, the WebSocket routes, and the per-environment settings.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
OPERATIONS = ROOT / "docs" / "operations.md"
MAKEFILE = ROOT / "Makefile"
ENVIRONMENTS = ("dev", "staging", "prod")
RELEASE_ALARMS = ("ServerErrorRateAlarm", "DeliveryLatencyAlarm", "FunctionErrorsAlarm")


class NoManagedPolicies:
    """The translator's managed-policy lookup, offline (policies are given as ARNs)."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def source() -> dict[str, Any]:
    """template.yaml as written (short-form intrinsics expanded)."""
    return yaml_parse(TEMPLATE.read_text())


@cache
def samconfig() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG.read_text())


def overrides(env: str) -> dict[str, str]:
    """`parameter_overrides` of an environment as a dict."""
    text = samconfig()[env]["deploy"]["parameters"]["parameter_overrides"]
    pairs = [item.split("=", 1) for item in shlex.split(text)]
    return dict(pairs)


@cache
def _translated(env: str) -> dict[str, Any]:
    template = copy.deepcopy(source())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://parley-artifacts/" + props[key].strip("/")
    return transform(template, overrides(env), NoManagedPolicies())


@pytest.fixture(params=ENVIRONMENTS)
def cfn(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The CloudFormation that each environment's deploy would create."""
    return copy.deepcopy(_translated(request.param))


@pytest.fixture
def staging() -> dict[str, Any]:
    return copy.deepcopy(_translated("staging"))


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def functions() -> list[str]:
    """Logical ids of every `AWS::Serverless::Function` in the template."""
    found = [
        k for k, r in source()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    ]
    assert len(found) >= 10
    return found


def tables() -> list[str]:
    found = [k for k, r in source()["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    assert found
    return found


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def alarm_metrics(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: {namespace, name, dims, period, stat} each."""
    if "MetricName" in props:
        return [
            {
                "namespace": props["Namespace"],
                "name": props["MetricName"],
                "dims": {d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
                "period": props["Period"],
                "stat": props.get("Statistic") or props.get("ExtendedStatistic"),
            }
        ]
    out = []
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            out.append(
                {
                    "namespace": metric["Namespace"],
                    "name": metric["MetricName"],
                    "dims": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
                    "period": stat["Period"],
                    "stat": stat["Stat"],
                }
            )
    return out


def alarms_on(template: dict[str, Any], namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    """Alarms (logical id -> properties) that read `namespace/metric`."""
    return {
        k: r["Properties"]
        for k, r in of_type(template, "AWS::CloudWatch::Alarm").items()
        if any(
            m["namespace"] == namespace and m["name"] == metric
            for m in alarm_metrics(r["Properties"])
        )
    }


def returned_expression(props: dict[str, Any]) -> str | None:
    for query in props.get("Metrics", []):
        if query.get("ReturnData") and "Expression" in query:
            return str(query["Expression"])
    return None


# ---- alarms ------------------------------------------------------------------------------


def test_server_error_rate_alarm_is_over_1_percent_for_5_minutes(cfn: dict[str, Any]) -> None:
    props = cfn["Resources"]["ServerErrorRateAlarm"]["Properties"]
    metrics = alarm_metrics(props)
    # errors (internal 3001 and unavailable 2001, by Code) over requests, in percent
    errors = [m for m in metrics if m["name"] == "Errors"]
    assert {m["dims"].get("Code") for m in errors} == {"3001", "2001"}
    assert any(m["name"] == "Requests" for m in metrics)
    assert all(m["namespace"] == "Parley" and m["period"] == 60 for m in metrics)
    assert all(m["dims"].get("service") == "parley" for m in metrics)
    expression = returned_expression(props)
    assert expression is not None and "100" in expression and "requests" in expression
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["EvaluationPeriods"] == 5 and props["DatapointsToAlarm"] == 5
    assert props["TreatMissingData"] == "notBreaching"


def test_delivery_latency_alarm_is_p99_over_500_ms(cfn: dict[str, Any]) -> None:
    props = cfn["Resources"]["DeliveryLatencyAlarm"]["Properties"]
    assert props["Namespace"] == "Parley"
    assert props["MetricName"] == "DeliveryLatency"
    assert props["ExtendedStatistic"] == "p99"
    assert props["Unit"] == "Milliseconds"  # the unit the code emits (observability.timing)
    assert props["Dimensions"] == [{"Name": "service", "Value": "parley"}]
    assert props["Threshold"] == 500
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["Period"] == 60 and props["EvaluationPeriods"] == 5


def test_any_message_in_the_push_dlq_alarms(cfn: dict[str, Any]) -> None:
    [props] = [
        p
        for p in alarms_on(cfn, "AWS/SQS", "ApproximateNumberOfMessagesVisible").values()
        if p["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["PushDeadLetterQueue", "QueueName"]}
    ]
    assert props["Threshold"] == 0
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["EvaluationPeriods"] == 1
    assert props["Statistic"] == "Maximum"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_own_errors_and_throttles_alarm(
    staging: dict[str, Any], metric: str
) -> None:
    # single-metric alarms on this Lambda metric, by the function they watch
    own = {
        json.dumps(metrics[0]["dims"].get("FunctionName")): props
        for props in alarms_on(staging, "AWS/Lambda", metric).values()
        for metrics in [alarm_metrics(props)]
        if len(metrics) == 1
    }
    for function in functions():
        props = own.get(json.dumps(ref(function)))
        assert props is not None, f"no {metric} alarm for {function}"
        assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Statistic"] == "Sum" and props["Period"] == 60


def test_every_table_has_a_throttled_requests_alarm(cfn: dict[str, Any]) -> None:
    alarms = [r["Properties"] for r in of_type(cfn, "AWS::CloudWatch::Alarm").values()]
    for table in tables():
        wanted = {("ReadThrottleEvents", table), ("WriteThrottleEvents", table)}
        found = [
            props
            for props in alarms
            if wanted
            <= {
                (m["name"], m["dims"].get("TableName", {}).get("Ref"))
                for m in alarm_metrics(props)
                if m["namespace"] == "AWS/DynamoDB"
            }
        ]
        assert len(found) == 1, f"no throttle alarm for {table}"
        assert found[0]["Threshold"] == 0
        assert found[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_http_api_5xx_and_websocket_errors_alarm(cfn: dict[str, Any]) -> None:
    [http] = alarms_on(cfn, "AWS/ApiGateway", "5xx").values()
    assert http["Dimensions"][0] == {"Name": "ApiId", "Value": ref("HttpApi")}
    ws = alarms_on(cfn, "AWS/ApiGateway", "IntegrationError")
    assert ws == alarms_on(cfn, "AWS/ApiGateway", "ExecutionError")
    [props] = ws.values()
    assert all(m["dims"]["ApiId"] == ref("WebSocketApi") for m in alarm_metrics(props))


def test_every_alarm_notifies_the_optional_topic_and_links_a_runbook(cfn: dict[str, Any]) -> None:
    topic = cfn["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": ref("AlarmEmail")}
    ]
    # never the AWS managed key: CloudWatch cannot use it, so no alarm mail would arrive
    assert topic["Properties"]["KmsMasterKeyId"] == {
        "Fn::If": ["HasKmsKey", ref("KmsKeyArn"), ref("AWS::NoValue")]
    }
    assert cfn["Parameters"]["AlarmEmail"]["Default"] == ""
    docs = OPERATIONS.read_text()
    anchors = {_slug(h) for h in re.findall(r"^#+\s+(.+?)\s*$", docs, flags=re.M)}
    anchors |= set(re.findall(r'<a (?:id|name)="([^"]+)"', docs))
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6 + 2 * len(functions()) + len(tables())
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == {
            "Fn::If": ["HasAlarmEmail", [ref("AlarmTopic")], ref("AWS::NoValue")]
        }, name
        description = json.dumps(props["AlarmDescription"])
        [anchor] = re.findall(r"docs/operations\.md#([a-z0-9-]+)", description)
        assert anchor in anchors, f"{name} links #{anchor}, which docs/operations.md lacks"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


# ---- dashboard ---------------------------------------------------------------------------


def test_dashboard_shows_the_issue_metrics(cfn: dict[str, Any]) -> None:
    [dashboard] = of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${...} are CloudFormation substitutions; with placeholders the body is valid JSON
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    assert len(widgets) >= 6
    shown = json.dumps(widgets)
    for metric in (
        "MessagesSent",
        "PushesDelivered",
        "PushesGone",
        "PushesFailed",
        "PushesThrottled",
        "DeliveryLatency",
        "Errors",
        "Connects",
        "Disconnects",
        "FanoutBatchFailures",
        "SyncFrames",
        "Requests",
    ):
        assert f'"{metric}"' in shown, metric
    for stat in ("p50", "p95", "p99"):
        assert f'"stat": "{stat}"' in shown or f'"stat":"{stat}"' in shown


# ---- releases: alias + CodeDeploy --------------------------------------------------------


def test_every_function_is_released_through_a_live_alias_with_rollback(
    cfn: dict[str, Any],
) -> None:
    resources = cfn["Resources"]
    aliases = of_type(cfn, "AWS::Lambda::Alias")
    groups = of_type(cfn, "AWS::CodeDeploy::DeploymentGroup")
    assert set(of_type(cfn, "AWS::Lambda::Function")) == set(functions())
    for function in functions():
        [(alias_id, alias)] = [
            (k, a) for k, a in aliases.items() if a["Properties"]["FunctionName"] == ref(function)
        ]
        assert alias["Properties"]["Name"] == "live"
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        group = groups[update["DeploymentGroupName"]["Ref"]]["Properties"]
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        assert "DEPLOYMENT_FAILURE" in group["AutoRollbackConfiguration"]["Events"]
        assert group["AlarmConfiguration"]["Enabled"] is True
        names = [a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]]
        assert set(RELEASE_ALARMS) <= set(names), function
        for name in names:
            assert resources[name]["Type"] == "AWS::CloudWatch::Alarm"
        # a crash of this very function stops its canary: some rollback alarm reads its Errors
        watched = [
            m
            for name in names
            for m in alarm_metrics(resources[name]["Properties"])
            if m["name"] == "Errors" and m["dims"].get("FunctionName") == ref(function)
        ]
        assert watched, f"no rollback alarm watches {function}'s Lambda Errors"
        assert alias_id.startswith(function)


def test_deployment_type_per_environment() -> None:
    expected = {
        "dev": "CodeDeployDefault.LambdaAllAtOnce",
        "staging": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "prod": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    }
    for env, config in expected.items():
        for group in of_type(_translated(env), "AWS::CodeDeploy::DeploymentGroup").values():
            name = group["Properties"]["DeploymentConfigName"]
            if isinstance(name, dict):  # Fn::Sub [CodeDeployDefault.Lambda${ConfigName}, {...}]
                pattern, values = name["Fn::Sub"]
                name = pattern.replace("${ConfigName}", values["ConfigName"])
            assert name == config, env


def test_api_gateway_and_sqs_invoke_the_alias_not_latest(cfn: dict[str, Any]) -> None:
    # Canary weights live on the alias: traffic that bypassed it would skip the canary.
    for integration in of_type(cfn, "AWS::ApiGatewayV2::Integration").values():
        uri = json.dumps(integration["Properties"]["IntegrationUri"])
        assert ":live/invocations" in uri
    authorizer = json.dumps(cfn["Resources"]["ConnectAuthorizer"]["Properties"]["AuthorizerUri"])
    assert ":live/invocations" in authorizer
    for permission in of_type(cfn, "AWS::Lambda::Permission").values():
        target = json.dumps(permission["Properties"]["FunctionName"])
        assert ":live" in target or "Aliaslive" in target, target
    consumers = {
        m["Properties"]["FunctionName"]["Ref"]
        for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    }
    assert {"FanoutFunctionAliaslive", "EraseFunctionAliaslive"} <= consumers
    assert all(consumer.endswith("Aliaslive") for consumer in consumers)
    for mapping in of_type(cfn, "AWS::Lambda::EventSourceMapping").values():
        assert "ReportBatchItemFailures" in mapping["Properties"]["FunctionResponseTypes"]


# ---- logs --------------------------------------------------------------------------------


def test_every_function_has_a_log_group_with_the_retention_parameter(
    cfn: dict[str, Any],
) -> None:
    groups = of_type(cfn, "AWS::Logs::LogGroup").values()
    by_name = {json.dumps(g["Properties"]["LogGroupName"]): g["Properties"] for g in groups}
    for function in functions():
        props = by_name[json.dumps({"Fn::Sub": f"/aws/lambda/${{{function}}}"})]
        assert props["RetentionInDays"] == ref("LogRetentionDays")
    assert 7 in cfn["Parameters"]["LogRetentionDays"]["AllowedValues"]


def test_functions_log_json_at_the_environment_log_level(cfn: dict[str, Any]) -> None:
    for function in functions():
        env = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["POWERTOOLS_LOG_LEVEL"] == ref("LogLevel")
        assert env["POWERTOOLS_SERVICE_NAME"] == "parley"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Parley"
        assert env["PARLEY_ENVIRONMENT"] == ref("Environment")
        assert env["PARLEY_LOG_BODIES"] == ref("LogMessageBodies")
    assert cfn["Parameters"]["LogMessageBodies"]["Default"] == "false"


# ---- environments ------------------------------------------------------------------------


def test_samconfig_has_dev_staging_and_prod() -> None:
    config = samconfig()
    declared = source()["Parameters"]
    stacks = set()
    for env in ENVIRONMENTS:
        params = overrides(env)
        assert params["Environment"] == env
        for key, value in params.items():
            assert key in declared, f"{env}: {key} is not a template parameter"
            allowed = declared[key].get("AllowedValues")
            if allowed is not None:
                assert value in [str(v) for v in allowed], f"{env}: {key}={value}"
        deploy = config[env]["deploy"]["parameters"]
        assert "CAPABILITY_IAM" in deploy["capabilities"]
        stacks.add(config[env]["global"]["parameters"]["stack_name"])
    assert len(stacks) == 3
    assert overrides("dev")["DeploymentType"] == "AllAtOnce"
    assert overrides("staging")["DeploymentType"] == "Canary10Percent5Minutes"
    assert overrides("prod")["DeploymentType"] == "Canary10Percent5Minutes"
    assert overrides("dev")["LogLevel"] == "DEBUG"
    assert overrides("prod")["LogLevel"] == "INFO"
    assert overrides("dev")["LogLevel"] != overrides("prod")["LogLevel"]
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    # no environment bakes in a secret or an account
    for env in ENVIRONMENTS:
        text = json.dumps(config[env])
        assert not re.search(r"\b\d{12}\b", text)
        assert "password" not in text.lower() and "secret" not in text.lower()


def test_make_deploy_wraps_sam_build_and_deploy_per_environment() -> None:
    makefile = MAKEFILE.read_text()
    assert re.search(r"^deploy: build\b", makefile, flags=re.M)
    assert "sam build" in makefile
    assert "sam deploy --config-env $(ENV)" in makefile


def test_nothing_environment_specific_is_hard_coded() -> None:
    # CloudFront's web ACLs are made in us-east-1 (EdgeProtection): an AWS constant, not a
    # choice of environment.
    text = TEMPLATE.read_text().replace("!Equals [!Ref AWS::Region, us-east-1]", "")
    assert not re.search(r"\b\d{12}\b", text), "an account id in template.yaml"
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text), "a region"
    assert "arn:aws:" not in text, "use ${AWS::Partition}"


# ---- secrets and IAM ---------------------------------------------------------------------

SECRET_WORDS = re.compile(r"SECRET|PASSWORD|PRIVATE|TOKEN(?!_TTL)|KEY", re.I)


def test_functions_get_secret_references_never_secret_values(cfn: dict[str, Any]) -> None:
    secrets = set(of_type(cfn, "AWS::SecretsManager::Secret"))
    assert secrets
    for name in secrets:
        props = cfn["Resources"][name]["Properties"]
        assert "GenerateSecretString" in props and "SecretString" not in props
    for function in functions():
        env = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        for key, value in env.items():
            if isinstance(value, dict) and value.get("Fn::If", [None, None, None])[2] == "":
                value = value["Fn::If"][1]  # an optional secret's ARN (empty when it is off)
            text = json.dumps(value)
            assert "resolve:secretsmanager" not in text and "resolve:ssm-secure" not in text
            refs_secret = any(json.dumps(ref(s)) == text for s in secrets)
            if refs_secret or SECRET_WORDS.search(key):
                assert key.endswith("_ARN") and refs_secret, f"{function}: {key}={text}"
            if isinstance(value, str):
                assert len(value) < 40, f"{function}: {key} holds a literal that looks secret"


# AWS managed policies SAM attaches. Their "*" resources are AWS's and justified here:
MANAGED_POLICIES = {
    # CloudWatch Logs: the function's own log group (created by this stack) is named at run time.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    # X-Ray: PutTraceSegments has no resource-level permissions.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    # SQS event source: SAM's standard poller policy for the fanout function.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    # CodeDeploy's own role for shifting alias traffic and reading the rollback alarms.
    "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
}


def _resolve_arn(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${AWS::Partition}", "aws")
    return str(value)


def test_inline_policies_name_their_resources(cfn: dict[str, Any]) -> None:
    for name, role in of_type(cfn, "AWS::IAM::Role").items():
        props = role["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            assert _resolve_arn(arn) in MANAGED_POLICIES, f"{name}: unexpected {arn}"
        for policy in props.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:  # optional KMS statement: check both branches
                    branches = [b for b in statement["Fn::If"][1:] if b != ref("AWS::NoValue")]
                else:
                    branches = [statement]
                for st in branches:
                    assert st["Effect"] == "Allow"
                    resources = (
                        st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                    )
                    for resource in resources:
                        assert resource != "*", f"{name}: {st['Action']} on *"
                    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    assert all(not a.endswith(":*") and a != "*" for a in actions), name


# ---- data at rest and the push queue -----------------------------------------------------


def test_tables_are_encrypted_with_point_in_time_recovery(cfn: dict[str, Any]) -> None:
    for table in tables():
        props = cfn["Resources"][table]["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"


def _branch(value: Any, has_key: bool) -> Any:
    """The value of `!If [HasKmsKey, a, b]` for one side of the condition."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, yes, no = value["Fn::If"]
        assert condition == "HasKmsKey"
        picked = yes if has_key else no
        return None if picked == ref("AWS::NoValue") else picked
    return value


@pytest.mark.parametrize("has_key", [True, False])
def test_queues_are_encrypted_with_or_without_a_customer_key(
    cfn: dict[str, Any], has_key: bool
) -> None:
    queues = of_type(cfn, "AWS::SQS::Queue")
    # every queue of the template (these at least) is checked below
    assert {"PushQueue", "PushDeadLetterQueue", "EraseQueue", "EraseDeadLetterQueue"} <= set(queues)
    for name, queue in queues.items():
        props = queue["Properties"]
        managed = _branch(props.get("SqsManagedSseEnabled"), has_key)
        kms = _branch(props.get("KmsMasterKeyId"), has_key)
        assert (managed is True) != (kms is not None), name
        if has_key:
            assert kms == ref("KmsKeyArn")


def test_push_queue_redrives_to_the_dlq_and_the_dlq_can_be_redriven(
    cfn: dict[str, Any],
) -> None:
    queue = cfn["Resources"]["PushQueue"]["Properties"]
    dlq = cfn["Resources"]["PushDeadLetterQueue"]["Properties"]
    policy = queue["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]}
    assert 1 < int(policy["maxReceiveCount"]) <= 10
    # the DLQ keeps messages longer than the source queue (14 days: time to investigate)
    assert dlq["MessageRetentionPeriod"] == 1209600 > queue["MessageRetentionPeriod"]
    # visibility timeout at least 6x the consumer's timeout (AWS guidance for SQS sources)
    fanout_timeout = cfn["Resources"]["FanoutFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * fanout_timeout
    # the redrive command finds the DLQ through a stack output
    output = cfn["Outputs"]["PushDeadLetterQueueArn"]["Value"]
    assert output == {"Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]}
    makefile = MAKEFILE.read_text()
    target = makefile[makefile.index("\nredrive-dlq:") :]
    assert "aws sqs start-message-move-task --source-arn" in target
    assert "PushDeadLetterQueueArn" in target
    assert "make redrive-dlq" in OPERATIONS.read_text()


# ---- WebSocket API -----------------------------------------------------------------------

TWO_WAY = {"send", "sync", "ping", "read", "typing", "presence", "signal", "auth", "$default"}


def test_websocket_routes_answer_the_protocols_actions(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    api = resources["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    routes = {
        r["Properties"]["RouteKey"]: (k, r["Properties"])
        for k, r in of_type(cfn, "AWS::ApiGatewayV2::Route").items()
        if r["Properties"]["ApiId"] == ref("WebSocketApi")
    }
    assert set(routes) == TWO_WAY | {"$connect", "$disconnect"}
    responses = {
        r["Properties"]["RouteId"]["Ref"]: r["Properties"]
        for r in of_type(cfn, "AWS::ApiGatewayV2::RouteResponse").values()
    }
    for key in TWO_WAY:
        logical, props = routes[key]
        # two-way: without a selection expression and a $default response, replies vanish
        assert props["RouteResponseSelectionExpression"] == "$default", key
        assert responses[logical]["RouteResponseKey"] == "$default", key
        assert responses[logical]["ApiId"] == ref("WebSocketApi")
    _, connect = routes["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == ref("ConnectAuthorizer")
    # each route reaches the function that serves it
    targets = {
        "send": "SendIntegration",
        "sync": "SyncIntegration",
        "$connect": "ConnectIntegration",
        "$disconnect": "DisconnectIntegration",
    }
    for key, (_, props) in routes.items():
        integration = targets.get(key, "LiveIntegration")
        assert props["Target"] == {"Fn::Sub": f"integrations/${{{integration}}}"}, key


def test_websocket_stage_deploys_route_changes_itself(cfn: dict[str, Any]) -> None:
    stages = [
        s["Properties"]
        for s in of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
        if s["Properties"]["ApiId"] == ref("WebSocketApi")
    ]
    [stage] = stages
    assert stage["AutoDeploy"] is True
    assert stage["StageName"] == ref("WsStageName")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
