"""End to end: deleting a file message erases its file through the real template's erase
queue and erase function, run by the local cloud's SQS poller with the queue's delay (what
`make dev` runs): the download answers 2003 at once, the object and record go within a
minute (protocol 9.2)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from parley_client import ErrorCode, ParleyError
from parley_local import LocalCloud

from tests.e2e.helpers import connect_all, eventually, run, sign_up_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_a_deleted_file_is_gone_from_storage_within_a_minute(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    source = tmp_path / "secret.txt"
    source.write_bytes(b"the plan")
    bucket = cloud.ref("AttachmentsBucket")

    def object_stored(attachment_id: str) -> bool:
        listed = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"a/{attachment_id}")
        return bool(listed.get("Contents"))

    def record_gone(attachment_id: str) -> bool:
        found = cloud.client("dynamodb").get_item(
            TableName=cloud.ref("AttachmentsTable"),
            Key={"attachmentId": {"S": attachment_id}},
            ConsistentRead=True,
        )
        return "Item" not in found

    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        group = await alice.http.create_group("files", [bob.user_id])
        conversation = str(group["conversationId"])
        async with contextlib.AsyncExitStack() as stack:
            [sender] = await connect_all(stack, alice.client())
            # GIVEN a file message bob can download
            ack = await sender.send_file(alice.http, source, conversation_id=conversation)
            held = sender.message(conversation, ack["seq"])
            assert held is not None
            attachment_id = str(held["body"]["attachmentId"])
            await bob.http.download(attachment_id, tmp_path / "before")
            assert object_stored(attachment_id)
            # WHEN alice deletes it
            deleted_at = time.monotonic()
            await sender.delete(conversation, ack["seq"])
            # THEN bob's download answers 2003 at once
            with pytest.raises(ParleyError) as caught:
                await bob.http.download(attachment_id, tmp_path / "after")
            assert caught.value.code == ErrorCode.NOT_FOUND
            # AND the erase function removes the object, then the record, within a minute
            await eventually(
                lambda: not object_stored(attachment_id) and record_gone(attachment_id),
                timeout=55,
                what="the erasure",
            )
            assert time.monotonic() - deleted_at < 60

    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    run(scenario())
