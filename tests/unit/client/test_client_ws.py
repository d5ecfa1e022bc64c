"""ParleyClient against the in-loop fake WebSocket server (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from parley_client import (
    ClientOptions,
    ErrorCode,
    ParleyClient,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
)

FAST = ClientOptions(
    request_timeout=2.0,
    backoff_base=0.02,
    backoff_cap=0.1,
    gap_grace=0.01,
    ping_interval=None,
    ws_ping_interval=None,
)


def run(coro: Awaitable[None], limit: float = 10.0) -> None:
    """Drive one async scenario, failing it rather than hanging."""

    async def bounded() -> None:
        await asyncio.wait_for(coro, limit)
        # nothing of the client may outlive the scenario
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in leftover if t.get_name().startswith("parley-")], leftover

    asyncio.run(bounded())


class Provider:
    """A token provider that hands out fresh backend tokens and records its calls."""

    def __init__(self, backend: Any, user: str, ttl: int = 900) -> None:
        self.backend = backend
        self.user = user
        self.calls: list[bool] = []
        self.token = backend.issue_tokens(user, ttl=ttl)["accessToken"]

    async def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        if force_refresh:
            self.token = self.backend.issue_tokens(self.user)["accessToken"]
        return str(self.token)


def client_for(
    server: Any,
    backend: Any,
    user: str,
    *,
    cursors: dict[str, int] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> ParleyClient:
    return ParleyClient(
        server.url,
        Provider(backend, user),
        FAST.replace(**options),
        cursors=cursors,
        on_event=on_event,
    )


async def eventually(check: Callable[[], bool], limit: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------- sending


def test_send_retries_with_same_client_msg_id_across_dropped_connection(
    backend: Any, ws_server_cls: Any
) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            # GIVEN a server that stores the first send but drops the socket before the ack
            server.send_plan = ["drop"]
            async with client_for(server, backend, "alice") as client:
                # WHEN alice sends
                ack = await client.send("hello", to="bob")
                # THEN the client reconnected and repeated the very same clientMsgId
                sends = server.actions("send")
                assert len(sends) == 2
                assert sends[0]["clientMsgId"] == sends[1]["clientMsgId"] == ack["clientMsgId"]
                assert sends[0]["id"] != sends[1]["id"]
                assert client.connection_count == 2
                # AND the message was stored once, and the ack is the first one
                conv = backend.conversations["dm:alice:bob"]
                assert [m["seq"] for m in conv.messages] == [1]
                assert ack["seq"] == 1 and ack["messageId"] == conv.messages[0]["messageId"]
                assert len(ack["clientMsgId"]) == 32  # uuid4 hex

    run(scenario())


def test_send_retries_after_timeout_and_on_2001_only(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            # GIVEN a server that ignores the first send and fails the second with 2001
            server.send_plan = ["ignore", 2001]
            async with client_for(server, backend, "alice", request_timeout=0.2) as client:
                # WHEN alice sends with her own clientMsgId
                ack = await client.send("hi", to="bob", client_msg_id="cm-1")
                # THEN the third attempt succeeds with the same clientMsgId
                assert [f["clientMsgId"] for f in server.actions("send")] == ["cm-1"] * 3
                assert ack["clientMsgId"] == "cm-1"
                # WHEN the server answers a non-retryable code
                server.send_plan = [ErrorCode.FORBIDDEN]
                with pytest.raises(ParleyError) as caught:
                    await client.send({"type": "custom", "data": {"x": 1}}, to="bob")
                # THEN it raises at once, with the code and request id
                assert caught.value.code == 1004
                assert caught.value.request_id == server.actions("send")[-1]["id"]
                assert len(server.actions("send")) == 4
                # WHEN 2001 persists past the attempts
                server.send_plan = [2001, 2001]
                with pytest.raises(ParleyError) as caught:
                    await client.send("x", to="bob", attempts=2)
                assert caught.value.code == 2001

    run(scenario())


def test_send_arguments_and_frame_limit(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server, client_for(server, backend, "alice") as client:
            # GIVEN/WHEN bad targets THEN ValueError
            with pytest.raises(ValueError, match="exactly one"):
                await client.send("x")
            with pytest.raises(ValueError, match="exactly one"):
                await client.send("x", to="bob", conversation_id="dm:alice:bob")
            # WHEN a frame would exceed 32 KB THEN 1006 locally and the socket stays up
            with pytest.raises(ParleyError) as caught:
                await client.send("x" * 40_000, to="bob")
            assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE
            assert server.actions("send") == []
            assert client.connected
            # AND non-ASCII text is sent compactly (4000 emoji fit in one frame)
            ack = await client.send("\N{GRINNING FACE}" * 4000, to="bob")
            assert ack["seq"] == 1

    run(scenario())


# ----------------------------------------------------------------- receiving


def test_duplicate_push_is_dropped(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            conv = backend.dm("alice", "bob")
            first = backend.store(conv, "bob", {"type": "text", "text": "one"})
            async with client_for(server, backend, "alice", sync_on_connect=False) as client:
                # GIVEN the same message pushed twice (at-least-once push)
                await server.push("alice", {"type": "message", **first})
                await server.push("alice", {"type": "message", **first})
                await server.push(
                    "alice",
                    {
                        "type": "typing",
                        "conversationId": conv.conversation_id,
                        "userId": "bob",
                        "state": "start",
                    },
                )
                # WHEN the events are read
                got = await client.next_event(timeout=2)
                typing = await client.next_event(timeout=2)
                # THEN the message came once, then the typing event
                assert (got["type"], got["seq"]) == ("message", 1)
                assert typing["type"] == "typing"
                assert client.pending_events() == 0
                assert client.export_cursors() == {conv.conversation_id: 1}

    run(scenario())


def test_gap_triggers_sync_and_delivers_in_order(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            conv = backend.dm("alice", "bob")
            stored = [
                backend.store(conv, "bob", {"type": "text", "text": f"m{n}"}) for n in range(1, 5)
            ]
            received: list[int] = []
            async with client_for(
                server,
                backend,
                "alice",
                cursors={conv.conversation_id: 1},
                sync_on_connect=False,
                on_event=lambda e: received.append(e["seq"]),
            ) as client:
                # GIVEN cursor 1, WHEN seq 4 is pushed (2 and 3 were missed)
                await server.push("alice", {"type": "message", **stored[3]})
                # THEN the client syncs from its cursor and delivers 2, 3, 4 in order
                events = [await client.next_event("message", timeout=2) for _ in range(3)]
                assert [e["seq"] for e in events] == [2, 3, 4] == received
                syncs = server.actions("sync")
                assert syncs and syncs[0]["cursors"] == {conv.conversation_id: 1}
                # AND synced messages carry their conversation id and type
                assert events[0]["conversationId"] == conv.conversation_id
                assert events[0]["body"] == {"type": "text", "text": "m2"}
                assert client.cursor(conv.conversation_id) == 4

    run(scenario())


def test_gap_that_sync_cannot_fill_is_delivered_past(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            conv = backend.dm("alice", "bob")
            backend.store(conv, "bob", {"type": "text", "text": "one"})
            async with client_for(
                server, backend, "alice", cursors={conv.conversation_id: 1}, gap_retries=2
            ) as client:
                # GIVEN a pushed seq 3 whose predecessor sync never returns
                ghost = {"type": "message", "conversationId": conv.conversation_id, "seq": 3}
                await server.push("alice", {**ghost, "senderId": "bob"})
                # WHEN the gap retries are used up
                event = await client.next_event("message", timeout=3)
                # THEN the held message is delivered anyway, after the allowed syncs
                assert event["seq"] == 3
                assert len(server.actions("sync")) == 1 + 2
                assert client.cursor(conv.conversation_id) == 3

    run(scenario())


def test_sync_loops_until_complete(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            # GIVEN 25 messages in one conversation and 3 in a group, small sync pages,
            # and a server that leaves conversations out "for size"
            dm = backend.dm("alice", "bob")
            for n in range(25):
                backend.store(dm, "bob", {"type": "text", "text": str(n)})
            group = backend.group("carol", "team", ["alice"])
            backend.store(group, "carol", {"type": "text", "text": "hey"})
            server.sync_limit_cap = 10
            server.max_conversations_per_sync = 1
            async with client_for(server, backend, "alice", sync_on_connect=False) as client:
                # WHEN alice syncs from nothing
                result = await client.sync()
                # THEN it took several rounds, each from the advanced cursors
                assert result.rounds >= 4
                assert result.complete
                syncs = server.actions("sync")
                assert len(syncs) == result.rounds
                assert syncs[0]["cursors"] == {}
                # AND every message came once, in order per conversation
                dm_seqs = [
                    m["seq"] for m in result.messages if m["conversationId"] == dm.conversation_id
                ]
                assert dm_seqs == list(range(1, 26))
                assert client.export_cursors() == {dm.conversation_id: 25, group.conversation_id: 2}
                assert result.conversations[dm.conversation_id]["lastSeq"] == 25
                assert "messages" not in result.conversations[dm.conversation_id]
                # AND a second sync finds nothing new
                again = await client.sync()
                assert again.messages == [] and again.rounds == 1
                assert client.pending_events() == 27

    run(scenario())


def test_ack_for_own_message_is_not_delivered_but_moves_cursor(
    backend: Any, ws_server_cls: Any
) -> None:
    async def scenario() -> None:
        async with (
            ws_server_cls(backend) as server,
            client_for(server, backend, "alice") as alice,
            client_for(server, backend, "bob") as bob,
        ):
            # WHEN alice sends, and bob answers
            await alice.send("hi", to="bob")
            pushed = await bob.next_event("message", timeout=2)
            await bob.send("hello", to="alice")
            # THEN bob got alice's push, alice gets bob's reply but not her own message
            assert pushed["body"]["text"] == "hi"
            reply = await alice.next_event("message", timeout=2)
            assert (reply["seq"], reply["senderId"]) == (2, "bob")
            assert alice.pending_events() == 0
            assert alice.cursor("dm:alice:bob") == 2

    run(scenario())


# ---------------------------------------------------------------- connection


def test_reconnects_with_backoff_then_syncs(
    backend: Any, ws_server_cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        sleeps.append(delay)
        return await real_sleep(delay, *args)

    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            conv = backend.dm("alice", "bob")
            async with client_for(server, backend, "alice") as client:
                provider = client._token_provider
                assert isinstance(provider, Provider)
                calls_before = len(provider.calls)
                monkeypatch.setattr(asyncio, "sleep", recording_sleep)
                # GIVEN the server drops the socket, and a message is stored meanwhile
                backend.store(conv, "bob", {"type": "text", "text": "while away"})
                await server.drop_all()
                # WHEN the client notices
                missed = await client.next_event("message", timeout=3)
                # THEN it reconnected (asking the provider for a token again) and synced
                assert missed["body"]["text"] == "while away"
                assert client.connection_count == 2
                assert len(provider.calls) > calls_before
                assert [h[1] for h in server.handshakes] == [101, 101]
                assert len(server.actions("sync")) == 2
                # AND it waited a jittered delay within [0, backoff_base] first
                assert sleeps and 0 <= sleeps[0] <= FAST.backoff_base
            monkeypatch.undo()

    run(scenario())


def test_reconnect_backoff_grows_while_the_server_is_down(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        server = ws_server_cls(backend)
        await server.start()
        client = client_for(
            server, backend, "alice", backoff_base=0.01, backoff_cap=0.05, max_reconnect_attempts=4
        )
        await client.connect()
        # GIVEN the server goes away entirely
        await server.stop()
        # WHEN the client keeps failing to reconnect
        # THEN it gives up after max_reconnect_attempts and the event stream says why
        with pytest.raises(ParleyConnectionError, match="gave up"):
            async for _ in client:
                pass
        assert client.closed
        with pytest.raises(ParleyConnectionError):
            await client.send("x", to="bob")
        await client.close()

    run(scenario())


def test_handshake_401_renews_token_through_provider(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            provider = Provider(backend, "alice")
            # GIVEN the provider's cached token has expired
            backend.expire_access_tokens("alice")
            client = ParleyClient(server.url, provider, FAST)
            # WHEN connecting
            await client.connect()
            # THEN the provider was asked for a cached token, then forced to refresh
            assert provider.calls == [False, True]
            assert [h[1] for h in server.handshakes] == [401, 101]
            assert client.user_id == "alice"
            await client.close()

            # GIVEN a token that stays refused
            static = ParleyClient(server.url, "not-a-token", FAST)
            # WHEN connecting THEN 1003 is raised, clearly
            with pytest.raises(ParleyError) as caught:
                await static.connect()
            assert caught.value.code == ErrorCode.UNAUTHENTICATED
            assert caught.value.status == 401
            assert static.closed

    run(scenario())


def test_revoked_login_during_reconnect_ends_the_client(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            provider = Provider(backend, "alice")

            async def revoked(force_refresh: bool) -> str:
                if force_refresh:
                    raise ParleyError(1003, "refresh token refused", 401)
                return await provider(False)

            async with ParleyClient(server.url, revoked, FAST) as client:
                # GIVEN the login is revoked and the socket closed (as logout does)
                backend.expire_access_tokens("alice")
                await server.drop_all(code=1008)
                # WHEN the client tries to reconnect THEN it stops with 1003
                with pytest.raises(ParleyError) as caught:
                    await client.next_event(timeout=3)
                assert caught.value.code == 1003
                assert client.closed and not client.connected
                with pytest.raises(ParleyError):
                    await client.ping()

    run(scenario())


def test_keepalive_pings_and_other_actions(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            conv = backend.dm("alice", "bob")
            backend.store(conv, "bob", {"type": "text", "text": "x"})
            async with (
                client_for(server, backend, "alice", ping_interval=0.05) as alice,
                client_for(server, backend, "bob") as bob,
            ):
                # WHEN time passes THEN keepalive pings are sent
                await eventually(lambda: len(server.actions("ping")) >= 2)
                # AND the other actions send the protocol's frames
                assert await alice.ping() >= 0
                await alice.read(conv.conversation_id, 1)
                await alice.typing(conv.conversation_id, True)
                users = await alice.presence(["bob", "carol"])
                await alice.signal("bob", "call-1", "invite", {"sdp": "x"})
                token = backend.issue_tokens("alice")["accessToken"]
                await alice.auth(token)
                signal = await bob.next_event("signal", timeout=2)
            assert [u["online"] for u in users] == [True, False]
            assert signal["from"] == "alice" and signal["payload"] == {"sdp": "x"}
            assert server.actions("read")[0] == {
                "action": "read",
                "conversationId": conv.conversation_id,
                "seq": 1,
                "id": server.actions("read")[0]["id"],
            }
            assert server.actions("typing")[0]["state"] == "start"
            assert server.actions("auth")[0]["token"] == token
            assert "toConnection" not in server.actions("signal")[0]

    run(scenario())


def test_expired_token_on_open_socket_is_renewed_with_auth(
    backend: Any, ws_server_cls: Any
) -> None:
    async def scenario() -> None:
        async with (
            ws_server_cls(backend) as server,
            client_for(server, backend, "alice") as client,
        ):
            # GIVEN the server refuses the next request with 1003 (token expired)
            server.send_plan = [ErrorCode.UNAUTHENTICATED]
            # WHEN alice sends
            ack = await client.send("hi", to="bob")
            # THEN the client renewed the token with `auth` and repeated the send
            assert len(server.actions("auth")) == 1
            assert ack["seq"] == 1

    run(scenario())


def test_token_is_renewed_with_auth_before_it_expires(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            # GIVEN a token that expires 61 s from now and a 60.5 s renewal margin
            provider = Provider(backend, "alice", ttl=61)
            options = FAST.replace(renew_margin=60.5)
            async with ParleyClient(server.url, provider, options) as client:
                first = provider.token
                # WHEN the renewal time comes
                await eventually(lambda: bool(server.actions("auth")))
                # THEN a forced refresh gave a new token, presented with `auth`
                assert provider.calls == [False, False, True]
                assert server.actions("auth")[0]["token"] == provider.token != first
                await eventually(lambda: client._token == provider.token)
                # AND the socket stayed the same
                assert client.connection_count == 1

    run(scenario())


def test_close_is_clean_and_fails_pending_requests(backend: Any, ws_server_cls: Any) -> None:
    async def scenario() -> None:
        async with ws_server_cls(backend) as server:
            server.send_plan = ["ignore"]
            client = client_for(server, backend, "alice", request_timeout=5)
            await client.connect()
            # GIVEN a send waiting for an ack that will not come
            pending = asyncio.create_task(client.send("x", to="bob"))
            await eventually(lambda: bool(server.actions("send")))
            # WHEN the client is closed
            await client.close()
            # THEN the send fails with ParleyClosedError, and no reconnection happens
            with pytest.raises(ParleyClosedError):
                await pending
            assert client.connection_count == 1
            await client.close()  # idempotent
            # AND the event iterator just ends
            assert [e async for e in client] == []
            with pytest.raises(ParleyClosedError):
                await client.sync()
            # AND a cancelled send leaves nothing pending behind
            other = client_for(server, backend, "alice", request_timeout=5)
            await other.connect()
            server.send_plan = ["ignore"]
            task = asyncio.create_task(other.send("y", to="bob"))
            await eventually(lambda: len(server.actions("send")) == 2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert other._pending == {}
            await other.close()

    run(scenario())


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="ws"):
        ParleyClient("http://example.com", "t")
    with pytest.raises(ValueError, match="send_attempts"):
        ClientOptions(send_attempts=0)

    async def not_connected() -> None:
        client = ParleyClient("ws://127.0.0.1:9", "t")
        with pytest.raises(ParleyClosedError, match="connect"):
            await client.ping()

    run(not_connected())
