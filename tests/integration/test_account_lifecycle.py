"""Account erasure and export (protocol 12) against moto: `DELETE /me` (auth function), the
account jobs function, `POST /me/export` and `GET /me/exports/{exportId}` (users function).
Every call is audited against the template's roles (conftest)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from parley import ddb

from tests.integration.conftest import CONTEXT, PASSWORD, Harness
from tests.integration.helpers import (
    create_group,
    history,
    remove_member,
    scan,
    send_frame,
    text_frame,
    user_item,
)
from tests.integration.test_attachments import file_frame, uploaded
from tests.support import events
from tests.support.handlers import as_the_test, load
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

MARK = "zq-erase-marker"


class Budget:
    """A Lambda context whose remaining time drops to nothing after `checks` readings."""

    function_name = CONTEXT.function_name
    memory_limit_in_mb = CONTEXT.memory_limit_in_mb
    invoked_function_arn = CONTEXT.invoked_function_arn
    aws_request_id = CONTEXT.aws_request_id

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def get_remaining_time_in_millis(self) -> int:
        self.checks -= 1
        return 60_000 if self.checks >= 0 else 0


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def delete_me(app: Harness, user: str, body: Any) -> tuple[int, Any]:
    return app.http("http_auth", "DELETE", "/me", token=token(app, user), body=body)


def run_job(job: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The account jobs function over one job (with a minute left unless `context` says)."""
    context = context if context is not None else Budget(checks=10**6)
    return dict(load("account_jobs").handler(events.sqs_event([job]), context))


@as_the_test()
def queued_jobs(app: Harness) -> list[dict[str, Any]]:
    """Every job visible on the account jobs queue now (taken off it; delayed ones stay)."""
    sqs = client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=app.stack.account_jobs_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=app.stack.account_jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


@as_the_test()
def holds_marker(app: Harness) -> list[str]:
    """The tables (and bucket keys) whose items still hold the marker text."""
    found = [
        logical
        for logical in app.stack.tables
        if MARK in json.dumps(scan(app, logical), default=str)
    ]
    listed = client("s3").list_objects_v2(Bucket=app.stack.bucket).get("Contents", [])
    for entry in listed:
        data = client("s3").get_object(Bucket=app.stack.bucket, Key=entry["Key"])["Body"].read()
        if MARK.encode() in data:
            found.append(entry["Key"])
    return found


@pytest.fixture
def world(app: Harness) -> dict[str, str]:
    """alice, bob and carol; alice owns `team` (with bob and carol) and was in bob's `old`
    group, which she left after writing in it; alice and bob have a direct conversation."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
        app.connect(user, f"{user}-conn")
    team = str(create_group(app, token(app, "alice"), ["bob", "carol"])["conversationId"])
    old = str(create_group(app, token(app, "bob"), ["alice"], name="old")["conversationId"])
    send = {"user": "alice", "connection": "alice-conn"}
    frames = [
        text_frame("t1", f"{MARK} team", conversationId=team),
        text_frame("o1", f"{MARK} old", conversationId=old),
        text_frame("d1", f"{MARK} dm", to="bob"),
    ]
    for frame in frames:
        assert send_frame(app, frame, **send)["type"] == "ack"
    attachment = uploaded(app, "alice", team, MARK.encode())
    assert send_frame(app, file_frame("f1", team, attachment), **send)["type"] == "ack"
    assert send_frame(app, text_frame("b1", "bob's own", conversationId=team), user="bob",
                      connection="bob-conn")["type"] == "ack"  # fmt: skip
    left = remove_member(app, token(app, "alice"), old, "alice")
    assert left[0] == 204, left
    blocked = app.http(
        "http_users",
        "POST",
        "/users/{userId}/block",
        token=token(app, "alice"),
        path={"userId": "carol"},
    )
    assert blocked[0] == 204, blocked
    return {"team": team, "old": old, "dm": "dm:alice:bob", "attachment": attachment}


def test_delete_me_then_the_job_leaves_nothing_of_the_user_readable(
    app: Harness, world: dict[str, str]
) -> None:
    # GIVEN alice's texts and file are stored (the marker is found), a block and a group left
    assert holds_marker(app)
    assert ddb.decode(
        client("dynamodb").get_item(
            TableName=app.stack.tables["UsersTable"],
            Key=ddb.key(pk="alice", sk="left#" + world["old"]),
        )["Item"]
    )
    # WHEN she deletes her account with her password
    status, body = delete_me(app, "alice", {"password": PASSWORD})
    # THEN 204, the profile is marked (no password hash, no name) and the userId stays taken
    assert (status, body) == (204, None)
    profile = user_item(app, "alice")
    assert profile is not None and "deletedAt" in profile
    assert "passwordHash" not in profile and "displayName" not in profile
    assert app.register("alice")[1]["code"] == 1008
    status, body = app.http(
        "http_auth", "POST", "/auth/login", body={"userId": "alice", "password": PASSWORD}
    )
    assert (status, body["code"]) == (401, 1003)
    assert app.http("http_users", "GET", "/me", token=token(app, "alice"))[0] == 401
    # AND two erasure jobs were queued: one now, and the delayed one the deletion relies on
    jobs = queued_jobs(app)
    assert jobs == [{"kind": "erase", "userId": "alice"}]
    delayed = client("sqs").get_queue_attributes(
        QueueUrl=app.stack.account_jobs_queue_url,
        AttributeNames=["ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert delayed == {"ApproximateNumberOfMessagesDelayed": "1"}
    # WHEN the job runs (and the erase function removes the file's object)
    assert run_job(jobs[0]) == {"batchItemFailures": []}
    erase_bodies = [
        json.loads(m["Body"])
        for m in client("sqs")
        .receive_message(
            QueueUrl=app.stack.erase_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        .get("Messages", [])
    ]
    if not erase_bodies:  # moto holds delayed messages back: the body is known anyway
        erase_bodies = [{"attachmentId": world["attachment"]}]
    load("erase").handler(events.sqs_event(erase_bodies), CONTEXT)
    # THEN no table and no object holds her texts, file name or bytes
    assert holds_marker(app) == []
    # AND the team shows her leaving, bob as the new owner, her messages deleted
    bob = token(app, "bob")
    status, page = history(app, bob, world["team"], limit="100")
    assert status == 200
    bodies = [m["body"] for m in page["messages"]]
    assert {"type": "system", "event": "member_left", "by": "alice", "userIds": ["alice"]} in [
        {k: b.get(k) for k in ("type", "event", "by", "userIds")} for b in bodies
    ]
    by_sender = {m["clientMsgId"]: m for m in page["messages"]}
    assert by_sender["t1"]["body"] == {"type": "deleted"}
    assert by_sender["f1"]["body"] == {"type": "deleted"}
    assert by_sender["b1"]["body"]["text"] == "bob's own"
    group = app.http("http_groups", "GET", "/groups/{id}", token=bob, path={"id": world["team"]})
    assert {m["userId"]: m["role"] for m in group[1]["members"]} == {
        "bob": "owner",
        "carol": "member",
    }
    # AND the direct conversation and the group she had left show her messages deleted
    for conversation in (world["dm"], world["old"]):
        messages = history(app, bob, conversation, limit="100")[1]["messages"]
        hers = [m for m in messages if m["senderId"] == "alice" and m["clientMsgId"][0] in "do"]
        assert hers and all(m["body"] == {"type": "deleted"} for m in hers)
    # AND her block is gone, and she is unknown to others (adds and new direct messages: 1002)
    users = scan(app, "UsersTable")
    assert not [u for u in users if u["pk"] == "alice" and u["sk"].startswith("block#")]
    added = app.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=bob,
        path={"id": world["team"]},
        body={"userIds": ["alice"]},
    )
    assert (added[0], added[1]["code"]) == (404, 1002)
    reply = send_frame(
        app, text_frame("c1", "hello?", to="alice"), user="carol", connection="carol-conn"
    )
    assert reply["code"] == 1002
    # AND a second run (the delayed job) changes nothing and fails nothing
    before = scan(app, "MessagesTable")
    assert run_job(jobs[0]) == {"batchItemFailures": []}
    assert scan(app, "MessagesTable") == before


def test_a_run_short_of_time_continues_from_its_cursor(app: Harness, world: dict[str, str]) -> None:
    # GIVEN alice deleted her account
    assert delete_me(app, "alice", {"password": PASSWORD})[0] == 204
    queued_jobs(app)
    # WHEN the job runs with time for only a few steps
    assert run_job({"kind": "erase", "userId": "alice"}, Budget(checks=3)) == {
        "batchItemFailures": []
    }
    # THEN it queued its continuation (a conversation and a seq) and some texts remain
    [continuation] = queued_jobs(app)
    assert continuation["kind"] == "erase" and continuation["userId"] == "alice"
    assert isinstance(continuation["conversationId"], str)
    assert isinstance(continuation["seq"], int)
    assert MARK in json.dumps(scan(app, "MessagesTable"))
    # WHEN the continuations run, each with the same small budget, until none is queued
    for _ in range(20):
        run_job(continuation, Budget(checks=3))
        pending = queued_jobs(app)
        if not pending:
            break
        [continuation] = pending
    # THEN every text of hers is deleted
    texts = [m for m in scan(app, "MessagesTable") if m["senderId"] == "alice"]
    assert not [m for m in texts if MARK in m["body"]]


def test_a_job_for_an_account_not_deleted_does_nothing(app: Harness, world: dict[str, str]) -> None:
    # GIVEN alice never deleted her account (a DELETE /me that failed before its commit)
    before = scan(app, "MessagesTable"), scan(app, "MembersTable"), scan(app, "UsersTable")
    # WHEN an erasure job for her runs
    assert run_job({"kind": "erase", "userId": "alice"}) == {"batchItemFailures": []}
    # THEN nothing changed and she can still log in
    after = scan(app, "MessagesTable"), scan(app, "MembersTable"), scan(app, "UsersTable")
    assert after == before
    app.login("alice")


@as_the_test()
def fetch(url: str) -> Any:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_an_export_holds_every_message_sent_including_a_group_left(
    app: Harness, world: dict[str, str]
) -> None:
    # GIVEN alice asks for an export
    status, body = app.http("http_users", "POST", "/me/export", token=token(app, "alice"))
    assert status == 202
    export_id = body["exportId"]
    path = {"exportId": export_id}
    # THEN it is pending until the job runs
    status, body = app.http(
        "http_users", "GET", "/me/exports/{exportId}", token=token(app, "alice"), path=path
    )
    assert (status, body) == (200, {"status": "pending"})
    # WHEN the job runs
    [job] = queued_jobs(app)
    assert job == {"kind": "export", "userId": "alice", "exportId": export_id}
    assert run_job(job) == {"batchItemFailures": []}
    # THEN it is ready, with a short-lived link to the JSON
    status, body = app.http(
        "http_users", "GET", "/me/exports/{exportId}", token=token(app, "alice"), path=path
    )
    assert status == 200 and body["status"] == "ready"
    assert 1 <= body["expiresIn"] <= 300
    data = fetch(body["url"])
    assert set(data) == {"profile", "conversations", "messages", "devices", "blocks"}
    assert data["profile"]["userId"] == "alice" and "passwordHash" not in data["profile"]
    texts = {m["body"].get("text") for m in data["messages"]}
    assert {f"{MARK} team", f"{MARK} old", f"{MARK} dm"} <= texts
    assert all(m["body"].get("text") != "bob's own" for m in data["messages"])
    assert all("own" not in m and "ver" not in m for m in data["messages"])
    listed = {c["conversationId"]: c for c in data["conversations"]}
    assert listed[world["old"]]["member"] is False and listed[world["team"]]["member"] is True
    assert data["blocks"] == ["carol"]
    # AND another user cannot read it (404 1002)
    status, body = app.http(
        "http_users", "GET", "/me/exports/{exportId}", token=token(app, "bob"), path=path
    )
    assert (status, body["code"]) == (404, 1002)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (None, 400, 1001),
        ({}, 400, 1001),
        ({"password": ""}, 400, 1001),
        ({"password": 7}, 400, 1001),
        ({"password": "wrong password"}, 401, 1003),
    ],
)
def test_delete_me_refuses_a_missing_or_wrong_password(
    app: Harness, body: Any, status: int, code: int
) -> None:
    # GIVEN alice
    app.user("alice")
    # WHEN she asks to delete her account without her password
    answer = delete_me(app, "alice", body)
    # THEN it is refused and nothing is marked
    assert (answer[0], answer[1]["code"]) == (status, code)
    profile = user_item(app, "alice")
    assert profile is not None and "deletedAt" not in profile


@pytest.mark.parametrize("export_id", ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FA", "x" * 200])
def test_a_malformed_export_id_is_1001(app: Harness, export_id: str) -> None:
    app.user("alice")
    status, body = app.http(
        "http_users",
        "GET",
        "/me/exports/{exportId}",
        token=token(app, "alice"),
        path={"exportId": export_id},
    )
    assert (status, body["code"]) == (400, 1001)


def test_an_unknown_export_is_404_and_exports_are_rationed(app: Harness) -> None:
    # GIVEN alice
    app.user("alice")
    unknown = app.http(
        "http_users",
        "GET",
        "/me/exports/{exportId}",
        token=token(app, "alice"),
        path={"exportId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
    )
    assert (unknown[0], unknown[1]["code"]) == (404, 1002)
    # WHEN she asks for exports past the day's three
    answers = [app.http("http_users", "POST", "/me/export", token=token(app, "alice"))
               for _ in range(4)]  # fmt: skip
    # THEN the fourth is 429 1005
    assert [a[0] for a in answers] == [202, 202, 202, 429]
    assert answers[3][1]["code"] == 1005
