"""What the running local cloud serves: the stack built from the template, as plain specs.

Tables, queues, secrets and SSM parameters live in moto; their `*Info` records say where.
Functions, APIs, routes and event sources are small dataclasses that the gateways, the
pollers and the Lambda runtime consume. `parley_local.builder` builds a `Stack`;
`parley_local.resources` holds one builder module per resource family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
HTTP_INTEGRATION_TIMEOUT_MS = 30_000
WEBSOCKET_INTEGRATION_TIMEOUT_S = 29.0


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
class LayerInfo:
    logical_id: str
    arn: str
    directory: Path | None  # what goes on the path of its functions, if it exists locally


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
class AppConfigInfo:
    """The template's AWS AppConfig resources, as the AppConfigData emulation serves them:
    the identifiers (names and ids) a session may name, and the hosted content."""

    applications: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)
    content: str | None = None  # the first HostedConfigurationVersion's `Content`
    content_source: str = ""  # where it was declared, for the banner and errors

    @property
    def defined(self) -> bool:
        """Whether the template defines any AppConfig application."""
        return bool(self.applications)


@dataclass
class Stack:
    """Everything the running local cloud serves, resolved from the template."""

    stack_name: str
    region: str
    tables: dict[str, TableInfo] = field(default_factory=dict)
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    secrets: dict[str, SecretInfo] = field(default_factory=dict)
    ssm_parameters: dict[str, str] = field(default_factory=dict)
    layers: dict[str, LayerInfo] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    websocket_api: WebSocketApiSpec | None = None
    http_apis: list[HttpApiSpec] = field(default_factory=list)
    sqs_mappings: list[SqsMapping] = field(default_factory=list)
    appconfig: AppConfigInfo = field(default_factory=AppConfigInfo)
    refs: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def http_routes(self) -> list[HttpRoute]:
        return [route for api in self.http_apis for route in api.routes]
