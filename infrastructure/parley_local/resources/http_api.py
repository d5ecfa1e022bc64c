"""HTTP APIs: SAM `HttpApi`s with routes from function `Events`, or ApiGatewayV2 HTTP APIs.

Payload format 2.0 only. `CorsConfiguration` is kept for the gateway to answer preflights;
authorizers and OpenAPI definitions are warned about and not enforced. The same route key
declared twice in one API is an error, as on API Gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley_local.intrinsics import truthy
from parley_local.resources.apigateway import (
    HTTP_API,
    V2_INTEGRATION,
    V2_ROUTE,
    V2_STAGE,
    apis_of_protocol,
    children,
    stages,
)
from parley_local.resources.functions import FUNCTION, function_events, function_for_arn
from parley_local.resources.registry import Phase, assembles, expands, handles_events
from parley_local.stack import HTTP_INTEGRATION_TIMEOUT_MS, CorsConfig, HttpApiSpec, HttpRoute
from parley_local.template import Resource, Template, TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder

IMPLICIT_API = "ServerlessHttpApi"

handles_events("HttpApi")


@expands
def add_implicit_resources(template: Template) -> None:
    """Each `HttpApi`'s `$default` stage, and SAM's `ServerlessHttpApi` (with its stage)
    when a function has an `HttpApi` event without `ApiId`."""
    resources = template.resources

    def add_stage(api_id: str) -> None:
        stage_id = f"{api_id}ApiGatewayDefaultStage"
        if stage_id not in resources:
            resources[stage_id] = Resource(stage_id, V2_STAGE, {"StageName": "$default"})

    for res in template.of_type(HTTP_API):
        add_stage(res.logical_id)
    if IMPLICIT_API in resources:
        return
    for res in template.of_type(FUNCTION):
        events = res.properties.get("Events") or {}
        if isinstance(events, dict) and any(_needs_implicit_api(e) for e in events.values()):
            props = dict(template.globals.get("HttpApi") or {})
            resources[IMPLICIT_API] = Resource(IMPLICIT_API, HTTP_API, props)
            add_stage(IMPLICIT_API)
            return


def _needs_implicit_api(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("Type") == "HttpApi"
        and "ApiId" not in (event.get("Properties") or {})
    )


@assembles(Phase.APIS)
def assemble_http_apis(builder: StackBuilder) -> None:
    """An `HttpApiSpec` per HTTP API, with its routes."""
    apis: dict[str, HttpApiSpec] = {}
    for res in builder.active_of_type(HTTP_API):
        api_id = str(builder.realise(res).ref)
        if builder.prop(res, "Auth") is not None:
            builder.warn(f"{res.logical_id}: HttpApi Auth (authorizers) is not enforced locally")
        if builder.prop(res, "DefinitionBody") is not None or "DefinitionUri" in res.properties:
            builder.warn(
                f"{res.logical_id}: OpenAPI definitions are not read; routes come from Events"
            )
        apis[api_id] = HttpApiSpec(
            logical_id=res.logical_id,
            id=api_id,
            stage=str(builder.prop(res, "StageName", "$default")),
            cors=_cors_of(builder, res),
        )
    for res in apis_of_protocol(builder, "HTTP"):
        api_id = str(builder.realise(res).ref)
        names = stages(builder, api_id)
        apis[api_id] = HttpApiSpec(
            logical_id=res.logical_id,
            id=api_id,
            stage=names[0] if names else "$default",
            cors=_cors_of(builder, res),
            routes=_v2_routes(builder, api_id),
        )
    for res, _, event, where in function_events(builder, "HttpApi"):
        props = event.get("Properties") or {}
        api_id = str(props.get("ApiId") or builder.ref(IMPLICIT_API, where))
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
        _check_unique_routes(api)
    builder.stack.http_apis = list(apis.values())


def _v2_routes(builder: StackBuilder, api_id: str) -> list[HttpRoute]:
    """The routes of an ApiGatewayV2 HTTP API, each to its Lambda integration's function."""
    integrations = {
        str(builder.realise(i).ref): function_for_arn(
            builder, builder.prop(i, "IntegrationUri"), builder.where(i, "IntegrationUri")
        )
        for i in children(builder, V2_INTEGRATION, api_id)
    }
    routes: list[HttpRoute] = []
    for route in children(builder, V2_ROUTE, api_id):
        key = str(builder.prop(route, "RouteKey"))
        target = str(builder.prop(route, "Target", "")).removeprefix("integrations/")
        if target not in integrations:
            raise TemplateError(f"{builder.where(route, 'Target')}: no Lambda integration")
        method, _, path = key.partition(" ")
        if key == "$default":
            method, path = "ANY", "$default"
        routes.append(
            HttpRoute(method.upper(), path, integrations[target], source=route.logical_id)
        )
    return routes


def _check_unique_routes(api: HttpApiSpec) -> None:
    seen: dict[str, HttpRoute] = {}
    for declared in api.routes:
        if declared.route_key in seen:
            raise TemplateError(
                f"{declared.source}: route {declared.route_key!r} of {api.logical_id} "
                f"is also declared by {seen[declared.route_key].source}"
            )
        seen[declared.route_key] = declared


def _cors_of(builder: StackBuilder, res: Resource) -> CorsConfig | None:
    """`CorsConfiguration` (true, or a mapping) as the gateway applies it."""
    value = builder.prop(res, "CorsConfiguration")
    where = builder.where(res, "CorsConfiguration")
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
        allow_credentials=truthy(value.get("AllowCredentials", False)),
    )
