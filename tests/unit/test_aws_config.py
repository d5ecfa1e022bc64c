"""`parley.aws.management_endpoint` and `parley.config` (environment parsing, `require`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parley import config
from parley.aws import management_endpoint
from pydantic import ValidationError

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
        ("PARLEY_MAX_GROUP_SIZE", "1"),
        ("PARLEY_FANOUT_BATCH_USERS", "0"),
    ],
)
def test_out_of_range_values_fail_at_start(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # GIVEN a numeric setting that is not a number or out of its range
    # WHEN the settings are read
    # THEN reading fails (at cold start, not later)
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
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
