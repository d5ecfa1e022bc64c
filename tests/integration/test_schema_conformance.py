"""Real frames and HTTP responses against the published documents (`docs/schema/`).

The handlers are driven through a conversation (accounts, a chat, a group and every change
to it, sync, read, typing, presence, signals, history, and the errors along the way); every
reply, every pushed frame and every HTTP response is validated against the committed
AsyncAPI and OpenAPI documents with the server's objects *closed*: a field the server sends
but the documents lack fails here, as does a status code a route does not declare. This keeps
the hand-written response models of `parley_schema.models` honest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from parley_schema.check import DocumentValidator

from tests.integration.conftest import CONTEXT, PASSWORD, Harness
from tests.support import events
from tests.support.handlers import load

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"
ATTACKER_IP = "198.51.100.99"
UNKNOWN_GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
FUNCTION_OF = {"send": "ws_send", "sync": "ws_sync"}


def _ref_name(ref: dict[str, str]) -> str:
    return ref["$ref"].rsplit("/", 1)[-1]


class Conformance:
    """Drives handlers like API Gateway and validates everything they answer or post."""

    def __init__(self, app: Harness) -> None:
        self.app = app
        self.asyncapi = json.loads((SCHEMA_DIR / "asyncapi.json").read_text())
        self.openapi = json.loads((SCHEMA_DIR / "openapi.json").read_text())
        self.frames = DocumentValidator(self.asyncapi, closed=True)
        self.bodies = DocumentValidator(self.openapi, closed=True)
        operations = self.asyncapi["operations"]
        self.replies = {
            name: [_ref_name(m) for m in op["reply"]["messages"]]
            for name, op in operations.items()
            if op["action"] == "receive"
        }
        self.pushes = sorted(
            {
                _ref_name(m)
                for op in operations.values()
                if op["action"] == "send"
                for m in op["messages"]
            }
        )
        self.tokens: dict[str, str] = {}
        self.last_status = 0
        self.seen_schemas: set[str] = set()
        self.seen_routes: set[tuple[str, int]] = set()
        self.seen_events: set[str] = set()
        self._checked_posts: dict[str, int] = {}

    # ---- HTTP ------------------------------------------------------------------------------

    def http(
        self,
        function: str,
        method: str,
        route: str,
        status: int | tuple[int, ...],
        *,
        user: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call a route, check the status (one of `status`), validate the response; the
        parsed body (the status is kept in `last_status`)."""
        token = self.tokens[user] if user is not None else kwargs.pop("token", None)
        event = events.http_event(method, route, token=token, **kwargs)
        response = load(function).handler(event, CONTEXT)
        raw = response.get("body")
        got = response["statusCode"]
        assert got in (status if isinstance(status, tuple) else (status,)), raw
        self.last_status = got
        declared = self.openapi["paths"][route][method.lower()]["responses"].get(str(got))
        assert declared is not None, f"{method} {route} does not declare {got}"
        self.seen_routes.add((f"{method} {route}", got))
        if "content" not in declared:
            assert raw is None, f"{method} {route} {got} has no body in the document"
            return None
        body = json.loads(raw)
        name = _ref_name(declared["content"]["application/json"]["schema"])
        assert self.bodies.errors(name, body) == [], (method, route, body)
        self.seen_schemas.add(name)
        if "x-parley-error-codes" in declared:
            assert body["code"] in declared["x-parley-error-codes"], (method, route, body)
        if "headers" in declared:
            assert {h.lower() for h in declared["headers"]} <= set(response["headers"])
        self._check_posts()
        return body

    def register(self, user: str, status: int = 201, **body: Any) -> Any:
        payload = {"userId": user, "password": PASSWORD, **body}
        return self.http("http_auth", "POST", "/auth/register", status, body=payload)

    def login(
        self,
        user: str,
        *,
        password: str = PASSWORD,
        status: int | tuple[int, ...] = 200,
        **kw: Any,
    ) -> Any:
        body = {"userId": user, "password": password}
        reply = self.http("http_auth", "POST", "/auth/login", status, body=body, **kw)
        if self.last_status == 200:
            self.tokens[user] = reply["accessToken"]
            self.app.tokens[user] = reply
        return reply

    # ---- WebSocket -------------------------------------------------------------------------

    def frame(
        self,
        action: str,
        frame: Any = None,
        *,
        user: str,
        connection: str,
        raw: str | None = None,
        token_exp: int | None = None,
    ) -> Any:
        """Send one client frame on its route; validate the reply (None when there is none)
        against the replies the action's operation declares."""
        route = action if action in self.replies else "$default"
        extra = {} if token_exp is None else {"token_exp": token_exp}
        event = events.ws_event(route, frame, user=user, connection=connection, raw=raw, **extra)
        response = load(FUNCTION_OF.get(route, "ws_live")).handler(event, CONTEXT)
        assert response["statusCode"] == 200
        reply = json.loads(response["body"]) if response.get("body") else None
        if reply is not None:
            allowed = self.replies.get(route, ["ErrorFrame"])
            self._one_of(allowed, reply, f"reply to {action}")
        self._check_posts()
        return reply

    def _one_of(self, names: list[str], frame: Any, what: str) -> str:
        matched = self.frames.matching(names, frame)
        assert len(matched) == 1, (what, frame, {n: self.frames.errors(n, frame) for n in names})
        assert self.frames.is_valid("ServerFrame", frame), self.frames.errors("ServerFrame", frame)
        self.seen_schemas.add(matched[0])
        body = frame.get("body")
        if isinstance(body, dict) and body.get("type") == "system":
            self.seen_events.add(body["event"])
        return matched[0]

    def _check_posts(self) -> None:
        """Validate every frame posted to a connection since the last check."""
        self.app.drain_queue()
        for connection, posted in self.app.gateway.posts.items():
            for frame in posted[self._checked_posts.get(connection, 0) :]:
                self._one_of(self.pushes, frame, f"push to {connection}")
            self._checked_posts[connection] = len(posted)

    def pushed(self, connection: str, kind: str) -> list[dict[str, Any]]:
        return self.app.gateway.frames(connection, kind)


@pytest.fixture
def conformance(app: Harness, reconfigure: Callable[..., None]) -> Conformance:
    reconfigure(
        PARLEY_STUN_URLS="stun:stun.example.org:3478",
        PARLEY_TURN_URLS="turn:turn.example.org:3478?transport=udp",
        PARLEY_TURN_SECRET_ARN=app.stack.secret_arn,
        PARLEY_FAILED_LOGINS_PER_WINDOW=2,
        # One window of 100 s admitting the default burst: a loop of pings meets the limit
        # however slowly the test runs, and nothing else here comes near it.
        PARLEY_FRAMES_PER_SECOND=1,
        PARLEY_ADMIN_USERS="carol",
    )
    return Conformance(app)


# ---- the conversation, step by step -------------------------------------------------------------


def accounts(c: Conformance) -> None:
    c.http("health", "GET", "/health", 200)
    for user in ("alice", "bob", "carol", "dave"):
        c.register(user, displayName=user.title())
        c.login(user)
    c.register("alice", 409)
    c.register("eve", 400, password="short")
    c.http("http_auth", "POST", "/auth/register", 413, raw=json.dumps({"x": "y" * 70_000}))
    c.http("http_users", "GET", "/me", 200, user="alice")
    c.http("http_users", "GET", "/me", 401)
    # A second login of alice is refreshed twice (the spent token once more within the
    # grace window: the same pair), then its first, twice-spent refresh token is reused.
    second = c.login("alice")
    refresh = {"refreshToken": second["refreshToken"]}
    rotated = c.http("http_auth", "POST", "/auth/refresh", 200, body=refresh)
    c.http("http_auth", "POST", "/auth/refresh", 200, body=refresh)
    c.http(
        "http_auth", "POST", "/auth/refresh", 200, body={"refreshToken": rotated["refreshToken"]}
    )
    c.http("http_auth", "POST", "/auth/refresh", 401, body=refresh)
    # Account routes of issue 15: no challenge asked here, a bad and a good password
    # change, and logging out everywhere from a fourth login.
    c.http("http_auth", "GET", "/auth/challenge", 404)
    fourth = c.login("alice")
    change = {"oldPassword": PASSWORD, "newPassword": "short"}
    c.http("http_auth", "POST", "/me/password", 400, body=change, token=fourth["accessToken"])
    change["newPassword"] = PASSWORD
    c.http("http_auth", "POST", "/me/password", 204, body=change, token=fourth["accessToken"])
    c.http("http_auth", "POST", "/auth/logout-all", 204, token=fourth["accessToken"])
    third = c.login("alice")
    c.http("http_auth", "POST", "/auth/logout", 204, body={"refreshToken": third["refreshToken"]})
    c.login("alice")  # the login the rest of the conversation uses
    # Failed logins from one address until it is locked out (a window may turn over
    # between two attempts and start the count again: the third window cannot).
    for _ in range(3 * 2):
        c.login("alice", password="wrong", status=(401, 429), source_ip=ATTACKER_IP)
        if c.last_status == 429:
            break
    assert c.last_status == 429


def chat(c: Conformance) -> None:
    for user, connection in (("alice", "a1"), ("alice", "a2"), ("bob", "b1"), ("bob", "b2")):
        c.app.connect(user, connection)
    assert c.frame("ping", {"action": "ping", "id": "p1"}, user="alice", connection="a1") == {
        "type": "pong",
        "id": "p1",
    }
    c.frame("ping", {"action": "ping"}, user="alice", connection="a1")
    text = {"type": "text", "text": "hello"}
    send = {"action": "send", "id": "s1", "to": "bob", "clientMsgId": "m1", "body": text}
    first = c.frame("send", send, user="alice", connection="a1")
    assert c.frame("send", send, user="alice", connection="a1") == first  # idempotent
    custom = {"type": "custom", "data": {"kind": "location", "lat": 52.5, "tags": [None]}}
    c.frame("send", {**send, "clientMsgId": "m2", "body": custom}, user="alice", connection="a1")
    c.frame("send", {**send, "to": "alice", "clientMsgId": "m3"}, user="alice", connection="a1")
    # (a retried send may push again: push is at least once)
    assert {m["clientMsgId"] for m in c.pushed("b2", "message")} == {"m1", "m2"}
    # Refused frames: each is an error reply carrying the request's id where it could be read.
    empty = {**send, "clientMsgId": "m4", "body": {"type": "text", "text": ""}}
    long = {**send, "clientMsgId": "m5", "body": {"type": "text", "text": "x" * 4001}}
    for bad, code in ((empty, 1001), (long, 1006), ({**send, "to": None}, 1001)):
        assert c.frame("send", bad, user="alice", connection="a1")["code"] == code
    assert c.frame("shout", {"action": "shout", "id": "x"}, user="alice", connection="a1") == {
        "type": "error",
        "id": "x",
        "code": 1007,
        "message": "unknown action 'shout'",
    }
    assert c.frame("shout", raw="[1, 2]", user="alice", connection="a1")["code"] == 1001
    huge = json.dumps({"action": "ping", "pad": "x" * 40_000})
    assert c.frame("ping", raw=huge, user="alice", connection="a1")["code"] == 1006


def group(c: Conformance) -> str:
    c.app.connect("carol", "c1")
    body = {"name": "Team", "members": ["bob", "carol"]}
    created = c.http("http_groups", "POST", "/groups", 201, user="alice", body=body)
    gid = created["conversationId"]
    path = {"id": gid}
    c.http("http_groups", "GET", "/groups/{id}", 200, user="bob", path=path)
    c.http("http_groups", "GET", "/groups/{id}", 403, user="dave", path=path)
    c.http("http_groups", "GET", "/groups/{id}", 403, user="alice", path={"id": UNKNOWN_GROUP})
    c.http("http_groups", "GET", "/groups/{id}", 404, user="alice", path={"id": "grp:nope"})
    members = "/groups/{id}/members"
    c.http("http_groups", "POST", members, 200, user="alice", path=path, body={"userIds": ["dave"]})
    c.http("http_groups", "POST", members, 404, user="alice", path=path, body={"userIds": ["zed"]})
    c.http("http_groups", "POST", members, 400, user="alice", path=path, body={"userIds": []})
    member = "/groups/{id}/members/{userId}"
    bob, dave, carol = ({**path, "userId": u} for u in ("bob", "dave", "carol"))
    c.http("http_groups", "PATCH", member, 200, user="alice", path=bob, body={"role": "admin"})
    c.http("http_groups", "PATCH", member, 400, user="alice", path=bob, body={"role": "boss"})
    c.http("http_groups", "DELETE", member, 204, user="bob", path=dave)  # removed by an admin
    c.http("http_groups", "DELETE", member, 204, user="carol", path=carol)  # leaves
    c.http("http_groups", "DELETE", member, 403, user="bob", path={**path, "userId": "alice"})
    c.http("http_groups", "DELETE", member, 400, user="alice", path={**path, "userId": "NO"})
    c.http("http_groups", "PATCH", member, 200, user="alice", path=bob, body={"role": "owner"})
    c.http("http_groups", "PATCH", member, 403, user="carol", path=bob, body={"role": "member"})
    send = {"action": "send", "conversationId": gid, "clientMsgId": "g1"}
    c.frame(
        "send", {**send, "body": {"type": "text", "text": "hi team"}}, user="bob", connection="b1"
    )
    assert c.seen_events == {
        "group_created",
        "members_added",
        "member_removed",
        "member_left",
        "role_changed",
    }
    return gid


def live(c: Conformance, gid: str) -> None:
    dm = "dm:alice:bob"
    sync = c.frame("sync", {"action": "sync", "id": "y"}, user="alice", connection="a1")
    assert sync["complete"] and {e["conversationId"] for e in sync["conversations"]} >= {dm, gid}
    partial = c.frame("sync", {"action": "sync", "limit": 1}, user="bob", connection="b1")
    assert not partial["complete"] and "id" not in partial
    read = {"action": "read", "id": "r", "conversationId": dm, "seq": 2}
    assert c.frame("read", read, user="bob", connection="b1")["readSeq"] == 2
    assert c.pushed("a1", "receipt") and c.pushed("b2", "receipt")
    typing = {"action": "typing", "conversationId": dm, "state": "start"}
    assert c.frame("typing", typing, user="alice", connection="a1") is None
    assert c.pushed("b1", "typing")
    outsider = {**typing, "conversationId": gid}
    assert c.frame("typing", outsider, user="dave", connection="d1")["code"] == 1004
    presence = {"action": "presence", "id": "p", "userIds": ["bob", "dave", "zed"]}
    users = c.frame("presence", presence, user="alice", connection="a1")["users"]
    assert [(u["online"], u["lastSeen"] is None) for u in users] == [
        (True, False),
        (False, True),
        (False, True),
    ]
    invite = {"action": "signal", "id": "i", "to": "bob", "callId": "call-1", "kind": "invite"}
    assert c.frame("signal", invite, user="alice", connection="a1")["delivered"] == 2
    accept = {**invite, "to": "alice", "kind": "accept", "payload": {"sdp": "v=0"}}
    c.frame("signal", {**accept, "toConnection": "a1"}, user="bob", connection="b1")
    assert c.pushed("b2", "signal")[-1]["payload"] == {"answeredElsewhere": True}
    assert c.frame("signal", {**invite, "to": "zed"}, user="alice", connection="a1")["code"] == 1002
    fresh = {"action": "auth", "id": "t", "token": c.tokens["alice"]}
    assert c.frame("auth", fresh, user="alice", connection="a1")["expiresAt"] > 0


def limits_and_expiry(c: Conformance) -> None:
    # A socket whose token expired: the frame is refused and the server pushes why.
    connect = events.ws_event("$connect", user="carol", connection="c-old", token_exp=1)
    assert load("ws_connect").handler(connect, CONTEXT)["statusCode"] == 200
    ping = {"action": "ping", "id": "late"}
    assert c.frame("ping", ping, user="carol", connection="c-old", token_exp=1)["code"] == 1003
    assert [f["code"] for f in c.pushed("c-old", "error")] == [1003]
    # A connection over its frame burst gets 1005 with retryAfterMs; the socket stays open.
    burst = int(c.asyncapi["x-parley-limits"]["frameBurst"]["value"])
    for _ in range(2 * burst + 2):  # two windows at most: one of them overflows
        reply = c.frame("ping", {"action": "ping"}, user="carol", connection="c1")
        if reply["type"] == "error":
            assert reply["code"] == 1005 and reply["retryAfterMs"] > 0
            return
    pytest.fail("the frame burst was never reached")


def history(c: Conformance, gid: str) -> None:
    conversations = "/conversations"
    listed = c.http("http_conversations", "GET", conversations, 200, user="alice")["conversations"]
    assert {e["type"] for e in listed} == {"dm", "group"}
    messages = "/conversations/{id}/messages"
    page = c.http("http_conversations", "GET", messages, 200, user="bob", path={"id": gid})
    assert page["nextBeforeSeq"] is None
    dm = {"id": "dm:alice:bob"}
    one = c.http(
        "http_conversations", "GET", messages, 200, user="bob", path=dm, query={"limit": "1"}
    )
    assert one["nextBeforeSeq"] == one["messages"][0]["seq"]
    bad = {"limit": "0"}
    c.http("http_conversations", "GET", messages, 400, user="bob", path=dm, query=bad)
    c.http("http_conversations", "GET", messages, 403, user="dave", path=dm)
    c.http("http_conversations", "GET", messages, 404, user="bob", path={"id": "dm:bob:alice"})
    ice = c.http("http_rtc", "GET", "/rtc/ice-servers", 200, user="alice")
    c.http("http_admin", "GET", "/admin/flags", 200, user="carol")
    c.http("http_admin", "GET", "/admin/flags", 403, user="alice")
    assert [("username" in s) for s in ice["iceServers"]] == [False, True]
    block = "/users/{userId}/block"
    c.http("http_users", "POST", block, 204, user="alice", path={"userId": "dave"})
    c.http("http_users", "POST", block, 400, user="alice", path={"userId": "alice"})
    c.http("http_users", "POST", block, 404, user="alice", path={"userId": "zed"})
    c.http("http_users", "DELETE", block, 204, user="alice", path={"userId": "dave"})


def moderation(c: Conformance) -> None:
    """Protocol 12: carol (an app admin) suspends a fresh user and lifts it."""
    c.register("mallory")
    suspend = "/admin/users/{userId}/suspend"
    who = {"userId": "mallory"}
    c.http("http_admin", "POST", suspend, 204, user="carol", path=who, body={"reason": "spam"})
    c.http("http_admin", "POST", suspend, 400, user="carol", path=who, body={"reason": 1})
    c.http("http_admin", "POST", suspend, 403, user="alice", path=who, body={})
    c.http("http_admin", "POST", suspend, 404, user="carol", path={"userId": "zed"}, body={})
    c.http("http_admin", "DELETE", suspend, 204, user="carol", path=who)
    c.http("http_admin", "DELETE", suspend, 403, user="alice", path=who)
    c.http("http_admin", "DELETE", suspend, 404, user="carol", path={"userId": "zed"})
    flag = "/admin/flags/{userId}"
    c.http("http_admin", "DELETE", flag, 204, user="carol", path=who)
    c.http("http_admin", "DELETE", flag, 400, user="carol", path={"userId": "no such id!"})
    c.http("http_admin", "DELETE", flag, 403, user="alice", path=who)
    # carol, no member of the direct conversation, deletes its first message
    message = "/admin/conversations/{id}/messages/{seq}"
    first = {"id": "dm:alice:bob", "seq": "1"}
    c.http("http_admin", "DELETE", message, 403, user="alice", path=first)
    c.http("http_admin", "DELETE", message, 204, user="carol", path=first)
    c.http("http_admin", "DELETE", message, 400, user="carol", path=first)
    c.http("http_admin", "DELETE", message, 404, user="carol", path={**first, "seq": "99999"})


def attachments(c: Conformance, gid: str) -> None:
    import requests

    body = {"conversationId": gid, "name": "a.txt", "size": 5, "contentType": "text/plain"}
    created = c.http("http_attachments", "POST", "/attachments", 201, user="alice", body=body)
    form = created["upload"]
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": ("a", b"hello")}, timeout=10
    )
    assert posted.status_code in (200, 201, 204)
    c.http("http_attachments", "POST", "/attachments", 403, user="dave", body=body)
    link = "/attachments/{attachmentId}"
    one = {"attachmentId": created["attachmentId"]}
    c.http("http_attachments", "GET", link, 403, user="bob", path=one)
    send = {
        "action": "send",
        "id": "f",
        "conversationId": gid,
        "clientMsgId": "file-1",
        "body": {"type": "file", "attachmentId": created["attachmentId"], "caption": "hi"},
    }
    assert c.frame("send", send, user="alice", connection="a1")["type"] == "ack"
    c.http("http_attachments", "GET", link, 200, user="bob", path=one)
    unknown = {"attachmentId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    c.http("http_attachments", "GET", link, 404, user="bob", path=unknown)


def rich_messages(c: Conformance, gid: str) -> None:
    """Replies, edits, reactions and deletes (protocol 9), and the targets' current state
    as history shows them."""

    def send(user: str, client_id: str, body: dict[str, Any]) -> Any:
        frame = {
            "action": "send",
            "id": client_id,
            "conversationId": gid,
            "clientMsgId": client_id,
            "body": body,
        }
        reply = c.frame("send", frame, user=user, connection="a1" if user == "alice" else "b1")
        assert reply["type"] == "ack", reply
        return reply["seq"]

    first = send("alice", "rich-1", {"type": "text", "text": "helo"})
    send("bob", "rich-2", {"type": "text", "text": "hi", "replyTo": first, "mentions": ["alice"]})
    send("alice", "rich-3", {"type": "edit", "target": first, "text": "hello"})
    send("bob", "rich-4", {"type": "reaction", "target": first, "key": "👍", "on": True})
    second = send("alice", "rich-5", {"type": "text", "text": "bye"})
    send("alice", "rich-6", {"type": "edit", "target": second, "text": "bye!"})
    send("alice", "rich-7", {"type": "delete", "target": second})
    messages = "/conversations/{id}/messages"
    page = c.http("http_conversations", "GET", messages, 200, user="bob", path={"id": gid})
    by_seq = {m["seq"]: m for m in page["messages"]}
    assert by_seq[first]["reactions"] == {"👍": ["bob"]} and "edited" in by_seq[first]
    assert by_seq[second]["body"] == {"type": "deleted"}


def settings(c: Conformance, gid: str) -> None:
    """Mute (protocol 11) and the paged list."""
    route = "/conversations/{id}"
    body = {"muted": True}
    c.http("http_conversations", "PATCH", route, 200, user="alice", path={"id": gid}, body=body)
    c.http("http_conversations", "PATCH", route, 403, user="dave", path={"id": gid}, body=body)
    c.http("http_conversations", "PATCH", route, 400, user="alice", path={"id": gid}, body={"x": 1})
    listed = c.http(
        "http_conversations", "GET", "/conversations", 200, user="alice", query={"limit": "1"}
    )
    assert listed["nextCursor"] is not None


def devices(c: Conformance) -> None:
    """Push configuration and a Web Push device's life (protocol 10)."""
    from tests.support.webpush import Browser

    c.http("http_devices", "GET", "/push/config", 200, user="alice")
    subscription = {"endpoint": "https://push.example.com/s/1", "keys": Browser().keys()}
    body = {"platform": "webpush", "subscription": subscription}
    created = c.http("http_devices", "POST", "/devices", 201, user="alice", body=body)
    c.http("http_devices", "POST", "/devices", 200, user="alice", body=body)
    c.http("http_devices", "POST", "/devices", 400, user="alice", body={"platform": "x"})
    listed = c.http("http_devices", "GET", "/devices", 200, user="alice")
    assert [d["deviceId"] for d in listed["devices"]] == [created["deviceId"]]
    one = {"deviceId": created["deviceId"]}
    c.http("http_devices", "DELETE", "/devices/{deviceId}", 404, user="bob", path=one)
    c.http("http_devices", "DELETE", "/devices/{deviceId}", 204, user="alice", path=one)


def account(c: Conformance) -> None:
    """An export's life and an account's deletion (protocol 12), as erin."""
    c.register("erin")
    c.login("erin")
    created = c.http("http_users", "POST", "/me/export", 202, user="erin")
    one = {"exportId": created["exportId"]}
    c.http("http_users", "GET", "/me/exports/{exportId}", 200, user="erin", path=one)
    job = {"kind": "export", "userId": "erin", "exportId": created["exportId"]}
    load("account_jobs").handler(events.sqs_event([job]), CONTEXT)
    ready = c.http("http_users", "GET", "/me/exports/{exportId}", 200, user="erin", path=one)
    assert ready["status"] == "ready"
    c.http("http_users", "GET", "/me/exports/{exportId}", 404, user="bob", path=one)
    c.http("http_users", "GET", "/me/exports/{exportId}", 400, user="erin", path={"exportId": "x"})
    c.http("http_auth", "DELETE", "/me", 400, user="erin", body={"password": ""})
    c.http("http_auth", "DELETE", "/me", 401, user="erin", body={"password": "not it"})
    c.http("http_auth", "DELETE", "/me", 204, user="erin", body={"password": PASSWORD})


def test_every_frame_and_response_of_a_conversation_conforms(conformance: Conformance) -> None:
    # GIVEN the committed AsyncAPI and OpenAPI documents, with the server's objects closed
    c = conformance
    # WHEN users register, chat, run a group through every change, sync, read, type, ask
    # for presence, call, page through history, and hit errors along the way
    accounts(c)
    chat(c)
    gid = group(c)
    live(c, gid)
    limits_and_expiry(c)
    history(c, gid)
    moderation(c)
    attachments(c, gid)
    rich_messages(c, gid)
    settings(c, gid)
    devices(c)
    account(c)
    # THEN every reply, push and response above was valid (checked as it came), and the
    # conversation produced every server frame and reached every documented route
    server_frames = {
        "AckFrame",
        "SyncReplyFrame",
        "MessageFrame",
        "ReceiptFrame",
        "TypingEventFrame",
        "PresenceReplyFrame",
        "SignalEventFrame",
        "ReadOkFrame",
        "SignalOkFrame",
        "AuthOkFrame",
        "PongFrame",
        "ErrorFrame",
    }
    assert server_frames <= c.seen_schemas
    documented = {
        f"{method.upper()} {path}"
        for path, operations in c.openapi["paths"].items()
        for method in operations
    }
    assert {route for route, _ in c.seen_routes} == documented
