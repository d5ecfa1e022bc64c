"""Feature flags in the local cloud: the AppConfigData emulation through a real boto3
client and Powertools, the flags document's checks, `--flags`, and the template's AppConfig
resources (docs/local-development.md, Feature flags)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aiohttp import web
from aws_lambda_powertools.utilities.feature_flags import AppConfigStore, FeatureFlags
from botocore.exceptions import ClientError
from parley_local import appconfigdata
from parley_local.appconfigdata import AppConfigDataServer
from parley_local.cli import build_flags_parser, build_parser, flags_main, main
from parley_local.flags import (
    FlagsError,
    FlagStore,
    initial_flags,
    load_flags,
    parse_flags,
    validate_flags,
)
from parley_local.logs import LogSink

from tests.unit.localcloud.test_local_stack import build, write

APP, ENV, PROFILE = "parley", "dev", "features"
RICH = {"rich-messages": {"default": True}}


@dataclass
class Emulation:
    url: str
    store: FlagStore

    def client(self) -> Any:
        return boto3.client(
            "appconfigdata",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def session(self, **extra: Any) -> tuple[Any, str]:
        client = self.client()
        started = client.start_configuration_session(
            ApplicationIdentifier=APP,
            EnvironmentIdentifier=ENV,
            ConfigurationProfileIdentifier=PROFILE,
            **extra,
        )
        return client, started["InitialConfigurationToken"]


def _serve(server: AppConfigDataServer) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    runner = web.AppRunner(server.app())

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        sock.close()


@pytest.fixture
def emulation() -> Iterator[Emulation]:
    store = FlagStore(RICH, "test")
    known = ({APP, "a1b2c3d"}, {ENV}, {PROFILE})
    server = AppConfigDataServer(store, LogSink(io.StringIO()), known)
    for url in _serve(server):
        yield Emulation(url, store)


# ---------------------------------------------------------------- the two calls


def test_a_session_gets_the_document_then_nothing_until_it_changes(emulation: Emulation) -> None:
    # GIVEN a session on the served application, environment and profile
    client, token = emulation.session()

    # WHEN it asks for the latest configuration the first time
    first = client.get_latest_configuration(ConfigurationToken=token)

    # THEN it gets the document as JSON, a next token and AWS's default poll interval
    assert json.loads(first["Configuration"].read()) == RICH
    assert first["ContentType"] == "application/json"
    assert first["NextPollIntervalInSeconds"] == 60
    assert first["NextPollConfigurationToken"] not in ("", token)

    # WHEN it polls again with the next token and nothing changed
    same = client.get_latest_configuration(ConfigurationToken=first["NextPollConfigurationToken"])

    # THEN the body is empty (the client keeps what it has)
    assert same["Configuration"].read() == b""

    # WHEN the flags are replaced and it polls again
    emulation.store.replace({"rich-messages": {"default": False}}, "test")
    changed = client.get_latest_configuration(ConfigurationToken=same["NextPollConfigurationToken"])

    # THEN it gets the new document, once
    assert json.loads(changed["Configuration"].read()) == {"rich-messages": {"default": False}}
    again = client.get_latest_configuration(
        ConfigurationToken=changed["NextPollConfigurationToken"]
    )
    assert again["Configuration"].read() == b""


def test_the_session_minimum_poll_interval_is_what_it_is_told(emulation: Emulation) -> None:
    # GIVEN a session that asks for at least 15 s between polls
    client, token = emulation.session(RequiredMinimumPollIntervalInSeconds=15)
    # WHEN it polls
    answer = client.get_latest_configuration(ConfigurationToken=token)
    # THEN the next interval is its minimum
    assert answer["NextPollIntervalInSeconds"] == 15


def test_an_id_is_accepted_as_well_as_a_name(emulation: Emulation) -> None:
    # WHEN a session names the application by its id
    started = emulation.client().start_configuration_session(
        ApplicationIdentifier="a1b2c3d",
        EnvironmentIdentifier=ENV,
        ConfigurationProfileIdentifier=PROFILE,
    )
    # THEN it is started
    assert started["InitialConfigurationToken"]


def test_a_token_it_never_issued_is_a_bad_request_with_the_real_shape(
    emulation: Emulation,
) -> None:
    # WHEN a client polls with a made-up token
    with pytest.raises(ClientError) as raised:
        emulation.client().get_latest_configuration(ConfigurationToken="not-a-token")

    # THEN it is AppConfigData's BadRequestException, naming the parameter and its problem
    error = raised.value.response
    assert error["Error"]["Code"] == "BadRequestException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Reason"] == "InvalidParameters"
    assert error["Details"] == {
        "InvalidParameters": {"ConfigurationToken": {"Problem": "Corrupted"}}
    }


def test_an_unknown_application_is_not_found(emulation: Emulation) -> None:
    # WHEN a session names an application the template does not define
    with pytest.raises(ClientError) as raised:
        emulation.client().start_configuration_session(
            ApplicationIdentifier="elsewhere",
            EnvironmentIdentifier=ENV,
            ConfigurationProfileIdentifier=PROFILE,
        )
    # THEN it is ResourceNotFoundException, saying which parameter named what
    error = raised.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResourceType"] == "Application"
    assert error["ReferencedBy"] == {"ApplicationIdentifier": "elsewhere"}


def test_without_appconfig_in_the_template_any_identifiers_are_served() -> None:
    # GIVEN an emulation with nothing to check identifiers against
    server = AppConfigDataServer(FlagStore({}, "test"), LogSink(io.StringIO()), None)
    for url in _serve(server):
        emulation = Emulation(url, server.store)
        # WHEN a session names anything
        client, token = emulation.session()
        # THEN it gets the (empty) document
        answer = client.get_latest_configuration(ConfigurationToken=token)
        assert json.loads(answer["Configuration"].read()) == {}


def test_powertools_reads_the_flags_and_sees_a_change_after_its_cache(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Powertools' AppConfigStore as a worker builds it, its endpoint the emulation's
    monkeypatch.setenv("AWS_ENDPOINT_URL_APPCONFIGDATA", emulation.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = AppConfigStore(environment=ENV, application=APP, name=PROFILE, max_age=0)
    flags = FeatureFlags(store=store)
    assert flags.evaluate(name="rich-messages", default=False) is True

    # WHEN the flag is switched off
    emulation.store.replace({"rich-messages": {"default": False}}, "test")

    # THEN the next evaluation past the (zero) cache TTL sees it off
    assert flags.evaluate(name="rich-messages", default=True) is False


# ---------------------------------------------------------------- the document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a JSON object of flags is expected, not an array"),
        ({"a": True}, "flag 'a' is a boolean, not an object"),
        ({"a": {"rules": {}}}, "flag 'a' has no 'default'"),
        ({"a": {"default": True, "rules": []}}, "'rules' is an array, not an object"),
        (None, "not null"),
        (  # Powertools' own schema: MODULO_RANGE's keys are upper case
            {
                "a": {
                    "default": False,
                    "rules": {
                        "share": {
                            "when_match": True,
                            "conditions": [
                                {
                                    "action": "MODULO_RANGE",
                                    "key": "bucket",
                                    "value": {"base": 100, "start": 0, "end": 9},
                                }
                            ],
                        }
                    },
                }
            },
            "'MODULO_RANGE' action must have .* 'BASE', 'START' and 'END' keys, rule=share",
        ),
    ],
)
def test_a_document_that_is_not_feature_flags_is_refused(document: Any, message: str) -> None:
    with pytest.raises(FlagsError, match=message):
        validate_flags(document)


def test_text_and_files_are_parsed_and_their_errors_name_them(tmp_path: Path) -> None:
    assert parse_flags(json.dumps(RICH)) == RICH
    with pytest.raises(FlagsError, match="body: not JSON"):
        parse_flags("{", "body")
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(RICH))
    assert load_flags(path) == RICH
    with pytest.raises(FlagsError, match=r"missing\.json"):
        load_flags(tmp_path / "missing.json")


def test_each_replacement_is_a_new_version_and_a_bad_one_changes_nothing() -> None:
    store = FlagStore({}, "start")
    assert (store.current.number, store.current.source) == (1, "start")
    assert store.replace(RICH, "PUT").number == 2
    with pytest.raises(FlagsError):
        store.replace({"a": {}}, "PUT")
    assert (store.current.number, store.document()) == (2, RICH)


def test_what_is_served_at_start_is_the_override_else_the_template_else_nothing() -> None:
    hosted = json.dumps(RICH)
    # GIVEN --flags THEN it wins over the template's content
    assert initial_flags(({}, "--flags f.json"), hosted, "template (V)") == (
        {},
        "--flags f.json",
        None,
    )
    # GIVEN only the template's content THEN it is served, named after its resource
    assert initial_flags(None, hosted, "template (V)") == (RICH, "template (V)", None)
    # GIVEN neither THEN an empty document: every flag at its default
    assert initial_flags(None, None, "")[:2] == ({}, "none in the template: empty document")
    # GIVEN content that is not a flags document THEN {} is served, with a warning
    document, source, warning = initial_flags(None, '{"a": 1}', "template (V)")
    assert (document, source) == ({}, "template (V), unusable: empty document")
    assert warning == "template (V): flag 'a' is a number, not an object; serving {}"


def test_the_cli_refuses_bad_flags_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a flags file whose flag has no default
    bad = tmp_path / "flags.json"
    bad.write_text(json.dumps({"typing": {"rules": {}}}))
    assert build_parser().parse_args(["--flags", str(bad)]).flags == str(bad)
    # WHEN `make dev ARGS="--flags FILE"` runs with it
    # THEN it exits 2 with the reason, before starting anything
    assert main(["--flags", str(bad)]) == 2
    assert "flag 'typing' has no 'default'" in capsys.readouterr().err
    # AND so does a missing file
    assert main(["--flags", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_flags_set_refuses_a_bad_file_and_says_when_no_cloud_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_flags_parser().parse_args(["--port", "3000", "get"]).command == "get"
    bad = tmp_path / "flags.json"
    bad.write_text("[]")
    assert main(["flags", "set", str(bad)]) == 2
    assert "JSON object" in capsys.readouterr().err
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert flags_main(["--port", str(port), "get"]) == 1
    assert "no local cloud" in capsys.readouterr().err


# ---------------------------------------------------------------- the template


def test_the_templates_appconfig_resources_name_what_is_served(tmp_path: Path) -> None:
    # GIVEN a template with an AppConfig application, environment, profile and content
    path = write(
        tmp_path,
        """
Resources:
  FlagsApp:
    Type: AWS::AppConfig::Application
    Properties: {Name: parley}
  FlagsEnv:
    Type: AWS::AppConfig::Environment
    Properties: {ApplicationId: !Ref FlagsApp, Name: dev}
  FlagsProfile:
    Type: AWS::AppConfig::ConfigurationProfile
    Properties:
      ApplicationId: !Ref FlagsApp
      Name: features
      LocationUri: hosted
      Type: AWS.AppConfig.FeatureFlags
  FlagsVersion:
    Type: AWS::AppConfig::HostedConfigurationVersion
    Properties:
      ApplicationId: !Ref FlagsApp
      ConfigurationProfileId: !Ref FlagsProfile
      ContentType: application/json
      Content: '{"typing": {"default": true}}'
  FlagsVersionTwo:
    Type: AWS::AppConfig::HostedConfigurationVersion
    Properties:
      ApplicationId: !Ref FlagsApp
      ConfigurationProfileId: !GetAtt FlagsProfile.ConfigurationProfileId
      Content: {typing: {default: false}}
""",
    )
    # WHEN the stack is built
    stack, _, _ = build(path)
    info = stack.appconfig
    # THEN sessions may name each by name or by its 7-character id (its Ref)
    assert info.defined
    assert info.applications == {"parley", stack.refs["FlagsApp"]}
    assert info.environments == {"dev", stack.refs["FlagsEnv"]}
    assert info.profiles == {"features", stack.refs["FlagsProfile"]}
    assert len(stack.refs["FlagsApp"]) == 7
    # AND the first hosted version's content is served, the second is warned about
    assert json.loads(info.content or "") == {"typing": {"default": True}}
    assert info.content_source == "template (FlagsVersion)"
    assert any("only the first hosted configuration" in w for w in stack.warnings)


def test_a_session_without_its_identifiers_or_body_is_a_bad_request(emulation: Emulation) -> None:
    # WHEN a session is asked for with no profile, or with a body that is not JSON
    missing = requests.post(
        f"{emulation.url}/configurationsessions",
        json={"ApplicationIdentifier": APP, "EnvironmentIdentifier": ENV},
        timeout=10,
    )
    garbled = requests.post(f"{emulation.url}/configurationsessions", data=b"{", timeout=10)
    # THEN both are BadRequestException, the first naming the missing parameter
    assert missing.status_code == garbled.status_code == 400
    assert missing.headers["x-amzn-ErrorType"] == "BadRequestException"
    problem = {"ConfigurationProfileIdentifier": {"Problem": "Corrupted"}}
    assert missing.json()["Details"] == {"InvalidParameters": problem}
    assert garbled.json()["Reason"] == "InvalidParameters"


def test_a_token_past_its_lifetime_has_expired(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN tokens that live no time at all
    monkeypatch.setattr(appconfigdata, "TOKEN_LIFETIME_S", 0)
    client, token = emulation.session()
    # WHEN one is used THEN it is refused as expired
    with pytest.raises(ClientError) as raised:
        client.get_latest_configuration(ConfigurationToken=token)
    problem = {"ConfigurationToken": {"Problem": "Expired"}}
    assert raised.value.response["Details"] == {"InvalidParameters": problem}
