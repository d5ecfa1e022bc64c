"""Fakes for the client tests: a tiny Parley that speaks just enough of protocol v1.

* :class:`FakeBackend` holds users, tokens, conversations and messages.
* :class:`FakeWsServer` is a ``websockets.asyncio.server`` speaking the WebSocket
  protocol over that state; it runs in the test's event loop (``async with``) or in
  a thread of its own (:class:`ThreadedWsServer`, for the CLI, which runs its own loop).
* :class:`FakeHttpServer` is an ``http.server`` thread for the HTTP API.

Tests reach the classes through fixtures (so they work in any pytest import mode).
Knobs on the servers script misbehaviour: dropped connections, ignored frames,
error replies, small sync pages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

JsonObject = dict[str, Any]
PASSWORD = "password123"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Conversation:
    conversation_id: str
    type: str
    members: dict[str, str]
    name: str | None = None
    messages: list[JsonObject] = field(default_factory=list)
    joined: dict[str, int] = field(default_factory=dict)

    @property
    def last_seq(self) -> int:
        return len(self.messages)


class FakeBackend:
    """State shared by the fake HTTP and WebSocket servers (thread-safe enough)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, JsonObject] = {}
        self.access: dict[str, JsonObject] = {}
        self.refresh: dict[str, JsonObject] = {}
        self.conversations: dict[str, Conversation] = {}
        self.muted: set[tuple[str, str]] = set()  # (conversationId, userId)
        self.idempotency: dict[tuple[str, str, str], JsonObject] = {}
        self.read_seq: dict[tuple[str, str], int] = {}
        self.blocked: set[tuple[str, str]] = set()
        self.attachments: dict[str, JsonObject] = {}
        # Push devices (protocol 10): deviceId -> {userId, platform, key, createdAt, ...}
        self.devices: dict[str, JsonObject] = {}
        # Account exports (protocol 12): exportId -> {user, polls}; pending on the first poll.
        self.exports: dict[str, JsonObject] = {}
        self._counter = itertools.count(1)

    # accounts ------------------------------------------------------------
    def add_user(self, user_id: str, password: str = PASSWORD, display: str = "") -> None:
        with self.lock:
            self.users[user_id] = {"password": password, "displayName": display or user_id}

    def issue_tokens(self, user_id: str, login: int | None = None, ttl: int = 900) -> JsonObject:
        with self.lock:
            n = next(self._counter)
            login = login if login is not None else n
            header = _b64(b'{"alg":"none","typ":"JWT"}')
            claims = {"sub": user_id, "iat": int(time.time()), "exp": int(time.time()) + ttl}
            claims["jti"] = f"j{n}"
            access = f"{header}.{_b64(json.dumps(claims).encode())}.sig{n}"
            refresh = f"refresh-{user_id}-{n}"
            self.access[access] = {"user": user_id, "login": login, "valid": True}
            self.refresh[refresh] = {"user": user_id, "login": login, "spent": False}
            return {
                "accessToken": access,
                "refreshToken": refresh,
                "tokenType": "Bearer",
                "expiresIn": ttl,
            }

    def user_for(self, access_token: str | None) -> str | None:
        with self.lock:
            info = self.access.get(access_token or "")
            return info["user"] if info and info["valid"] else None

    def expire_access_tokens(self, user_id: str | None = None) -> None:
        with self.lock:
            for info in self.access.values():
                if user_id is None or info["user"] == user_id:
                    info["valid"] = False

    def revoke_login(self, login: int) -> None:
        with self.lock:
            for info in self.access.values():
                if info["login"] == login:
                    info["valid"] = False
            for info in self.refresh.values():
                if info["login"] == login:
                    info["spent"] = True

    # conversations -------------------------------------------------------
    def dm(self, a: str, b: str) -> Conversation:
        first, second = sorted((a, b))
        cid = f"dm:{first}:{second}"
        with self.lock:
            if cid not in self.conversations:
                self.conversations[cid] = Conversation(
                    cid, "dm", {first: "member", second: "member"}
                )
            return self.conversations[cid]

    def group(self, owner: str, name: str, members: list[str]) -> Conversation:
        with self.lock:
            cid = f"grp:01FAKE{next(self._counter):020d}"
            roles = dict.fromkeys(members, "member")
            roles[owner] = "owner"
            conv = Conversation(cid, "group", roles, name=name)
            self.conversations[cid] = conv
            self.store(conv, owner, {"type": "system", "event": "group_created", "by": owner})
            return conv

    def store(
        self, conv: Conversation, sender: str, body: JsonObject, client_msg_id: str | None = None
    ) -> JsonObject:
        with self.lock:
            seq = conv.last_seq + 1
            message = {
                "conversationId": conv.conversation_id,
                "seq": seq,
                "messageId": f"01MSG{seq:021d}",
                "senderId": sender,
                "clientMsgId": client_msg_id or f"srv{seq}",
                "body": body,
                "ts": 1_700_000_000_000 + seq,
            }
            conv.messages.append(message)
            self.read_seq[(conv.conversation_id, sender)] = seq
            return message

    def member_conversations(self, user_id: str) -> list[Conversation]:
        with self.lock:
            return [c for c in self.conversations.values() if user_id in c.members]


# ---------------------------------------------------------------- WebSocket


class FakeWsServer:
    """Speaks the WebSocket protocol over a :class:`FakeBackend`.

    Knobs:
        send_plan: per incoming ``send``, in order: ``"drop"`` (store it, then drop
            the connection before the ack), ``"ignore"`` (no reply, nothing stored),
            an ``int`` (answer that error code, nothing stored); empty = normal.
        sync_limit_cap: the most messages per conversation in one sync reply.
        max_conversations_per_sync: leave the others out "for size".
        push_stored: push stored messages to the members' other connections.
    """

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.frames: list[tuple[int, str, JsonObject]] = []
        self.handshakes: list[tuple[str, int]] = []
        self.connections: dict[int, tuple[str, ServerConnection]] = {}
        self.send_plan: list[str | int] = []
        self.sync_limit_cap: int | None = None
        self.max_conversations_per_sync: int | None = None
        self.push_stored = True
        self.url = ""
        self._server: Server | None = None
        self._numbers = itertools.count(1)

    async def __aenter__(self) -> FakeWsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check_token, ping_interval=None
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # helpers for tests ---------------------------------------------------
    def actions(self, action: str) -> list[JsonObject]:
        return [f for _, _, f in self.frames if f.get("action") == action]

    def live(self, user_id: str | None = None) -> list[ServerConnection]:
        return [ws for u, ws in self.connections.values() if user_id is None or u == user_id]

    async def push(self, user_id: str, frame: JsonObject) -> None:
        for ws in self.live(user_id):
            with contextlib.suppress(Exception):
                await ws.send(json.dumps(frame))

    async def drop_all(self, code: int = 1012) -> None:
        for ws in self.live():
            await ws.close(code=code, reason="test drop")

    # protocol ------------------------------------------------------------
    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        token = (query.get("token") or [""])[0]
        user = self.backend.user_for(token)
        self.handshakes.append((token, 101 if user else 401))
        if user is None:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        user = self.backend.user_for(query["token"][0])
        assert user is not None
        number = next(self._numbers)
        self.connections[number] = (user, ws)
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    await ws.send(json.dumps({"type": "error", "code": 1001, "message": "bad"}))
                    continue
                self.frames.append((number, user, frame))
                reply = await self._answer(number, user, ws, frame)
                if reply is not None:
                    if "id" in frame:
                        reply["id"] = frame["id"]
                    await ws.send(json.dumps(reply))
        except Exception:  # noqa: S110 - connection dropped by the test
            pass
        finally:
            self.connections.pop(number, None)

    async def _answer(
        self, number: int, user: str, ws: ServerConnection, frame: JsonObject
    ) -> JsonObject | None:
        action = frame.get("action")
        backend = self.backend
        if action == "ping":
            return {"type": "pong"}
        if action == "auth":
            new_user = backend.user_for(frame.get("token"))
            if new_user != user:
                return {"type": "error", "code": 1003, "message": "bad token"}
            return {"type": "ok"}
        if action == "send":
            plan = self.send_plan.pop(0) if self.send_plan else "ok"
            if plan == "ignore":
                return None
            if isinstance(plan, int):
                return {"type": "error", "code": plan, "message": f"scripted {plan}"}
            found = (
                backend.dm(user, frame["to"])
                if "to" in frame
                else backend.conversations.get(frame.get("conversationId", ""))
            )
            if found is None:
                return {"type": "error", "code": 2002, "message": "no conversation"}
            conv = found
            if user not in conv.members:
                return {"type": "error", "code": 1004, "message": "not a member"}
            key = (user, conv.conversation_id, frame["clientMsgId"])
            ack = backend.idempotency.get(key)
            if ack is None:
                message = backend.store(conv, user, frame["body"], frame["clientMsgId"])
                ack = {
                    "type": "ack",
                    "conversationId": conv.conversation_id,
                    "seq": message["seq"],
                    "messageId": message["messageId"],
                    "clientMsgId": message["clientMsgId"],
                    "ts": message["ts"],
                }
                backend.idempotency[key] = ack
                if self.push_stored:
                    for other, (member, conn) in list(self.connections.items()):
                        if other != number and member in conv.members:
                            with contextlib.suppress(Exception):
                                await conn.send(json.dumps({"type": "message", **message}))
            if plan == "drop":
                await ws.close(code=1011, reason="scripted drop")
                return None
            return dict(ack)
        if action == "sync":
            return self._sync(user, frame)
        if action == "read":
            read_key = (frame["conversationId"], user)
            backend.read_seq[read_key] = max(backend.read_seq.get(read_key, 0), frame["seq"])
            return {"type": "ok"}
        if action == "typing":
            return None
        if action == "presence":
            users = [
                {"userId": u, "online": bool(self.live(u)), "lastSeen": 0} for u in frame["userIds"]
            ]
            return {"type": "presence", "users": users}
        if action == "signal":
            await self.push(
                frame["to"],
                {
                    "type": "signal",
                    "from": user,
                    "fromConnection": f"c{number}",
                    "callId": frame["callId"],
                    "kind": frame["kind"],
                    "payload": frame.get("payload"),
                },
            )
            return {"type": "ok"}
        return {"type": "error", "code": 1007, "message": f"unknown action {action!r}"}

    def _sync(self, user: str, frame: JsonObject) -> JsonObject:
        cursors = frame.get("cursors") or {}
        limit = int(frame.get("limit", 100))
        if self.sync_limit_cap is not None:
            limit = min(limit, self.sync_limit_cap)
        out: list[JsonObject] = []
        complete = True
        for conv in self.backend.member_conversations(user):
            cursor = int(cursors.get(conv.conversation_id, 0))
            joined = conv.joined.get(user, 1)
            visible = [m for m in conv.messages if m["seq"] > cursor and m["seq"] >= joined]
            if not visible:
                continue
            if self.max_conversations_per_sync is not None and len(out) >= (
                self.max_conversations_per_sync
            ):
                complete = False
                continue
            page = visible[:limit]
            has_more = len(visible) > limit
            complete = complete and not has_more
            out.append(
                {
                    "conversationId": conv.conversation_id,
                    "type": conv.type,
                    "lastSeq": conv.last_seq,
                    "readSeq": self.backend.read_seq.get((conv.conversation_id, user), 0),
                    # real servers may omit conversationId inside; the client must cope
                    "messages": [
                        {k: v for k, v in m.items() if k != "conversationId"} for m in page
                    ],
                    "hasMore": has_more,
                }
            )
        return {"type": "sync", "conversations": out, "complete": complete}


class ThreadedWsServer:
    """Runs a :class:`FakeWsServer` on an event loop in a thread of its own."""

    def __init__(self, backend: FakeBackend) -> None:
        self.server = FakeWsServer(backend)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-ws", daemon=True)

    def start(self) -> FakeWsServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self.server

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# --------------------------------------------------------------------- HTTP


class FakeHttpServer:
    """The HTTP API over a :class:`FakeBackend`, in a thread. ``url`` is its root."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.requests: list[tuple[str, str, str | None, Any]] = []
        self.fail_next: list[tuple[int, bytes]] = []  # (status, raw body) replies to force
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _go(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type") or ""
                body: Any
                if content_type.startswith("multipart/form-data"):
                    body = parse_multipart(content_type, raw)
                else:
                    body = json.loads(raw) if raw else None
                auth = self.headers.get("Authorization")
                fake.requests.append((self.command, self.path, auth, body))
                if fake.fail_next:
                    status, payload = fake.fail_next.pop(0)
                    self._reply(status, payload)
                    return
                status, result = fake.route(self.command, self.path, auth, body)
                if isinstance(result, bytes):  # storage: file content or an XML error
                    self._reply(status, result)
                    return
                payload = b"" if result is None else json.dumps(result).encode()
                self._reply(status, payload)

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PATCH = _go

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-http"
        )

    def start(self) -> FakeHttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def paths(self) -> list[str]:
        return [f"{m} {p}" for m, p, _, _ in self.requests]

    def route(self, method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        b = self.backend
        url = urllib.parse.urlsplit(path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        query = dict(urllib.parse.parse_qsl(url.query))

        def error(status: int, code: int, message: str) -> tuple[int, Any]:
            return status, {"code": code, "message": message}

        if parts == ["health"]:
            return 200, {"status": "ok"}
        if parts == ["auth", "challenge"]:
            # As `make dev` answers: no registration challenge asked (protocol 13).
            return error(404, 1002, "this server asks no registration challenge")
        if parts == ["auth", "register"]:
            if body["userId"] in b.users:
                return error(409, 1008, "user id taken")
            if len(body.get("password", "")) < 8:
                return error(400, 1001, "password too short")
            b.add_user(body["userId"], body["password"], body.get("displayName", ""))
            return 201, {"userId": body["userId"]}
        if parts == ["auth", "login"]:
            user = b.users.get(body["userId"])
            if user is None or user["password"] != body["password"]:
                return error(401, 1003, "bad credentials")
            return 200, b.issue_tokens(body["userId"])
        if parts == ["auth", "refresh"]:
            info = b.refresh.get(body["refreshToken"])
            if info is None or info["spent"]:
                if info is not None:
                    b.revoke_login(info["login"])
                return error(401, 1003, "refresh token refused")
            info["spent"] = True
            return 200, b.issue_tokens(info["user"], login=info["login"])
        if parts == ["auth", "logout"]:
            info = b.refresh.get(body["refreshToken"])
            if info is None or info["spent"]:
                return error(401, 1003, "refresh token refused")
            b.revoke_login(info["login"])
            return 204, None

        if parts[0] == "storage":
            return self.storage(method, parts, query, body)
        user_id = b.user_for((auth or "").removeprefix("Bearer "))
        if user_id is None:
            return error(401, 1003, "missing or invalid token")
        if parts[0] == "attachments":
            return self.attachments(method, parts, user_id, body)
        if parts[0] == "me" and (parts != ["me"] or method == "DELETE"):
            return self.account(method, parts, user_id, body)
        if parts == ["me"]:
            return 200, {"userId": user_id, "displayName": b.users[user_id]["displayName"]}
        if parts == ["groups"] and method == "POST":
            conv = b.group(user_id, body["name"], body["members"])
            return 201, _group(conv)
        if parts[0] == "groups" and len(parts) >= 2:
            group = b.conversations.get(parts[1])
            if group is None:
                return error(404, 2002, "no such group")
            conv = group
            if user_id not in conv.members:
                return error(403, 1004, "not a member")
            if len(parts) == 2:
                return 200, _group(conv)
            if len(parts) == 3 and method == "POST":
                for new in body["userIds"]:
                    conv.members[new] = "member"
                    conv.joined[new] = conv.last_seq + 1
                b.store(
                    conv,
                    user_id,
                    {
                        "type": "system",
                        "event": "members_added",
                        "by": user_id,
                        "userIds": body["userIds"],
                    },
                )
                return 200, _group(conv)
            return error(400, 1001, "unsupported in the fake")
        if parts == ["conversations"]:
            # Paged as protocol §11: conversationId order, the cursor is the last id seen.
            limit = int(query.get("limit", 100))
            after = query.get("cursor", "")
            convs = sorted(b.member_conversations(user_id), key=lambda c: c.conversation_id)
            convs = [c for c in convs if c.conversation_id > after]
            items = []
            for conv in convs[:limit]:
                read = b.read_seq.get((conv.conversation_id, user_id), 0)
                item = {
                    "conversationId": conv.conversation_id,
                    "type": conv.type,
                    "lastSeq": conv.last_seq,
                    "readSeq": read,
                    "unread": conv.last_seq - read,
                    "muted": (conv.conversation_id, user_id) in b.muted,
                }
                if conv.name:
                    item["name"] = conv.name
                items.append(item)
            more = len(convs) > limit
            return 200, {
                "conversations": items,
                "nextCursor": items[-1]["conversationId"] if more and items else None,
            }
        if method == "PATCH" and parts[0] == "conversations" and len(parts) == 2:
            conv = b.conversations.get(parts[1])
            if conv is None or user_id not in conv.members:
                return error(403, 1004, "not a member")
            key = (parts[1], user_id)
            if body.get("muted"):
                b.muted.add(key)
            else:
                b.muted.discard(key)
            return 200, {"conversationId": parts[1], "muted": bool(body.get("muted"))}
        if parts[0] == "conversations" and len(parts) == 3 and parts[2] == "messages":
            target = b.conversations.get(parts[1])
            if target is None:
                return error(404, 2002, "no such conversation")
            conv = target
            if user_id not in conv.members:
                return error(403, 1004, "not a member")
            before = int(query.get("beforeSeq", conv.last_seq + 1))
            limit = int(query.get("limit", 50))
            older = [m for m in conv.messages if m["seq"] < before]
            page = older[-limit:]
            next_before = page[0]["seq"] if page and page[0]["seq"] > 1 else None
            return 200, {"messages": page, "nextBeforeSeq": next_before}
        if parts[0] in ("devices", "push"):
            return self.devices(method, parts, user_id, body)
        if parts[0] == "users" and len(parts) == 3 and parts[2] == "block":
            if method == "POST":
                b.blocked.add((user_id, parts[1]))
            else:
                b.blocked.discard((user_id, parts[1]))
            return 204, None
        return error(404, 1001, f"no route {method} {path}")

    def devices(self, method: str, parts: list[str], user_id: str, body: Any) -> tuple[int, Any]:
        """``GET /push/config`` and ``POST/GET/DELETE /devices`` (protocol §10): an https
        endpoint only, the same endpoint again answers its id with 200."""
        b = self.backend
        if parts == ["push", "config"] and method == "GET":
            return 200, {
                "webpush": {"vapidPublicKey": _b64(b"\x04" + bytes(64))},
                "fcm": False,
                "apns": False,
            }
        if parts == ["devices"] and method == "POST":
            if body.get("platform") != "webpush":
                return 400, {"code": 1001, "message": "platform not enabled"}
            sub = body.get("subscription") or {}
            endpoint = str(sub.get("endpoint", ""))
            keys = sub.get("keys") or {}
            if (
                not endpoint.startswith("https://")
                or not keys.get("p256dh")
                or not keys.get("auth")
            ):
                return 400, {"code": 1001, "message": "invalid subscription"}
            for device_id, device in b.devices.items():
                if device["key"] == endpoint and device["userId"] == user_id:
                    return 200, {"deviceId": device_id}
            device_id = f"dev{next(b._counter)}"
            b.devices[device_id] = {
                "userId": user_id,
                "platform": "webpush",
                "key": endpoint,
                "keys": dict(keys),
                "createdAt": 1_700_000_000_000 + len(b.devices),
            }
            return 201, {"deviceId": device_id}
        if parts == ["devices"] and method == "GET":
            mine = [
                {"deviceId": i, "platform": d["platform"], "createdAt": d["createdAt"]}
                for i, d in b.devices.items()
                if d["userId"] == user_id
            ]
            return 200, {"devices": mine}
        if len(parts) == 2 and method == "DELETE":
            device = b.devices.get(parts[1])
            if device is None or device["userId"] != user_id:
                return 404, {"code": 2003, "message": "no such device"}
            del b.devices[parts[1]]
            return 204, None
        return 404, {"code": 1001, "message": "no such route"}

    def account(self, method: str, parts: list[str], user_id: str, body: Any) -> tuple[int, Any]:
        """``DELETE /me``, ``POST /me/export``, ``GET /me/exports/{id}`` (protocol 12): an
        export is pending on its first poll, then ready with a link to this server's store."""
        b = self.backend
        if parts == ["me"] and method == "DELETE":
            if not isinstance(body, dict) or not body.get("password"):
                return 400, {"code": 1001, "message": "password: required"}
            if b.users[user_id]["password"] != body["password"]:
                return 401, {"code": 1003, "message": "bad credentials"}
            b.users[user_id]["password"] = None
            b.expire_access_tokens(user_id)
            return 204, None
        if parts == ["me", "export"] and method == "POST":
            export_id = f"exp{next(b._counter)}"
            b.exports[export_id] = {"user": user_id, "polls": 0}
            return 202, {"exportId": export_id}
        if parts[:2] == ["me", "exports"] and len(parts) == 3 and method == "GET":
            export = b.exports.get(parts[2])
            if export is None or export["user"] != user_id:
                return 404, {"code": 1002, "message": "no such export"}
            export["polls"] += 1
            if export["polls"] == 1:
                return 200, {"status": "pending"}
            data = {"profile": {"userId": user_id}, "conversations": [], "messages": []}
            b.attachments[parts[2]] = {
                "content": json.dumps({**data, "devices": [], "blocks": []}).encode()
            }
            url = f"{self.url}/storage/{parts[2]}?X-Amz-Signature=secret"
            return 200, {"status": "ready", "url": url, "expiresIn": 300}
        return 404, {"code": 1001, "message": "no route"}

    def attachments(
        self, method: str, parts: list[str], user_id: str, body: Any
    ) -> tuple[int, Any]:
        """``POST /attachments`` and ``GET /attachments/{id}`` (protocol §9.3), presigning
        URLs of this server's ``/storage``."""
        b = self.backend
        if method == "POST" and len(parts) == 1:
            conversation_id = body["conversationId"]
            conv = b.conversations.get(conversation_id)
            member = user_id in conv.members if conv else user_id in conversation_id.split(":")
            if not member:
                return 403, {"code": 1004, "message": "not a member"}
            attachment_id = f"att{next(b._counter)}"
            b.attachments[attachment_id] = {**body, "uploader": user_id, "content": None}
            fields = {"key": f"att/{attachment_id}", "Content-Type": body["contentType"]}
            fields["policy"] = "signed-policy"
            upload = {"url": f"{self.url}/storage", "fields": fields}
            return 201, {"attachmentId": attachment_id, "upload": upload, "expiresIn": 300}
        if method == "GET" and len(parts) == 2:
            attachment = b.attachments.get(parts[1])
            if attachment is None or attachment["content"] is None:
                return 404, {"code": 2003, "message": "no such attachment"}
            info = {k: v for k, v in attachment.items() if k not in ("uploader", "content")}
            url = f"{self.url}/storage/{parts[1]}?X-Amz-Signature=secret"
            return 200, {"attachmentId": parts[1], **info, "url": url, "expiresIn": 300}
        return 404, {"code": 1001, "message": "no route"}

    def storage(
        self, method: str, parts: list[str], query: dict[str, str], form: Any
    ) -> tuple[int, bytes]:
        """A presigned-POST store: the signed fields, then the file of the declared size."""
        b = self.backend
        if method == "POST":
            names = [name for name, _, _ in form]
            values = {name: value for name, _, value in form}
            attachment_id = values.get("key", b"").decode().removeprefix("att/")
            attachment = b.attachments.get(attachment_id)
            if names[-1:] != ["file"] or "policy" not in values or attachment is None:
                return 403, b"<Error><Code>AccessDenied</Code></Error>"
            content = values["file"]
            if len(content) != attachment["size"]:
                return 400, b"<Error><Code>EntityTooLarge</Code></Error>"
            attachment["content"] = content
            attachment["uploadedName"] = form[-1][1]
            return 204, b""
        attachment = b.attachments.get(parts[1]) if len(parts) == 2 else None
        if attachment is None or query.get("X-Amz-Signature") != "secret":
            return 403, b"<Error><Code>AccessDenied</Code></Error>"
        return 200, attachment["content"]


def parse_multipart(content_type: str, raw: bytes) -> list[tuple[str, str | None, bytes]]:
    """A ``multipart/form-data`` body as ``[(name, filename, value)]``, in order, read
    with the standard library's MIME parser (not the client's own code)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    assert message.is_multipart() and not message.defects, message.defects
    out: list[tuple[str, str | None, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        out.append((name, part.get_filename(), payload))
    return out


def _group(conv: Conversation) -> JsonObject:
    return {
        "conversationId": conv.conversation_id,
        "name": conv.name,
        "members": [{"userId": u, "role": r} for u, r in conv.members.items()],
    }


# ----------------------------------------------------------------- fixtures


@pytest.fixture
def backend() -> FakeBackend:
    """Fresh fake state with users alice, bob and carol (password ``password123``)."""
    state = FakeBackend()
    for name in ("alice", "bob", "carol"):
        state.add_user(name)
    return state


@pytest.fixture
def read_multipart() -> Any:
    """:func:`parse_multipart`: a form body as ``[(name, filename, value)]``."""
    return parse_multipart


@pytest.fixture
def ws_server_cls() -> type[FakeWsServer]:
    """The in-loop fake WebSocket server class: ``async with cls(backend) as server``."""
    return FakeWsServer


@pytest.fixture
def http_server(backend: FakeBackend) -> Iterator[FakeHttpServer]:
    """A running fake HTTP API over ``backend``."""
    server = FakeHttpServer(backend).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def threaded_ws(backend: FakeBackend) -> Iterator[ThreadedWsServer]:
    """A fake WebSocket server on its own loop/thread (for code that runs asyncio.run)."""
    runner = ThreadedWsServer(backend)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def config_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty ``$PARLEY_CONFIG_DIR`` (and no URL/profile/password env from the host)."""
    directory = tmp_path / "config"
    monkeypatch.setenv("PARLEY_CONFIG_DIR", str(directory))
    for name in ("PARLEY_HTTP_URL", "PARLEY_WS_URL", "PARLEY_PROFILE", "PARLEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return directory


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running behind it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while True:
        extra = [
            t
            for t in set(threading.enumerate()) - before
            if t.is_alive() and not t.name.startswith("asyncio_")
        ]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not extra, f"threads left running: {extra}"
