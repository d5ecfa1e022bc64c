"""End to end: live features on the local cloud — read receipts, typing, presence, and
renewing the token of an open socket."""

from __future__ import annotations

import contextlib
import time

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import (
    TIMEOUT,
    RawSocket,
    connect_all,
    dm,
    eventually,
    run,
    sign_up_all,
    stored_messages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_reading_sends_receipts_to_the_sender_and_the_readers_other_device(
    cloud: LocalCloud,
) -> None:
    async def scenario() -> None:
        # GIVEN alice sent bob two messages; bob is online on two devices
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        conversation = dm(alice.user_id, bob.user_id)
        async with contextlib.AsyncExitStack() as stack:
            alice_phone, bob_phone, bob_laptop = await connect_all(
                stack, alice.client(), bob.client(), bob.client(await bob.another_login())
            )
            await alice_phone.send("first", to=bob.user_id)
            await alice_phone.send("second", to=bob.user_id)
            await bob_phone.next_event("message", seq=2, timeout=TIMEOUT)
            unread = {c["conversationId"]: c for c in await bob.http.conversations()}
            assert (unread[conversation]["readSeq"], unread[conversation]["unread"]) == (0, 2)

            # WHEN bob reads up to seq 2 on his phone
            reply = await bob_phone.request(
                {"action": "read", "conversationId": conversation, "seq": 2}
            )
            assert reply["type"] == "ok"
            assert reply["readSeq"] == 2

            # THEN alice and bob's laptop get a receipt
            for device in (alice_phone, bob_laptop):
                receipt = await device.next_event(
                    "receipt", conversationId=conversation, userId=bob.user_id, timeout=TIMEOUT
                )
                assert receipt["readSeq"] == 2

            # AND GET /conversations shows his readSeq and nothing unread
            mine = {c["conversationId"]: c for c in await bob.http.conversations()}
            assert mine[conversation]["lastSeq"] == 2
            assert (mine[conversation]["readSeq"], mine[conversation]["unread"]) == (2, 0)
            assert mine[conversation]["type"] == "dm"

            # WHEN alice writes again, and bob "reads" an old seq
            await alice_phone.send("third", to=bob.user_id)
            stale = await bob_phone.request(
                {"action": "read", "conversationId": conversation, "seq": 1}
            )

            # THEN his readSeq does not move back, and one message is unread
            assert stale["readSeq"] == 2
            mine = {c["conversationId"]: c for c in await bob.http.conversations()}
            assert (mine[conversation]["lastSeq"], mine[conversation]["unread"]) == (3, 1)

            # AND reading past the end stops at lastSeq
            past = await bob_laptop.request(
                {"action": "read", "conversationId": conversation, "seq": 99}
            )
            assert past["readSeq"] == 3
            receipt = await alice_phone.next_event("receipt", readSeq=3, timeout=TIMEOUT)
            assert receipt["userId"] == bob.user_id

    run(scenario())


def test_typing_is_relayed_and_never_stored(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN alice and bob chatting, alice also on a second device
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        conversation = dm(alice.user_id, bob.user_id)
        async with contextlib.AsyncExitStack() as stack:
            alice_phone, alice_laptop, bob_phone = await connect_all(
                stack, alice.client(), alice.client(await alice.another_login()), bob.client()
            )
            await alice_phone.send("hey", to=bob.user_id)
            await bob_phone.next_event("message", seq=1, timeout=TIMEOUT)
            history_before = await bob.http.history(conversation)
            stored_in_conversation = stored_messages(cloud, conversation)
            stored_everywhere = stored_messages(cloud)

            # WHEN alice starts typing
            await alice_phone.typing(conversation, "start")

            # THEN bob sees it
            start = await bob_phone.next_event("typing", timeout=TIMEOUT)
            assert start == {
                "type": "typing",
                "conversationId": conversation,
                "userId": alice.user_id,
                "state": "start",
            }

            # WHEN she stops, THEN bob sees that too
            await alice_phone.typing(conversation, "stop")
            stop = await bob_phone.next_event("typing", timeout=TIMEOUT)
            assert (stop["userId"], stop["state"]) == (alice.user_id, "stop")

            # AND nothing was stored: history and the messages table are unchanged
            assert await bob.http.history(conversation) == history_before
            assert stored_messages(cloud, conversation) == stored_in_conversation == 1
            assert stored_messages(cloud) == stored_everywhere

            # AND alice's own other device was not told she is typing: bob's next typing
            # reaches it, with no typing of alice's queued before
            await bob_phone.typing(conversation, True)
            bobs = await alice_laptop.next_event("typing", timeout=TIMEOUT)
            assert bobs["userId"] == bob.user_id
            assert await alice_phone.next_event("typing", userId=bob.user_id, timeout=TIMEOUT)

    run(scenario())


def test_presence_is_online_while_connected_and_offline_with_last_seen_after(
    cloud: LocalCloud,
) -> None:
    async def scenario() -> None:
        # GIVEN bob is online, and he and alice share a conversation (protocol 13: presence
        # is shown only to users who do)
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        nobody = "nobody-" + alice.user_id.split("-", 1)[1]
        async with alice.client() as alice_phone:
            await alice_phone.send("hi", to=bob.user_id)
            async with bob.client() as bob_phone:
                assert await bob_phone.ping() >= 0

                # WHEN alice asks about him (and about a user who does not exist)
                before = int(time.time() * 1000)
                users = await alice_phone.presence([bob.user_id, nobody])

                # THEN bob is online, the unknown user offline and never seen
                assert users[0]["userId"] == bob.user_id
                assert users[0]["online"] is True
                assert users[0]["lastSeen"] >= before - 5_000
                assert users[1] == {"userId": nobody, "online": False, "lastSeen": None}
                left_at = int(time.time() * 1000)

            # WHEN bob disconnects
            async def offline() -> dict[str, object] | None:
                (status,) = await alice_phone.presence([bob.user_id])
                return status if status["online"] is False else None

            # THEN he shows offline, last seen when he left
            status: dict[str, object] = await eventually(offline, what="bob offline")
            assert isinstance(status["lastSeen"], int)
            assert left_at - 5_000 <= status["lastSeen"] <= int(time.time() * 1000)

    run(scenario())


def test_the_auth_action_renews_the_token_of_an_open_socket(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN alice connected with her first access token
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        first = alice.token
        async with await RawSocket.open(cloud, first) as socket:
            assert (await socket.request({"action": "ping"}))["type"] == "pong"

            # WHEN she refreshes her login and presents the new token on the open socket
            await alice.http.refresh()
            fresh = alice.token
            assert fresh != first
            renewed = await socket.request({"action": "auth", "token": fresh})

            # THEN the socket accepts it and reports the new expiry
            assert renewed["type"] == "ok", renewed
            assert renewed["expiresAt"] >= int(time.time()) + 60

            # AND a token of another user, or a forged one, is refused with 1003
            for token in (bob.token, fresh[:-4] + "AAAA"):
                refused = await socket.request({"action": "auth", "token": token})
                assert (refused["type"], refused["code"]) == ("error", 1003), refused

            # AND the socket keeps working
            ack = await socket.request(
                {
                    "action": "send",
                    "to": bob.user_id,
                    "clientMsgId": "after-auth",
                    "body": {"type": "text", "text": "still here"},
                }
            )
            assert ack["type"] == "ack", ack

        # AND the client library's renew_token() does the same round trip
        async with alice.client(sync_on_connect=False) as phone:
            token = await phone.renew_token()
            assert token == alice.token
            assert await phone.ping() >= 0

    run(scenario())


def test_presence_of_a_user_who_never_connected(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        alice, carol = await sign_up_all(cloud, "alice", "carol")
        async with alice.client(sync_on_connect=False) as phone:
            (status,) = await phone.presence([carol.user_id])
        assert status == {"userId": carol.user_id, "online": False, "lastSeen": None}

    run(scenario())
