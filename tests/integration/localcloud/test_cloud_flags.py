"""Feature flags through a real worker: a function of the flags fixture template reads them
with Powertools' AppConfigStore (cached for the template's FeatureFlagsCacheSeconds, 1 s
here) from the AppConfigData emulation; the template's hosted content is served,
`PUT /_local/flags` changes what the worker sees, `flags=` replaces the template's content
(docs/local-development.md, Feature flags)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from parley_local import LocalCloud
from parley_local.cli import banner
from parley_local.cloud import LOCAL_FLAGS_CACHE_SECONDS

from tests.integration.localcloud.helpers import FIXTURE, make_cloud, stop_and_check

TEMPLATE = FIXTURE / "flags" / "template.yaml"
GREETING_OFF = {"greeting": {"default": False}}


@pytest.fixture(scope="module")
def flags_cloud() -> Iterator[LocalCloud]:
    instance = make_cloud(
        TEMPLATE, workers=1, parameter_overrides={"FeatureFlagsCacheSeconds": "1"}
    ).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def _flag(cloud: LocalCloud, name: str, user: str) -> Any:
    response = requests.get(f"{cloud.http_url}/flags/{name}", params={"user": user}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_the_worker_reads_the_templates_hosted_flags(flags_cloud: LocalCloud) -> None:
    # GIVEN the template's hosted content: greeting off, on for alice
    # WHEN the function evaluates it for alice and for bob
    # THEN each gets what the rules say
    assert _flag(flags_cloud, "greeting", "alice") is True
    assert _flag(flags_cloud, "greeting", "bob") is False
    # AND the banner says where the flags come from and where they are served
    text = banner(flags_cloud)
    assert "Flags       template (FlagsVersion)" in text
    assert f"AppConfigData at {flags_cloud.appconfigdata_url}" in text
    assert f"GET/PUT {flags_cloud.http_url}/_local/flags" in text


def test_a_flag_put_while_running_reaches_the_worker_within_its_ttl(
    flags_cloud: LocalCloud,
) -> None:
    original = requests.get(f"{flags_cloud.http_url}/_local/flags", timeout=10).json()
    assert _flag(flags_cloud, "greeting", "alice") is True
    try:
        # WHEN greeting is switched off for everyone
        put = requests.put(
            f"{flags_cloud.http_url}/_local/flags", data=json.dumps(GREETING_OFF), timeout=10
        )
        assert put.status_code == 200
        assert put.headers["X-Parley-Flags-Version"] != "1"

        # THEN the worker sees it once its 1 s cache has expired
        deadline = time.monotonic() + 6
        while _flag(flags_cloud, "greeting", "alice"):
            assert time.monotonic() < deadline, "the change did not reach the worker"
            time.sleep(0.3)
        assert flags_cloud.wait_for_log("version 2 from PUT /_local/flags")
    finally:
        requests.put(f"{flags_cloud.http_url}/_local/flags", data=json.dumps(original), timeout=10)


def test_sessions_are_checked_against_the_templates_appconfig(flags_cloud: LocalCloud) -> None:
    client = boto3.client(
        "appconfigdata",
        endpoint_url=flags_cloud.appconfigdata_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # GIVEN the application's id (its Ref) and its name
    app_id = flags_cloud.ref("FlagsApplication")
    # WHEN a session names either THEN it starts
    for application in (app_id, "fixture"):
        started = client.start_configuration_session(
            ApplicationIdentifier=application,
            EnvironmentIdentifier="local",
            ConfigurationProfileIdentifier="features",
        )
        assert started["InitialConfigurationToken"]
    # WHEN one names a profile the template does not define THEN it is not found
    with pytest.raises(ClientError) as raised:
        client.start_configuration_session(
            ApplicationIdentifier=app_id,
            EnvironmentIdentifier="local",
            ConfigurationProfileIdentifier="other",
        )
    assert raised.value.response["ResourceType"] == "ConfigurationProfile"


def test_flags_given_at_start_replace_the_templates(tmp_path: Path) -> None:
    # GIVEN a flags file with greeting off
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(GREETING_OFF))
    # WHEN the cloud starts with it
    cloud = make_cloud(TEMPLATE, workers=1, flags=str(path)).start()
    try:
        # THEN it is what the worker reads and what the banner names
        assert _flag(cloud, "greeting", "alice") is False
        assert f"Flags       --flags {path}" in banner(cloud)
        assert requests.get(f"{cloud.http_url}/_local/flags", timeout=10).json() == GREETING_OFF
        # AND, not told otherwise, the functions keep the flags for the local cloud's 5 s
        assert cloud.stack is not None
        environment = cloud.stack.functions["FlagFunction"].environment
        assert environment["FLAGS_MAX_AGE"] == str(LOCAL_FLAGS_CACHE_SECONDS) == "5"
    finally:
        stop_and_check(cloud)
