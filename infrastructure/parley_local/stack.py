"""Standing the template's resources up: data stores in moto, everything else as plain specs.

`StackBuilder.build()` walks `Resources` once. Resources are *realised* lazily and in
dependency order: resolving `!GetAtt Dlq.Arn` while creating `Queue` first creates `Dlq`.
Tables, queues, secrets and SSM parameters are created in moto from their properties (the
template is the single source of truth). Functions, APIs, routes and event sources become
small dataclasses that the gateways, the pollers and the Lambda runtime consume.
Resource types with no local meaning (alarms, dashboards, log groups, IAM, KMS, SNS, ...)
are ignored; their `Ref`/`Arn` still resolve to plausible values so that an environment
variable pointing at them does not stop the stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley_local import ids
from parley_local.aws import AwsClients, generate_secret_string
from parley_local.intrinsics import NO_VALUE, Resolver, to_string
from parley_local.template import Resource, Template, TemplateError

ACCOUNT_ID = "123456789012"
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
HTTP_INTEGRATION_TIMEOUT_MS = 30_000
WEBSOCKET_INTEGRATION_TIMEOUT_S = 29.0

_LAMBDA_ARN = re.compile(r"arn:aws[\w-]*:lambda:[^:]*:\d+:function:([A-Za-z0-9_-]+)")

# Types realised locally (everything else is ignored).
_TABLE = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
_QUEUE = "AWS::SQS::Queue"
_SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a type name
_SSM_PARAMETER = "AWS::SSM::Parameter"
_FUNCTION = "AWS::Serverless::Function"
_HTTP_API = "AWS::Serverless::HttpApi"
_V2_API = "AWS::ApiGatewayV2::Api"
_V2_STAGE = "AWS::ApiGatewayV2::Stage"
_V2_CHILDREN = {
    "AWS::ApiGatewayV2::Route": "RouteId",
    "AWS::ApiGatewayV2::Integration": "IntegrationId",
    "AWS::ApiGatewayV2::Authorizer": "AuthorizerId",
    "AWS::ApiGatewayV2::RouteResponse": "RouteResponseId",
    "AWS::ApiGatewayV2::IntegrationResponse": "IntegrationResponseId",
    "AWS::ApiGatewayV2::Deployment": "DeploymentId",
    "AWS::ApiGatewayV2::Model": "ModelId",
}
_LAYER = "AWS::Serverless::LayerVersion"
_ALIAS = "AWS::Lambda::Alias"
_VERSION = "AWS::Lambda::Version"
_SUPPORTED_EVENTS = {"HttpApi", "SQS"}


# ---------------------------------------------------------------------------- specs


@dataclass
class TableInfo:
    logical_id: str
    name: str
    arn: str
    stream_arn: str | None


@dataclass
class QueueInfo:
    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout: int
    fifo: bool


@dataclass
class SecretInfo:
    logical_id: str
    name: str
    arn: str


@dataclass
class FunctionSpec:
    """What the Lambda runtime needs to run one function."""

    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    memory_mb: int
    timeout_s: float
    environment: dict[str, str]
    reserved_concurrency: int | None = None
    layer_dirs: list[Path] = field(default_factory=list)


@dataclass
class WsAuthorizer:
    logical_id: str
    id: str
    name: str
    function: str
    identity_sources: list[str]


@dataclass
class WsRoute:
    logical_id: str
    route_key: str
    function: str | None
    authorization_type: str
    authorizer: WsAuthorizer | None
    two_way: bool


@dataclass
class WebSocketApiSpec:
    logical_id: str
    id: str
    name: str
    route_selection_expression: str
    stages: list[str]
    routes: dict[str, WsRoute]


@dataclass
class CorsConfig:
    allow_origins: list[str] = field(default_factory=list)
    allow_methods: list[str] = field(default_factory=list)
    allow_headers: list[str] = field(default_factory=list)
    expose_headers: list[str] = field(default_factory=list)
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass
class HttpRoute:
    method: str  # upper case, or "ANY"
    path: str  # "/groups/{id}", "/{proxy+}" or "$default"
    function: str
    timeout_ms: int = HTTP_INTEGRATION_TIMEOUT_MS
    source: str = ""  # where it was declared, for error messages

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass
class HttpApiSpec:
    logical_id: str
    id: str
    stage: str
    cors: CorsConfig | None
    routes: list[HttpRoute] = field(default_factory=list)


@dataclass
class SqsMapping:
    name: str
    function: str
    queue: QueueInfo
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    max_concurrency: int | None


@dataclass
class Stack:
    """Everything the running local cloud serves, resolved from the template."""

    stack_name: str
    region: str
    tables: dict[str, TableInfo] = field(default_factory=dict)
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    secrets: dict[str, SecretInfo] = field(default_factory=dict)
    ssm_parameters: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    websocket_api: WebSocketApiSpec | None = None
    http_apis: list[HttpApiSpec] = field(default_factory=list)
    sqs_mappings: list[SqsMapping] = field(default_factory=list)
    refs: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def http_routes(self) -> list[HttpRoute]:
        return [route for api in self.http_apis for route in api.routes]


@dataclass
class _Realised:
    ref: Any
    attrs: dict[str, Any]


# ---------------------------------------------------------------------------- builder


class StackBuilder:
    """Builds a `Stack` from a `Template`, creating data resources through `clients`."""

    def __init__(
        self,
        template: Template,
        clients: AwsClients | None,
        *,
        ws_endpoint: str,
        http_endpoint: str,
        parameter_overrides: dict[str, str] | None = None,
        stack_name: str = "parley-local",
        region: str = "us-east-1",
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self.template = template
        self.clients = clients
        self.ws_endpoint = ws_endpoint
        self.http_endpoint = http_endpoint
        self.stack_name = stack_name
        self.region = region
        self._debug = debug or (lambda _msg: None)
        self._add_implicit_resources()
        self.resolver = Resolver(
            template,
            ref=self._ref,
            get_att=self._get_att,
            parameter_overrides=parameter_overrides,
            region=region,
            account_id=ACCOUNT_ID,
            stack_name=stack_name,
        )
        self.stack = Stack(stack_name=stack_name, region=region)
        self._realised: dict[str, _Realised] = {}
        self._in_progress: list[str] = []
        self._layer_dirs: dict[str, Path] = {}

    # ------------------------------------------------------------ implicit SAM resources

    def _add_implicit_resources(self) -> None:
        """Add the resources SAM generates, so that references to them resolve.

        `{Function}Role` (no Role given), `{Function}Alias{alias}` and `{Function}Version`
        (AutoPublishAlias), CodeDeploy's application and groups (DeploymentPreference), and
        `ServerlessHttpApi` (HttpApi events without ApiId).
        """
        resources = self.template.resources

        def add(logical_id: str, rtype: str, props: dict[str, Any] | None = None) -> None:
            if logical_id not in resources:
                resources[logical_id] = Resource(logical_id, rtype, props or {})

        needs_implicit_api = False
        for res in list(resources.values()):
            if res.type == _HTTP_API:
                add(f"{res.logical_id}ApiGatewayDefaultStage", _V2_STAGE, {"StageName": "$default"})
            if res.type != _FUNCTION:
                continue
            events = res.properties.get("Events") or {}
            if isinstance(events, dict):
                for event in events.values():
                    if (
                        isinstance(event, dict)
                        and event.get("Type") == "HttpApi"
                        and "ApiId" not in (event.get("Properties") or {})
                    ):
                        needs_implicit_api = True
            if "Role" not in res.properties:
                add(res.logical_id + "Role", "AWS::IAM::Role")
            alias = res.properties.get("AutoPublishAlias")
            if isinstance(alias, str) and alias:
                function_ref = {"Ref": res.logical_id}
                add(res.logical_id + "Version", _VERSION, {"FunctionName": function_ref})
                add(
                    f"{res.logical_id}Alias{alias}",
                    _ALIAS,
                    {"FunctionName": function_ref, "Name": alias},
                )
            if res.properties.get("DeploymentPreference") is not None:
                add("ServerlessDeploymentApplication", "AWS::CodeDeploy::Application")
                add("CodeDeployServiceRole", "AWS::IAM::Role")
                add(res.logical_id + "DeploymentGroup", "AWS::CodeDeploy::DeploymentGroup")
        if needs_implicit_api and "ServerlessHttpApi" not in resources:
            props = dict(self.template.globals.get("HttpApi") or {})
            resources["ServerlessHttpApi"] = Resource("ServerlessHttpApi", _HTTP_API, props)
            add("ServerlessHttpApiApiGatewayDefaultStage", _V2_STAGE, {"StageName": "$default"})

    # ------------------------------------------------------------ resolution callbacks

    def _resource(self, logical_id: str, where: str) -> Resource:
        function_id, dot, suffix = logical_id.partition(".")
        if dot and suffix in ("Alias", "Version"):
            # SAM's property references: `!Ref MyFunction.Alias`, `!Ref MyFunction.Version`.
            function = self.template.resources.get(function_id)
            alias = function.properties.get("AutoPublishAlias") if function else None
            if function is not None and isinstance(alias, str):
                logical_id = function_id + (f"Alias{alias}" if suffix == "Alias" else "Version")
        res = self.template.resources.get(logical_id)
        if res is None:
            raise TemplateError(f"{where}: unknown resource or parameter {logical_id!r}")
        if not self._active(res):
            raise TemplateError(
                f"{where}: {logical_id} is not created (its condition {res.condition} is false)"
            )
        return res

    def _active(self, res: Resource) -> bool:
        if res.condition is None:
            return True
        return self.resolver.condition(str(res.condition), f"Resources.{res.logical_id}")

    def _ref(self, logical_id: str, where: str) -> Any:
        return self._realise(self._resource(logical_id, where)).ref

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        res = self._resource(logical_id, where)
        realised = self._realise(res)
        if attribute not in realised.attrs:
            known = ", ".join(sorted(realised.attrs)) or "none"
            raise TemplateError(
                f"{where}: {res.type} {logical_id} has no attribute {attribute!r} locally "
                f"(available: {known})"
            )
        value = realised.attrs[attribute]
        if value is None:
            raise TemplateError(f"{where}: {logical_id}.{attribute} is not set for this resource")
        return value

    def _realise(self, res: Resource) -> _Realised:
        done = self._realised.get(res.logical_id)
        if done is not None:
            return done
        if res.logical_id in self._in_progress:
            chain = " -> ".join([*self._in_progress, res.logical_id])
            raise TemplateError(f"circular reference between resources: {chain}")
        self._in_progress.append(res.logical_id)
        try:
            for dep in res.depends_on:
                self._ref(dep, f"Resources.{res.logical_id}.DependsOn")
            realised = self._create(res)
        finally:
            self._in_progress.pop()
        self._realised[res.logical_id] = realised
        self.stack.refs[res.logical_id] = realised.ref
        return realised

    # ------------------------------------------------------------ creation per type

    def _where(self, res: Resource, prop: str | None = None) -> str:
        base = f"Resources.{res.logical_id}.Properties"
        return f"{base}.{prop}" if prop else base

    def _prop(self, res: Resource, name: str, default: Any = None) -> Any:
        if name not in res.properties:
            return default
        value = self.resolver.resolve(res.properties[name], self._where(res, name))
        return default if value is NO_VALUE else value

    def _name(self, res: Resource, prop: str, max_length: int = 255, suffix: str = "") -> str:
        given = self._prop(res, prop)
        if given is not None:
            return to_string(given, self._where(res, prop))
        return ids.physical_name(self.stack_name, res.logical_id, max_length, suffix)

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def _aws(self, res: Resource, service: str) -> Any:
        if self.clients is None:
            raise TemplateError(f"Resources.{res.logical_id}: no AWS endpoint to create it in")
        return self.clients.client(service)

    def _create(self, res: Resource) -> _Realised:
        rtype = res.type
        if rtype in _TABLE:
            return self._create_table(res)
        if rtype == _QUEUE:
            return self._create_queue(res)
        if rtype == _SECRET:
            return self._create_secret(res)
        if rtype == _SSM_PARAMETER:
            return self._create_ssm_parameter(res)
        if rtype == _FUNCTION:
            name = self._name(res, "FunctionName", 64)
            arn = self._arn("lambda", f"function:{name}")
            return _Realised(name, {"Arn": arn})
        if rtype in (_HTTP_API, _V2_API):
            api = ids.api_id(res.logical_id, self.stack_name)
            protocol = "HTTP" if rtype == _HTTP_API else str(self._prop(res, "ProtocolType", ""))
            endpoint = self.ws_endpoint if protocol == "WEBSOCKET" else self.http_endpoint
            return _Realised(api, {"ApiEndpoint": endpoint, "ApiId": api})
        if rtype == _V2_STAGE:
            return _Realised(self._prop(res, "StageName", "$default"), {})
        if rtype in _V2_CHILDREN:
            child = ids.short_id(res.logical_id, self.stack_name)
            return _Realised(child, {_V2_CHILDREN[rtype]: child})
        if rtype == _LAYER:
            return self._layer(res)
        if rtype in (_ALIAS, _VERSION):
            function_arn = self._function_arn(self._prop(res, "FunctionName"), self._where(res))
            qualifier = str(self._prop(res, "Name", "")) if rtype == _ALIAS else "1"
            arn = f"{function_arn}:{qualifier}"
            attrs = {"Version": "1"} if rtype == _VERSION else {"AliasArn": arn}
            return _Realised(arn, attrs)
        return self._ignored(res)

    def _function_arn(self, value: Any, where: str) -> str:
        text = to_string(value, where)
        if text.startswith("arn:"):
            return text
        return self._arn("lambda", f"function:{text}")

    def _layer(self, res: Resource) -> _Realised:
        """A layer's ARN; its directory goes on the path of the functions that use it.

        Like `/opt/python` on Lambda: the ContentUri itself for a layer built by SAM with a
        Python BuildMethod, else the `python/` folder inside it.
        """
        name = self._name(res, "LayerName", 140)
        arn = self._arn("lambda", f"layer:{name}:1")
        content = self._prop(res, "ContentUri")
        if isinstance(content, str):
            directory = (self.template.base_dir / content).resolve()
            build = str((res.metadata or {}).get("BuildMethod", ""))
            if not build.startswith("python"):
                directory = directory / "python"
            if directory.is_dir():
                self._layer_dirs[arn] = directory
        return _Realised(arn, {"Arn": arn})

    def _ignored(self, res: Resource) -> _Realised:
        self.stack.ignored.setdefault(res.type, []).append(res.logical_id)
        service = res.type.split("::")[1].lower() if res.type.count("::") >= 2 else "unknown"
        name = ids.physical_name(self.stack_name, res.logical_id, 64)
        if service == "iam":
            arn = f"arn:aws:iam::{ACCOUNT_ID}:{res.type.split('::')[-1].lower()}/{name}"
        else:
            arn = self._arn(service, name)
        arn_refs = ("AWS::SNS::Topic", "AWS::Lambda::LayerVersion")
        ref = arn if res.type in arn_refs else name
        return _Realised(ref, {"Arn": arn})

    def _create_table(self, res: Resource) -> _Realised:
        where = self._where(res)
        name = self._name(res, "TableName")
        if res.type == "AWS::Serverless::SimpleTable":
            kwargs = self._simple_table_kwargs(res)
        else:
            kwargs = self._table_kwargs(res)
        ddb = self._aws(res, "dynamodb")
        try:
            described = ddb.create_table(TableName=name, **kwargs)["TableDescription"]
            ttl = self._prop(res, "TimeToLiveSpecification")
            if isinstance(ttl, dict) and _truthy(ttl.get("Enabled")):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "AttributeName": str(ttl["AttributeName"]),
                        "Enabled": True,
                    },
                )
        except Exception as exc:
            raise TemplateError(f"{where}: moto refused the table {name!r}: {exc}") from exc
        info = TableInfo(
            res.logical_id, name, described["TableArn"], described.get("LatestStreamArn")
        )
        self.stack.tables[res.logical_id] = info
        return _Realised(name, {"Arn": info.arn, "StreamArn": info.stream_arn})

    def _table_kwargs(self, res: Resource) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for prop in ("KeySchema", "AttributeDefinitions"):
            value = self._prop(res, prop)
            if value is None:
                raise TemplateError(f"{self._where(res, prop)} is required")
            kwargs[prop] = value
        billing = self._prop(res, "BillingMode")
        throughput = self._prop(res, "ProvisionedThroughput")
        if billing is not None:
            kwargs["BillingMode"] = billing
        if throughput is not None:
            kwargs["ProvisionedThroughput"] = _ints(throughput)
        elif billing is None:
            kwargs["BillingMode"] = "PAY_PER_REQUEST"
        index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
        for prop in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = self._prop(res, prop)
            if indexes:
                kwargs[prop] = [
                    {
                        k: (_ints(v) if k == "ProvisionedThroughput" else v)
                        for k, v in index.items()
                        if k in index_keys
                    }
                    for index in indexes
                ]
        stream = self._prop(res, "StreamSpecification")
        if isinstance(stream, dict) and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        return kwargs

    def _simple_table_kwargs(self, res: Resource) -> dict[str, Any]:
        key = self._prop(res, "PrimaryKey") or {"Name": "id", "Type": "String"}
        types = {"String": "S", "Number": "N", "Binary": "B"}
        key_type = types.get(str(key.get("Type", "String")))
        if key_type is None:
            raise TemplateError(
                f"{self._where(res, 'PrimaryKey')}.Type must be String|Number|Binary"
            )
        kwargs: dict[str, Any] = {
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
        }
        throughput = self._prop(res, "ProvisionedThroughput")
        if throughput:
            kwargs["ProvisionedThroughput"] = _ints(throughput)
        else:
            kwargs["BillingMode"] = "PAY_PER_REQUEST"
        return kwargs

    def _create_queue(self, res: Resource) -> _Realised:
        where = self._where(res)
        fifo = _truthy(self._prop(res, "FifoQueue", False))
        name = self._name(res, "QueueName", 80, ".fifo" if fifo else "")
        attributes: dict[str, str] = {}
        for prop in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "MaximumMessageSize",
            "ReceiveMessageWaitTimeSeconds",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        ):
            value = self._prop(res, prop)
            if value is not None:
                attributes[prop] = to_string(value, self._where(res, prop))
        if fifo:
            attributes["FifoQueue"] = "true"
        for prop in ("RedrivePolicy", "RedriveAllowPolicy"):
            policy = self._prop(res, prop)
            if policy is None:
                continue
            if isinstance(policy, str):
                policy = json.loads(policy)
            if "maxReceiveCount" in policy:
                policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
            attributes[prop] = json.dumps(policy)
        sqs = self._aws(res, "sqs")
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except Exception as exc:
            raise TemplateError(f"{where}: moto refused the queue {name!r}: {exc}") from exc
        info = QueueInfo(
            res.logical_id,
            name,
            url,
            self._arn("sqs", name),
            int(attributes.get("VisibilityTimeout", "30")),
            fifo,
        )
        self.stack.queues[res.logical_id] = info
        return _Realised(url, {"Arn": info.arn, "QueueName": name, "QueueUrl": url})

    def _create_secret(self, res: Resource) -> _Realised:
        where = self._where(res)
        if "Name" in res.properties:
            name = self._name(res, "Name")
        else:  # CloudFormation names a secret `{LogicalId}-{random}`
            name = f"{res.logical_id}-{ids.physical_name(self.stack_name, res.logical_id)[-12:]}"
        secret_string = self._prop(res, "SecretString")
        generate = self._prop(res, "GenerateSecretString")
        if secret_string is not None and generate is not None:
            raise TemplateError(
                f"{where}: SecretString and GenerateSecretString exclude each other"
            )
        if generate is not None:
            if not isinstance(generate, dict):
                raise TemplateError(f"{where}.GenerateSecretString must be a mapping")
            secret_string = generate_secret_string(generate, f"{where}.GenerateSecretString")
        kwargs: dict[str, Any] = {"Name": name}
        if secret_string is not None:
            kwargs["SecretString"] = to_string(secret_string, f"{where}.SecretString")
        description = self._prop(res, "Description")
        if description is not None:
            kwargs["Description"] = str(description)
        try:
            arn = self._aws(res, "secretsmanager").create_secret(**kwargs)["ARN"]
        except Exception as exc:
            raise TemplateError(f"{where}: moto refused the secret {name!r}: {exc}") from exc
        self.stack.secrets[res.logical_id] = SecretInfo(res.logical_id, name, arn)
        return _Realised(arn, {"Id": arn, "Arn": arn})

    def _create_ssm_parameter(self, res: Resource) -> _Realised:
        where = self._where(res)
        name = self._name(res, "Name")
        if "Name" not in res.properties:
            name = "CFN-" + name
        ptype = str(self._prop(res, "Type", "String"))
        value = self._prop(res, "Value")
        if value is None:
            raise TemplateError(f"{where}.Value is required")
        text = ",".join(value) if isinstance(value, list) else to_string(value, where + ".Value")
        try:
            self._aws(res, "ssm").put_parameter(Name=name, Type=ptype, Value=text, Overwrite=True)
        except Exception as exc:
            raise TemplateError(f"{where}: moto refused the parameter {name!r}: {exc}") from exc
        self.stack.ssm_parameters[res.logical_id] = name
        return _Realised(name, {"Type": ptype, "Value": text})

    # ------------------------------------------------------------ build

    def build(self) -> Stack:
        """Create every active resource, then derive functions, APIs and event sources."""
        for res in list(self.template.resources.values()):
            if self._active(res):
                self._realise(res)
        for ignored_type, logical_ids in sorted(self.stack.ignored.items()):
            self._debug(f"ignored (no local meaning): {ignored_type}: {', '.join(logical_ids)}")
        functions = self._active_of_type(_FUNCTION)
        for res in functions:
            self.stack.functions[res.logical_id] = self._function_spec(res)
        for res in self._active_of_type("AWS::Lambda::Function"):
            self._warn(
                f"{res.logical_id}: AWS::Lambda::Function is not run locally "
                "(use AWS::Serverless::Function)"
            )
        self._build_websocket_api()
        self._build_http_apis(functions)
        self._build_event_sources(functions)
        return self.stack

    def _active_of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.template.of_type(*types) if self._active(r)]

    def _warn(self, message: str) -> None:
        self.stack.warnings.append(message)

    def _function_spec(self, res: Resource) -> FunctionSpec:
        where = self._where(res)
        package_type = self._prop(res, "PackageType", "Zip")
        if package_type != "Zip":
            raise TemplateError(f"{where}.PackageType {package_type} is not supported locally")
        if "InlineCode" in res.properties:
            raise TemplateError(f"{where}.InlineCode is not supported locally; use CodeUri")
        runtime = str(self._prop(res, "Runtime", ""))
        if not runtime.startswith("python"):
            raise TemplateError(
                f"{where}.Runtime {runtime or '(missing)'}: only Python functions run locally"
            )
        handler = self._prop(res, "Handler")
        if not handler or "." not in str(handler):
            raise TemplateError(f"{where}.Handler must look like module.function, got {handler!r}")
        code_uri = self._prop(res, "CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{where}.CodeUri must be a local directory, got {code_uri!r}")
        code_dir = (self.template.base_dir / code_uri).resolve()
        if not code_dir.is_dir():
            raise TemplateError(f"{where}.CodeUri {code_uri!r}: no directory {code_dir}")
        env_prop = self._prop(res, "Environment") or {}
        variables = env_prop.get("Variables") or {}
        if not isinstance(variables, dict):
            raise TemplateError(f"{where}.Environment.Variables must be a mapping")
        environment = {
            str(k): to_string(v, f"{where}.Environment.Variables.{k}") for k, v in variables.items()
        }
        reserved = self._prop(res, "ReservedConcurrentExecutions")
        layer_dirs: list[Path] = []
        for index, layer in enumerate(self._prop(res, "Layers") or []):
            directory = self._layer_dirs.get(str(layer))
            if directory is not None:
                layer_dirs.append(directory)
            else:
                self._warn(
                    f"{res.logical_id}.Layers[{index}] {layer!r} has no local directory; "
                    "its packages must be installed in the environment"
                )
        realised = self._realise(res)
        return FunctionSpec(
            logical_id=res.logical_id,
            name=str(realised.ref),
            arn=str(realised.attrs["Arn"]),
            handler=str(handler),
            runtime=runtime,
            code_dir=code_dir,
            memory_mb=int(self._prop(res, "MemorySize", DEFAULT_MEMORY_MB)),
            timeout_s=float(self._prop(res, "Timeout", DEFAULT_TIMEOUT_S)),
            environment=environment,
            reserved_concurrency=int(reserved) if reserved is not None else None,
            layer_dirs=layer_dirs,
        )

    def _function_for_arn(self, value: Any, where: str) -> str:
        """The logical id of the function an integration or authorizer URI points at."""
        text = to_string(value, where)
        match = _LAMBDA_ARN.search(text)
        name = match.group(1) if match else text
        for spec in self.stack.functions.values():
            if spec.name == name or spec.arn == text:
                return spec.logical_id
        raise TemplateError(f"{where}: {text!r} does not point at a function of this template")

    # ------------------------------------------------------------ WebSocket API

    def _children(self, rtype: str, api_id: str) -> list[Resource]:
        found = []
        for res in self._active_of_type(rtype):
            owner = self._prop(res, "ApiId")
            if owner == api_id:
                found.append(res)
        return found

    def _build_websocket_api(self) -> None:
        apis = [
            r for r in self._active_of_type(_V2_API) if self._prop(r, "ProtocolType") == "WEBSOCKET"
        ]
        if not apis:
            return
        if len(apis) > 1:
            names = ", ".join(r.logical_id for r in apis)
            raise TemplateError(
                f"the local cloud serves one WebSocket API; the template has {names}"
            )
        res = apis[0]
        api_id = str(self._realise(res).ref)
        integrations: dict[str, str] = {}
        for integ in self._children("AWS::ApiGatewayV2::Integration", api_id):
            itype = str(self._prop(integ, "IntegrationType", ""))
            if itype != "AWS_PROXY":
                self._warn(f"{integ.logical_id}: IntegrationType {itype} is not emulated")
                continue
            uri = self._prop(integ, "IntegrationUri")
            integrations[str(self._realise(integ).ref)] = self._function_for_arn(
                uri, self._where(integ, "IntegrationUri")
            )
        authorizers: dict[str, WsAuthorizer] = {}
        for auth in self._children("AWS::ApiGatewayV2::Authorizer", api_id):
            where = self._where(auth)
            if self._prop(auth, "AuthorizerType") != "REQUEST":
                raise TemplateError(
                    f"{where}.AuthorizerType: WebSocket APIs take REQUEST authorizers"
                )
            sources = self._prop(auth, "IdentitySource") or []
            if isinstance(sources, str):
                sources = [s.strip() for s in sources.split(",")]
            auth_id = str(self._realise(auth).ref)
            authorizers[auth_id] = WsAuthorizer(
                logical_id=auth.logical_id,
                id=auth_id,
                name=str(self._prop(auth, "Name", auth.logical_id)),
                function=self._function_for_arn(
                    self._prop(auth, "AuthorizerUri"), where + ".AuthorizerUri"
                ),
                identity_sources=[str(s) for s in sources],
            )
        two_way_routes = {
            str(self._prop(rr, "RouteId"))
            for rr in self._children("AWS::ApiGatewayV2::RouteResponse", api_id)
            if self._prop(rr, "RouteResponseKey") == "$default"
        }
        routes: dict[str, WsRoute] = {}
        for route in self._children("AWS::ApiGatewayV2::Route", api_id):
            where = self._where(route)
            key = str(self._prop(route, "RouteKey"))
            target = self._prop(route, "Target")
            function = None
            if target is not None:
                integration_id = str(target).removeprefix("integrations/")
                function = integrations.get(integration_id)
                if function is None:
                    raise TemplateError(f"{where}.Target {target!r}: no Lambda proxy integration")
            auth_type = str(self._prop(route, "AuthorizationType", "NONE"))
            authorizer = None
            if auth_type == "CUSTOM":
                auth_id = str(self._prop(route, "AuthorizerId"))
                authorizer = authorizers.get(auth_id)
                if authorizer is None:
                    raise TemplateError(f"{where}.AuthorizerId {auth_id!r}: no such authorizer")
                if key != "$connect":
                    raise TemplateError(f"{where}: authorizers only run on $connect")
            elif auth_type == "AWS_IAM":
                self._warn(f"{route.logical_id}: AWS_IAM authorization is not enforced locally")
            route_id = str(self._realise(route).ref)
            two_way = self._prop(route, "RouteResponseSelectionExpression") is not None and (
                route_id in two_way_routes
            )
            routes[key] = WsRoute(route.logical_id, key, function, auth_type, authorizer, two_way)
        stages = [str(self._realise(s).ref) for s in self._children(_V2_STAGE, api_id)]
        self.stack.websocket_api = WebSocketApiSpec(
            logical_id=res.logical_id,
            id=api_id,
            name=str(self._prop(res, "Name", res.logical_id)),
            route_selection_expression=str(
                self._prop(res, "RouteSelectionExpression", "$request.body.action")
            ),
            stages=stages or ["$default"],
            routes=routes,
        )

    # ------------------------------------------------------------ HTTP APIs

    def _build_http_apis(self, functions: list[Resource]) -> None:
        apis: dict[str, HttpApiSpec] = {}
        for res in self._active_of_type(_HTTP_API):
            api_id = str(self._realise(res).ref)
            if self._prop(res, "Auth") is not None:
                self._warn(f"{res.logical_id}: HttpApi Auth (authorizers) is not enforced locally")
            if self._prop(res, "DefinitionBody") is not None or "DefinitionUri" in res.properties:
                self._warn(
                    f"{res.logical_id}: OpenAPI definitions are not read; routes come from Events"
                )
            apis[api_id] = HttpApiSpec(
                logical_id=res.logical_id,
                id=api_id,
                stage=str(self._prop(res, "StageName", "$default")),
                cors=self._cors(
                    self._prop(res, "CorsConfiguration"), self._where(res, "CorsConfiguration")
                ),
            )
        for res in self._active_of_type(_V2_API):
            if self._prop(res, "ProtocolType") != "HTTP":
                continue
            api_id = str(self._realise(res).ref)
            stages = [str(self._realise(s).ref) for s in self._children(_V2_STAGE, api_id)]
            spec = HttpApiSpec(
                logical_id=res.logical_id,
                id=api_id,
                stage=stages[0] if stages else "$default",
                cors=self._cors(
                    self._prop(res, "CorsConfiguration"), self._where(res, "CorsConfiguration")
                ),
            )
            apis[api_id] = spec
            integrations = {
                str(self._realise(i).ref): self._function_for_arn(
                    self._prop(i, "IntegrationUri"), self._where(i, "IntegrationUri")
                )
                for i in self._children("AWS::ApiGatewayV2::Integration", api_id)
            }
            for route in self._children("AWS::ApiGatewayV2::Route", api_id):
                key = str(self._prop(route, "RouteKey"))
                target = str(self._prop(route, "Target", "")).removeprefix("integrations/")
                if target not in integrations:
                    raise TemplateError(f"{self._where(route, 'Target')}: no Lambda integration")
                method, _, path = key.partition(" ")
                if key == "$default":
                    method, path = "ANY", "$default"
                spec.routes.append(
                    HttpRoute(method.upper(), path, integrations[target], source=route.logical_id)
                )
        for res in functions:
            events = self._prop(res, "Events") or {}
            for event_name, event in events.items():
                if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                    continue
                where = f"{self._where(res, 'Events')}.{event_name}"
                props = event.get("Properties") or {}
                api_id = str(props.get("ApiId") or self._ref("ServerlessHttpApi", where))
                api = apis.get(api_id)
                if api is None:
                    raise TemplateError(f"{where}.Properties.ApiId {api_id!r}: not an HttpApi")
                version = str(props.get("PayloadFormatVersion", "2.0"))
                if version != "2.0":
                    raise TemplateError(f"{where}: PayloadFormatVersion {version} is not emulated")
                path = str(props.get("Path", "$default"))
                method = str(props.get("Method", "ANY")).upper()
                if path == "$default":
                    method = "ANY"
                timeout = int(props.get("TimeoutInMillis", HTTP_INTEGRATION_TIMEOUT_MS))
                api.routes.append(HttpRoute(method, path, res.logical_id, timeout, where))
        for api in apis.values():
            seen: dict[str, HttpRoute] = {}
            for declared in api.routes:
                if declared.route_key in seen:
                    raise TemplateError(
                        f"{declared.source}: route {declared.route_key!r} of {api.logical_id} "
                        f"is also declared by {seen[declared.route_key].source}"
                    )
                seen[declared.route_key] = declared
        self.stack.http_apis = list(apis.values())

    def _cors(self, value: Any, where: str) -> CorsConfig | None:
        if value is None or value is False:
            return None
        if value is True or (isinstance(value, str) and value.lower() == "true"):
            return CorsConfig(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
        if not isinstance(value, dict):
            raise TemplateError(f"{where} must be true or a mapping")

        def strings(name: str) -> list[str]:
            items = value.get(name) or []
            return [str(i) for i in (items if isinstance(items, list) else [items])]

        max_age = value.get("MaxAge")
        return CorsConfig(
            allow_origins=strings("AllowOrigins"),
            allow_methods=[m.upper() for m in strings("AllowMethods")],
            allow_headers=[h.lower() for h in strings("AllowHeaders")],
            expose_headers=strings("ExposeHeaders"),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=_truthy(value.get("AllowCredentials", False)),
        )

    # ------------------------------------------------------------ event sources

    def _queue_for_arn(self, arn: Any, where: str) -> QueueInfo:
        for queue in self.stack.queues.values():
            if queue.arn == arn:
                return queue
        raise TemplateError(f"{where}: {arn!r} is not a queue of this template")

    def _build_event_sources(self, functions: list[Resource]) -> None:
        for res in functions:
            events = self._prop(res, "Events") or {}
            for event_name, event in events.items():
                where = f"{self._where(res, 'Events')}.{event_name}"
                etype = event.get("Type") if isinstance(event, dict) else None
                if etype not in _SUPPORTED_EVENTS:
                    self._warn(
                        f"{res.logical_id}.Events.{event_name}: {etype} events are not emulated"
                    )
                    continue
                if etype != "SQS":
                    continue
                props = event.get("Properties") or {}
                self._add_sqs_mapping(
                    f"{res.logical_id}.{event_name}", res.logical_id, props, where
                )
        for res in self._active_of_type("AWS::Lambda::EventSourceMapping"):
            where = self._where(res)
            source = self._prop(res, "EventSourceArn")
            if not isinstance(source, str) or ":sqs:" not in source:
                self._warn(f"{res.logical_id}: only SQS event source mappings are emulated")
                continue
            function = self._function_for_arn(
                self._prop(res, "FunctionName"), where + ".FunctionName"
            )
            props = {
                "Queue": source,
                "BatchSize": self._prop(res, "BatchSize"),
                "MaximumBatchingWindowInSeconds": self._prop(res, "MaximumBatchingWindowInSeconds"),
                "FunctionResponseTypes": self._prop(res, "FunctionResponseTypes"),
                "Enabled": self._prop(res, "Enabled", True),
                "ScalingConfig": self._prop(res, "ScalingConfig"),
            }
            self._add_sqs_mapping(
                res.logical_id, function, {k: v for k, v in props.items() if v is not None}, where
            )

    def _add_sqs_mapping(self, name: str, function: str, props: dict[str, Any], where: str) -> None:
        if not _truthy(props.get("Enabled", True)):
            self._warn(f"{name}: event source disabled (Enabled: false)")
            return
        queue = self._queue_for_arn(props.get("Queue"), where + ".Properties.Queue")
        batch_size = int(props.get("BatchSize", 10))
        if not 1 <= batch_size <= 10_000:
            raise TemplateError(f"{where}.Properties.BatchSize must be 1..10000")
        response_types = props.get("FunctionResponseTypes") or []
        scaling = props.get("ScalingConfig") or {}
        max_concurrency = scaling.get("MaximumConcurrency") if isinstance(scaling, dict) else None
        self.stack.sqs_mappings.append(
            SqsMapping(
                name=name,
                function=function,
                queue=queue,
                batch_size=batch_size,
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in response_types,
                max_concurrency=int(max_concurrency) if max_concurrency else None,
            )
        )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _ints(throughput: Any) -> dict[str, int]:
    if not isinstance(throughput, dict):
        raise TemplateError(f"ProvisionedThroughput must be a mapping, got {throughput!r}")
    return {str(k): int(v) for k, v in throughput.items()}
