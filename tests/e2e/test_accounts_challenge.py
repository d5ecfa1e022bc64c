"""The registration challenge end to end (protocol 13): a stack with `RegistrationChallenge`
`pow`, the Python client registering through it, and a raw register without a solution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parley_client import HttpClient, ParleyError
from parley_local import LocalCloud

from tests.e2e.helpers import TIMEOUT, make_cloud, run, stop_and_check, uid


@pytest.fixture
def pow_cloud() -> Iterator[LocalCloud]:
    instance = make_cloud(
        parameter_overrides={"RegistrationChallenge": "pow", "ChallengeDifficulty": "12"}
    ).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def test_the_client_solves_the_challenge_and_a_bare_registration_is_refused(
    pow_cloud: LocalCloud,
) -> None:
    async def scenario() -> None:
        http = HttpClient(pow_cloud.http_url, timeout=TIMEOUT)
        # GIVEN a stack that asks a proof of work at registration
        issued = await http.request("GET", "/auth/challenge", auth=False)
        assert issued["difficulty"] == 12 and issued["expiresIn"] > 0
        # WHEN the client registers (it asks, solves and sends the solution)
        user = uid("alice")
        assert await http.register(user, "correct horse battery") == {"userId": user}
        # THEN the account works, and a registration without a solution is 1001
        assert (await http.login(user, "correct horse battery"))["accessToken"]
        body = {"userId": uid("bot"), "password": "correct horse battery"}
        with pytest.raises(ParleyError) as refused:
            await http.request("POST", "/auth/register", body, auth=False)
        assert (refused.value.code, refused.value.status) == (1001, 400)

    run(scenario())
