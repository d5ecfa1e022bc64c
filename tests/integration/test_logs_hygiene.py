"""Logging hygiene: what the functions print (Powertools logs and metrics go to stdout, as
CloudWatch Logs receives them) never holds an access token, a refresh token, a password or
a message's content, on success and on refusal alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import load

PASSWORD = "hunter2-correct-horse-battery"
TEXT = "meet at the old mill 7f3a9c"
CUSTOM = "custom-payload-5e1d0b"


def _forms(secret: str) -> list[str]:
    """The secret as it could appear in a log line: raw, or escaped inside JSON."""
    return sorted({secret, json.dumps(secret)[1:-1]})


def _http(app: Harness, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    return app.http("http_auth", "POST", route, body=body)


def test_no_token_password_or_message_content_reaches_the_logs(
    app: Harness, capsys: pytest.CaptureFixture[str], no_refresh_grace: None
) -> None:
    capsys.readouterr()
    secrets: list[str] = [PASSWORD, TEXT, CUSTOM]

    for user in ("alice", "bob"):
        assert app.register(user, password=PASSWORD)[0] == 201
    first = app.login("alice", PASSWORD)
    bob = app.login("bob", PASSWORD)
    # A refused login carries a (wrong) password too.
    wrong = PASSWORD + "-wrong"
    secrets.append(wrong)
    status, _ = _http(app, "/auth/login", {"userId": "alice", "password": wrong})
    assert status == 401
    status, second = _http(app, "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert status == 200
    # The spent token again: refused, and the login revoked.
    status, _ = _http(app, "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert status == 401
    third = app.login("alice", PASSWORD)
    secrets += [first["accessToken"], first["refreshToken"], second["accessToken"]]
    secrets += [second["refreshToken"], third["accessToken"], third["refreshToken"]]
    secrets += [bob["accessToken"], bob["refreshToken"]]

    # Harness.connect puts the newest access token in the handshake's query string.
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    # A revoked token at the handshake: refused, and still not logged.
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        load("authorizer").handler(events.authorizer_event(first["accessToken"]), CONTEXT)

    assert app.send("alice", "a1", to="bob", client_id="m1", text=TEXT)["type"] == "ack"
    custom = {
        "action": "send",
        "id": "c",
        "to": "bob",
        "clientMsgId": "m2",
        "body": {"type": "custom", "data": {"note": CUSTOM}},
    }
    assert app.frame("send", custom, user="alice", connection="a1")["type"] == "ack"  # type: ignore[index]
    # A refused send (text over the limit) carries content too.
    long_text = TEXT * 200
    reply = app.send("alice", "a1", to="bob", client_id="m3", text=long_text)
    assert reply["code"] == 1006
    renew = {"action": "auth", "id": "r", "token": bob["accessToken"]}
    assert app.frame("auth", renew, user="alice", connection="a1")["code"] == 1003  # type: ignore[index]
    assert app.sync("bob", "b1")["type"] == "sync"
    status, _ = app.http("http_users", "GET", "/me", token=third["accessToken"])
    assert status == 200
    status, _ = _http(app, "/auth/logout", {"refreshToken": third["refreshToken"]})
    assert status == 204

    out = capsys.readouterr().out
    # The capture works: the handlers' own log lines are there...
    for line in ('"request done"', '"frame done"', '"frame refused"', '"connected"'):
        assert line in out, f"{line} not captured: the test would prove nothing"
    assert '"userId":"alice"' in out
    # ...and none of the secrets or contents is.
    for secret in secrets:
        for form in _forms(secret):
            assert form not in out, f"{secret[:12]}... was logged"
