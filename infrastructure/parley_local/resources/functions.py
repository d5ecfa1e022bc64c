"""Lambda: functions, layers, versions and aliases, and what the Lambda runtime runs.

Functions become `FunctionSpec`s (code, handler, environment resolved from Globals and
their own variables, layers); only Python `Zip` functions with a local `CodeUri` run. A
layer's folder goes on the path of the functions that use it. Versions and aliases resolve
to ARNs; `$LATEST` always runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley_local.intrinsics import to_string
from parley_local.resources.registry import (
    Phase,
    Realised,
    assembles,
    creates,
    event_types,
    expands,
)
from parley_local.stack import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, FunctionSpec, LayerInfo
from parley_local.template import Resource, Template, TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder

FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
ALIAS = "AWS::Lambda::Alias"
VERSION = "AWS::Lambda::Version"

_LAMBDA_ARN = re.compile(r"arn:aws[\w-]*:lambda:[^:]*:\d+:function:([A-Za-z0-9_-]+)")


# ---------------------------------------------------------------------------- SAM's extras


@expands
def add_implicit_resources(template: Template) -> None:
    """The resources SAM generates for a function, so that references to them resolve.

    `{Function}Role` (no Role given), `{Function}Alias{alias}` and `{Function}Version`
    (AutoPublishAlias), CodeDeploy's application and groups (DeploymentPreference).
    """
    resources = template.resources

    def add(logical_id: str, rtype: str, props: dict[str, Any] | None = None) -> None:
        if logical_id not in resources:
            resources[logical_id] = Resource(logical_id, rtype, props or {})

    for res in template.of_type(FUNCTION):
        if "Role" not in res.properties:
            add(res.logical_id + "Role", "AWS::IAM::Role")
        alias = res.properties.get("AutoPublishAlias")
        if isinstance(alias, str) and alias:
            function_ref = {"Ref": res.logical_id}
            add(res.logical_id + "Version", VERSION, {"FunctionName": function_ref})
            add(
                f"{res.logical_id}Alias{alias}",
                ALIAS,
                {"FunctionName": function_ref, "Name": alias},
            )
        if res.properties.get("DeploymentPreference") is not None:
            add("ServerlessDeploymentApplication", "AWS::CodeDeploy::Application")
            add("CodeDeployServiceRole", "AWS::IAM::Role")
            add(res.logical_id + "DeploymentGroup", "AWS::CodeDeploy::DeploymentGroup")


# ---------------------------------------------------------------------------- realisation


@creates(FUNCTION)
def realise_function(builder: StackBuilder, res: Resource) -> Realised:
    """A function's name and ARN (its spec is assembled once everything is realised)."""
    name = builder.name(res, "FunctionName", 64)
    return Realised(name, {"Arn": builder.arn("lambda", f"function:{name}")})


@creates(ALIAS, VERSION)
def realise_alias_or_version(builder: StackBuilder, res: Resource) -> Realised:
    """A qualified ARN of the function (`:1` for a version, `:{Name}` for an alias)."""
    function_arn = _function_arn(builder, builder.prop(res, "FunctionName"), builder.where(res))
    qualifier = str(builder.prop(res, "Name", "")) if res.type == ALIAS else "1"
    arn = f"{function_arn}:{qualifier}"
    attrs = {"Version": "1"} if res.type == VERSION else {"AliasArn": arn}
    return Realised(arn, attrs)


@creates(LAYER)
def realise_layer(builder: StackBuilder, res: Resource) -> Realised:
    """A layer's ARN; its directory goes on the path of the functions that use it.

    Like `/opt/python` on Lambda: the ContentUri itself for a layer built by SAM with a
    Python BuildMethod, else the `python/` folder inside it. A `makefile` build makes its
    `python/` from the ContentUri's sources, so without a `python/` folder those sources
    stand in for it (as they would with a Python BuildMethod).
    """
    name = builder.name(res, "LayerName", 140)
    arn = builder.arn("lambda", f"layer:{name}:1")
    content = builder.prop(res, "ContentUri")
    found: Path | None = None
    if isinstance(content, str):
        source = (builder.template.base_dir / content).resolve()
        build = str((res.metadata or {}).get("BuildMethod", ""))
        candidates = [source] if build.startswith("python") else [source / "python"]
        if build == "makefile":
            candidates.append(source)
        found = next((d for d in candidates if d.is_dir()), None)
    builder.stack.layers[res.logical_id] = LayerInfo(res.logical_id, arn, found)
    return Realised(arn, {"Arn": arn})


def _function_arn(builder: StackBuilder, value: Any, where: str) -> str:
    text = to_string(value, where)
    if text.startswith("arn:"):
        return text
    return builder.arn("lambda", f"function:{text}")


# ---------------------------------------------------------------------------- function specs


@assembles(Phase.FUNCTIONS)
def assemble_functions(builder: StackBuilder) -> None:
    """A `FunctionSpec` per function; plain `AWS::Lambda::Function`s are warned about."""
    for res in builder.active_of_type(FUNCTION):
        builder.stack.functions[res.logical_id] = _function_spec(builder, res)
    for res in builder.active_of_type("AWS::Lambda::Function"):
        builder.warn(
            f"{res.logical_id}: AWS::Lambda::Function is not run locally "
            "(use AWS::Serverless::Function)"
        )


def _function_spec(builder: StackBuilder, res: Resource) -> FunctionSpec:
    where = builder.where(res)
    package_type = builder.prop(res, "PackageType", "Zip")
    if package_type != "Zip":
        raise TemplateError(f"{where}.PackageType {package_type} is not supported locally")
    if "InlineCode" in res.properties:
        raise TemplateError(f"{where}.InlineCode is not supported locally; use CodeUri")
    runtime = str(builder.prop(res, "Runtime", ""))
    if not runtime.startswith("python"):
        raise TemplateError(
            f"{where}.Runtime {runtime or '(missing)'}: only Python functions run locally"
        )
    handler = builder.prop(res, "Handler")
    if not handler or "." not in str(handler):
        raise TemplateError(f"{where}.Handler must look like module.function, got {handler!r}")
    code_uri = builder.prop(res, "CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{where}.CodeUri must be a local directory, got {code_uri!r}")
    code_dir = (builder.template.base_dir / code_uri).resolve()
    if not code_dir.is_dir():
        raise TemplateError(f"{where}.CodeUri {code_uri!r}: no directory {code_dir}")
    env_prop = builder.prop(res, "Environment") or {}
    variables = env_prop.get("Variables") or {}
    if not isinstance(variables, dict):
        raise TemplateError(f"{where}.Environment.Variables must be a mapping")
    environment = {
        str(k): to_string(v, f"{where}.Environment.Variables.{k}") for k, v in variables.items()
    }
    reserved = builder.prop(res, "ReservedConcurrentExecutions")
    layer_dirs = {
        layer.arn: layer.directory
        for layer in builder.stack.layers.values()
        if layer.directory is not None
    }
    used_layers: list[Path] = []
    for index, layer in enumerate(builder.prop(res, "Layers") or []):
        directory = layer_dirs.get(str(layer))
        if directory is not None:
            used_layers.append(directory)
        else:
            builder.warn(
                f"{res.logical_id}.Layers[{index}] {layer!r} has no local directory; "
                "its packages must be installed in the environment"
            )
    realised = builder.realise(res)
    return FunctionSpec(
        logical_id=res.logical_id,
        name=str(realised.ref),
        arn=str(realised.attrs["Arn"]),
        handler=str(handler),
        runtime=runtime,
        code_dir=code_dir,
        memory_mb=int(builder.prop(res, "MemorySize", DEFAULT_MEMORY_MB)),
        timeout_s=float(builder.prop(res, "Timeout", DEFAULT_TIMEOUT_S)),
        environment=environment,
        reserved_concurrency=int(reserved) if reserved is not None else None,
        layer_dirs=used_layers,
    )


def function_for_arn(builder: StackBuilder, value: Any, where: str) -> str:
    """The logical id of the function an integration, authorizer or mapping points at."""
    text = to_string(value, where)
    match = _LAMBDA_ARN.search(text)
    name = match.group(1) if match else text
    for spec in builder.stack.functions.values():
        if spec.name == name or spec.arn == text:
            return spec.logical_id
    raise TemplateError(f"{where}: {text!r} does not point at a function of this template")


# ---------------------------------------------------------------------------- events


def function_events(
    builder: StackBuilder, event_type: str | None = None
) -> Iterator[tuple[Resource, str, Any, str]]:
    """(function, event name, event, where) for the functions' `Events` (of `event_type`)."""
    for res in builder.active_of_type(FUNCTION):
        events = builder.prop(res, "Events") or {}
        for event_name, event in events.items():
            etype = event.get("Type") if isinstance(event, dict) else None
            if event_type is None or etype == event_type:
                yield res, event_name, event, f"{builder.where(res, 'Events')}.{event_name}"


@assembles(Phase.EVENT_SOURCES)
def warn_unsupported_events(builder: StackBuilder) -> None:
    """Say which function `Events` types are not emulated (Schedule, DynamoDB, ...)."""
    supported = event_types()
    for res, event_name, event, _ in function_events(builder):
        etype = event.get("Type") if isinstance(event, dict) else None
        if etype not in supported:
            builder.warn(f"{res.logical_id}.Events.{event_name}: {etype} events are not emulated")
