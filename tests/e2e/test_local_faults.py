"""The real template under the local cloud's fault injection (docs/local-development.md, Faults).

A send whose table is throttled on every attempt is answered 2001 and nothing is stored;
the same `clientMsgId` sent again once the throttling has passed is stored once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from parley_local import LocalCloud
from parley_local.faults import parse_profile

from tests.e2e.helpers import (
    RawSocket,
    dm,
    make_cloud,
    run,
    sign_up_all,
    stop_and_check,
    stored_messages,
)

THROTTLED = {
    "seed": 11,
    "faults": [
        {
            "kind": "dynamodb",
            "error": "ThrottlingException",
            "probability": 1,
            "function": "SendFunction",
            "table": "MessagesTable",
        }
    ],
}


@pytest.fixture(scope="module")
def throttled() -> Iterator[LocalCloud]:
    instance = make_cloud(faults=parse_profile(THROTTLED, "throttled")).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def test_a_throttled_send_is_answered_2001_and_its_retry_is_stored_once(
    throttled: LocalCloud,
) -> None:
    cloud = throttled

    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        frame = {
            "action": "send",
            "to": bob.user_id,
            "clientMsgId": "throttled-1",
            "body": {"type": "text", "text": "through the storm"},
        }
        async with contextlib.AsyncExitStack() as stack:
            socket = await stack.enter_async_context(await RawSocket.open(cloud, alice.token))

            # WHEN alice sends while the messages table throttles every attempt
            reply = await socket.request(frame)

            # THEN she is told to retry, nothing was stored, and the SDK did retry
            assert (reply["type"], reply["code"]) == ("error", 2001), reply
            conversation = dm(alice.user_id, bob.user_id)
            assert stored_messages(cloud, conversation) == 0
            assert cloud.faults is not None
            assert cloud.faults.counts()["dynamodb:ThrottlingException"] >= 4

            # WHEN the throttling has passed and she sends the same clientMsgId again
            cloud.faults.replace(parse_profile({"seed": 11, "faults": []}, "calm"))
            ack = await socket.request(frame)

            # THEN it is acked, and stored exactly once
            assert ack["type"] == "ack", ack
            assert ack["seq"] == 1
            assert stored_messages(cloud, conversation) == 1

    run(scenario())
