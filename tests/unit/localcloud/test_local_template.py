"""Reading templates: CloudFormation short tags and SAM Globals."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley_local.template import (
    TemplateError,
    build_template,
    is_intrinsic,
    load_template,
    parse_template_text,
)


def test_every_short_tag_becomes_its_long_form() -> None:
    # GIVEN a template using each short form
    text = """
    A: !Ref Table
    B: !GetAtt Queue.Arn
    C: !GetAtt [Queue, QueueName]
    D: !GetAtt WebSocketApi.ApiEndpoint.Extra
    E: !Sub "${AWS::Region}-x"
    F: !Sub ["${N}", {N: !Ref P}]
    G: !Join [",", [a, b]]
    H: !Select [0, !Split [",", "a,b"]]
    I: !If [Cond, yes, no]
    J: !Equals [a, b]
    K: !Not [!Condition C1]
    L: !And [!Condition C1, !Condition C2]
    M: !Or [!Condition C1, !Condition C2]
    N: !FindInMap [Map, Top, Second]
    O: !Base64 text
    P: !GetAZs ""
    Q: !ImportValue other
    """
    # WHEN it is parsed
    data = parse_template_text(text)
    # THEN every tag is CloudFormation's long form
    assert data["A"] == {"Ref": "Table"}
    assert data["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert data["C"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert data["D"] == {"Fn::GetAtt": ["WebSocketApi", "ApiEndpoint.Extra"]}
    assert data["E"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert data["F"] == {"Fn::Sub": ["${N}", {"N": {"Ref": "P"}}]}
    assert data["G"] == {"Fn::Join": [",", ["a", "b"]]}
    assert data["H"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert data["I"] == {"Fn::If": ["Cond", "yes", "no"]}
    assert data["J"] == {"Fn::Equals": ["a", "b"]}
    assert data["K"] == {"Fn::Not": [{"Condition": "C1"}]}
    assert data["L"] == {"Fn::And": [{"Condition": "C1"}, {"Condition": "C2"}]}
    assert data["M"] == {"Fn::Or": [{"Condition": "C1"}, {"Condition": "C2"}]}
    assert data["N"] == {"Fn::FindInMap": ["Map", "Top", "Second"]}
    assert data["O"] == {"Fn::Base64": "text"}
    assert data["P"] == {"Fn::GetAZs": ""}
    assert data["Q"] == {"Fn::ImportValue": "other"}


def test_json_templates_parse_too() -> None:
    # GIVEN a JSON template (JSON is YAML)
    data = parse_template_text('{"Resources": {"T": {"Type": "AWS::SQS::Queue"}}}')
    # THEN it reads as a mapping
    assert data["Resources"]["T"]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "mapping at the top level"),
        ("a: [unclosed\n", "not valid YAML"),
        ("A: !GetAtt NoDot\n", "Resource.Attribute"),
    ],
)
def test_bad_templates_fail_loudly(text: str, message: str) -> None:
    # WHEN a malformed template is parsed THEN the error says what is wrong
    with pytest.raises(TemplateError, match=message):
        parse_template_text(text)


def test_globals_merge_like_sam() -> None:
    # GIVEN Globals with maps, lists and scalars, and a function overriding some
    data = parse_template_text(
        """
        Globals:
          Function:
            Timeout: 10
            Layers: [!Ref L1]
            Environment:
              Variables: {A: "1", B: "2"}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Timeout: 3
              Layers: [!Ref L2]
              Environment:
                Variables: {B: "override", C: "3"}
          Table:
            Type: AWS::DynamoDB::Table
            Properties: {}
        """
    )
    # WHEN the template is built
    template = build_template(data, Path("/tmp/template.yaml"))
    props = template.resources["Fn"].properties
    # THEN maps merge (function wins), lists add up, scalars are overridden
    assert props["Timeout"] == 3
    assert props["Layers"] == [{"Ref": "L1"}, {"Ref": "L2"}]
    assert props["Environment"]["Variables"] == {"A": "1", "B": "override", "C": "3"}
    # AND resources of other types get no Function globals
    assert template.resources["Table"].properties == {}


def test_a_resource_without_type_is_an_error() -> None:
    # GIVEN a resource with no Type THEN building names it
    with pytest.raises(TemplateError, match=r"Resources\.Broken"):
        build_template({"Resources": {"Broken": {"Properties": {}}}}, Path("/t.yaml"))


def test_depends_on_and_condition_are_kept() -> None:
    data = {
        "Resources": {
            "A": {"Type": "AWS::SQS::Queue", "DependsOn": "B", "Condition": "IsProd"},
            "B": {"Type": "AWS::SQS::Queue", "DependsOn": ["C"]},
        }
    }
    template = build_template(data, Path("/t.yaml"))
    assert template.resources["A"].depends_on == ["B"]
    assert template.resources["A"].condition == "IsProd"
    assert template.resources["B"].depends_on == ["C"]


def test_load_template_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template"):
        load_template(tmp_path / "missing.yaml")


def test_is_intrinsic() -> None:
    assert is_intrinsic({"Ref": "X"})
    assert is_intrinsic({"Fn::Sub": "x"})
    assert is_intrinsic({"Condition": "C"})
    assert not is_intrinsic({"Variables": {}})
    assert not is_intrinsic({"Ref": "X", "Other": 1})


def test_only_true_and_false_are_booleans() -> None:
    # GIVEN YAML 1.1 style words that PyYAML would read as booleans
    data = parse_template_text("A: yes\nB: off\nC: true\nD: False\nE: 'no'\n")
    # THEN they stay strings, as a developer writing `FEATURE: yes` means
    assert data == {"A": "yes", "B": "off", "C": True, "D": False, "E": "no"}
