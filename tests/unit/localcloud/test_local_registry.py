"""The registry of resource builders: a resource family is a module that registers itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley_local.builder import StackBuilder
from parley_local.resources import registry
from parley_local.resources.registry import Phase, Realised
from parley_local.resources.sqs import create_queue
from parley_local.template import Resource, build_template, load_template, parse_template_text

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "localcloud" / "template.yaml"


def test_builders_are_found_by_resource_type() -> None:
    # WHEN builders are looked up by type
    # THEN a data resource has its builder and its moto service, a type with no local
    # meaning has neither
    assert registry.creator("AWS::SQS::Queue") is create_queue
    assert registry.service("AWS::SQS::Queue") == "sqs"
    assert registry.service("AWS::Serverless::SimpleTable") == "dynamodb"
    assert registry.creator("AWS::CloudWatch::Alarm") is None
    assert registry.service("AWS::Serverless::Function") is None


def test_the_services_a_template_needs_come_from_the_registry() -> None:
    # GIVEN the fixture template (tables, queues, secrets, an SNS topic, functions, APIs)
    template = load_template(FIXTURE)
    # WHEN the services to start in moto are asked for
    # THEN they are exactly those of its data resources, sorted
    assert registry.services(template) == ("dynamodb", "secretsmanager", "sqs")


def test_a_type_has_one_builder() -> None:
    # WHEN a second builder is registered for a type that has one
    # THEN the registry refuses it
    with pytest.raises(ValueError, match="AWS::SQS::Queue has two builders"):
        registry.creates("AWS::SQS::Queue")(create_queue)


def test_assemblers_run_by_phase_then_registration_order() -> None:
    # WHEN the assemblers are listed
    names = [assemble.__name__ for assemble in registry.assemblers()]
    # THEN function specs come first, the WebSocket API before the HTTP APIs, and event
    # sources last (the start-up warnings keep that order)
    assert names == [
        "assemble_functions",
        "assemble_websocket_api",
        "assemble_http_apis",
        "warn_unsupported_events",
        "assemble_event_sources",
    ]
    assert {"SQS", "HttpApi"} <= registry.event_types()


def test_a_new_resource_family_is_a_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a builder and an assembler registered for a type the local cloud does not know
    # (on copies of the registry, so that other tests do not see them)
    monkeypatch.setattr(registry, "_CREATORS", dict(registry._CREATORS))
    monkeypatch.setattr(registry, "_ASSEMBLERS", list(registry._ASSEMBLERS))
    assembled: list[str] = []

    @registry.creates("Test::Local::Widget")
    def create_widget(builder: StackBuilder, res: Resource) -> Realised:
        return Realised(f"widget-{res.logical_id}", {"Size": builder.prop(res, "Size")})

    @registry.assembles(Phase.EVENT_SOURCES)
    def assemble_widgets(builder: StackBuilder) -> None:
        assembled.extend(r.logical_id for r in builder.active_of_type("Test::Local::Widget"))

    text = """
Resources:
  Big: {Type: Test::Local::Widget, Properties: {Size: 3}}
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Name: /size, Type: String, Value: !GetAtt Big.Size}
"""
    template = build_template(parse_template_text(text), Path("/t/template.yaml"))
    puts: list[dict[str, object]] = []

    class Ssm:
        def put_parameter(self, **kwargs: object) -> None:
            puts.append(kwargs)

    class Clients:
        def client(self, service: str) -> Ssm:
            assert service == "ssm"
            return Ssm()

    # WHEN the stack is built
    stack = StackBuilder(
        template, Clients(), ws_endpoint="ws://x", http_endpoint="http://x"
    ).build()
    # THEN the new type is realised (its attributes resolve), not ignored, and assembled
    assert stack.refs["Big"] == "widget-Big"
    assert puts[0]["Value"] == "3"
    assert "Test::Local::Widget" not in stack.ignored
    assert assembled == ["Big"]
