"""Attachments against moto (protocol 9.1 `file` body and 9.3): the routes, the presigned
upload and download, the `file` send and its atomic claim, and every refusal code."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.conftest import Harness
from tests.integration.helpers import create_group, get_item, send_frame, stored_messages
from tests.support.handlers import as_the_test
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def team(app: Harness) -> str:
    """alice (owner), bob and carol in a group; dave registered, outside it."""
    for user in ("alice", "bob", "carol", "dave"):
        app.user(user)
    return str(create_group(app, token(app, "alice"), ["bob", "carol"])["conversationId"])


def token(app: Harness, user: str) -> str:
    return str(app.tokens[user]["accessToken"])


def announce(app: Harness, user: str, conversation: str, **body: Any) -> tuple[int, Any]:
    payload = {"conversationId": conversation, "name": "a.txt", "size": 5}
    payload["contentType"] = "text/plain"
    payload.update(body)
    return app.http(
        "http_attachments", "POST", "/attachments", token=token(app, user), body=payload
    )


def download(app: Harness, user: str, attachment_id: str) -> tuple[int, Any]:
    return app.http(
        "http_attachments",
        "GET",
        "/attachments/{attachmentId}",
        token=token(app, user),
        path={"attachmentId": attachment_id},
    )


@as_the_test()
def post_form(upload: dict[str, Any], content: bytes, **fields: str) -> requests.Response:
    """The client's multipart upload: every field of the form, then the file."""
    data = {**upload["fields"], **fields}
    return requests.post(upload["url"], data=data, files={"file": ("x", content)}, timeout=10)


def uploaded(app: Harness, user: str, conversation: str, content: bytes = b"hello") -> str:
    status, body = announce(app, user, conversation, size=len(content))
    assert status == 201, body
    assert post_form(body["upload"], content).status_code in (200, 201, 204)
    return str(body["attachmentId"])


def file_frame(client_id: str, conversation: str, attachment_id: Any, **extra: Any) -> Any:
    return {
        "action": "send",
        "id": f"r-{client_id}",
        "conversationId": conversation,
        "clientMsgId": client_id,
        "body": {"type": "file", "attachmentId": attachment_id, **extra},
    }


def error_code(reply: dict[str, Any]) -> int | None:
    return reply.get("code") if reply.get("type") == "error" else None


# ---- POST /attachments --------------------------------------------------------------------


def test_a_member_announces_and_uploads_a_file(app: Harness, team: str) -> None:
    # GIVEN alice, a member of the group
    # WHEN she announces a file and posts it with the form
    status, body = announce(app, "alice", team)
    assert status == 201, body
    assert set(body) == {"attachmentId", "upload", "expiresIn"}
    response = post_form(body["upload"], b"hello")
    # THEN storage holds it under a key made from the id alone, and the record is pending
    assert response.status_code in (200, 201, 204)
    head = as_the_test()(client("s3").head_object)(
        Bucket=app.stack.bucket, Key=f"a/{body['attachmentId']}"
    )
    assert head["ContentLength"] == 5 and head["ContentType"] == "text/plain"
    record = get_item(app, "AttachmentsTable", attachmentId=body["attachmentId"])
    assert record is not None and record["state"] == "pending" and "expiresAt" in record
    assert record["uploaderId"] == "alice" and record["conversationId"] == team


def test_the_form_pins_the_size_type_and_pending_tag(app: Harness, team: str) -> None:
    status, body = announce(app, "alice", team)
    assert status == 201
    fields = body["upload"]["fields"]
    assert fields["Content-Type"] == "text/plain" and "parley-state" in fields["tagging"]
    assert fields["key"] == f"a/{body['attachmentId']}"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "a/b.txt"}, 400, 1001),
        ({"name": "a\u0007b"}, 400, 1001),
        ({"name": ""}, 400, 1001),
        ({"name": "x" * 256}, 400, 1001),
        ({"size": 0}, 400, 1001),
        ({"size": 25 * 1024 * 1024 + 1}, 413, 1006),
        ({"contentType": "text"}, 400, 1001),
        ({"contentType": "text/plain; charset=utf-8"}, 400, 1001),
        ({"size": "5"}, 400, 1001),
        ({"extra": 1}, 400, 1001),
    ],
)
def test_bad_announcements_are_refused(
    app: Harness, team: str, body: dict[str, Any], status: int, code: int
) -> None:
    got, reply = announce(app, "alice", team, **body)
    assert (got, reply["code"]) == (status, code)
    assert not as_the_test()(client("dynamodb").scan)(
        TableName=app.stack.tables["AttachmentsTable"]
    )["Items"]


@pytest.mark.parametrize("conversation", ["own-group", "grp:01ARZ3NDEKTSV4RRFFQ69G5FAX"])
def test_a_non_member_gets_1004_whether_or_not_the_conversation_exists(
    app: Harness, team: str, conversation: str
) -> None:
    status, reply = announce(app, "dave", team if conversation == "own-group" else conversation)
    assert (status, reply["code"]) == (403, 1004)


def test_a_first_message_in_a_new_direct_conversation_can_be_a_file(
    app: Harness, team: str
) -> None:
    # GIVEN alice and dave, who have never written to each other
    dm = "dm:alice:dave"
    # WHEN alice uploads into their direct conversation and sends the file as its first message
    attachment = uploaded(app, "alice", dm)
    reply = send_frame(app, file_frame("first", dm, attachment), user="alice")
    # THEN the send opens the conversation with the file at seq 1, and dave may download it
    assert reply["type"] == "ack" and reply["seq"] == 1, reply
    status, body = download(app, "dave", attachment)
    assert status == 200 and body["attachmentId"] == attachment


@pytest.mark.parametrize(
    ("conversation", "blocked"),
    [
        ("dm:alice:nobody-here", False),  # the other user does not exist
        ("dm:bob:carol", False),  # alice is not one of the two
        ("dm:alice:dave", True),  # dave blocks alice
    ],
    ids=["unknown-user", "not-a-party", "blocked"],
)
def test_a_direct_conversation_without_messages_admits_only_its_unblocked_pair(
    app: Harness, team: str, conversation: str, blocked: bool
) -> None:
    # GIVEN a direct conversation alice may not open
    if blocked:
        status, _ = app.http(
            "http_users",
            "POST",
            "/users/{userId}/block",
            token=token(app, "dave"),
            path={"userId": "alice"},
        )
        assert status == 204
    # WHEN she announces a file there THEN she is refused like a non-member, and nothing is kept
    got, reply = announce(app, "alice", conversation)
    assert (got, reply["code"]) == (403, 1004)
    assert not as_the_test()(client("dynamodb").scan)(
        TableName=app.stack.tables["AttachmentsTable"]
    )["Items"]


def test_an_unauthenticated_announcement_is_401(app: Harness, team: str) -> None:
    status, reply = app.http("http_attachments", "POST", "/attachments", body={})
    assert (status, reply["code"]) == (401, 1003)


# ---- GET /attachments/{attachmentId} ------------------------------------------------------


def test_the_uploader_downloads_through_a_short_link(app: Harness, team: str) -> None:
    attachment = uploaded(app, "alice", team)
    status, body = download(app, "alice", attachment)
    assert status == 200, body
    assert body["name"] == "a.txt" and body["size"] == 5 and body["expiresIn"] <= 300
    assert "response-content-disposition" in body["url"]
    got = as_the_test()(requests.get)(body["url"], timeout=10)
    assert got.status_code == 200 and got.content == b"hello"


def test_members_download_once_a_message_carries_it_but_not_before_their_join(
    app: Harness, team: str
) -> None:
    attachment = uploaded(app, "alice", team)
    # GIVEN bob, a member, before any message carries it: 1004
    assert download(app, "bob", attachment)[1]["code"] == 1004
    # WHEN alice sends it
    reply = send_frame(app, file_frame("f1", team, attachment), user="alice")
    assert reply["type"] == "ack", reply
    # THEN bob may download it; dave (not a member) may not
    assert download(app, "bob", attachment)[0] == 200
    assert download(app, "dave", attachment)[1]["code"] == 1004
    # AND dave, added after the message, still may not (his join window starts later)
    status, _ = app.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=token(app, "alice"),
        path={"id": team},
        body={"userIds": ["dave"]},
    )
    assert status == 200
    assert download(app, "dave", attachment)[1]["code"] == 1004


@pytest.mark.parametrize("attachment_id", [UNKNOWN, "not-an-id"])
def test_an_unknown_attachment_is_404_2003(app: Harness, team: str, attachment_id: str) -> None:
    status, reply = download(app, "alice", attachment_id)
    assert (status, reply["code"]) == (404, 2003)


# ---- the `file` send ----------------------------------------------------------------------


def test_a_file_message_is_stored_with_the_file_fields_and_claims_it(
    app: Harness, team: str
) -> None:
    attachment = uploaded(app, "alice", team)
    reply = send_frame(app, file_frame("f1", team, attachment, caption="look"), user="alice")
    assert reply["type"] == "ack", reply
    [stored] = stored_messages(app, team)[-1:]
    import json

    assert json.loads(stored["body"]) == {
        "type": "file",
        "attachmentId": attachment,
        "name": "a.txt",
        "size": 5,
        "contentType": "text/plain",
        "caption": "look",
    }
    record = get_item(app, "AttachmentsTable", attachmentId=attachment)
    assert record is not None and record["state"] == "used" and record["seq"] == reply["seq"]
    assert "expiresAt" not in record
    # A retry answers the first ack although the attachment is used now
    again = send_frame(app, file_frame("f1", team, attachment, caption="look"), user="alice")
    assert again["seq"] == reply["seq"] and again["messageId"] == reply["messageId"]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("never uploaded", 1001),
        ("another conversation", 1001),
        ("another uploader", 1001),
        ("already used", 1001),
        ("unknown", 2003),
        ("malformed id", 1001),
        ("caption too long", 1006),
    ],
)
def test_a_file_that_cannot_be_sent_stores_nothing(
    app: Harness, team: str, case: str, code: int
) -> None:
    caption: dict[str, Any] = {}
    if case == "never uploaded":
        _, body = announce(app, "alice", team)
        attachment: Any = body["attachmentId"]
    elif case == "another conversation":
        other = str(create_group(app, token(app, "alice"), ["bob"])["conversationId"])
        attachment = uploaded(app, "alice", other)
    elif case == "another uploader":
        attachment = uploaded(app, "bob", team)
    elif case == "already used":
        attachment = uploaded(app, "alice", team)
        assert send_frame(app, file_frame("first", team, attachment))["type"] == "ack"
    elif case == "unknown":
        attachment = UNKNOWN
    elif case == "malformed id":
        attachment = 42
    else:
        attachment = uploaded(app, "alice", team)
        caption = {"caption": "x" * 1001}
    before = stored_messages(app, team)
    reply = send_frame(app, file_frame("f2", team, attachment, **caption), user="alice")
    assert error_code(reply) == code, reply
    assert stored_messages(app, team) == before


def test_a_claim_refused_inside_the_transaction_takes_no_seq(
    app: Harness, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an attachment claimed by another message between send's checks and its write
    from parley import runtime
    from parley.services.attachments import AttachmentService

    attachment = uploaded(app, "alice", team)
    original = AttachmentService.claimable

    def claimed_meanwhile(self: AttachmentService, *args: Any) -> Any:
        found = original(self, *args)
        as_the_test()(client("dynamodb").update_item)(
            TableName=app.stack.tables["AttachmentsTable"],
            Key={"attachmentId": {"S": attachment}},
            UpdateExpression="SET #s = :u",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":u": {"S": "used"}},
        )
        return found

    monkeypatch.setattr(AttachmentService, "claimable", claimed_meanwhile)
    runtime.reset()
    before = stored_messages(app, team)
    # WHEN alice sends it
    reply = send_frame(app, file_frame("f1", team, attachment), user="alice")
    # THEN 1001, and neither the message nor a seq was written
    assert error_code(reply) == 1001
    assert stored_messages(app, team) == before
