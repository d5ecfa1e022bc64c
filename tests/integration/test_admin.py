"""`/admin/*` (protocol 12-13) against the real handler on moto: who may call it, and
what a bad request gets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from parley import runtime

from tests.integration.conftest import PASSWORD, Harness
from tests.integration.helpers import stored_messages


@pytest.fixture
def admins(app: Harness, reconfigure: Callable[..., None]) -> Harness:
    """`root` and `ops` are app admins (with spaces and an empty entry in the list)."""
    reconfigure(PARLEY_ADMIN_USERS=" root, ,ops ")
    for user in ("root", "ops", "alice"):
        app.user(user)
    return app


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "Bearer x"])
def test_flags_without_a_valid_token_are_401_1003(admins: Harness, token: str | None) -> None:
    # WHEN the flags are asked for without a valid bearer token
    status, body = admins.http("http_admin", "GET", "/admin/flags", token=token)
    # THEN 401 code 1003
    assert (status, body["code"]) == (401, 1003)


@pytest.mark.parametrize("user", ["root", "ops"])
def test_every_listed_admin_may_read_the_flags(admins: Harness, user: str) -> None:
    token = admins.tokens[user]["accessToken"]
    assert admins.http("http_admin", "GET", "/admin/flags", token=token) == (200, {"flags": []})


def test_a_body_or_query_changes_nothing(admins: Harness) -> None:
    # WHEN a non-admin sends a body and a query string that might look like a bypass
    token = admins.tokens["alice"]["accessToken"]
    status, body = admins.http(
        "http_admin",
        "GET",
        "/admin/flags",
        token=token,
        query={"admin": "true", "userId": "root"},
        raw='{"admin": true}',
    )
    # THEN still 403 1004
    assert (status, body["code"]) == (403, 1004)


def test_an_unknown_admin_route_is_404(admins: Harness) -> None:
    token = admins.tokens["root"]["accessToken"]
    status, body = admins.http("http_admin", "GET", "/admin/nope", token=token)
    assert status == 404 and body["code"] == 2002


# ---- suspension (protocol 12) -------------------------------------------------------------


SUSPEND = "/admin/users/{userId}/suspend"


def suspend(app: Harness, admin: str, user: str, **kwargs: Any) -> tuple[int, Any]:
    token = app.tokens[admin]["accessToken"]
    return app.http("http_admin", "POST", SUSPEND, token=token, path={"userId": user}, **kwargs)


def unsuspend(app: Harness, admin: str, user: str) -> tuple[int, Any]:
    token = app.tokens[admin]["accessToken"]
    return app.http("http_admin", "DELETE", SUSPEND, token=token, path={"userId": user})


def login(app: Harness, user: str) -> tuple[int, Any]:
    body = {"userId": user, "password": PASSWORD}
    return app.http("http_auth", "POST", "/auth/login", body=body)


def test_a_suspension_ends_every_login_and_socket_and_refuses_new_ones(admins: Harness) -> None:
    # GIVEN alice with an open socket
    alice = admins.tokens["alice"]
    admins.connect("alice", "a1")
    # WHEN an admin suspends her with a reason
    assert suspend(admins, "root", "alice", body={"reason": "spam"}) == (204, None)
    # THEN her socket is closed, her tokens are 401 and her login is 403 1004
    assert admins.gateway.closed == ["a1"]
    status, body = admins.http("http_users", "GET", "/me", token=alice["accessToken"])
    assert (status, body["code"]) == (401, 1003)
    refresh = {"refreshToken": alice["refreshToken"]}
    status, body = admins.http("http_auth", "POST", "/auth/refresh", body=refresh)
    assert (status, body["code"]) == (401, 1003)
    status, body = login(admins, "alice")
    assert (status, body["code"]) == (403, 1004)


def test_a_suspended_user_with_a_wrong_password_is_told_nothing_more(admins: Harness) -> None:
    # GIVEN alice is suspended (without a body: no reason)
    assert suspend(admins, "root", "alice") == (204, None)
    # WHEN someone tries her account with a wrong password
    body = {"userId": "alice", "password": "wrong-password"}
    status, answer = admins.http("http_auth", "POST", "/auth/login", body=body)
    # THEN the answer is the usual 401 1003, not the suspension
    assert (status, answer["code"]) == (401, 1003)


def test_lifting_a_suspension_lets_the_user_log_in_again(admins: Harness) -> None:
    # GIVEN alice was suspended
    assert suspend(admins, "ops", "alice", body={}) == (204, None)
    # WHEN an admin lifts it (twice: idempotent)
    assert unsuspend(admins, "ops", "alice") == (204, None)
    assert unsuspend(admins, "root", "alice") == (204, None)
    # THEN she logs in and her new token works
    status, body = login(admins, "alice")
    assert status == 200
    assert admins.http("http_users", "GET", "/me", token=body["accessToken"])[0] == 200


def test_a_login_that_raced_the_suspension_cannot_refresh(admins: Harness) -> None:
    # GIVEN alice's flag is set but a login of hers was not revoked (as one whose session
    # was stored after the suspension had listed her logins)
    late = admins.tokens["alice"]
    assert runtime.users().set_suspended("alice", "race", 0)
    # THEN that login's refresh token is refused
    refresh = {"refreshToken": late["refreshToken"]}
    status, body = admins.http("http_auth", "POST", "/auth/refresh", body=refresh)
    assert (status, body["code"]) == (401, 1003)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_only_admins_may_suspend_or_lift(admins: Harness, method: str) -> None:
    # WHEN alice (no admin) suspends root, or lifts a suspension, even with a bad body
    token = admins.tokens["alice"]["accessToken"]
    status, body = admins.http(
        "http_admin", method, SUSPEND, token=token, path={"userId": "root"}, raw='{"reason": 5}'
    )
    # THEN 403 1004, and root still logs in
    assert (status, body["code"]) == (403, 1004)
    assert login(admins, "root")[0] == 200


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize(
    ("user", "status", "code"), [("nobody", 404, 1002), ("x" * 65, 400, 1001), ("%00", 400, 1001)]
)
def test_an_unknown_user_is_404_1002_and_a_malformed_one_400_1001(
    admins: Harness, method: str, user: str, status: int, code: int
) -> None:
    token = admins.tokens["root"]["accessToken"]
    got, body = admins.http("http_admin", method, SUSPEND, token=token, path={"userId": user})
    assert (got, body["code"]) == (status, code)


@pytest.mark.parametrize(
    "raw",
    [
        '{"reason": 5}',
        '{"reason": "x", "extra": 1}',
        "[]",
        "not json",
        '{"reason": "%s"}' % ("r" * 501),
    ],
)
def test_a_bad_suspend_body_is_400_1001(admins: Harness, raw: str) -> None:
    status, body = suspend(admins, "root", "alice", raw=raw)
    assert (status, body["code"]) == (400, 1001)
    # AND nothing happened: alice still logs in
    assert login(admins, "alice")[0] == 200


def audit_lines(out: str) -> list[dict[str, Any]]:
    """The audit lines among the JSON log lines of stdout."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("audit") == "admin"]


def test_every_admin_action_writes_one_audit_line(
    admins: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a clean capture
    capsys.readouterr()
    # WHEN alice (no admin) is refused, root suspends her with a reason and ops lifts it
    assert suspend(admins, "alice", "root")[0] == 403
    assert suspend(admins, "root", "alice", body={"reason": "spam links"}) == (204, None)
    assert unsuspend(admins, "ops", "alice") == (204, None)
    # THEN exactly the two successful actions are logged: who, what, on what, why
    lines = audit_lines(capsys.readouterr().out)
    picked = [(x["admin"], x["action"], x["target"], x["reason"]) for x in lines]
    assert picked == [
        ("root", "suspend", "user:alice", "spam links"),
        ("ops", "unsuspend", "user:alice", ""),
    ]
    assert lines[0]["message"] == "admin action" and lines[0]["level"] == "INFO"


# ---- moderated delete (protocol 12) -------------------------------------------------------

MESSAGE = "/admin/conversations/{id}/messages/{seq}"


def moderate(app: Harness, admin: str, conversation: str, seq: str) -> tuple[int, Any]:
    token = app.tokens[admin]["accessToken"]
    path = {"id": conversation, "seq": seq}
    return app.http("http_admin", "DELETE", MESSAGE, token=token, path=path)


@pytest.fixture
def dm(admins: Harness) -> str:
    """alice wrote `hello` to bob (seq 1); bob has a socket open."""
    admins.user("bob")
    admins.connect("bob", "b1")
    admins.connect("alice", "a1")
    reply = admins.send("alice", "a1", text="hello", client_id="m1", to="bob")
    assert reply["type"] == "ack" and reply["seq"] == 1
    return "dm:alice:bob"


def test_an_admin_deletes_a_message_of_a_conversation_they_are_not_in(
    admins: Harness, dm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # WHEN root (no member) deletes seq 1
    assert moderate(admins, "root", dm, "1") == (204, None)
    # THEN a delete event by root is stored at seq 2 and pushed to both members
    rows = stored_messages(admins, dm)
    bodies = [r["body"] if isinstance(r["body"], dict) else json.loads(r["body"]) for r in rows]
    assert bodies == [{"type": "deleted"}, {"type": "delete", "target": 1}]
    deleted = rows[0]["deleted"]
    assert (deleted if isinstance(deleted, dict) else json.loads(deleted))["by"] == "root"
    assert rows[1]["senderId"] == "root"
    for connection in ("a1", "b1"):
        pushed = admins.gateway.frames(connection, "message")
        assert [f["body"] for f in pushed][-1] == {"type": "delete", "target": 1}
    # AND one audit line names it
    lines = audit_lines(capsys.readouterr().out)
    picked = [(x["admin"], x["action"], x["target"]) for x in lines]
    assert picked == [("root", "delete_message", f"message:{dm}/1")]
    # AND the members' history shows the message deleted
    status, page = admins.http(
        "http_conversations",
        "GET",
        "/conversations/{id}/messages",
        token=admins.tokens["bob"]["accessToken"],
        path={"id": dm},
    )
    assert status == 200 and page["messages"][0]["body"] == {"type": "deleted"}


def test_deleting_twice_is_400_1001_and_stores_nothing(admins: Harness, dm: str) -> None:
    assert moderate(admins, "root", dm, "1") == (204, None)
    # WHEN root, then ops, delete it again
    for admin in ("root", "ops"):
        status, body = moderate(admins, admin, dm, "1")
        # THEN 1001, and nothing more is stored
        assert (status, body["code"]) == (400, 1001)
    assert len(stored_messages(admins, dm)) == 2


@pytest.mark.parametrize(
    ("conversation", "seq"),
    [
        ("dm:alice:bob", "9"),
        ("dm:alice:bob", "0"),
        ("dm:alice:bob", "-1"),
        ("dm:alice:bob", "x"),
        ("dm:alice:bob", "9" * 17),
        ("dm:alice:carol", "1"),
        ("grp_nope", "1"),
        ("not an id", "1"),
    ],
)
def test_an_unknown_conversation_or_seq_is_404_2003(
    admins: Harness, dm: str, conversation: str, seq: str
) -> None:
    status, body = moderate(admins, "root", conversation, seq)
    assert (status, body["code"]) == (404, 2003)
    assert len(stored_messages(admins, dm)) == 1


def test_a_member_who_is_no_app_admin_gets_1004(admins: Harness, dm: str) -> None:
    # WHEN alice, the sender, uses the admin route
    status, body = moderate(admins, "alice", dm, "1")
    # THEN 403 1004 and the message stands
    assert (status, body["code"]) == (403, 1004)
    assert len(stored_messages(admins, dm)) == 1


# ---- clearing a flag -----------------------------------------------------------------------

FLAG = "/admin/flags/{userId}"


def test_an_admin_clears_a_flag_and_it_is_audited(
    admins: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN alice and bob were flagged by a spam limit
    flags = runtime.flags()
    assert flags is not None
    flags.flag("alice", "same text sent into too many conversations", 1)
    flags.flag("bob", "new direct conversations over the hourly limit", 2)
    capsys.readouterr()
    token = admins.tokens["root"]["accessToken"]
    # WHEN an admin clears alice's flag
    status, _ = admins.http("http_admin", "DELETE", FLAG, path={"userId": "alice"}, token=token)
    # THEN 204, and only bob is still listed
    assert status == 204
    _, listed = admins.http("http_admin", "GET", "/admin/flags", token=token)
    assert [f["userId"] for f in listed["flags"]] == ["bob"]
    # AND one audit line names the admin, the action and the user
    [line] = audit_lines(capsys.readouterr().out)
    assert (line["admin"], line["action"], line["target"]) == ("root", "clear_flag", "user:alice")
    # AND clearing it again is still 204 (idempotent)
    again = admins.http("http_admin", "DELETE", FLAG, path={"userId": "alice"}, token=token)
    assert again[0] == 204


def test_only_admins_may_clear_a_flag(admins: Harness) -> None:
    # GIVEN bob is flagged
    flags = runtime.flags()
    assert flags is not None
    flags.flag("bob", "spam", 1)
    # WHEN alice (no admin) clears it, even a malformed id
    token = admins.tokens["alice"]["accessToken"]
    for user in ("bob", "no such user!"):
        status, body = admins.http("http_admin", "DELETE", FLAG, path={"userId": user}, token=token)
        # THEN 403 1004, and the flag stays
        assert (status, body["code"]) == (403, 1004)
    assert [f["userId"] for f in flags.all(10)] == ["bob"]


@pytest.mark.parametrize("user", ["a" * 65, "bad id", "UPPER!"])
def test_a_malformed_user_id_is_400_1001(admins: Harness, user: str) -> None:
    token = admins.tokens["root"]["accessToken"]
    status, body = admins.http("http_admin", "DELETE", FLAG, path={"userId": user}, token=token)
    assert (status, body["code"]) == (400, 1001)
