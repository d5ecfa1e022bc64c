"""Reading a SAM/CloudFormation template: YAML short tags, sections and SAM Globals.

The loader turns every short form (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) into the long form
CloudFormation itself uses (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...), so the rest
of the local cloud only deals with one shape. Nothing here talks to AWS or resolves values.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """The template cannot be run locally; the message names the resource and property."""


# Short tag -> long intrinsic name. `!GetAtt` and `!Condition` need their own handling.
_FUNCTIONS = {
    "Ref": "Ref",
    "Sub": "Fn::Sub",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Cidr": "Fn::Cidr",
    "Transform": "Fn::Transform",
    "ToJsonString": "Fn::ToJsonString",
    "Length": "Fn::Length",
}


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no stubs
    """A SafeLoader that understands CloudFormation's `!` short tags."""


def _construct_node(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")  # pragma: no cover


def _make_constructor(long_name: str) -> Any:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {long_name: _construct_node(loader, node)}

    return construct


def _construct_getatt(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if isinstance(value, str):
        # `!GetAtt Resource.Attr.With.Dots`: the first dot splits the logical id.
        resource, _, attribute = value.partition(".")
        if not attribute:
            raise TemplateError(f"!GetAtt {value!r}: expected Resource.Attribute")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


def _construct_condition(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct_node(loader, node)}


# Booleans as in YAML 1.2 (and JSON): only true/false. PyYAML's YAML 1.1 rules would turn
# `yes`, `no`, `on`, `off` into booleans, so `FEATURE: yes` would reach a function as "true".
_BOOL_TAG = "tag:yaml.org,2002:bool"
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CfnLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

for _short, _long in _FUNCTIONS.items():
    CfnLoader.add_constructor("!" + _short, _make_constructor(_long))
CfnLoader.add_constructor("!GetAtt", _construct_getatt)
CfnLoader.add_constructor("!Condition", _construct_condition)


def parse_template_text(text: str) -> dict[str, Any]:
    """Parse YAML (or JSON, a subset of YAML) template text into a dict."""
    try:
        data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("template must be a mapping at the top level")
    return data


def _merge_globals(global_props: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (resource wins), lists add up, scalars are overridden."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_props))
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not is_intrinsic(value):
            merged[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + list(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def is_intrinsic(value: Any) -> bool:
    """True for a one-key mapping that is an intrinsic function (`Ref`, `Fn::*`, `Condition`)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key in ("Ref", "Condition") or key.startswith("Fn::"))


# SAM resource type -> the Globals section that applies to it.
_GLOBALS_SECTIONS = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::HttpApi": "HttpApi",
    "AWS::Serverless::Api": "Api",
    "AWS::Serverless::SimpleTable": "SimpleTable",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::LayerVersion": "LayerVersion",
}


@dataclass
class Resource:
    """One entry of `Resources`, with SAM Globals already merged into `properties`."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None
    depends_on: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Template:
    """A parsed template: its sections, and where it lives (CodeUri paths are relative)."""

    path: Path
    raw: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    conditions: dict[str, Any]
    mappings: dict[str, Any]
    resources: dict[str, Resource]
    outputs: dict[str, Any]
    globals: dict[str, Any]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in types]


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise TemplateError(f"{name} must be a mapping")
    return value


def build_template(data: dict[str, Any], path: Path) -> Template:
    """Turn parsed template data into a `Template`, applying SAM Globals."""
    globals_ = _section(data, "Globals")
    resources: dict[str, Resource] = {}
    for logical_id, body in _section(data, "Resources").items():
        if not isinstance(body, dict) or "Type" not in body:
            raise TemplateError(f"Resources.{logical_id}: every resource needs a Type")
        rtype = str(body["Type"])
        props = body.get("Properties") or {}
        if not isinstance(props, dict):
            raise TemplateError(f"Resources.{logical_id}.Properties must be a mapping")
        section = _GLOBALS_SECTIONS.get(rtype)
        if section and isinstance(globals_.get(section), dict):
            props = _merge_globals(globals_[section], props)
        depends = body.get("DependsOn") or []
        if isinstance(depends, str):
            depends = [depends]
        resources[str(logical_id)] = Resource(
            logical_id=str(logical_id),
            type=rtype,
            properties=props,
            condition=body.get("Condition"),
            depends_on=[str(d) for d in depends],
            metadata=body.get("Metadata") or {},
        )
    return Template(
        path=path,
        raw=data,
        parameters=_section(data, "Parameters"),
        conditions=_section(data, "Conditions"),
        mappings=_section(data, "Mappings"),
        resources=resources,
        outputs=_section(data, "Outputs"),
        globals=globals_,
    )


def load_template(path: str | Path) -> Template:
    """Read and parse the template at `path`."""
    p = Path(path).resolve()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {p}: {exc.strerror or exc}") from exc
    return build_template(parse_template_text(text), p)
