"""API Gateway resources: APIs, stages and the children of `AWS::ApiGatewayV2::Api`.

An API's `ApiEndpoint` is the local gateway's URL, so handler code that builds the
`@connections` endpoint from it needs no local branch. Routes, integrations, authorizers
and the rest resolve to stable short ids; `websocket_api` and `http_api` read them to build
what the gateways serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley_local import ids
from parley_local.resources.registry import Realised, creates

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

HTTP_API = "AWS::Serverless::HttpApi"
V2_API = "AWS::ApiGatewayV2::Api"
V2_STAGE = "AWS::ApiGatewayV2::Stage"
V2_ROUTE = "AWS::ApiGatewayV2::Route"
V2_INTEGRATION = "AWS::ApiGatewayV2::Integration"
V2_AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
V2_ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"

# Child type -> the attribute its id is also available as.
_V2_CHILDREN = {
    V2_ROUTE: "RouteId",
    V2_INTEGRATION: "IntegrationId",
    V2_AUTHORIZER: "AuthorizerId",
    V2_ROUTE_RESPONSE: "RouteResponseId",
    "AWS::ApiGatewayV2::IntegrationResponse": "IntegrationResponseId",
    "AWS::ApiGatewayV2::Deployment": "DeploymentId",
    "AWS::ApiGatewayV2::Model": "ModelId",
}


@creates(HTTP_API, V2_API)
def realise_api(builder: StackBuilder, res: Resource) -> Realised:
    """An API id; `ApiEndpoint` is the local WebSocket or HTTP gateway's URL."""
    api = ids.api_id(res.logical_id, builder.stack_name)
    protocol = "HTTP" if res.type == HTTP_API else str(builder.prop(res, "ProtocolType", ""))
    endpoint = builder.ws_endpoint if protocol == "WEBSOCKET" else builder.http_endpoint
    return Realised(api, {"ApiEndpoint": endpoint, "ApiId": api})


@creates(V2_STAGE)
def realise_stage(builder: StackBuilder, res: Resource) -> Realised:
    """A stage's `Ref` is its name."""
    return Realised(builder.prop(res, "StageName", "$default"), {})


@creates(*_V2_CHILDREN)
def realise_child(builder: StackBuilder, res: Resource) -> Realised:
    """A short id, stable across restarts, like API Gateway's route and integration ids."""
    child = ids.short_id(res.logical_id, builder.stack_name)
    return Realised(child, {_V2_CHILDREN[res.type]: child})


def children(builder: StackBuilder, rtype: str, api_id: str) -> list[Resource]:
    """The created resources of `rtype` whose `ApiId` is `api_id`."""
    return [res for res in builder.active_of_type(rtype) if builder.prop(res, "ApiId") == api_id]


def stages(builder: StackBuilder, api_id: str) -> list[str]:
    """The names of the API's stages."""
    return [str(builder.realise(s).ref) for s in children(builder, V2_STAGE, api_id)]


def apis_of_protocol(builder: StackBuilder, protocol: str) -> list[Resource]:
    """The created `AWS::ApiGatewayV2::Api`s of `ProtocolType` `protocol`."""
    return [
        r for r in builder.active_of_type(V2_API) if builder.prop(r, "ProtocolType") == protocol
    ]
