"""End to end: `GET /rtc/ice-servers` hands out STUN URLs and short-lived TURN credentials.

TURN is configured through template parameters, so the TURN test runs its own cloud with
`TurnUrls` (and a non-default credential lifetime) set, stopped right after it; the session
cloud, with the template's defaults, has no TURN server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
from parley_client import HttpClient, ParleyError
from parley_local import LocalCloud

from tests.e2e.helpers import make_cloud, run, sign_up, stop_and_check

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TURN_URLS = ["turn:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"]
TURN_TTL = 600
DEFAULT_STUN = ["stun:stun.l.google.com:19302"]


@pytest.fixture
def turn_cloud() -> Iterator[LocalCloud]:
    instance = make_cloud(
        parameter_overrides={
            "TurnUrls": ",".join(TURN_URLS),
            "TurnCredentialTtlSeconds": str(TURN_TTL),
        }
    ).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def test_ice_servers_carry_turn_credentials_in_coturns_scheme(turn_cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN a stack with a TURN server configured, and a signed-in user
        alice = await sign_up(turn_cloud, "alice")

        # WHEN she asks for ICE servers
        before = int(time.time())
        answer = await alice.http.ice_servers()
        after = int(time.time())

        # THEN she gets the STUN URLs and one TURN entry with a username and credential
        assert answer["ttl"] == TURN_TTL
        stun, turn = answer["iceServers"]
        assert stun == {"urls": DEFAULT_STUN}
        assert turn["urls"] == TURN_URLS
        expiry, user = turn["username"].split(":", 1)
        assert user == alice.user_id
        assert before + TURN_TTL <= int(expiry) <= after + TURN_TTL

        # AND the credential is base64(HMAC-SHA1(TURN secret, username)), what a TURN
        # server with `use-auth-secret` computes from the same shared secret
        secret = turn_cloud.client("secretsmanager").get_secret_value(
            SecretId=turn_cloud.ref("TurnSecret")
        )["SecretString"]
        digest = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(digest).decode()

        # AND every user gets their own credential
        bob = await sign_up(turn_cloud, "bob")
        bobs = (await bob.http.ice_servers())["iceServers"][1]
        assert bobs["username"].endswith(":" + bob.user_id)
        assert bobs["credential"] != turn["credential"]

    run(scenario())


def test_without_turn_only_stun_is_offered(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN the template's defaults (no TURN URLs)
        alice = await sign_up(cloud, "alice")
        # WHEN she asks for ICE servers THEN she gets the STUN URLs only
        answer = await alice.http.ice_servers()
        assert answer["iceServers"] == [{"urls": DEFAULT_STUN}]
        assert answer["ttl"] == 3600

    run(scenario())


def test_ice_servers_need_a_token(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        anonymous = HttpClient(cloud.http_url)
        with pytest.raises(ParleyError) as refused:
            await anonymous.request("GET", "/rtc/ice-servers", auth=False)
        assert (refused.value.status, refused.value.code) == (401, 1003)

    run(scenario())
