"""Erasure (protocol 9.2) over the in-memory ports: a deleted file message's object and
record go through the erase queue; a delete that never committed erases nothing; every
step is idempotent; and an erased attachment answers 2003 and cannot be claimed again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from parley.errors import InvalidParam, NotFound, Unavailable
from parley.models import SendFrame, parse_frame
from parley.services.attachments import object_key
from parley.services.erasure import ErasureOutcome, ErasureService
from parley_memory.attachments import ErasureQueue

from tests.unit.services.conftest import build_world
from tests.unit.services.test_attachment_service import GROUP, Files

ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


class Erasing(Files):
    """The attachments world with the erase queue wired into send, and the erase service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ErasureQueue()
        self.world.messages.erasures = self.queue
        self.erasure = ErasureService(attachments=self.table, objects=self.bucket)

    def record(self, attachment_id: str) -> dict[str, Any] | None:
        found = self.table.get(attachment_id)
        return dict(found) if found is not None else None

    def stored(self, attachment_id: str) -> bool:
        return self.bucket.size_of(object_key(attachment_id)) is not None

    def delete(self, user: str, seq: int, client_id: str) -> Any:
        frame = {
            "action": "send",
            "id": f"r-{client_id}",
            "conversationId": GROUP,
            "clientMsgId": client_id,
            "body": {"type": "delete", "target": seq},
        }
        parsed = parse_frame(json.dumps(frame))
        assert isinstance(parsed, SendFrame)
        return self.world.messages.send(user, parsed)

    def sent_file(self, user: str = "alice") -> tuple[str, int]:
        """A file uploaded and sent by `user`: its attachment id and message seq."""
        attachment_id = self.upload(user)
        ack = self.send(user, attachment_id, client_id=f"f-{attachment_id}")
        return attachment_id, int(ack.message["seq"])


@pytest.fixture
def erasing() -> Iterator[Erasing]:
    world = build_world()
    for user in ("alice", "bob", "carol"):
        world.repos.users.add(user)
    world.repos.add_conversation(GROUP, name="team")
    for user in ("alice", "bob", "carol"):
        world.repos.add_member(GROUP, user)
    yield Erasing(world)
    if world.push._pool is not None:
        world.push._pool.shutdown(wait=True)


def erased_record(erasing: Erasing, attachment_id: str = ULID) -> None:
    """An `erased` record as the delete's transaction leaves it, and its object."""
    record = {
        "attachmentId": attachment_id,
        "conversationId": GROUP,
        "uploaderId": "alice",
        "size": 5,
        "createdAt": 1,
        "state": "erased",
        "seq": 1,
        "erasedAt": 2,
    }
    erasing.world.repos.store.attachments[attachment_id] = record
    erasing.world.repos.store.objects[object_key(attachment_id)] = {
        "body": b"hello",
        "contentType": "text/plain",
        "tags": {},
    }


# ---- the erase function's service ------------------------------------------------------------


def test_an_erased_record_loses_its_object_then_itself(erasing: Erasing) -> None:
    # GIVEN an erased record whose object is still stored
    erased_record(erasing)
    # WHEN the erasure runs
    outcome = erasing.erasure.erase(ULID)
    # THEN the object and the record are gone
    assert outcome is ErasureOutcome.ERASED
    assert not erasing.stored(ULID)
    assert erasing.record(ULID) is None


@pytest.mark.parametrize("state", ["pending", "used"])
def test_a_delete_that_never_committed_erases_nothing(erasing: Erasing, state: str) -> None:
    # GIVEN a file whose record is still pending or used (the delete refused or crashed
    # after scheduling, before its transaction)
    attachment_id = erasing.upload()
    erasing.world.repos.store.attachments[attachment_id]["state"] = state
    before = erasing.record(attachment_id)
    # WHEN its erasure is delivered
    outcome = erasing.erasure.erase(attachment_id)
    # THEN the record and the object are untouched
    assert outcome is ErasureOutcome.NOT_DELETED
    assert erasing.record(attachment_id) == before
    assert erasing.stored(attachment_id)


def test_an_absent_record_is_already_erased(erasing: Erasing) -> None:
    # GIVEN no record (an earlier delivery finished) WHEN the erasure runs THEN no error
    assert erasing.erasure.erase(ULID) is ErasureOutcome.ABSENT
    assert erasing.table.times("remove_erased") == 0


def test_a_redelivered_erasure_changes_nothing(erasing: Erasing) -> None:
    # GIVEN an erasure that completed
    erased_record(erasing)
    erasing.erasure.erase(ULID)
    # WHEN SQS delivers it again THEN it finds nothing to do
    assert erasing.erasure.erase(ULID) is ErasureOutcome.ABSENT
    assert not erasing.stored(ULID) and erasing.record(ULID) is None


def test_a_crash_between_object_and_record_is_finished_by_the_redelivery(
    erasing: Erasing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an erasure whose record delete fails after the object went
    erased_record(erasing)

    def outage(attachment_id: str) -> bool:
        raise Unavailable("throttled")

    monkeypatch.setattr(erasing.table, "remove_erased", outage)
    with pytest.raises(Unavailable):
        erasing.erasure.erase(ULID)
    assert not erasing.stored(ULID)
    record = erasing.record(ULID)
    assert record is not None and record["state"] == "erased"
    monkeypatch.undo()
    # WHEN SQS redelivers it THEN the (missing) object is deleted again and the record goes
    assert erasing.erasure.erase(ULID) is ErasureOutcome.ERASED
    assert erasing.record(ULID) is None


def test_the_record_is_removed_only_while_erased(erasing: Erasing) -> None:
    # GIVEN a used record WHEN the conditional delete is asked THEN it refuses
    attachment_id = erasing.upload()
    erasing.world.repos.store.attachments[attachment_id]["state"] = "used"
    assert erasing.table.remove_erased(attachment_id) is False
    assert erasing.record(attachment_id) is not None
    assert erasing.table.remove_erased(ULID) is False


# ---- the delete's side: scheduling, 2003, no second claim ------------------------------------


def test_deleting_a_file_message_schedules_its_erasure_and_answers_2003(
    erasing: Erasing,
) -> None:
    # GIVEN a file message bob can download
    attachment_id, seq = erasing.sent_file("alice")
    assert erasing.service.download("bob", attachment_id)["name"] == "hello.txt"
    # WHEN alice deletes it
    erasing.delete("alice", seq, "d-1")
    # THEN its erasure is scheduled, the record is erased (no name, no type) and a
    # download answers 2003 for everyone, before the erase function has run
    assert erasing.queue.scheduled == [attachment_id]
    record = erasing.record(attachment_id)
    assert record is not None and record["state"] == "erased"
    assert "name" not in record and "contentType" not in record
    for user in ("alice", "bob", "carol"):
        with pytest.raises(NotFound):
            erasing.service.download(user, attachment_id)
    # AND once the queue delivers it, neither the object nor the record is left
    assert erasing.queue.drain(erasing.erasure.erase) == [ErasureOutcome.ERASED]
    assert not erasing.stored(attachment_id)
    assert erasing.record(attachment_id) is None
    with pytest.raises(NotFound):
        erasing.service.download("alice", attachment_id)


def test_a_delete_that_cannot_schedule_is_refused_and_erases_nothing(erasing: Erasing) -> None:
    # GIVEN a file message, and an erase queue that is unavailable
    attachment_id, seq = erasing.sent_file("alice")
    erasing.queue.fail = Unavailable("queue unavailable")
    # WHEN alice deletes it THEN the delete fails (retryable) before it commits
    with pytest.raises(Unavailable):
        erasing.delete("alice", seq, "d-1")
    record = erasing.record(attachment_id)
    assert record is not None and record["state"] == "used"
    assert erasing.service.download("bob", attachment_id)["name"] == "hello.txt"
    # AND its retry schedules the erasure and commits
    erasing.delete("alice", seq, "d-1")
    assert erasing.queue.scheduled == [attachment_id]
    record = erasing.record(attachment_id)
    assert record is not None and record["state"] == "erased"


def test_an_erased_attachment_cannot_be_claimed_again(erasing: Erasing) -> None:
    # GIVEN an erased attachment whose object is still stored (the queue has not run)
    attachment_id, seq = erasing.sent_file("alice")
    erasing.delete("alice", seq, "d-1")
    assert erasing.stored(attachment_id)
    # WHEN alice sends it in a new message THEN 1001, as for a used one, and nothing stored
    before = erasing.world.repos.store.messages[GROUP].copy()
    with pytest.raises(InvalidParam):
        erasing.send("alice", attachment_id, client_id="again")
    assert erasing.world.repos.store.messages[GROUP] == before


def test_a_retried_delete_schedules_no_second_erasure(erasing: Erasing) -> None:
    # GIVEN a deleted file message
    attachment_id, seq = erasing.sent_file("alice")
    erasing.delete("alice", seq, "d-1")
    # WHEN the client retries the same delete (same clientMsgId)
    erasing.delete("alice", seq, "d-1")
    # THEN the first ack answers and the erasure stays scheduled once
    assert erasing.queue.scheduled == [attachment_id]
