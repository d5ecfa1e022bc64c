"""HttpClient against the fake HTTP API thread (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from parley_client import (
    HttpClient,
    ParleyConnectionError,
    ParleyError,
)


def test_routes_and_token_handling(http_server: Any, backend: Any) -> None:
    saved: list[Any] = []

    async def scenario() -> None:
        http = HttpClient(http_server.url + "/", on_tokens=saved.append)
        # GIVEN a new account
        assert await http.health() == {"status": "ok"}
        assert await http.register("dave", "password123", "Dave") == {"userId": "dave"}
        # WHEN dave logs in
        tokens = await http.login("dave", "password123")
        # THEN the pair is kept, reported, and used
        assert http.access_token == tokens["accessToken"]
        assert saved == [tokens]
        assert http.user_id == "dave"
        assert await http.me() == {"userId": "dave", "displayName": "Dave"}
        assert http_server.requests[-1][2] == f"Bearer {tokens['accessToken']}"
        # AND the group and conversation routes use the protocol's paths and bodies
        group = await http.create_group("team", ["alice", "bob"])
        gid = group["conversationId"]
        assert group["name"] == "team"
        assert (await http.get_group(gid))["conversationId"] == gid
        await http.add_members(gid, ["carol"])
        conversations = await http.conversations()
        assert [c["conversationId"] for c in conversations] == [gid]
        # AND the list follows its pages, and mute is the caller's own setting
        other = (await http.create_group("other", ["alice"]))["conversationId"]
        paged = await http.conversations(page_size=1)
        assert [c["conversationId"] for c in paged] == sorted([gid, other])
        assert await http.set_muted(other) == {"conversationId": other, "muted": True}
        muted = {c["conversationId"]: c["muted"] for c in await http.conversations()}
        assert muted == {gid: False, other: True}
        page = await http.history(gid, limit=1)
        assert [m["seq"] for m in page["messages"]] == [2]
        assert page["nextBeforeSeq"] == 2
        older = await http.history(gid, before_seq=page["nextBeforeSeq"], limit=5)
        assert [m["seq"] for m in older["messages"]] == [1]
        assert older["nextBeforeSeq"] is None
        await http.block("bob")
        await http.unblock("bob")
        assert "POST /groups" in http_server.paths()
        assert f"GET /conversations/{gid}/messages?limit=1" in http_server.paths()
        assert f"GET /conversations/{gid}/messages?beforeSeq=2&limit=5" in http_server.paths()
        assert f"POST /groups/{gid}/members" in http_server.paths()
        assert "DELETE /users/bob/block" in http_server.paths()
        # AND a direct conversation id keeps its colons in the path
        backend.dm("dave", "alice")
        await http.history("dm:alice:dave")
        assert "GET /conversations/dm:alice:dave/messages?limit=50" in http_server.paths()
        # WHEN dave logs out THEN the pair is forgotten and reported as None
        await http.logout()
        assert http.access_token is None and http.refresh_token is None
        assert saved[-1] is None

    asyncio.run(scenario())


def test_errors_map_to_parley_error(http_server: Any) -> None:
    async def scenario() -> None:
        http = HttpClient(http_server.url)
        # WHEN the user id is taken THEN 1008 / 409
        with pytest.raises(ParleyError) as caught:
            await http.register("alice", "password123")
        assert (caught.value.code, caught.value.status) == (1008, 409)
        assert caught.value.message == "user id taken"
        # WHEN the login is wrong THEN 1003 / 401
        with pytest.raises(ParleyError) as caught:
            await http.login("alice", "wrong-password")
        assert (caught.value.code, caught.value.status) == (1003, 401)
        # WHEN rate limited THEN retry_after_ms is carried
        http_server.fail_next.append(
            (429, b'{"code": 1005, "message": "too many", "retryAfterMs": 2500}')
        )
        with pytest.raises(ParleyError) as caught:
            await http.login("alice", "password123")
        assert (caught.value.code, caught.value.retry_after_ms) == (1005, 2500)
        # WHEN a proxy answers an HTML error page THEN the status decides the code
        http_server.fail_next.append((502, b"<html>bad gateway</html>"))
        with pytest.raises(ParleyError) as caught:
            await http.health()
        assert (caught.value.code, caught.value.status) == (3001, 502)
        assert "bad gateway" in caught.value.message
        # WHEN a success body is not JSON THEN 3001
        http_server.fail_next.append((200, b"not json"))
        with pytest.raises(ParleyError, match="not JSON"):
            await http.health()
        # WHEN not logged in THEN the server's 1003 comes back (no refresh possible)
        with pytest.raises(ParleyError) as caught:
            await http.me()
        assert caught.value.code == 1003
        # WHEN asking the provider without a login THEN 1003 without a request
        with pytest.raises(ParleyError, match="not logged in"):
            await http.token_provider()

    asyncio.run(scenario())


def test_401_refreshes_once_and_retries(http_server: Any, backend: Any) -> None:
    saved: list[Any] = []

    async def scenario() -> None:
        http = HttpClient(http_server.url, on_tokens=saved.append)
        first = await http.login("alice", "password123")
        # GIVEN the access token is refused from now on (revoked, clock skew...)
        backend.expire_access_tokens("alice")
        # WHEN three calls run at once
        results = await asyncio.gather(http.me(), http.conversations(), http.me())
        # THEN they all succeed after exactly one refresh (no refresh-token reuse)
        assert results[0]["userId"] == "alice"
        refreshes = [p for p in http_server.paths() if p == "POST /auth/refresh"]
        assert len(refreshes) == 1
        assert http.access_token != first["accessToken"]
        assert saved[-1]["accessToken"] == http.access_token
        # WHEN the provider is forced THEN it refreshes again
        token = await http.token_provider(True)
        assert token == http.access_token
        assert len([p for p in http_server.paths() if p == "POST /auth/refresh"]) == 2
        # WHEN the refresh token is refused too THEN the 1003 surfaces
        backend.expire_access_tokens("alice")
        http.refresh_token = first["refreshToken"]  # spent: reuse detection
        with pytest.raises(ParleyError) as caught:
            await http.me()
        assert caught.value.code == 1003

    asyncio.run(scenario())


def test_expiring_token_is_refreshed_before_use(http_server: Any, backend: Any) -> None:
    async def scenario() -> None:
        # GIVEN a pair whose access token expires in 5 s (under the 30 s margin)
        tokens = backend.issue_tokens("bob", ttl=5)
        http = HttpClient(
            http_server.url,
            access_token=tokens["accessToken"],
            refresh_token=tokens["refreshToken"],
        )
        # WHEN a call is made THEN it refreshes first, without a 401 round trip
        await http.me()
        assert http_server.paths() == ["POST /auth/refresh", "GET /me"]

    asyncio.run(scenario())


def test_unreachable_server_and_bad_url() -> None:
    # GIVEN a port nobody listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        http = HttpClient(f"http://127.0.0.1:{port}", timeout=2)
        # WHEN calling THEN ParleyConnectionError names the URL
        with pytest.raises(ParleyConnectionError, match=f"127.0.0.1:{port}"):
            await http.health()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="http"):
        HttpClient("ws://example.com")
