"""Events against moto through the real handlers (protocol 9.1-9.2): edit, delete and
reaction acked and stored with their own seq, targets shown in their current state by
history and sync, every refusal code with nothing stored, and a delete that leaves no trace
of the target's text, caption, file name or file content in any table or the bucket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Harness
from tests.integration.helpers import (
    call,
    conversations,
    create_group,
    get_item,
    history,
    scan,
    send_frame,
    stored_messages,
    sync_entry,
)
from tests.integration.test_attachments import file_frame, token, uploaded
from tests.support import events as sqs
from tests.support.handlers import as_the_test
from tests.support.stack import client

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")


@pytest.fixture
def team(app: Harness) -> str:
    """alice (owner), bob and carol in a group."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
    return str(create_group(app, token(app, "alice"), ["bob", "carol"])["conversationId"])


class Sender:
    """Sends bodies into one conversation through the `send` route, numbering clientMsgIds."""

    def __init__(self, app: Harness, conversation: str) -> None:
        self.app = app
        self.conversation = conversation
        self.count = 0

    def __call__(self, user: str, body: dict[str, Any], client_id: str | None = None) -> Any:
        self.count += 1
        frame = {
            "action": "send",
            "id": f"r{self.count}",
            "conversationId": self.conversation,
            "clientMsgId": client_id or f"{user}-{self.count}",
            "body": body,
        }
        return send_frame(self.app, frame, user=user, connection=f"{user}-conn")


def acked(reply: dict[str, Any]) -> int:
    assert reply["type"] == "ack", reply
    return int(reply["seq"])


def code(reply: dict[str, Any]) -> int | None:
    return reply.get("code") if reply.get("type") == "error" else None


def test_events_are_acked_stored_and_shown_in_current_state(app: Harness, team: str) -> None:
    # GIVEN a text message and a reply mentioning bob
    send = Sender(app, team)
    first = acked(send("alice", {"type": "text", "text": "helo"}))
    reply = acked(
        send("bob", {"type": "text", "text": "hi", "replyTo": first, "mentions": ["alice"]})
    )
    # WHEN alice edits hers, carol and bob react, then bob deletes his reply
    edit = acked(send("alice", {"type": "edit", "target": first, "text": "hello"}))
    acked(send("carol", {"type": "reaction", "target": first, "key": "👍", "on": True}))
    acked(send("bob", {"type": "reaction", "target": first, "key": "👍", "on": True}))
    delete = acked(send("bob", {"type": "delete", "target": reply}))
    # THEN every event has its own seq, in order
    assert [first, reply, edit, delete] == sorted([first, reply, edit, delete])
    # AND history shows each target as it is now, events included
    status, page = history(app, token(app, "carol"), team)
    assert status == 200, page
    by_seq = {m["seq"]: m for m in page["messages"]}
    assert by_seq[first]["body"] == {"type": "text", "text": "hello"}
    assert by_seq[first]["edited"]["seq"] == edit
    assert by_seq[first]["reactions"] == {"👍": ["bob", "carol"]}
    assert by_seq[reply]["body"] == {"type": "deleted"}
    assert by_seq[reply]["deleted"]["by"] == "bob"
    assert by_seq[edit]["body"] == {"type": "edit", "target": first, "text": "hello"}
    # AND sync agrees
    entry = sync_entry(app, "carol", team)
    assert entry is not None
    synced = {m["seq"]: m for m in entry["messages"]}
    assert synced[first]["reactions"] == {"👍": ["bob", "carol"]}
    assert synced[reply]["body"] == {"type": "deleted"}


def test_unread_skips_events(app: Harness, team: str) -> None:
    # GIVEN the group's creation (a system message), then two texts and three events
    send = Sender(app, team)
    one = acked(send("alice", {"type": "text", "text": "one"}))
    acked(send("alice", {"type": "text", "text": "two"}))
    acked(send("alice", {"type": "edit", "target": one, "text": "uno"}))
    acked(send("carol", {"type": "reaction", "target": one, "key": "x", "on": True}))
    acked(send("carol", {"type": "reaction", "target": one, "key": "x", "on": False}))
    # WHEN bob, who has read nothing, lists his conversations
    listed = conversations(app, token(app, "bob"))[team]
    # THEN unread counts the two texts only, of the six messages above his readSeq
    assert listed["unread"] == 2
    assert listed["lastSeq"] - listed["readSeq"] == 6


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("bob", {"type": "edit", "target": "T", "text": "x"}, 1004),
        ("alice", {"type": "edit", "target": "E", "text": "x"}, 1001),
        ("alice", {"type": "edit", "target": 1, "text": "x"}, 1001),
        ("carol", {"type": "delete", "target": "T"}, 1004),
        ("alice", {"type": "delete", "target": "E"}, 1001),
        ("bob", {"type": "reaction", "target": "E", "key": "x", "on": True}, 1001),
        ("bob", {"type": "reaction", "target": "T", "key": "x", "on": False}, 1001),
        ("bob", {"type": "reaction", "target": 999, "key": "x", "on": True}, 2003),
        ("bob", {"type": "reaction", "target": "T", "key": "\u0007", "on": True}, 1001),
        ("bob", {"type": "reaction", "target": "T", "key": "x" * 33, "on": True}, 1001),
        ("bob", {"type": "reaction", "target": "T", "key": "x", "on": "yes"}, 1001),
        ("bob", {"type": "edit", "target": 0, "text": "x"}, 1001),
        ("alice", {"type": "edit", "target": "T", "text": "x" * 4001}, 1006),
        ("bob", {"type": "text", "text": "x", "replyTo": 999}, 2003),
        ("bob", {"type": "text", "text": "x", "mentions": ["zed"]}, 1001),
        ("bob", {"type": "text", "text": "x", "mentions": ["alice", "alice"]}, 1001),
        ("bob", {"type": "text", "text": "x", "mentions": []}, 1001),
    ],
)
def test_a_refused_event_stores_nothing_and_takes_no_seq(
    app: Harness, team: str, who: str, body: dict[str, Any], expected: int
) -> None:
    # GIVEN alice's text (T) and an edit of it (E)
    send = Sender(app, team)
    text = acked(send("alice", {"type": "text", "text": "t"}))
    edit = acked(send("alice", {"type": "edit", "target": text, "text": "t2"}))
    target = {"T": text, "E": edit}.get(body.get("target"), body.get("target"))  # type: ignore[arg-type]
    before = stored_messages(app, team)
    # WHEN the refused body is sent
    reply = send(who, {**body, **({"target": target} if "target" in body else {})})
    # THEN the protocol's code, and the conversation is exactly as it was
    assert code(reply) == expected, reply
    assert stored_messages(app, team) == before
    # AND the next message takes the next seq
    assert acked(send("alice", {"type": "text", "text": "after"})) == edit + 1


@as_the_test()
def bucket_keys(app: Harness) -> list[str]:
    listed = client("s3").list_objects_v2(Bucket=app.stack.bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


@as_the_test()
def erase_queue_waiting(app: Harness) -> int:
    """How many erasures are scheduled (visible or still delayed), without consuming them."""
    sqs_client = client("sqs")
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=app.stack.erase_queue_url, AttributeNames=["All"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesDelayed", 0)
    )


def everything_stored(app: Harness) -> str:
    """Every item of every table and every object of the bucket, as one text."""
    rows = {logical: scan(app, logical) for logical in app.stack.tables}
    objects = {}
    for key in bucket_keys(app):
        objects[key] = read_object(app, key)
    return json.dumps({"tables": rows, "objects": objects}, default=str, ensure_ascii=False)


@as_the_test()
def read_object(app: Harness, key: str) -> str:
    body = client("s3").get_object(Bucket=app.stack.bucket, Key=key)["Body"].read()
    return bytes(body).decode("utf-8", "replace")


def test_a_delete_leaves_no_trace_in_any_table_or_the_bucket(app: Harness, team: str) -> None:
    # GIVEN a text edited twice, and a file with a caption, name and content, each marked
    send = Sender(app, team)
    text = acked(send("alice", {"type": "text", "text": "SECRET-A one", "mentions": ["bob"]}))
    acked(send("alice", {"type": "edit", "target": text, "text": "SECRET-B two"}))
    acked(send("alice", {"type": "edit", "target": text, "text": "SECRET-C three"}))
    acked(send("bob", {"type": "reaction", "target": text, "key": "x", "on": True}))
    attachment = uploaded(app, "alice", team, b"SECRET-D content")
    file_reply = send_frame(
        app,
        file_frame("f-1", team, attachment, caption="SECRET-E caption"),
        user="alice",
        connection="alice-conn",
    )
    file_seq = acked(file_reply)
    # (the search below can find them: before the deletes, each marker is stored somewhere,
    # but the first text, which its first edit replaced)
    before = everything_stored(app)
    for marker in ("SECRET-B", "SECRET-C", "SECRET-D", "SECRET-E", "a.txt"):
        assert marker in before, marker
    assert "SECRET-A" not in before
    # WHEN alice deletes both (the file by the group's owner: herself)
    acked(send("alice", {"type": "delete", "target": text}))
    acked(send("alice", {"type": "delete", "target": file_seq}))
    # THEN no table holds any of the text, the edits, the caption or the file's name
    stored = everything_stored(app)
    for marker in ("SECRET-A", "SECRET-B", "SECRET-C", "SECRET-E", "a.txt"):
        assert marker not in json.dumps(
            {k: v for k, v in json.loads(stored).items() if k == "tables"}, ensure_ascii=False
        ), marker
    record = get_item(app, "AttachmentsTable", attachmentId=attachment)
    assert record is not None and record["state"] == "erased" and "name" not in record
    # AND the erasure was scheduled before the commit; delivered, it removes the object
    assert erase_queue_waiting(app) == 1
    result = call("erase", sqs.sqs_event([{"attachmentId": attachment}]))
    assert result == {"batchItemFailures": []}
    stored = everything_stored(app)
    for marker in ("SECRET-A", "SECRET-B", "SECRET-C", "SECRET-D", "SECRET-E", "a.txt"):
        assert marker not in stored, marker
    assert get_item(app, "AttachmentsTable", attachmentId=attachment) is None
    # AND the download answers 2003
    status, body = app.http(
        "http_attachments",
        "GET",
        "/attachments/{attachmentId}",
        token=token(app, "alice"),
        path={"attachmentId": attachment},
    )
    assert (status, body["code"]) == (404, 2003)


def test_a_group_admin_deletes_a_members_file(app: Harness, team: str) -> None:
    # GIVEN bob's file in alice's group
    attachment = uploaded(app, "bob", team)
    seq = acked(
        send_frame(app, file_frame("f-b", team, attachment), user="bob", connection="bob-conn")
    )
    # WHEN carol (a member) and then alice (the owner) delete it
    send = Sender(app, team)
    assert code(send("carol", {"type": "delete", "target": seq})) == 1004
    acked(send("alice", {"type": "delete", "target": seq}))
    # THEN it is deleted by alice, and its record erased
    record = get_item(app, "AttachmentsTable", attachmentId=attachment)
    assert record is not None and record["state"] == "erased"
