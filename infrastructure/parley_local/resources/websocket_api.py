"""The WebSocket API: routes, Lambda proxy integrations, the `$connect` authorizer.

The local cloud serves one `AWS::ApiGatewayV2::Api` of `ProtocolType: WEBSOCKET`. Only
two-way routes (`RouteResponseSelectionExpression` plus a `$default` `RouteResponse`) send
the function's answer back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley_local.resources.apigateway import (
    V2_AUTHORIZER,
    V2_INTEGRATION,
    V2_ROUTE,
    V2_ROUTE_RESPONSE,
    apis_of_protocol,
    children,
    stages,
)
from parley_local.resources.functions import function_for_arn
from parley_local.resources.registry import Phase, assembles
from parley_local.stack import WebSocketApiSpec, WsAuthorizer, WsRoute
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder


@assembles(Phase.APIS)
def assemble_websocket_api(builder: StackBuilder) -> None:
    """The `WebSocketApiSpec` of the template's WebSocket API, if it has one."""
    apis = apis_of_protocol(builder, "WEBSOCKET")
    if not apis:
        return
    if len(apis) > 1:
        names = ", ".join(r.logical_id for r in apis)
        raise TemplateError(f"the local cloud serves one WebSocket API; the template has {names}")
    res = apis[0]
    api_id = str(builder.realise(res).ref)
    integrations = _integrations(builder, api_id)
    authorizers = _authorizers(builder, api_id)
    two_way_routes = {
        str(builder.prop(rr, "RouteId"))
        for rr in children(builder, V2_ROUTE_RESPONSE, api_id)
        if builder.prop(rr, "RouteResponseKey") == "$default"
    }
    routes: dict[str, WsRoute] = {}
    for route in children(builder, V2_ROUTE, api_id):
        where = builder.where(route)
        key = str(builder.prop(route, "RouteKey"))
        target = builder.prop(route, "Target")
        function = None
        if target is not None:
            integration_id = str(target).removeprefix("integrations/")
            function = integrations.get(integration_id)
            if function is None:
                raise TemplateError(f"{where}.Target {target!r}: no Lambda proxy integration")
        auth_type = str(builder.prop(route, "AuthorizationType", "NONE"))
        authorizer = None
        if auth_type == "CUSTOM":
            auth_id = str(builder.prop(route, "AuthorizerId"))
            authorizer = authorizers.get(auth_id)
            if authorizer is None:
                raise TemplateError(f"{where}.AuthorizerId {auth_id!r}: no such authorizer")
            if key != "$connect":
                raise TemplateError(f"{where}: authorizers only run on $connect")
        elif auth_type == "AWS_IAM":
            builder.warn(f"{route.logical_id}: AWS_IAM authorization is not enforced locally")
        route_id = str(builder.realise(route).ref)
        two_way = builder.prop(route, "RouteResponseSelectionExpression") is not None and (
            route_id in two_way_routes
        )
        routes[key] = WsRoute(route.logical_id, key, function, auth_type, authorizer, two_way)
    builder.stack.websocket_api = WebSocketApiSpec(
        logical_id=res.logical_id,
        id=api_id,
        name=str(builder.prop(res, "Name", res.logical_id)),
        route_selection_expression=str(
            builder.prop(res, "RouteSelectionExpression", "$request.body.action")
        ),
        stages=stages(builder, api_id) or ["$default"],
        routes=routes,
    )


def _integrations(builder: StackBuilder, api_id: str) -> dict[str, str]:
    """Integration id -> function, for the Lambda proxy integrations (others are warned of)."""
    integrations: dict[str, str] = {}
    for integ in children(builder, V2_INTEGRATION, api_id):
        itype = str(builder.prop(integ, "IntegrationType", ""))
        if itype != "AWS_PROXY":
            builder.warn(f"{integ.logical_id}: IntegrationType {itype} is not emulated")
            continue
        uri = builder.prop(integ, "IntegrationUri")
        integrations[str(builder.realise(integ).ref)] = function_for_arn(
            builder, uri, builder.where(integ, "IntegrationUri")
        )
    return integrations


def _authorizers(builder: StackBuilder, api_id: str) -> dict[str, WsAuthorizer]:
    """Authorizer id -> its REQUEST authorizer."""
    authorizers: dict[str, WsAuthorizer] = {}
    for auth in children(builder, V2_AUTHORIZER, api_id):
        where = builder.where(auth)
        if builder.prop(auth, "AuthorizerType") != "REQUEST":
            raise TemplateError(f"{where}.AuthorizerType: WebSocket APIs take REQUEST authorizers")
        sources = builder.prop(auth, "IdentitySource") or []
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",")]
        auth_id = str(builder.realise(auth).ref)
        authorizers[auth_id] = WsAuthorizer(
            logical_id=auth.logical_id,
            id=auth_id,
            name=str(builder.prop(auth, "Name", auth.logical_id)),
            function=function_for_arn(
                builder, builder.prop(auth, "AuthorizerUri"), where + ".AuthorizerUri"
            ),
            identity_sources=[str(s) for s in sources],
        )
    return authorizers
