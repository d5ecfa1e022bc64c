"""Attachments (protocol 9.1 `file` body and 9.3) over the in-memory ports: the upload form
and its policy, the download rules, and the `file` send's checks and atomic claim."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from parley.errors import Forbidden, InvalidParam, NotFound, ParleyError, PayloadTooLarge
from parley.models import SendFrame, parse_frame
from parley.services.attachments import (
    DOWNLOAD_EXPIRES,
    PENDING_TTL,
    AttachmentService,
    object_key,
)
from parley_memory.attachments import Attachments, ObjectRefused, Objects

from tests.unit.services.conftest import World, build_world

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
OTHER = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAW"
MAX = 1000


class Files:
    """The world with attachments wired in: the service, its table and its bucket."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.table = Attachments(world.repos.store)
        self.bucket = Objects(world.clock, world.repos.store)
        self.service = AttachmentService(
            attachments=self.table,
            objects=self.bucket,
            members=world.repos.members,
            users=world.repos.users,
            clock=world.clock,
            max_bytes=MAX,
        )
        world.messages.files = self.service

    def upload(
        self,
        user: str = "alice",
        conversation: str = GROUP,
        content: bytes = b"hello",
        *,
        name: str = "hello.txt",
        content_type: str = "text/plain",
        put: bool = True,
    ) -> str:
        """Announce a file and (unless `put` is False) upload it with its form."""
        created = self.service.create_upload(user, conversation, name, len(content), content_type)
        if put:
            self.bucket.post(created["upload"]["fields"], content)
        return str(created["attachmentId"])

    def send(self, user: str, attachment_id: str, client_id: str = "c-1", **body: Any) -> Any:
        return self.world.messages.send(user, file_frame(attachment_id, client_id, **body))


def file_frame(attachment_id: str, client_id: str = "c-1", **extra: Any) -> SendFrame:
    frame = {
        "action": "send",
        "id": f"r-{client_id}",
        "conversationId": extra.pop("conversation", GROUP),
        "clientMsgId": client_id,
        "body": {"type": "file", "attachmentId": attachment_id, **extra},
    }
    parsed = parse_frame(json.dumps(frame))
    assert isinstance(parsed, SendFrame)
    return parsed


@pytest.fixture
def files() -> Iterator[Files]:
    world = build_world()
    for user in ("alice", "bob", "carol", "dave"):
        world.repos.users.add(user)
    world.repos.add_conversation(GROUP, name="team")
    world.repos.add_conversation(OTHER, name="other")
    for user in ("alice", "bob", "carol"):
        world.repos.add_member(GROUP, user)
    world.repos.add_member(OTHER, "alice")
    yield Files(world)
    if world.push._pool is not None:
        world.push._pool.shutdown(wait=True)


# ---- POST /attachments -------------------------------------------------------------------


def test_a_member_gets_a_form_pinned_to_the_size_and_type(files: Files) -> None:
    # GIVEN alice, a member
    # WHEN she announces a 5-byte text file
    created = files.service.create_upload("alice", GROUP, "a.txt", 5, "text/plain")
    # THEN a pending record expires in 24 h, and the form takes exactly those 5 bytes
    record = files.table.get(created["attachmentId"])
    assert record is not None and record["state"] == "pending"
    assert record["expiresAt"] == files.world.clock.now_ms() // 1000 + PENDING_TTL
    fields = created["upload"]["fields"]
    files.bucket.post(fields, b"12345")
    assert files.bucket.size_of(object_key(created["attachmentId"])) == 5
    assert files.bucket.tags(object_key(created["attachmentId"])) == {"parley-state": "pending"}


@pytest.mark.parametrize(
    ("content", "fields", "code"),
    [
        (b"123456", {}, "EntityTooLarge"),
        (b"1234", {}, "EntityTooSmall"),
        (b"12345", {"Content-Type": "text/html"}, "AccessDenied"),
        (b"12345", {"key": "a/elsewhere"}, "AccessDenied"),
        (b"12345", {"tagging": ""}, "AccessDenied"),
    ],
)
def test_storage_refuses_another_size_type_key_or_tag(
    files: Files, content: bytes, fields: dict[str, str], code: str
) -> None:
    # GIVEN a form for 5 bytes of text/plain
    created = files.service.create_upload("alice", GROUP, "a.txt", 5, "text/plain")
    # WHEN the upload breaks one of its conditions
    with pytest.raises(ObjectRefused) as refused:
        files.bucket.post({**created["upload"]["fields"], **fields}, content)
    # THEN storage refuses it as S3 does, and nothing is stored
    assert refused.value.code == code
    assert files.bucket.size_of(object_key(created["attachmentId"])) is None


def test_an_expired_form_is_refused(files: Files) -> None:
    created = files.service.create_upload("alice", GROUP, "a.txt", 5, "text/plain")
    files.world.clock.advance((created["expiresIn"] + 1) * 1000)
    with pytest.raises(ObjectRefused):
        files.bucket.post(created["upload"]["fields"], b"12345")


@pytest.mark.parametrize(
    ("name", "size", "content_type", "error"),
    [
        ("a/b.txt", 5, "text/plain", InvalidParam),
        ("a\x00b", 5, "text/plain", InvalidParam),
        ("tab\there", 5, "text/plain", InvalidParam),
        ("del\x7f", 5, "text/plain", InvalidParam),
        ("c1\x85", 5, "text/plain", InvalidParam),
        ("", 5, "text/plain", InvalidParam),
        ("x" * 256, 5, "text/plain", InvalidParam),
        ("a.txt", 0, "text/plain", InvalidParam),
        ("a.txt", MAX + 1, "text/plain", PayloadTooLarge),
        ("a.txt", 5, "text", InvalidParam),
        ("a.txt", 5, "text/plain; charset=utf-8", InvalidParam),
        ("a.txt", 5, "/plain", InvalidParam),
        ("a.txt", 5, "te xt/plain", InvalidParam),
        ("a.txt", 5, "text/pl/ain", InvalidParam),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_stored(
    files: Files, name: str, size: int, content_type: str, error: type[ParleyError]
) -> None:
    with pytest.raises(error):
        files.service.create_upload("alice", GROUP, name, size, content_type)
    assert files.world.repos.store.attachments == {}


def test_the_largest_allowed_size_and_odd_but_valid_names_are_accepted(files: Files) -> None:
    created = files.service.create_upload(
        "alice", GROUP, 'résumé "final" ✓.pdf', MAX, "application/vnd.ms-excel+xml"
    )
    assert created["upload"]["fields"]["Content-Type"] == "application/vnd.ms-excel+xml"


@pytest.mark.parametrize("conversation", [OTHER, "grp:01ARZ3NDEKTSV4RRFFQ69G5FAX", "dm:carol:dave"])
def test_a_non_member_gets_1004_whether_or_not_the_conversation_exists(
    files: Files, conversation: str
) -> None:
    with pytest.raises(Forbidden):
        files.service.create_upload("bob", conversation, "a.txt", 5, "text/plain")


def test_a_malformed_conversation_id_is_1001(files: Files) -> None:
    with pytest.raises(InvalidParam):
        files.service.create_upload("bob", "nonsense", "a.txt", 5, "text/plain")


# ---- GET /attachments/{id} ----------------------------------------------------------------


def test_the_uploader_downloads_a_pending_attachment(files: Files) -> None:
    attachment = files.upload()
    found = files.service.download("alice", attachment)
    assert found["name"] == "hello.txt" and found["size"] == 5
    assert found["expiresIn"] == DOWNLOAD_EXPIRES <= 300
    assert files.bucket.get(found["url"]) == b"hello"


def test_other_members_download_only_once_a_message_carries_it(files: Files) -> None:
    attachment = files.upload()
    with pytest.raises(Forbidden):
        files.service.download("bob", attachment)
    files.send("alice", attachment)
    assert files.bucket.get(files.service.download("bob", attachment)["url"]) == b"hello"


def test_a_member_who_joined_after_the_message_cannot_download(files: Files) -> None:
    attachment = files.upload()
    sent = files.send("alice", attachment)
    files.world.repos.add_member(GROUP, "dave", joined_seq=sent.message["seq"] + 1)
    with pytest.raises(Forbidden):
        files.service.download("dave", attachment)
    files.world.repos.add_member(GROUP, "carol", joined_seq=sent.message["seq"])
    files.service.download("carol", attachment)


@pytest.mark.parametrize("attachment_id", ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "", "x" * 5000])
def test_an_unknown_attachment_is_2003(files: Files, attachment_id: str) -> None:
    with pytest.raises(NotFound):
        files.service.download("alice", attachment_id)


def test_a_download_link_expires(files: Files) -> None:
    found = files.service.download("alice", files.upload())
    files.world.clock.advance((DOWNLOAD_EXPIRES + 1) * 1000)
    with pytest.raises(ObjectRefused):
        files.bucket.get(found["url"])


# ---- the `file` send ----------------------------------------------------------------------


def test_a_file_message_stores_the_attachment_fields_and_claims_it(files: Files) -> None:
    # GIVEN an uploaded file
    attachment = files.upload()
    # WHEN alice sends it with a caption
    sent = files.send("alice", attachment, caption="look")
    # THEN the body carries its name, size and type; the record is used by that seq, with
    # no expiry; the object is no longer tagged pending
    assert sent.message["body"] == {
        "type": "file",
        "attachmentId": attachment,
        "name": "hello.txt",
        "size": 5,
        "contentType": "text/plain",
        "caption": "look",
    }
    record = files.table.get(attachment)
    assert record is not None and record["state"] == "used"
    assert record["seq"] == sent.message["seq"] and "expiresAt" not in record
    assert files.bucket.tags(object_key(attachment)) == {}


def test_a_retried_file_send_answers_the_first_copy(files: Files) -> None:
    attachment = files.upload()
    first = files.send("alice", attachment)
    again = files.send("alice", attachment)
    assert again.duplicate and again.message == first.message
    assert files.world.repos.messages.last_seq(GROUP) == first.message["seq"]


def test_a_caption_is_optional(files: Files) -> None:
    sent = files.send("alice", files.upload())
    assert "caption" not in sent.message["body"]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("never uploaded", InvalidParam),
        ("another uploader", InvalidParam),
        ("another conversation", InvalidParam),
        ("already used", InvalidParam),
        ("wrong size", InvalidParam),
        ("unknown", NotFound),
    ],
)
def test_a_file_that_cannot_be_claimed_stores_nothing(
    files: Files, setup: str, error: type[ParleyError]
) -> None:
    # GIVEN an attachment in one of the states a message may not claim
    if setup == "never uploaded":
        attachment = files.upload(put=False)
    elif setup == "another uploader":
        attachment = files.upload("bob")
    elif setup == "another conversation":
        attachment = files.upload(conversation=OTHER)
    elif setup == "already used":
        attachment = files.upload()
        files.send("alice", attachment, client_id="first")
    elif setup == "wrong size":
        attachment = files.upload()
        files.world.repos.store.objects[object_key(attachment)]["body"] = b"hello!"
    else:
        attachment = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    before = files.world.repos.messages.last_seq(GROUP)
    # WHEN alice sends it
    with pytest.raises(error):
        files.send("alice", attachment, client_id="c-2")
    # THEN nothing is stored and no seq is taken
    assert files.world.repos.messages.last_seq(GROUP) == before


def test_a_claim_lost_to_a_concurrent_message_stores_nothing(files: Files) -> None:
    # GIVEN an attachment another send of alice claims between the checks and the put
    attachment = files.upload()

    def other_send_first(message: Any) -> None:
        files.table.before_claim = None
        files.send("alice", attachment, client_id="other")

    files.table.before_claim = other_send_first
    # WHEN this send reaches its transaction
    with pytest.raises(InvalidParam):
        files.send("alice", attachment, client_id="mine")
    # THEN only the other message exists, holding the claim
    assert files.world.repos.messages.last_seq(GROUP) == 1
    record = files.table.get(attachment)
    assert record is not None and record["seq"] == 1


def test_a_lost_seq_race_retries_and_claims_once(files: Files) -> None:
    # GIVEN a text message that takes the seq this file send read
    attachment = files.upload()

    def text_first(message: Any) -> None:
        files.table.before_claim = None
        files.world.repos.add_message(GROUP, message["seq"], "bob")

    files.table.before_claim = text_first
    # WHEN the file send retries
    sent = files.send("alice", attachment)
    # THEN it is stored at the next seq and the claim names that seq
    assert sent.message["seq"] == 2
    record = files.table.get(attachment)
    assert record is not None and record["seq"] == 2


def test_file_bodies_are_refused_where_attachments_are_not_configured(files: Files) -> None:
    files.world.messages.files = None
    with pytest.raises(InvalidParam):
        files.send("alice", files.upload())


def test_a_text_send_stays_one_conditional_put(files: Files) -> None:
    from parley.models import parse_frame as parse

    frame = parse(
        json.dumps(
            {
                "action": "send",
                "conversationId": GROUP,
                "clientMsgId": "t-1",
                "body": {"type": "text", "text": "hi"},
            }
        )
    )
    assert isinstance(frame, SendFrame)
    files.world.messages.send("alice", frame)
    assert files.world.repos.messages.times("put_if_absent") == 1
    assert files.table.times("put_message_claiming") == 0
    assert files.table.times("get") == 0
