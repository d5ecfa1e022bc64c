"""`parley.aws.management_endpoint` and `parley.config` (environment parsing, bounds, rules,
`require`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parley import config
from parley.aws import management_endpoint
from parley.config import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]

# ---- management endpoint -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "stage", "expected"),
    [
        (
            "wss://abc123.execute-api.eu-west-1.amazonaws.com",
            "v1",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
        ),
        (
            "wss://abc123.execute-api.eu-west-1.amazonaws.com/",
            "v1",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
        ),
        ("ws://127.0.0.1:3001", "local", "http://127.0.0.1:3001/local"),
        ("ws://127.0.0.1:3001//", "local", "http://127.0.0.1:3001/local"),
        ("https://already.example.com/", "prod", "https://already.example.com/prod"),
        ("http://localhost:4566", "v1", "http://localhost:4566/v1"),
    ],
)
def test_management_endpoint(endpoint: str, stage: str, expected: str) -> None:
    # GIVEN a WebSocket API endpoint (AWS wss://, local ws://, or already http(s)), maybe with
    # trailing slashes
    # WHEN the @connections endpoint is built for a stage
    # THEN the scheme is mapped (wss->https, ws->http) and exactly one slash precedes the stage
    assert management_endpoint(endpoint, stage) == expected


def test_management_endpoint_keeps_the_host_intact() -> None:
    # GIVEN a host that contains "ws" in its name
    # WHEN the endpoint is built
    # THEN only the scheme changes
    assert management_endpoint("wss://wss.example.com", "v1") == "https://wss.example.com/v1"


# ---- settings ----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    import os

    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)
    config.settings.cache_clear()
    yield monkeypatch
    config.settings.cache_clear()


def test_defaults_without_environment(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN no PARLEY_* variables
    # WHEN the settings are read
    # THEN resource names are unset and the documented defaults apply
    s = config.settings()
    assert s.users_table is None
    assert s.push_queue_url is None
    assert (s.jwt_issuer, s.jwt_audience) == ("parley", "parley-clients")
    assert s.access_token_ttl == 900
    assert s.refresh_token_ttl == 30 * 86400
    assert s.inline_fanout_max == 50
    assert s.fanout_batch_users == 100
    assert s.max_group_size == 10_000


def test_environment_is_parsed(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN PARLEY_* variables (numbers as strings, as the environment holds them)
    # WHEN the settings are read
    # THEN each lands in its field with its type
    clean_env.setenv("PARLEY_USERS_TABLE", "users-t")
    clean_env.setenv("PARLEY_ACCESS_TOKEN_TTL", "600")
    clean_env.setenv("PARLEY_MAX_GROUP_SIZE", "250")
    clean_env.setenv("PARLEY_JWT_ISSUER", "me")
    clean_env.setenv("PARLEY_WS_STAGE", "v1")
    s = config.settings()
    assert s.users_table == "users-t"
    assert s.access_token_ttl == 600
    assert s.max_group_size == 250
    assert s.jwt_issuer == "me"
    assert s.ws_stage == "v1"


def test_empty_variables_count_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN a PARLEY_* variable set to the empty string
    # WHEN the settings are read
    # THEN the default applies (CloudFormation passes "" for unset parameters)
    clean_env.setenv("PARLEY_ACCESS_TOKEN_TTL", "")
    clean_env.setenv("PARLEY_USERS_TABLE", "")
    s = config.settings()
    assert s.access_token_ttl == 900
    assert s.users_table is None


def test_unknown_variables_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN a PARLEY_* variable no setting knows
    # WHEN the settings are read
    # THEN it is ignored
    clean_env.setenv("PARLEY_HTTP_PORT", "3000")
    assert config.settings().access_token_ttl == 900


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARLEY_ACCESS_TOKEN_TTL", "soon"),
        ("PARLEY_ACCESS_TOKEN_TTL", "59"),
        ("PARLEY_ACCESS_TOKEN_TTL", "86401"),
        ("PARLEY_ACCESS_TOKEN_TTL", "1.5"),
        ("PARLEY_ACCESS_TOKEN_TTL", "²"),
        ("PARLEY_MAX_GROUP_SIZE", "1"),
        ("PARLEY_FANOUT_BATCH_USERS", "0"),
        ("PARLEY_LOG_BODIES", "maybe"),
        ("PARLEY_ERASE_DELAY_SECONDS", "901"),  # SQS delays at most 900 s
        ("PARLEY_ERASE_DELAY_SECONDS", "-1"),
    ],
)
def test_out_of_range_values_fail_at_start(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # GIVEN a numeric setting that is not a number or out of its range
    # WHEN the settings are read
    # THEN reading fails (at cold start, not later), naming the variable
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        config.settings()


def test_settings_are_read_once(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN settings already read
    # WHEN the environment changes
    # THEN the same settings object is returned (cold-start read)
    first = config.settings()
    clean_env.setenv("PARLEY_USERS_TABLE", "late")
    assert config.settings() is first


def test_require_returns_the_settings_when_present() -> None:
    # GIVEN settings with the needed names
    # WHEN they are required
    # THEN the same settings come back
    s = config.Settings(users_table="u", sessions_table="s")
    assert s.require("users_table", "sessions_table") is s


def test_require_names_the_missing_variables() -> None:
    # GIVEN settings lacking two resource names
    # WHEN they are required
    # THEN the error names both PARLEY_* variables, and not the present one
    s = config.Settings(users_table="u")
    with pytest.raises(RuntimeError) as caught:
        s.require("users_table", "messages_table", "push_queue_url")
    message = str(caught.value)
    assert "PARLEY_MESSAGES_TABLE" in message
    assert "PARLEY_PUSH_QUEUE_URL" in message
    assert "PARLEY_USERS_TABLE" not in message


def test_values_are_parsed_as_the_environment_writes_them() -> None:
    # GIVEN integers with spaces and signs, booleans in their usual spellings, an unknown key
    values = {"turn_ttl": " 600 ", "inline_fanout_max": "+0", "log_bodies": "Yes", "x": "1"}
    # WHEN the settings are built from them
    s = Settings.from_mapping(values)
    # THEN each field has its type and unknown keys are ignored
    assert (s.turn_ttl, s.inline_fanout_max, s.log_bodies) == (600, 0, True)
    assert Settings.from_mapping({"log_bodies": "off"}).log_bodies is False
    assert Settings.from_mapping({"jwt_issuer": " me "}).jwt_issuer == " me "


def test_every_problem_is_reported_at_once() -> None:
    # GIVEN a value that does not parse, one out of its bounds and an OIDC rule broken
    values = {
        "access_token_ttl": "soon",
        "max_group_size": "1",
        "oidc_issuer": "https://idp.example.test",
        "oidc_jwks_url": "https://idp.example.test/jwks.json",
    }
    # WHEN the settings are built
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping(values)
    # THEN one error names all three problems, each by its variable
    problems = caught.value.problems
    assert len(problems) == 3
    assert "PARLEY_ACCESS_TOKEN_TTL must be an integer, not 'soon'" in problems
    assert "PARLEY_MAX_GROUP_SIZE must be between 2 and 1000000, not 1" in problems
    assert any("PARLEY_OIDC_ISSUER needs" in p for p in problems)
    assert str(caught.value).startswith("3 configuration problems: ")
    assert isinstance(caught.value, ValueError)


def test_typed_construction_checks_the_same_bounds() -> None:
    # GIVEN settings built in code (tests, the schema generator) with a value out of bounds
    # WHEN they are built / THEN the same error is raised
    with pytest.raises(SettingsError, match="PARLEY_TURN_TTL must be between 60 and 86400"):
        Settings(turn_ttl=59)
    assert Settings(turn_ttl=60).turn_ttl == 60


def test_settings_are_frozen_and_comparable() -> None:
    # GIVEN two settings with the same values
    s = Settings(users_table="a")
    # THEN they are equal, hashable, readable and cannot be changed
    assert s == Settings(users_table="a") and s != Settings(users_table="b")
    assert hash(s) == hash(Settings(users_table="a"))
    assert "users_table='a'" in repr(s)
    with pytest.raises(AttributeError):
        s.users_table = "b"  # type: ignore[misc]


def test_reading_the_settings_does_not_import_pydantic() -> None:
    # GIVEN a fresh interpreter with only the layer on sys.path
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from parley import config; "
        "config.settings(); print('pydantic' in sys.modules)"
    )
    # WHEN the settings are read
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "layers" / "parley")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PARLEY_USERS_TABLE": "t", "PARLEY_OIDC_ISSUER": ""},
    )
    # THEN pydantic was never imported
    assert out.stdout.strip() == "False"
