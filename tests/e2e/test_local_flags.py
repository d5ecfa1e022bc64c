"""Feature flags on the running local cloud (docs/local-development.md, Feature flags).

A function's worker reads the flags through Powertools' `AppConfigStore` from the local
AppConfigData emulation (its `AWS_ENDPOINT_URL_APPCONFIGDATA`); `PUT /_local/flags` (or
`python -m parley_local flags set FILE`) replaces them, and a reader sees the change once
its cache TTL has passed. The cloud is shared: a change made here is scoped by a rule to
this test's own user, or to a flag nothing reads, and the document is restored after.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.feature_flags import AppConfigStore, FeatureFlags
from parley_local import LocalCloud
from parley_local.cli import main
from parley_local.cloud import LOCAL_FLAGS_CACHE_SECONDS

from tests.e2e.helpers import RawSocket, run, sign_up_all

MAX_AGE_S = 1  # the readers' cache TTL here: small, to keep the test fast
PROBE = "localE2eProbe"  # a flag of this test's own: no function reads it


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = requests.request(method, url, data=data, timeout=10)
    return response.status_code, response.json()


def _worker_env(cloud: LocalCloud) -> dict[str, str]:
    """The environment of the function that answers `GET /me`."""
    runtime = cloud.functions.get("UsersFunction") or next(iter(cloud.functions.values()))
    return runtime.environment


def _identifiers(cloud: LocalCloud, env: dict[str, str]) -> tuple[str, str, str]:
    """(application, environment, profile) as the worker names them, else as the template
    does, else anything (a template with no AppConfig application serves any)."""
    names = ("PARLEY_FLAGS_APPLICATION", "PARLEY_FLAGS_ENVIRONMENT", "PARLEY_FLAGS_PROFILE")
    if all(env.get(name) for name in names):
        return env[names[0]], env[names[1]], env[names[2]]
    assert cloud.stack is not None
    info = cloud.stack.appconfig
    if info.defined:
        return min(info.applications), min(info.environments), min(info.profiles)
    return "parley", "local", "features"


@pytest.fixture
def original_flags(cloud: LocalCloud) -> Iterator[dict[str, Any]]:
    """The document served before the test, served again after it (the cloud is shared)."""
    status, document = _http("GET", f"{cloud.http_url}/_local/flags")
    assert status == 200
    try:
        yield document
    finally:
        assert _http("PUT", f"{cloud.http_url}/_local/flags", document)[0] == 200


def test_a_flag_flipped_with_put_is_read_by_powertools_within_its_ttl(
    cloud: LocalCloud, original_flags: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Powertools' AppConfigStore built as a function's worker builds it: its endpoint
    # and identifiers from the worker's environment, a 1 s cache
    env = _worker_env(cloud)
    assert env["AWS_ENDPOINT_URL_APPCONFIGDATA"] == cloud.appconfigdata_url
    for name in ("AWS_ENDPOINT_URL_APPCONFIGDATA", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("AWS_DEFAULT_REGION", env["AWS_REGION"])
    application, environment, profile = _identifiers(cloud, env)
    store = AppConfigStore(
        environment=environment, application=application, name=profile, max_age=MAX_AGE_S
    )
    flags = FeatureFlags(store=store)
    assert store.get_configuration() == original_flags
    assert flags.evaluate(name=PROBE, default=False) is False

    # WHEN the probe flag is switched on with PUT /_local/flags
    on = {**original_flags, PROBE: {"default": True}}
    status, served = _http("PUT", f"{cloud.http_url}/_local/flags", on)
    assert (status, served) == (200, on)

    # THEN the reader sees it on once its cache has expired, and GET shows it
    deadline = time.monotonic() + MAX_AGE_S + 5
    while not flags.evaluate(name=PROBE, default=False):
        assert time.monotonic() < deadline, "the flag change was not seen within the TTL"
        time.sleep(0.2)
    assert _http("GET", f"{cloud.http_url}/_local/flags") == (200, on)


def test_a_bad_document_is_refused_and_changes_nothing(
    cloud: LocalCloud, original_flags: dict[str, Any]
) -> None:
    # WHEN a flag without a default is PUT
    status, answer = _http("PUT", f"{cloud.http_url}/_local/flags", {PROBE: {"rules": {}}})
    # THEN it is refused with the reason, and the served document is unchanged
    assert status == 400
    assert f"flag '{PROBE}' has no 'default'" in answer["message"]
    assert _http("GET", f"{cloud.http_url}/_local/flags") == (200, original_flags)


def test_the_cli_sets_and_shows_the_running_clouds_flags(
    cloud: LocalCloud,
    original_flags: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a flags file
    document = {**original_flags, PROBE: {"default": False}}
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(document))
    port = str(cloud.http_port)

    # WHEN `python -m parley_local flags set FILE --port N` runs
    assert main(["flags", "--port", port, "set", str(path)]) == 0
    assert "served" in capsys.readouterr().out

    # THEN `flags get` prints the document now served
    assert main(["flags", "--port", port, "get"]) == 0
    assert json.loads(capsys.readouterr().out) == document


def _off_for(document: dict[str, Any], flag: str, user_id: str) -> dict[str, Any]:
    """`document` with `flag` off for `user_id` only (a rule ahead of its own ones)."""
    current = document.get(flag, {"default": True})
    rule = {
        "when_match": False,
        "conditions": [{"action": "EQUALS", "key": "userId", "value": user_id}],
    }
    rules = {f"off for {user_id}": rule, **current.get("rules", {})}
    return {**document, flag: {**current, "rules": rules}}


def test_typing_switched_off_for_a_user_is_seen_by_get_me_and_the_socket_within_the_ttl(
    cloud: LocalCloud, original_flags: dict[str, Any]
) -> None:
    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        async with await RawSocket.open(cloud, alice.token) as socket:
            ack = await socket.request(
                {
                    "action": "send",
                    "to": bob.user_id,
                    "clientMsgId": "flags-1",
                    "body": {"type": "text", "text": "hi"},
                }
            )
            assert ack["type"] == "ack", ack
            typing = {"action": "typing", "conversationId": ack["conversationId"]}
            assert (await alice.http.me())["features"]["typing"] is True

            # WHEN typing is switched off for alice alone, on the running cloud
            off = _off_for(original_flags, "typing", alice.user_id)
            assert _http("PUT", f"{cloud.http_url}/_local/flags", off)[0] == 200
            changed = time.monotonic()

            # THEN within the functions' cache TTL GET /me says so
            deadline = changed + LOCAL_FLAGS_CACHE_SECONDS + 10
            while (await alice.http.me())["features"]["typing"]:
                assert time.monotonic() < deadline, "GET /me did not see the change"
                await asyncio.sleep(0.3)
            # AND her typing frames are refused with 1007, naming the feature
            while True:
                try:
                    reply = await socket.request({**typing, "state": "start"}, timeout=1)
                except TimeoutError:  # still on in this function's cache: no reply
                    assert time.monotonic() < deadline, "typing was not switched off"
                    continue
                break
            assert (reply["type"], reply["code"]) == ("error", 1007), reply
            assert "typing" in reply["message"]
            # AND bob, whom the rule does not name, keeps it
            assert (await bob.http.me())["features"]["typing"] is True

    run(scenario())
