"""End to end: `MessageRetentionDays` (protocol 12) through the real template on the local
cloud. Each message makes the one before it expirable, never itself; after TTL removed the
expired ones (done here by hand: the local cloud, like moto, never expires items), the next
send continues the sequence, and an old cursor syncs from the oldest kept message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import (
    connect_all,
    decode,
    dm,
    make_cloud,
    run,
    sign_up_all,
    stop_and_check,
    text_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

DAYS = 1
DAY_MS = 86_400_000


@pytest.fixture
def kept_cloud() -> Iterator[LocalCloud]:
    instance = make_cloud(parameter_overrides={"MessageRetentionDays": str(DAYS)}).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def test_an_old_cursor_syncs_from_the_oldest_kept_message(kept_cloud: LocalCloud) -> None:
    table = kept_cloud.ref("MessagesTable")
    dynamodb = kept_cloud.client("dynamodb")

    def key(conversation: str, seq: int) -> dict[str, Any]:
        return {"conversationId": {"S": conversation}, "seq": {"N": str(seq)}}

    def stored(conversation: str, seq: int) -> dict[str, Any] | None:
        found = dynamodb.get_item(TableName=table, Key=key(conversation, seq), ConsistentRead=True)
        return decode(found["Item"]) if "Item" in found else None

    async def scenario() -> None:
        # GIVEN alice sent bob three messages, and bob has seen the first
        alice, bob = await sign_up_all(kept_cloud, "alice", "bob")
        conversation = dm(alice.user_id, bob.user_id)
        async with contextlib.AsyncExitStack() as stack:
            (alice_phone,) = await connect_all(stack, alice.client())
            for text in ("one", "two", "three"):
                await alice_phone.send(text, to=bob.user_id)

            # THEN each but the newest expires a day after it was sent
            for seq in (1, 2):
                item = stored(conversation, seq)
                assert item is not None
                assert item["expiresAt"] == int(item["ts"]) // 1000 + DAYS * 86_400
            newest = stored(conversation, 3)
            assert newest is not None and "expiresAt" not in newest

            # WHEN two days pass (the messages' ts moved back) and TTL removes what expired
            for seq in (1, 2, 3):
                item = stored(conversation, seq)
                assert item is not None
                dynamodb.update_item(
                    TableName=table,
                    Key=key(conversation, seq),
                    UpdateExpression="SET ts = :t",
                    ExpressionAttributeValues={":t": {"N": str(int(item["ts"]) - 2 * DAY_MS)}},
                )
            for seq in (1, 2):
                dynamodb.delete_item(TableName=table, Key=key(conversation, seq))
            # AND alice writes again
            ack = await alice_phone.send("after a while", to=bob.user_id)

        # THEN the sequence continued from the message TTL could not take
        assert ack["seq"] == 4
        # AND bob, back with his cursor at 1, gets the kept message: the gap is retention
        async with bob.client(cursors={conversation: 1}, sync_on_connect=False) as bob_phone:
            result = await bob_phone.sync()
        assert result.complete
        assert [(m["seq"], text_of(m)) for m in result.messages] == [(4, "after a while")]
        assert result.conversations[conversation]["lastSeq"] == 4
        # AND his history starts there too
        page = await bob.http.history(conversation)
        assert [m["seq"] for m in page["messages"]] == [4]
        assert page["nextBeforeSeq"] is None

    run(scenario())
