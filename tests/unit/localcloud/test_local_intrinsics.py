"""Intrinsic functions resolved as CloudFormation resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parley_local.intrinsics import NO_VALUE, Resolver, to_string
from parley_local.template import Template, TemplateError, build_template, parse_template_text

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: v1}
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 10, MinValue: 1, MaxValue: 100}
  Urls: {Type: CommaDelimitedList, Default: "a,b,c"}
  Empty: {Type: CommaDelimitedList, Default: ""}
  Code: {Type: String, Default: ab12, AllowedPattern: "^[a-z0-9]+$", MinLength: 2}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Size, 10]]
  Either: !Or [!Condition IsProd, !Equals ["1", 1]]
  Loop1: !Condition Loop2
  Loop2: !Condition Loop1
Mappings:
  Levels:
    dev: {Log: DEBUG}
    prod: {Log: INFO}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Queue: {Type: AWS::SQS::Queue}
"""


def make_resolver(**overrides: str) -> Resolver:
    template = build_template(parse_template_text(TEMPLATE), Path("/t/template.yaml"))
    refs = {"Table": "the-table", "Queue": "http://q"}
    atts = {("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:q", ("Table", "Arn"): "arn:t"}

    def ref(name: str, where: str) -> Any:
        if name not in refs:
            raise TemplateError(f"{where}: unknown resource or parameter {name!r}")
        return refs[name]

    def get_att(name: str, attr: str, where: str) -> Any:
        if (name, attr) not in atts:
            raise TemplateError(f"{where}: no {name}.{attr}")
        return atts[(name, attr)]

    return Resolver(
        template, ref=ref, get_att=get_att, parameter_overrides=overrides, stack_name="stk"
    )


def test_ref_reads_parameters_pseudo_parameters_and_resources() -> None:
    # GIVEN a resolver with defaults
    r = make_resolver()
    # WHEN refs are resolved THEN each kind has its value
    assert r.resolve({"Ref": "Stage"}, "x") == "v1"
    assert r.resolve({"Ref": "Size"}, "x") == "10"  # Number parameters are strings
    assert r.resolve({"Ref": "Urls"}, "x") == ["a", "b", "c"]
    assert r.resolve({"Ref": "Empty"}, "x") == []
    assert r.resolve({"Ref": "AWS::Region"}, "x") == "us-east-1"
    assert r.resolve({"Ref": "AWS::AccountId"}, "x") == "123456789012"
    assert r.resolve({"Ref": "AWS::StackName"}, "x") == "stk"
    assert r.resolve({"Ref": "AWS::URLSuffix"}, "x") == "amazonaws.com"
    assert r.resolve({"Ref": "AWS::Partition"}, "x") == "aws"
    assert r.resolve({"Ref": "AWS::StackId"}, "x").startswith("arn:aws:cloudformation:")
    assert r.resolve({"Ref": "Table"}, "x") == "the-table"


def test_overrides_replace_defaults_and_are_validated() -> None:
    assert make_resolver(Env="prod").resolve({"Ref": "Env"}, "x") == "prod"
    with pytest.raises(TemplateError, match="AllowedValues"):
        make_resolver(Env="qa")
    with pytest.raises(TemplateError, match="MaxValue"):
        make_resolver(Size="1000")
    with pytest.raises(TemplateError, match="not a Number"):
        make_resolver(Size="ten")
    with pytest.raises(TemplateError, match="does not match"):
        make_resolver(Code="AB")
    with pytest.raises(TemplateError, match="MinLength"):
        make_resolver(Code="a")
    with pytest.raises(TemplateError, match="not declared"):
        make_resolver(Nope="1")


def test_a_parameter_without_default_needs_an_override() -> None:
    # GIVEN a parameter with no Default
    data = parse_template_text("Parameters:\n  Key: {Type: String}\nResources: {}\n")
    template = build_template(data, Path("/t.yaml"))
    # WHEN no override is given THEN the error says how to give one
    with pytest.raises(TemplateError, match="--parameter-overrides Key=VALUE"):
        Resolver(template, ref=_no_ref, get_att=_no_att)
    # AND with an override it resolves
    resolver = Resolver(template, ref=_no_ref, get_att=_no_att, parameter_overrides={"Key": "k"})
    assert resolver.resolve({"Ref": "Key"}, "x") == "k"


def _no_ref(name: str, where: str) -> Any:
    raise TemplateError(f"{where}: unknown {name}")


def _no_att(name: str, attr: str, where: str) -> Any:
    raise TemplateError(f"{where}: unknown {name}.{attr}")


def test_ssm_parameter_types_need_an_override() -> None:
    data = parse_template_text(
        "Parameters:\n  P: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /x}\n"
    )
    with pytest.raises(TemplateError, match="reads SSM"):
        Resolver(build_template(data, Path("/t.yaml")), ref=_no_ref, get_att=_no_att)


def test_sub_forms() -> None:
    r = make_resolver()
    # GIVEN the string form with pseudo parameters, parameters, resources and attributes
    value = r.resolve({"Fn::Sub": "${AWS::Region}/${Stage}/${Table}/${Queue.Arn}"}, "x")
    assert value == "us-east-1/v1/the-table/arn:aws:sqs:us-east-1:123456789012:q"
    # AND the list form with its own variables, and the ${!Literal} escape
    value = r.resolve(
        {"Fn::Sub": ["${Name}-${AWS::AccountId}-${!Literal}", {"Name": {"Ref": "Stage"}}]}, "x"
    )
    assert value == "v1-123456789012-${Literal}"


def test_sub_refuses_a_list_value() -> None:
    with pytest.raises(TemplateError, match="is a list"):
        make_resolver().resolve({"Fn::Sub": "${Urls}"}, "Resources.X.Properties.Y")


def test_join_select_split_and_friends() -> None:
    r = make_resolver()
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3, True]]}, "x") == "a-v1-3-true"
    assert r.resolve({"Fn::Select": ["1", {"Ref": "Urls"}]}, "x") == "b"
    assert r.resolve({"Fn::Split": [":", {"Fn::GetAtt": ["Queue", "Arn"]}]}, "x")[2] == "sqs"
    assert r.resolve({"Fn::Base64": "hi"}, "x") == "aGk="
    assert r.resolve({"Fn::GetAZs": ""}, "x") == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert r.resolve({"Fn::ToJsonString": {"a": [1]}}, "x") == '{"a":[1]}'
    assert r.resolve({"Fn::Length": [1, 2]}, "x") == 2
    assert r.resolve({"Fn::GetAtt": "Queue.Arn"}, "x").endswith(":q")


def test_to_json_string_is_compact_utf8_json() -> None:
    # GIVEN a resolver
    r = make_resolver()
    # WHEN a value with non-ASCII text, then one with a NaN, is turned into JSON
    text = r.resolve({"Fn::ToJsonString": {"name": "Zoë", "n": [1.5]}}, "x")
    # THEN the text stays UTF-8, compact
    assert text == '{"name":"Zoë","n":[1.5]}'
    # AND a NaN, which JSON cannot hold, names the place instead of escaping as ValueError
    with pytest.raises(TemplateError, match=r"Resources\.A\.Fn::ToJsonString"):
        r.resolve({"Fn::ToJsonString": [float("nan")]}, "Resources.A")


def test_two_argument_functions_name_their_shape() -> None:
    r = make_resolver()
    with pytest.raises(TemplateError, match=r"takes \[delimiter, \[values\]\]"):
        r.resolve({"Fn::Join": ["-"]}, "x")
    with pytest.raises(TemplateError, match="second argument must be a list"):
        r.resolve({"Fn::Select": ["0", "abc"]}, "x")


def test_select_out_of_range_names_the_place() -> None:
    with pytest.raises(TemplateError, match=r"Resources\.A\.Properties\.B.*out of range"):
        make_resolver().resolve({"Fn::Select": [5, ["a"]]}, "Resources.A.Properties.B")


def test_conditions_and_if() -> None:
    dev, prod = make_resolver(), make_resolver(Env="prod")
    assert dev.condition("IsDev") and not dev.condition("IsProd")
    assert prod.condition("IsProd") and not prod.condition("IsDev")
    assert dev.condition("Both")  # Equals compares "10" with 10 as strings
    assert dev.condition("Either")
    assert dev.resolve({"Fn::If": ["IsProd", "a", "b"]}, "x") == "b"
    assert prod.resolve({"Fn::If": ["IsProd", "a", "b"]}, "x") == "a"
    with pytest.raises(TemplateError, match="circular condition"):
        dev.condition("Loop1")
    with pytest.raises(TemplateError, match="unknown condition"):
        dev.resolve({"Fn::If": ["Nope", "a", "b"]}, "x")


def test_no_value_removes_keys_and_list_items() -> None:
    # GIVEN an If that yields AWS::NoValue inside a map and a list
    r = make_resolver()
    value = r.resolve(
        {
            "Keep": "k",
            "Drop": {"Fn::If": ["IsProd", "p", {"Ref": "AWS::NoValue"}]},
            "List": ["a", {"Fn::If": ["IsProd", "p", {"Ref": "AWS::NoValue"}]}, "c"],
        },
        "x",
    )
    # THEN the key and the list item are gone
    assert value == {"Keep": "k", "List": ["a", "c"]}
    assert r.resolve({"Ref": "AWS::NoValue"}, "x") is NO_VALUE


def test_find_in_map_with_and_without_default() -> None:
    r = make_resolver()
    assert r.resolve({"Fn::FindInMap": ["Levels", {"Ref": "Env"}, "Log"]}, "x") == "DEBUG"
    assert (
        r.resolve({"Fn::FindInMap": ["Levels", "qa", "Log", {"DefaultValue": "WARN"}]}, "x")
        == "WARN"
    )
    with pytest.raises(TemplateError, match=r"has no qa\.Log"):
        r.resolve({"Fn::FindInMap": ["Levels", "qa", "Log"]}, "x")
    with pytest.raises(TemplateError, match="unknown mapping"):
        r.resolve({"Fn::FindInMap": ["Nope", "a", "b"]}, "x")


def test_unresolvable_things_fail_loudly_with_their_place() -> None:
    r = make_resolver()
    where = "Resources.Fn.Properties.Environment.Variables.X"
    with pytest.raises(TemplateError, match=rf"{where}.*'Tabel'"):
        r.resolve({"Ref": "Tabel"}, where)
    with pytest.raises(TemplateError, match="cannot be resolved by the local cloud"):
        r.resolve({"Fn::ImportValue": "shared"}, where)
    with pytest.raises(TemplateError, match="unsupported pseudo parameter"):
        r.resolve({"Ref": "AWS::Unknown"}, where)
    with pytest.raises(TemplateError, match=r"no Queue\.Nope"):
        r.resolve({"Fn::Sub": "${Queue.Nope}"}, where)


def test_to_string_coercion() -> None:
    assert to_string(True, "x") == "true"
    assert to_string(5, "x") == "5"
    assert to_string(1.5, "x") == "1.5"
    with pytest.raises(TemplateError, match="expected a string"):
        to_string({"a": 1}, "x")


def _template(text: str) -> Template:
    return build_template(parse_template_text(text), Path("/t.yaml"))


def test_plain_values_pass_through() -> None:
    r = Resolver(_template("Resources: {}"), ref=_no_ref, get_att=_no_att)
    value = {"a": [1, 2.5, None, "s", {"b": False}]}
    assert r.resolve(value, "x") == value
