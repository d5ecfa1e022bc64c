"""Size limits (protocol sections 3, 5.1 and 7): each is accepted exactly at the limit and
refused one past it with the documented code, and nothing is stored for a refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley import runtime
from parley.models import MAX_CUSTOM_BYTES, MAX_DISPLAY_NAME, MAX_TEXT_CHARS
from parley.wire import compact_json

from tests.integration.conftest import Harness
from tests.support.security import rebuild_runtime, window_aligned_clock


@pytest.fixture
def pair(app: Harness) -> Harness:
    for user in ("alice", "bob"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    return app


def _send(app: Harness, body: dict[str, Any], client_id: str) -> dict[str, Any]:
    frame = {"action": "send", "id": "r", "to": "bob", "clientMsgId": client_id, "body": body}
    # UTF-8 on the wire, as clients send it (\uXXXX escapes would triple an emoji's size).
    raw = json.dumps(frame, ensure_ascii=False)
    reply = app.frame("send", None, user="alice", connection="a1", raw=raw)
    assert reply is not None
    return reply


def _stored() -> int:
    return runtime.messages().last_seq("dm:alice:bob")


@pytest.mark.parametrize(
    ("char", "count", "expected"),
    [
        ("a", MAX_TEXT_CHARS, "ack"),
        ("a", MAX_TEXT_CHARS + 1, 1006),
        # Code points, not bytes or UTF-16 units: 4,000 emoji (16 KB of UTF-8) fit.
        ("\U0001f600", MAX_TEXT_CHARS, "ack"),
        ("\U0001f600", MAX_TEXT_CHARS + 1, 1006),
        ("a", 0, 1001),
    ],
)
def test_text_is_at_most_4000_code_points(
    pair: Harness, char: str, count: int, expected: str | int
) -> None:
    reply = _send(pair, {"type": "text", "text": char * count}, "t")
    if expected == "ack":
        assert reply["type"] == "ack" and _stored() == 1
        assert pair.gateway.frames("b1", "message")[0]["body"]["text"] == char * count
    else:
        assert reply["code"] == expected and _stored() == 0


def _custom_of_size(size: int, unit: str = "x") -> Any:
    """`{"k": "xxx..."}` whose compact UTF-8 JSON is exactly `size` bytes."""
    overhead = len(compact_json({"k": ""}).encode())
    per = len(unit.encode())
    data = {"k": unit * ((size - overhead) // per)}
    assert len(compact_json(data).encode()) == size
    return data


@pytest.mark.parametrize(
    ("size", "unit", "expected"),
    [
        (MAX_CUSTOM_BYTES, "x", "ack"),
        (MAX_CUSTOM_BYTES + 1, "x", 1006),
        # Bytes of UTF-8, not characters: 4,100 two-byte characters are over.
        (MAX_CUSTOM_BYTES + 2, "é", 1006),
        (MAX_CUSTOM_BYTES - 8, "é", "ack"),
    ],
)
def test_custom_data_is_at_most_8192_bytes_of_compact_json(
    pair: Harness, size: int, unit: str, expected: str | int
) -> None:
    data = _custom_of_size(size, unit)
    reply = _send(pair, {"type": "custom", "data": data}, "c")
    if expected == "ack":
        assert reply["type"] == "ack" and _stored() == 1
    else:
        assert reply["code"] == expected and _stored() == 0


def test_custom_data_size_ignores_the_clients_whitespace(pair: Harness) -> None:
    # Measured on the compact form the server stores, not on the client's pretty print.
    data = _custom_of_size(MAX_CUSTOM_BYTES)
    frame = {
        "action": "send",
        "to": "bob",
        "clientMsgId": "w",
        "body": {"type": "custom", "data": data},
    }
    raw = json.dumps(frame, indent=8)
    reply = pair.frame("send", None, user="alice", connection="a1", raw=raw)
    assert reply is not None and reply["type"] == "ack"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "system", "event": "group_created", "by": "bob"},
        {"type": "text", "text": "hi", "extra": 1},
        {"type": "custom"},
        {"type": "text", "text": 5},
        {"type": "html", "text": "<b>"},
    ],
)
def test_other_bodies_are_invalid(pair: Harness, body: dict[str, Any]) -> None:
    assert _send(pair, body, "x")["code"] == 1001 and _stored() == 0


def test_a_frame_over_32_kb_is_1006(pair: Harness) -> None:
    raw = json.dumps({"action": "ping", "pad": "x" * (32 * 1024)})
    reply = pair.frame("ping", None, user="alice", connection="a1", raw=raw)
    assert reply is not None and reply["code"] == 1006


# ---- group size -------------------------------------------------------------------------------


@pytest.fixture
def small_groups(app: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setenv("PARLEY_MAX_GROUP_SIZE", "3")
    rebuild_runtime(monkeypatch, app, window_aligned_clock())
    for user in ("alice", "bob", "carol", "dave"):
        app.user(user)
    return app


def _create(app: Harness, members: list[str]) -> tuple[int, Any]:
    return app.http(
        "http_groups",
        "POST",
        "/groups",
        token=app.tokens["alice"]["accessToken"],
        body={"name": "g", "members": members},
    )


def test_a_group_is_created_up_to_the_size_limit_and_not_past_it(small_groups: Harness) -> None:
    status, body = _create(small_groups, ["bob", "carol", "dave"])
    assert (status, body["code"]) == (413, 1006)
    status, body = app_conversations(small_groups)
    assert body["conversations"] == []
    status, group = _create(small_groups, ["bob", "carol"])
    assert status == 201 and len(group["members"]) == 3


def app_conversations(app: Harness) -> tuple[int, Any]:
    return app.http(
        "http_conversations", "GET", "/conversations", token=app.tokens["alice"]["accessToken"]
    )


def test_adding_past_the_size_limit_is_1006_and_changes_nothing(small_groups: Harness) -> None:
    status, group = _create(small_groups, ["bob", "carol"])
    gid = group["conversationId"]
    before = runtime.messages().last_seq(gid)
    status, body = small_groups.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=small_groups.tokens["alice"]["accessToken"],
        path={"id": gid},
        body={"userIds": ["dave"]},
    )
    assert (status, body["code"]) == (413, 1006)
    assert runtime.messages().last_seq(gid) == before
    assert runtime.members().get(gid, "dave") is None
    # Re-adding existing members is not growth.
    status, _ = small_groups.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=small_groups.tokens["alice"]["accessToken"],
        path={"id": gid},
        body={"userIds": ["bob"]},
    )
    assert status == 200


# ---- passwords and display names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "status"), [(7, 400), (8, 201), (128, 201), (129, 400)], ids=str
)
def test_passwords_are_8_to_128_characters(app: Harness, length: int, status: int) -> None:
    password = "p" * length
    got, body = app.register("alice", password=password)
    assert got == status, body
    if status == 201:
        assert app.login("alice", password)["accessToken"]
    else:
        assert body["code"] == 1001
        assert runtime.users().get("alice") is None


def test_a_password_with_a_lone_surrogate_is_invalid_not_a_crash(app: Harness) -> None:
    raw = '{"userId": "alice", "password": "\\ud800abcdefgh"}'
    status, body = app.http("http_auth", "POST", "/auth/register", raw=raw)
    assert (status, body["code"]) == (400, 1001)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("  Alice  Liddell ", "Alice Liddell"),
        ("Al\x00i\x07ce\x1b[31m", "Alice[31m"),
        ("Alice\u202eecilA", "AliceecilA"),  # bidi override (format character) stripped
        ("Alice\u200b\ufeff", "Alice"),  # zero-width characters stripped
        ("Alice\nLiddell\tX", "Alice Liddell X"),
        ("é" * MAX_DISPLAY_NAME, "é" * MAX_DISPLAY_NAME),
    ],
)
def test_display_names_are_stripped_of_control_characters(
    app: Harness, given: str, shown: str
) -> None:
    status, body = app.register("alice", displayName=given)
    assert status == 201, body
    token = app.login("alice")["accessToken"]
    status, body = app.http("http_users", "GET", "/me", token=token)
    assert body["displayName"] == shown


@pytest.mark.parametrize(
    "given", ["x" * (MAX_DISPLAY_NAME + 1), "\x00\x01\u202e", "   ", "", 7, None], ids=repr
)
def test_unusable_display_names_are_invalid(app: Harness, given: Any) -> None:
    body = {"userId": "alice", "password": "long enough", "displayName": given}
    if given is None:
        body["displayName"] = None
    status, reply = app.http("http_auth", "POST", "/auth/register", body=body)
    if given is None:
        # null means "not given": the userId is shown.
        assert status == 201
        return
    assert (status, reply["code"]) == (400, 1001)
    assert runtime.users().get("alice") is None


def test_group_names_follow_the_display_name_rules(app: Harness) -> None:
    app.user("alice")
    token = app.tokens["alice"]["accessToken"]
    status, group = app.http(
        "http_groups",
        "POST",
        "/groups",
        token=token,
        body={"name": " Team\x00\u202e A ", "members": []},
    )
    assert status == 201 and group["name"] == "Team A"
    status, body = app.http(
        "http_groups", "POST", "/groups", token=token, body={"name": "x" * 65, "members": []}
    )
    assert (status, body["code"]) == (400, 1001)
