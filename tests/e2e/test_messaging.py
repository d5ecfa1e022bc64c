"""End to end: chatting over the real WebSocket protocol on the local cloud.

Direct chats with several devices, catching up after being offline, groups, coded errors
for bad frames, the handshake, the frame size limit, cleanup of sockets that vanished,
and a clean shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from typing import Any

import pytest
from parley_client import ParleyError
from parley_local import LocalCloud
from websockets.exceptions import InvalidStatus

from tests.e2e.helpers import (
    TIMEOUT,
    RawSocket,
    connect_all,
    connection_ids,
    connection_records,
    dm,
    encode,
    eventually,
    make_cloud,
    pid_alive,
    raw_connect,
    run,
    sign_up,
    sign_up_all,
    text_of,
    wait_connections,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_two_users_chat_and_the_senders_other_device_gets_the_message(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN alice on two devices (the first one a bare socket, to see every frame it
        # gets) and bob on one
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        async with contextlib.AsyncExitStack() as stack:
            alice_phone = await stack.enter_async_context(await RawSocket.open(cloud, alice.token))
            alice_laptop, bob_phone = await connect_all(
                stack, alice.client(await alice.another_login()), bob.client()
            )
            conversation = dm(alice.user_id, bob.user_id)

            # WHEN alice sends from her phone
            ack = await alice_phone.request(
                {
                    "action": "send",
                    "to": bob.user_id,
                    "clientMsgId": "hello-1",
                    "body": {"type": "text", "text": "Hi Bob!"},
                }
            )

            # THEN her phone gets the ack, bob and her laptop get the message
            assert ack["type"] == "ack", ack
            assert ack["conversationId"] == conversation
            assert ack["seq"] == 1
            for device in (bob_phone, alice_laptop):
                message = await device.next_event(
                    "message", conversationId=conversation, seq=1, timeout=TIMEOUT
                )
                assert message["senderId"] == alice.user_id
                assert message["messageId"] == ack["messageId"]
                assert message["clientMsgId"] == "hello-1"
                assert message["ts"] == ack["ts"]
                assert text_of(message) == "Hi Bob!"

            # WHEN bob answers and alice writes from her laptop
            await bob_phone.send("Hi Alice!", to=alice.user_id)
            await alice_laptop.send("from my laptop", to=bob.user_id)

            # THEN her phone gets both, and never got its own message pushed back: the
            # push of seq 1 would have come before anything sent after its ack
            for seq in (2, 3):

                def is_push(frame: dict[str, Any], seq: int = seq) -> bool:
                    return frame.get("type") == "message" and frame.get("seq") == seq

                await alice_phone.wait_for(is_push)
            pushed = [f for f in alice_phone.frames if f.get("type") == "message"]
            assert [(m["seq"], m["senderId"]) for m in pushed] == [
                (2, bob.user_id),
                (3, alice.user_id),
            ]
            reply = await bob_phone.next_event("message", seq=3, timeout=TIMEOUT)
            assert text_of(reply) == "from my laptop"

    run(scenario())


def test_an_offline_user_catches_up_in_order_with_sync(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN bob saw alice's first message, then went offline (keeping his cursors)
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        conversation = dm(alice.user_id, bob.user_id)
        async with alice.client() as alice_phone:
            async with bob.client() as bob_phone:
                await alice_phone.send("before you left", to=bob.user_id)
                await bob_phone.next_event("message", seq=1, timeout=TIMEOUT)
                cursors = bob_phone.export_cursors()
            assert cursors == {conversation: 1}
            await wait_connections(cloud, bob.user_id, 0)

            # WHEN alice sends three more while he is away
            texts = ["one", "two", "three"]
            for text in texts:
                await alice_phone.send(text, to=bob.user_id)

        # THEN coming back with his cursors, one sync brings exactly what he missed, in order
        async with bob.client(cursors=cursors, sync_on_connect=False) as bob_phone:
            result = await bob_phone.sync()
        assert result.complete
        assert [(m["seq"], text_of(m)) for m in result.messages] == [
            (2, "one"),
            (3, "two"),
            (4, "three"),
        ]
        assert all(m["senderId"] == alice.user_id for m in result.messages)
        assert result.conversations[conversation]["lastSeq"] == 4

        # AND a device with no cursors syncs the whole conversation from seq 1
        async with bob.client(sync_on_connect=False) as bob_tablet:
            everything = await bob_tablet.sync()
        assert [m["seq"] for m in everything.messages] == [1, 2, 3, 4]

    run(scenario())


def test_a_group_of_three_all_receive(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN alice, bob and carol online
        alice, bob, carol = await sign_up_all(cloud, "alice", "bob", "carol")
        async with contextlib.AsyncExitStack() as stack:
            phones = await connect_all(stack, alice.client(), bob.client(), carol.client())
            alice_phone, bob_phone, carol_phone = phones

            # WHEN alice creates a group with the other two over HTTP
            group = await alice.http.create_group("lunch", [bob.user_id, carol.user_id])
            conversation = group["conversationId"]
            assert conversation.startswith("grp:")
            roles = {m["userId"]: m["role"] for m in group["members"]}
            assert roles == {alice.user_id: "owner", bob.user_id: "member", carol.user_id: "member"}

            # THEN everyone is told through the normal message path
            for phone in (bob_phone, carol_phone):
                created = await phone.next_event(
                    "message", conversationId=conversation, seq=1, timeout=TIMEOUT
                )
                assert created["body"]["type"] == "system"
                assert created["body"]["event"] == "group_created"

            # WHEN alice, then bob, write to the group
            first = await alice_phone.send("noon?", conversation_id=conversation)
            await bob_phone.send("yes!", conversation_id=conversation)

            # THEN each message reaches the two other members
            assert first["seq"] == 2
            for phone in (bob_phone, carol_phone):
                got = await phone.next_event("message", seq=2, timeout=TIMEOUT)
                assert (got["senderId"], text_of(got)) == (alice.user_id, "noon?")
            for phone in (alice_phone, carol_phone):
                got = await phone.next_event("message", seq=3, timeout=TIMEOUT)
                assert (got["senderId"], text_of(got)) == (bob.user_id, "yes!")

            # AND the history holds all three, in order
            history = await carol.http.history(conversation)
            assert [m["seq"] for m in history["messages"]] == [1, 2, 3]

    run(scenario())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param({"action": "frobnicate"}, 1007, id="unknown-action"),
        pytest.param({"action": "send", "to": "x", "body": {}}, 1001, id="bad-send-fields"),
        pytest.param(
            {
                "action": "send",
                "to": "nobody-at-all",
                "clientMsgId": "too-long",
                "body": {"type": "text", "text": "x" * 4001},
            },
            1006,
            id="text-too-long",
        ),
        pytest.param(
            {"action": "send", "to": "bob", "clientMsgId": "c1", "body": {"type": "system"}},
            1001,
            id="system-body",
        ),
        pytest.param({"action": "typing", "conversationId": "dm:a:b"}, 1001, id="typing-no-state"),
    ],
)
def test_bad_frames_get_coded_errors(
    cloud: LocalCloud, frame: dict[str, object], code: int
) -> None:
    async def scenario() -> None:
        # GIVEN a signed-in client
        alice = await sign_up(cloud, "alice")
        async with alice.client(sync_on_connect=False) as phone:
            # WHEN it sends a bad frame
            with pytest.raises(ParleyError) as refused:
                await phone.request(frame)
            # THEN the reply is an error with the protocol's code, and the socket stays usable
            assert refused.value.code == code, refused.value
            assert refused.value.request_id is not None
            assert await phone.ping() >= 0

    run(scenario())


def test_frames_that_are_not_json_objects_get_1001(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        alice = await sign_up(cloud, "alice")
        async with await RawSocket.open(cloud, alice.token) as conn:
            for raw in ("this is not json", "[1, 2, 3]"):
                # WHEN a frame is not a JSON object
                await conn.send(raw)
                # THEN an error with code 1001 comes back and the socket stays open
                error = await conn.wait_for(lambda f: f.get("type") == "error")
                assert error["code"] == 1001, error
                conn.frames.clear()
            assert (await conn.request({"action": "ping"}))["type"] == "pong"

    run(scenario())


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", id="forged"),
    ],
)
def test_a_bad_or_missing_token_is_refused_at_the_handshake(
    cloud: LocalCloud, token: str | None
) -> None:
    async def scenario() -> None:
        # WHEN a client connects with a bad token, or none, THEN the upgrade answers 401
        with pytest.raises(InvalidStatus) as refused:
            await raw_connect(cloud, token)
        assert refused.value.response.status_code == 401

    run(scenario())


def test_a_frame_over_32_kb_closes_the_socket_with_1009(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        alice = await sign_up(cloud, "alice")
        # GIVEN a big frame within the limit is served (4,000 code points of 4 bytes each
        # in UTF-8: a 16 KB text, which is valid)
        async with await RawSocket.open(cloud, alice.token) as conn:
            big_but_fine = await conn.request(
                {
                    "action": "send",
                    "to": alice.user_id,
                    "clientMsgId": "emoji",
                    "body": {"type": "text", "text": "\U0001f600" * 4000},
                }
            )
            assert big_but_fine["type"] == "ack", big_but_fine

            # WHEN one frame is over 32 KB
            await conn.send('{"action": "ping", "pad": "' + "x" * (33 * 1024) + '"}')

            # THEN the gateway closes the socket with 1009
            assert await conn.closed() == 1009

    run(scenario())


def test_a_message_over_32_kb_in_smaller_fragments_gets_1006(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        alice = await sign_up(cloud, "alice")
        async with await RawSocket.open(cloud, alice.token) as conn:
            # WHEN a 40 KB message arrives as three WebSocket fragments of under 32 KB
            frame = json.dumps({"action": "ping", "id": "fragmented", "pad": "x" * 40_000})
            await conn.ws.send([frame[i : i + 16_000] for i in range(0, len(frame), 16_000)])

            # THEN it is refused with 1006, and the socket stays open
            error = await conn.wait_for(lambda f: f.get("id") == "fragmented")
            assert (error["type"], error["code"]) == ("error", 1006), error
            assert (await conn.request({"action": "ping"}))["type"] == "pong"

    run(scenario())


def test_a_socket_that_vanished_is_forgotten(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN bob on two devices
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        async with alice.client() as alice_phone, bob.client() as bob_phone:
            doomed = await raw_connect(cloud, bob.token)
            await wait_connections(cloud, bob.user_id, 2)

            # WHEN one device's TCP connection drops without a close handshake
            doomed.transport.abort()
            with contextlib.suppress(Exception):
                await doomed.wait_closed()

            # THEN its connection record goes away, and bob still gets messages
            await wait_connections(cloud, bob.user_id, 1)
            await alice_phone.send("still there?", to=bob.user_id)
            got = await bob_phone.next_event("message", timeout=TIMEOUT)
            assert text_of(got) == "still there?"

    run(scenario())


def test_a_connection_record_whose_socket_is_gone_is_deleted_after_the_410(
    cloud: LocalCloud,
) -> None:
    async def scenario() -> None:
        # GIVEN bob online, plus a stale record of a socket of his that no longer exists
        # (as when `$disconnect` never ran)
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        async with alice.client() as alice_phone, bob.client() as bob_phone:
            (real,) = await wait_connections(cloud, bob.user_id, 1)
            alice_connections = connection_ids(cloud, alice.user_id)
            # an id of API Gateway's shape (12 characters of base64)
            stale = base64.b64encode(os.urandom(8)).decode().replace("/", "A").replace("+", "B")
            live_record = connection_records(cloud, bob.user_id)[0]
            now = int(time.time())
            cloud.client("dynamodb").put_item(
                TableName=cloud.ref("ConnectionsTable"),
                Item=encode(
                    {
                        **live_record,
                        "connectionId": stale,
                        "connectedAt": now * 1000 - 60_000,
                        "ttl": now + 3600,
                    }
                ),
            )
            assert connection_ids(cloud, bob.user_id) == {real, stale}

            # WHEN alice sends him a message
            await alice_phone.send("knock knock", to=bob.user_id)

            # THEN his live device gets it
            got = await bob_phone.next_event("message", timeout=TIMEOUT)
            assert text_of(got) == "knock knock"
            # AND the management API answered 410 for the stale one, whose record (and only
            # that record) was deleted
            await asyncio.to_thread(
                cloud.wait_for_log, f"@connections/{stale} -> 410 Gone", TIMEOUT
            )
            await eventually(
                lambda: connection_ids(cloud, bob.user_id) == {real}, what="stale record deleted"
            )
            assert connection_ids(cloud, alice.user_id) == alice_connections

            # AND the next message goes straight to the live device
            await alice_phone.send("second", to=bob.user_id)
            assert text_of(await bob_phone.next_event("message", timeout=TIMEOUT)) == "second"

    run(scenario())


def test_the_cloud_stops_cleanly_and_leaves_no_process_behind() -> None:
    # GIVEN a dedicated cloud with a connected client
    own = make_cloud()
    own.start()
    try:
        http_port = own.http_port

        async def connect_and_stop() -> int | None:
            user = await sign_up(own, "alice")
            async with await RawSocket.open(own, user.token) as conn:
                assert (await conn.request({"action": "ping"}))["type"] == "pong"
                pids = own.child_pids(ever=True)
                assert pids, "the cloud runs moto and workers in child processes"
                assert all(pid_alive(pid) for pid in own.child_pids())

                # WHEN the cloud stops (in a thread: this loop keeps reading the socket)
                await asyncio.to_thread(own.stop)

                # THEN the open socket was closed with 1001 ("going away")
                code = await conn.closed()
            # AND no process it ever started is left
            assert not [pid for pid in pids if pid_alive(pid)]
            return code

        assert run(connect_and_stop()) == 1001
        assert not own.child_pids()
        assert any("DISCONNECT" in line and "code=1001" in line for line in own.log_lines())
        # AND nothing listens on its ports any more
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", http_port), timeout=5).close()
    finally:
        own.stop()
