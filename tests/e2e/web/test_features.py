"""The web client follows `GET /me` `features` (docs/protocol.md section 15): what the
server has off for a user is not offered, so the UI never invites a 1001 or 1007."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from parley_local import LocalCloud
from parley_local.cloud import LOCAL_FLAGS_CACHE_SECONDS

from tests.e2e.web.test_browser import register, send, start_dm

pytestmark = pytest.mark.e2e

PREFIX = "nofeat"  # the users of this test the rule below turns features off for


def _flags(cloud: LocalCloud, method: str, document: Any = None) -> Any:
    response = requests.request(
        method,
        f"{cloud.http_url}/_local/flags",
        data=None if document is None else json.dumps(document),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def features_off(web_cloud: LocalCloud) -> Iterator[None]:
    """`reaction`, `file` and `typing` off for userIds starting with PREFIX (the cloud is
    shared: nobody else matches), the served document restored after."""
    original = _flags(web_cloud, "GET")
    rule = {
        "when_match": False,
        "conditions": [{"action": "STARTSWITH", "key": "userId", "value": PREFIX}],
    }
    changed = dict(original)
    for name in ("reaction", "file", "typing"):
        flag = dict(original.get(name, {"default": True}))
        flag["rules"] = {**flag.get("rules", {}), f"off for {PREFIX}": rule}
        changed[name] = flag
    _flags(web_cloud, "PUT", changed)
    # Functions read the flags through a cache of LOCAL_FLAGS_CACHE_SECONDS.
    time.sleep(LOCAL_FLAGS_CACHE_SECONDS + 1)
    try:
        yield
    finally:
        _flags(web_cloud, "PUT", original)


def test_features_off_for_a_user_are_not_offered(
    new_page: Callable[[], Any], features_off: None
) -> None:
    # GIVEN a user whose reactions, files and typing are off, and one with everything on
    pages = [new_page(), new_page()]
    off_user = register(pages[0], PREFIX)
    on_user = register(pages[1], "feat")
    # WHEN each opens their direct conversation, the first sending a line
    start_dm(pages[0], on_user)
    send(pages[0], "no reactions here")
    start_dm(pages[1], off_user)
    pages[1].locator("#messages .message .text", has_text="no reactions here").wait_for()
    # THEN the first is offered neither the attach button nor the reaction button
    off, on = pages
    assert off.locator("#attach").count() == 0
    assert off.locator("#messages .message .react").count() == 0
    # AND still replies (not gated)
    assert off.locator("#messages .message .reply").count() >= 1
    # AND the other user, everything on, is offered both
    assert on.locator("#attach").count() == 1
    assert on.locator("#messages .message .react").count() >= 1
