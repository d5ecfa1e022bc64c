"""End to end (protocol 12): an export and an account deletion through the real template's
account jobs queue and function, run by the local cloud's SQS poller (what `make dev`
runs): the export's JSON downloads with every message the user sent, and after `DELETE /me`
the user's messages read as deleted to the others, their login fails and the userId stays
taken."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from parley_client import ErrorCode, HttpClient, ParleyError
from parley_local import LocalCloud

from tests.e2e.helpers import PASSWORD, TIMEOUT, connect_all, dm, eventually, run, sign_up_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_export_then_delete_account(cloud: LocalCloud, tmp_path: Path) -> None:
    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        group = await bob.http.create_group("old friends", [alice.user_id])
        conversation = str(group["conversationId"])
        async with contextlib.AsyncExitStack() as stack:
            [sender] = await connect_all(stack, alice.client())
            await sender.send("in the group", conversation_id=conversation)
            await sender.send("just for bob", to=bob.user_id)
        # GIVEN alice's export, asked for and downloaded once ready
        export_id = await alice.http.request_export()
        path = await alice.http.download_export(export_id, tmp_path, wait=60, every=0.2)
        exported = json.loads(path.read_text())
        texts = {m["body"].get("text") for m in exported["messages"]}
        assert {"in the group", "just for bob"} <= texts
        assert exported["profile"]["userId"] == alice.user_id
        # WHEN she deletes her account
        await alice.http.delete_account(PASSWORD)
        # THEN her login fails and her id stays taken
        again = HttpClient(cloud.http_url, timeout=TIMEOUT)
        with pytest.raises(ParleyError) as caught:
            await again.login(alice.user_id, PASSWORD)
        assert caught.value.code == ErrorCode.UNAUTHENTICATED
        with pytest.raises(ParleyError) as caught:
            await again.register(alice.user_id, PASSWORD)
        assert caught.value.code == ErrorCode.CONFLICT

        # AND within the job's run bob sees her left the group and her messages deleted
        async def erased() -> bool:
            mine = []
            for where in (conversation, dm(alice.user_id, bob.user_id)):
                page = await bob.http.history(where)
                mine += [m for m in page["messages"] if m["senderId"] == alice.user_id]
            texts = [m for m in mine if m["body"]["type"] == "text"]
            left = any(m["body"].get("event") == "member_left" for m in mine)
            return left and not texts and any(m["body"]["type"] == "deleted" for m in mine)

        await eventually(erased, timeout=60, what="the erasure")

    run(scenario())
