"""Protocol 11 against moto: `GET /conversations` paged by an opaque cursor with each
conversation's `muted`, and `PATCH /conversations/{id}` (members only), with the refusal
code of every bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.helpers import create_group, member_item

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")


@pytest.fixture
def groups(app: Harness) -> list[str]:
    """alice in five groups with bob; carol registered, in none."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
    token = app.tokens["alice"]["accessToken"]
    return sorted(
        str(create_group(app, token, ["bob"], name=f"g{i}")["conversationId"]) for i in range(5)
    )


def listing(app: Harness, user: str, **query: str) -> tuple[int, Any]:
    return app.http(
        "http_conversations",
        "GET",
        "/conversations",
        token=app.tokens[user]["accessToken"],
        query=query or None,
    )


def mute(app: Harness, user: str, conversation: str, body: Any) -> tuple[int, Any]:
    return app.http(
        "http_conversations",
        "PATCH",
        "/conversations/{id}",
        token=app.tokens[user]["accessToken"],
        path={"id": conversation},
        body=body,
    )


def test_the_list_pages_by_cursor(app: Harness, groups: list[str]) -> None:
    # WHEN alice lists two at a time, following nextCursor
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        status, page = listing(app, "alice", **query)
        assert status == 200, page
        seen += [c["conversationId"] for c in page["conversations"]]
        if page["nextCursor"] is None:
            break
        query = {"limit": "2", "cursor": page["nextCursor"]}
    # THEN she sees each group once, in order
    assert seen == groups
    # AND the default page holds them all, with no next page
    status, page = listing(app, "alice")
    assert status == 200 and page["nextCursor"] is None and len(page["conversations"]) == 5


def test_mute_shows_in_the_members_own_list(app: Harness, groups: list[str]) -> None:
    # WHEN alice mutes one group
    status, body = mute(app, "alice", groups[0], {"muted": True})
    # THEN the reply, her row and her list say so; bob's list does not
    assert (status, body) == (200, {"conversationId": groups[0], "muted": True})
    assert member_item(app, groups[0], "alice")["muted"] is True  # type: ignore[index]
    _, mine = listing(app, "alice")
    _, his = listing(app, "bob")
    assert {c["conversationId"]: c["muted"] for c in mine["conversations"]}[groups[0]] is True
    assert all(c["muted"] is False for c in his["conversations"])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"limit": "0"}, 1001),
        ({"limit": "201"}, 1001),
        ({"limit": "ten"}, 1001),
        ({"cursor": "not-a-cursor!"}, 1001),
        ({"cursor": "eA"}, 1001),
    ],
)
def test_bad_list_queries(
    app: Harness, groups: list[str], query: dict[str, str], code: int
) -> None:
    status, body = listing(app, "alice", **query)
    assert (status, body["code"]) == (400, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, 1001),
        ({"muted": "yes"}, 400, 1001),
        ({"muted": 1}, 400, 1001),
        ({"muted": None}, 400, 1001),
        ({"muted": True, "extra": 1}, 400, 1001),
        ([True], 400, 1001),
    ],
)
def test_bad_mute_bodies_change_nothing(
    app: Harness, groups: list[str], body: Any, status: int, code: int
) -> None:
    got, reply = mute(app, "alice", groups[0], body)
    assert (got, reply["code"]) == (status, code)
    assert "muted" not in (member_item(app, groups[0], "alice") or {})


def test_a_non_member_gets_1004_whether_or_not_the_conversation_exists(
    app: Harness, groups: list[str]
) -> None:
    for conversation in (groups[0], "grp:01ARZ3NDEKTSV4RRFFQ69G5FZZ", "dm:alice:bob"):
        status, body = mute(app, "carol", conversation, {"muted": True})
        assert (status, body["code"]) == (403, 1004), conversation
    # AND no row was created for carol
    assert member_item(app, groups[0], "carol") is None
    status, body = mute(app, "carol", "grp:nope", {"muted": True})
    assert (status, body["code"]) == (400, 1001)
