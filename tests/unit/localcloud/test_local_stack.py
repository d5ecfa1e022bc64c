"""Building the local stack from a template (AWS calls go to an in-memory fake)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parley_local.builder import StackBuilder
from parley_local.stack import Stack
from parley_local.template import TemplateError, build_template, parse_template_text

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "localcloud" / "template.yaml"


class FakeAws:
    """Records the calls StackBuilder makes, answers like moto would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def client(self, service: str) -> Any:
        return _FakeClient(self, service)


class _FakeClient:
    def __init__(self, owner: FakeAws, service: str) -> None:
        self.owner, self.service = owner, service

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.owner.calls.append((self.service, operation, kwargs))
            if operation == "create_table":
                name = kwargs["TableName"]
                description = {"TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"}
                if "StreamSpecification" in kwargs:
                    description["LatestStreamArn"] = description["TableArn"] + "/stream/x"
                return {"TableDescription": description}
            if operation == "create_queue":
                return {"QueueUrl": f"http://moto/123456789012/{kwargs['QueueName']}"}
            if operation == "create_secret":
                arn = (
                    f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{kwargs['Name']}-AbCdEf"
                )
                return {"ARN": arn}
            return {}

        return call


def build(
    path: Path = FIXTURE, overrides: dict[str, str] | None = None
) -> tuple[Stack, FakeAws, list[str]]:
    from parley_local.template import load_template

    fake = FakeAws()
    debug: list[str] = []
    builder = StackBuilder(
        load_template(path),
        fake,
        ws_endpoint="ws://127.0.0.1:3001",
        http_endpoint="http://127.0.0.1:3000",
        parameter_overrides=overrides,
        debug=debug.append,
    )
    return builder.build(), fake, debug


def test_data_resources_are_created_from_the_template() -> None:
    # WHEN the fixture stack is built
    stack, fake, _ = build()
    tables = {c[2]["TableName"]: c[2] for c in fake.calls if c[1] == "create_table"}
    # THEN the table keeps its keys, indexes, billing mode and stream
    table = tables[stack.tables["Table"].name]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert "PointInTimeRecoverySpecification" not in table
    assert stack.tables["Table"].name.startswith("parley-local-Table-")
    # AND TTL is switched on
    ttl = [c[2] for c in fake.calls if c[1] == "update_time_to_live"]
    assert ttl[0]["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    # AND a given TableName is kept, provisioned throughput included
    named = tables["parley-local-named"]
    assert named["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    # AND a resource whose condition is false is not created
    assert "ProdOnlyTable" not in stack.tables


def test_queues_are_created_after_their_dead_letter_queue() -> None:
    stack, fake, _ = build()
    queue_calls = [c[2] for c in fake.calls if c[1] == "create_queue"]
    names = [c["QueueName"] for c in queue_calls]
    dlq, queue = stack.queues["Dlq"], stack.queues["Queue"]
    assert names.index(dlq.name) < names.index(queue.name)
    attributes = next(c["Attributes"] for c in queue_calls if c["QueueName"] == queue.name)
    assert attributes["VisibilityTimeout"] == "6"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq.arn,
        "maxReceiveCount": 2,
    }
    assert queue.arn == f"arn:aws:sqs:us-east-1:123456789012:{queue.name}"
    assert queue.visibility_timeout == 6


def test_secrets() -> None:
    stack, fake, _ = build()
    secrets = {c[2]["Name"]: c[2] for c in fake.calls if c[1] == "create_secret"}
    generated = json.loads(secrets[stack.secrets["Secret"].name]["SecretString"])
    assert generated["kid"] == "k1"
    assert len(generated["key"]) == 48
    assert generated["key"].isalnum()
    assert secrets["fixture/plain"]["SecretString"] == '{"hello": "world"}'


def test_ssm_parameters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
Parameters:
  Stage: {Type: String, Default: v1}
Resources:
  Named:
    Type: AWS::SSM::Parameter
    Properties: {Name: /app/config, Type: String, Value: !Sub "stage=${Stage}"}
  Unnamed:
    Type: AWS::SSM::Parameter
    Properties: {Type: StringList, Value: [a, b]}
""",
    )
    stack, fake, _ = build(path)
    params = [c[2] for c in fake.calls if c[1] == "put_parameter"]
    assert params[0] == {
        "Name": "/app/config",
        "Type": "String",
        "Value": "stage=v1",
        "Overwrite": True,
    }
    assert params[1]["Name"].startswith("CFN-parley-local-Unnamed-")
    assert params[1]["Value"] == "a,b"
    assert stack.ssm_parameters == {"Named": "/app/config", "Unnamed": params[1]["Name"]}


def test_function_environment_is_globals_plus_own_resolved() -> None:
    stack, _, _ = build()
    echo = stack.functions["EchoFunction"]
    env = echo.environment
    assert env["TABLE_NAME"] == stack.tables["Table"].name
    assert env["QUEUE_URL"] == stack.queues["Queue"].url
    assert env["SECRET_ARN"] == stack.secrets["Secret"].arn
    assert env["WS_API_ENDPOINT"] == "ws://127.0.0.1:3001"
    assert env["HTTP_ENDPOINT"] == "http://127.0.0.1:3000/"
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["LIMIT"] == "75"  # the function's own value wins, numbers become strings
    assert env["ECHO_ONLY"] == "1"
    assert "ONLY_IN_PROD" not in env  # AWS::NoValue
    assert env["ALARM_TOPIC"].startswith("arn:aws:sns:us-east-1:123456789012:")
    assert env["JOINED"] == "us-east-1-123456789012-parley-local"
    assert echo.timeout_s == 5
    assert echo.memory_mb == 256
    assert echo.handler == "app.handler"
    assert echo.code_dir == FIXTURE.parent / "functions" / "echo"
    assert echo.layer_dirs == [FIXTURE.parent / "layer"]
    assert stack.layers["SharedLayer"].directory == FIXTURE.parent / "layer"
    assert stack.functions["SleepFunction"].timeout_s == 1
    assert stack.functions["HealthFunction"].handler == "app.lambda_handler"


def test_parameter_overrides_flip_conditions() -> None:
    stack, _, _ = build(overrides={"Env": "prod"})
    assert "ProdOnlyTable" in stack.tables
    assert stack.functions["EchoFunction"].environment["ONLY_IN_PROD"] == "yes"
    assert stack.functions["EchoFunction"].environment["LOG_LEVEL"] == "INFO"


def test_websocket_api_spec() -> None:
    stack, _, _ = build()
    api = stack.websocket_api
    assert api is not None
    assert api.stages == ["test"]
    assert api.route_selection_expression == "$request.body.action"
    routes = api.routes
    assert set(routes) == {
        "$connect",
        "$disconnect",
        "$default",
        "echo",
        "silent",
        "crash",
        "sleep",
        "post",
    }
    assert routes["$connect"].function == "ConnectFunction"
    authorizer = routes["$connect"].authorizer
    assert authorizer is not None
    assert authorizer.function == "AuthorizerFunction"
    assert authorizer.identity_sources == ["route.request.querystring.token"]
    assert routes["echo"].two_way and routes["$default"].two_way
    assert not routes["silent"].two_way  # no RouteResponse
    assert not routes["crash"].two_way  # RouteResponseSelectionExpression but no RouteResponse
    assert routes["silent"].function == "EchoFunction"


def test_http_routes_from_function_events() -> None:
    stack, _, _ = build()
    assert len(stack.http_apis) == 1
    api = stack.http_apis[0]
    keys = {route.route_key: route.function for route in api.routes}
    assert keys["GET /health"] == "HealthFunction"
    assert keys["POST /items/{id}"] == "HttpEchoFunction"
    assert keys["ANY /crash"] == "CrashFunction"
    assert keys["GET /files/{path+}"] == "HttpEchoFunction"
    assert api.stage == "$default"
    assert api.cors is not None
    assert api.cors.allow_origins == ["https://app.example.com"]
    assert api.cors.max_age == 600


def test_sqs_event_source() -> None:
    stack, _, _ = build()
    (mapping,) = stack.sqs_mappings
    assert mapping.function == "ConsumerFunction"
    assert mapping.queue.logical_id == "Queue"
    assert mapping.batch_size == 5
    assert mapping.report_batch_item_failures


def test_ignored_resources_are_logged_once_at_debug() -> None:
    stack, _, debug = build()
    assert stack.ignored["AWS::CloudWatch::Alarm"] == ["ErrorsAlarm"]
    assert "AlarmTopic" in stack.ignored["AWS::SNS::Topic"]
    lines = [line for line in debug if "AWS::Logs::LogGroup" in line]
    assert lines == ["ignored (no local meaning): AWS::Logs::LogGroup: EchoLogGroup"]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


FUNCTION = """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
"""


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            FUNCTION + "      Environment: {Variables: {X: !Ref Missing}}\n",
            r"Resources\.Fn\.Properties\.Environment.*'Missing'",
        ),
        (
            FUNCTION + "      Environment: {Variables: {X: !GetAtt Q.Nope}}\n"
            "  Q: {Type: AWS::SQS::Queue}\n",
            r"AWS::SQS::Queue Q has no attribute 'Nope'.*Arn, QueueName, QueueUrl",
        ),
        (
            "  A: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt B.QueueName}}\n"
            "  B: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt A.QueueName}}\n",
            "circular reference",
        ),
        (
            "  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: nowhere/, Handler: app.handler, Runtime: python3.13}\n",
            "CodeUri 'nowhere/'",
        ),
        (
            "  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: nodejs20.x}\n",
            "only Python functions",
        ),
        (
            FUNCTION
            + "  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}\n"
            "  I: {Type: AWS::ApiGatewayV2::Integration, Properties: "
            "{ApiId: !Ref Api, IntegrationType: AWS_PROXY, "
            "IntegrationUri: arn:aws:lambda:us-east-1:1:function:other}}\n",
            "does not point at a function of this template",
        ),
    ],
)
def test_what_cannot_run_fails_loudly(tmp_path: Path, resources: str, message: str) -> None:
    path = write(tmp_path, "Resources:\n" + resources)
    with pytest.raises(TemplateError, match=message):
        build(path)


def test_sam_implicit_resources_resolve(tmp_path: Path) -> None:
    # GIVEN a function with AutoPublishAlias referenced the ways SAM allows, and an
    # HttpApi event without ApiId (SAM's implicit ServerlessHttpApi)
    path = write(
        tmp_path,
        """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
      AutoPublishAlias: live
      Events:
        Get: {Type: HttpApi, Properties: {Path: /x, Method: GET}}
      Environment:
        Variables:
          ALIAS: !Ref Fn.Alias
          ROLE: !GetAtt FnRole.Arn
          API: !Ref ServerlessHttpApi
  Perm:
    Type: AWS::Lambda::Permission
    DependsOn: FnAliaslive
    Properties: {FunctionName: !Ref FnAliaslive}
""",
    )
    stack, _, _ = build(path)
    env = stack.functions["Fn"].environment
    assert env["ALIAS"] == stack.functions["Fn"].arn + ":live"
    assert env["ROLE"].startswith("arn:aws:iam::123456789012:role/")
    assert stack.http_apis[0].logical_id == "ServerlessHttpApi"
    assert env["API"] == stack.http_apis[0].id


@pytest.mark.parametrize(
    ("build_method", "folders", "expected"),
    [
        ("python3.13", ["src"], "src"),  # SAM's Python builder: the sources are the layer
        ("", ["src/python"], "src/python"),  # a prebuilt layer: its python/ folder
        ("", ["src"], None),  # nothing Lambda would put on the path
        ("makefile", ["src/python"], "src/python"),  # built already: what the build made
        ("makefile", ["src"], "src"),  # not built: the sources the Makefile builds from
    ],
)
def test_layer_folders_go_on_the_function_path(
    tmp_path: Path, build_method: str, folders: list[str], expected: str | None
) -> None:
    # GIVEN a layer with a BuildMethod and a layout of folders, used by a function
    for folder in folders:
        (tmp_path / folder).mkdir(parents=True)
    metadata = f"    Metadata: {{BuildMethod: {build_method}}}\n" if build_method else ""
    path = write(
        tmp_path,
        "Resources:\n"
        + FUNCTION
        + "      Layers: [!Ref Layer]\n"
        + "  Layer:\n    Type: AWS::Serverless::LayerVersion\n"
        + "    Properties: {ContentUri: src/}\n"
        + metadata,
    )
    # WHEN the stack is built
    stack, _, _ = build(path)
    # THEN the folder Lambda would mount as /opt/python is on the function's path, or
    # the missing folder is warned about
    if expected is None:
        assert stack.functions["Fn"].layer_dirs == []
        assert any("has no local directory" in w for w in stack.warnings)
    else:
        assert stack.functions["Fn"].layer_dirs == [(tmp_path / expected).resolve()]
        assert stack.warnings == []


def test_duplicate_http_routes_are_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
      Events: {E: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /x, Method: GET}}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
      Events: {E: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /x, Method: get}}}
""",
    )
    with pytest.raises(TemplateError, match="'GET /x' of Api is also declared"):
        build(path)


def test_unsupported_events_are_warned_about(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Resources:\n"
        + FUNCTION
        + "      Events: {Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}}\n",
    )
    stack, _, _ = build(path)
    assert any("Schedule events are not emulated" in w for w in stack.warnings)


def test_template_without_apis_builds(tmp_path: Path) -> None:
    stack, _, _ = build(write(tmp_path, "Resources:\n" + FUNCTION))
    assert stack.websocket_api is None
    assert stack.http_apis == []


def test_parse_only_template_checks(tmp_path: Path) -> None:
    data = parse_template_text("Resources: {}")
    assert build_template(data, tmp_path / "t.yaml").resources == {}
