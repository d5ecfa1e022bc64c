"""Fuzzing every WebSocket action and HTTP route with generated input (hypothesis).

For every input, however malformed, a handler answers with a coded error of the protocol's
table (with the HTTP status of section 6) or a success; never an unhandled exception and
never 3001. Rejected writes leave no half-written record: after a refused `send` the
conversation holds exactly what was acked, after a refused group change the group's
members and messages are unchanged, after a refused registration no user exists.

Without `PARLEY_FUZZ_EXAMPLES` the examples are derandomized (the same on every run, so
`make test` cannot fail by chance); with it (`make fuzz`) each run explores new ones.

Cost: each test function builds ONE moto stack and runs all its examples against it (about
2-6 ms per example). `PARLEY_FUZZ_EXAMPLES` (default 300; `make fuzz` runs 10,000) sets
the examples per route. Two routes run scrypt (about 50 ms) for well-formed bodies:
register and login generate mostly bodies that fail validation before scrypt, and only a
few well-formed ones (see `_rarely`). The rate limiter is off here so that every example
reaches its action (the limits themselves are attacked in test_attacks.py).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from parley import ddb, ids, runtime, tokens
from parley.errors import HTTP_STATUS, Code
from parley.passwords import hash_password

from tests.fakes.gateway import FakeGateway
from tests.integration.conftest import CONTEXT, PASSWORD, Harness
from tests.support import events
from tests.support.handlers import load
from tests.support.stack import create_stack

EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    # `make test` replays the same examples every run (a gate must not flip on luck);
    # `make fuzz` (PARLEY_FUZZ_EXAMPLES set) explores new ones each time.
    derandomize="PARLEY_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)
CLIENT_CODES = {int(c) for c in Code} - {int(Code.INTERNAL)}
USERS = ("alice", "bob", "carol")  # alice and bob share a group and a dm; carol is outside
UNKNOWN_GROUP = "grp:01HZZZZZZZZZZZZZZZZZZZZZZZ"
PASSWORD_HASH = hash_password(PASSWORD)  # once per module: setting up users costs no scrypt


# ---- one stack per test function -------------------------------------------------------------


@dataclass
class World:
    app: Harness
    group: str
    tokens: dict[str, str]
    refresh_tokens: list[str]
    keys: tokens.Keys
    acked: dict[str, dict[int, str]] = field(default_factory=dict)
    examples: int = 0

    @property
    def conversations(self) -> list[str]:
        return [self.group, "dm:alice:bob", "dm:alice:carol", "dm:alice:alice"]


def _login(user: str, keys: tokens.Keys, now: int) -> tuple[str, str]:
    """A real login without scrypt: the session row and its token pair."""
    session = tokens.new_session_id()
    runtime.sessions().create(session, user, now, now + 86400)
    access = tokens.issue_access_token(
        keys,
        user_id=user,
        session_id=session,
        now=now,
        ttl=3600,
        issuer="parley",
        audience="parley-clients",
    )
    return access, tokens.issue_refresh_token(keys, session, 1)


@contextmanager
def fuzz_world() -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        stack = create_stack("fz")
        for key, value in stack.env().items():
            mp.setenv(key, value)
        # No limits table, no rate limiter: every example reaches its action, and the
        # limiter's conditional write (moto's slowest call here) is not paid per example.
        mp.delenv("PARLEY_LIMITS_TABLE")
        runtime.reset()
        gateway = FakeGateway()
        mp.setattr(runtime, "gateway", lambda: gateway)
        app = Harness(stack, gateway)
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack.secret_arn)
        keys = tokens.Keys.from_secret(secret["SecretString"])
        now = int(time.time())
        access: dict[str, str] = {}
        refresh: list[str] = []
        for user in USERS:
            runtime.users().create(user, PASSWORD_HASH, user, now * 1000)
            access[user], _ = _login(user, keys, now)
            # A second login, so that refresh and logout examples cannot end the first.
            refresh.append(_login(user, keys, now)[1])
            app.tokens[user] = {"accessToken": access[user]}
            app.connect(user, f"{user}-conn")
        status, group = app.http(
            "http_groups",
            "POST",
            "/groups",
            token=access["alice"],
            body={"name": "fuzz", "members": ["bob"]},
        )
        assert status == 201
        app.send("alice", "alice-conn", to="bob", client_id="seed-1")
        world = World(app, group["conversationId"], access, refresh, keys)
        world.acked = stored_messages()
        try:
            yield world
        finally:
            runtime.reset()


def stored_messages() -> dict[str, dict[int, str]]:
    """Every stored message as conversation -> seq -> messageId (a Scan: tests only)."""
    table = os.environ["PARLEY_MESSAGES_TABLE"]
    out: dict[str, dict[int, str]] = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in ddb.decode_all(page["Items"]):
            out.setdefault(item["conversationId"], {})[item["seq"]] = item["messageId"]
    return out


def group_state(conversation_id: str) -> tuple[int, list[tuple[str, str]], int | None]:
    """Last seq, (member, role) rows and the stored member count of a group."""
    rows = sorted((m["userId"], m["role"]) for m in runtime.members().all(conversation_id))
    meta = runtime.conversations().get(conversation_id) or {}
    count = meta.get("memberCount")
    return runtime.messages().last_seq(conversation_id), rows, count


# ---- strategies ------------------------------------------------------------------------------

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
VALID_USER_ID = st.from_regex(ids.USER_ID_RE, fullmatch=True)
USER_IDS = st.one_of(
    st.sampled_from([*USERS, "ghost", "ab", "Alice", "a" * 33, "", " alice", "alice\x00"]),
    VALID_USER_ID,
    JSON,
)
CLIENT_IDS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_\-]{1,64}", fullmatch=True), st.text(max_size=70), JSON
)
REQUEST_IDS = st.one_of(st.text(min_size=1, max_size=70), JSON)
SEQS = st.one_of(st.integers(min_value=-3, max_value=2**63), JSON)
TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "x" * 4000, "x" * 4001, "\U0001f600" * 4000, "\ud800"]),
)
BODIES = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXTS}),
    st.fixed_dictionaries({"type": st.just("custom"), "data": JSON}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "custom", "system", "html"])},
        optional={"text": JSON, "data": JSON, "event": JSON, "extra": JSON},
    ),
    st.just({"type": "custom", "data": "x" * 8190}),
    JSON,
)


def conversation_ids(world: World, *, junk: bool = True) -> st.SearchStrategy[Any]:
    names = st.one_of(
        st.sampled_from(
            [
                *world.conversations,
                UNKNOWN_GROUP,
                "dm:bob:alice",
                "dm:alice:ghost",
                "dm:alice:bob:carol",
                "grp:",
                "grp:" + "Z" * 27,
                "x" * 81,
                "",
            ]
        ),
        st.text(max_size=90),
    )
    return st.one_of(names, JSON) if junk else names


def frames(action: str, world: World) -> st.SearchStrategy[dict[str, Any]]:
    """Frames near the action's shape: every field sometimes right, sometimes junk."""
    conv = conversation_ids(world)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "send": {"to": USER_IDS, "conversationId": conv, "clientMsgId": CLIENT_IDS, "body": BODIES},
        "sync": {
            "cursors": st.one_of(
                st.dictionaries(conversation_ids(world, junk=False), SEQS, max_size=6), JSON
            ),
            "limit": st.one_of(st.integers(-2, 600), JSON),
        },
        "read": {"conversationId": conv, "seq": SEQS},
        "typing": {
            "conversationId": conv,
            "state": st.one_of(st.sampled_from(["start", "stop"]), JSON),
        },
        "presence": {"userIds": st.one_of(st.lists(USER_IDS, max_size=120), JSON)},
        "signal": {
            "to": USER_IDS,
            "callId": CLIENT_IDS,
            "kind": st.one_of(st.sampled_from(["invite", "accept", "hangup", "bogus"]), JSON),
            "payload": JSON,
            "toConnection": st.one_of(st.sampled_from([f"{u}-conn" for u in USERS]), JSON),
        },
        "ping": {},
        "auth": {
            "token": st.one_of(
                st.sampled_from(list(world.tokens.values())), st.text(max_size=60), JSON
            )
        },
    }[action]
    shaped = st.fixed_dictionaries(
        {"action": st.just(action)}, optional={"id": REQUEST_IDS, **fields}
    )
    extra = st.dictionaries(st.text(max_size=8), JSON, max_size=2)
    return st.one_of(
        shaped,
        st.tuples(shaped, extra).map(lambda t: {**t[1], **t[0]}),
        st.fixed_dictionaries({"action": st.one_of(st.just(action), JSON)}, optional=fields),
    )


def raw_bodies(structured: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str | None, bool]]:
    """How a body reaches the handler: JSON (ASCII or UTF-8), arbitrary text, arbitrary
    bytes (base64, as API Gateway passes binary), or nothing."""
    return st.one_of(
        structured.map(lambda v: (json.dumps(v), False)),
        structured.map(lambda v: (json.dumps(v, ensure_ascii=False), False)),
        structured.map(lambda v: (json.dumps(v), False)),
        st.text(max_size=200).map(lambda t: (t, False)),
        st.binary(max_size=200).map(lambda b: (base64.b64encode(b).decode(), True)),
        JSON.map(lambda v: (json.dumps(v), False)),
        st.just((None, False)),
    )


def _rarely(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> Any:
    """About one example in 25 from `valid` (for routes where valid input runs scrypt)."""
    return st.integers(0, 24).flatmap(lambda n: valid if n == 13 else invalid)


# ---- checks ---------------------------------------------------------------------------------

WS_SUCCESS = {
    "send": {"ack"},
    "sync": {"sync"},
    "read": {"ok"},
    "typing": {None},
    "presence": {"presence"},
    "signal": {"ok"},
    "ping": {"pong"},
    "auth": {"ok"},
    "$default": {"ok", "pong", "presence", None},
}


def check_ws_reply(route: str, response: dict[str, Any]) -> dict[str, Any] | None:
    assert response["statusCode"] == 200, response
    if response.get("body") is None:
        assert None in WS_SUCCESS[route], response
        return None
    reply = json.loads(response["body"])
    assert isinstance(reply, dict)
    if reply["type"] == "error":
        assert reply["code"] in CLIENT_CODES, reply
        assert isinstance(reply["message"], str) and reply["message"]
        assert ("retryAfterMs" in reply) == (reply["code"] == Code.RATE_LIMITED)
    else:
        assert reply["type"] in WS_SUCCESS[route], reply
    return dict(reply)


def check_http_reply(success: set[int], response: dict[str, Any]) -> tuple[int, Any]:
    status = response["statusCode"]
    assert response["headers"]["content-type"] == "application/json"
    body = json.loads(response["body"]) if response.get("body") else None
    if status >= 400:
        assert isinstance(body, dict), response
        assert body["code"] in CLIENT_CODES, body
        assert HTTP_STATUS[Code(body["code"])] == status, body
    else:
        assert status in success, response
    return status, body


# ---- WebSocket --------------------------------------------------------------------------------


def _send_target(world: World, sender: str, frame: Any) -> str | None:
    """The conversation a send frame names, when it names a real one."""
    if not isinstance(frame, dict):
        return None
    to, conversation = frame.get("to"), frame.get("conversationId")
    if isinstance(to, str) and to in USERS and conversation is None:
        return ids.dm_id(sender, to)
    if isinstance(conversation, str) and conversation in world.conversations and to is None:
        return conversation
    return None


def _check_send(world: World, sender: str, frame: Any, reply: dict[str, Any] | None) -> None:
    if reply is not None and reply["type"] == "ack":
        seen = world.acked.setdefault(reply["conversationId"], {})
        # Idempotent: a repeated clientMsgId returns the first ack, never a second copy.
        assert seen.setdefault(reply["seq"], reply["messageId"]) == reply["messageId"]
        return
    target = _send_target(world, sender, frame)
    if target is not None:
        expected = max(world.acked.get(target, {0: ""}))
        assert runtime.messages().last_seq(target) == expected, (frame, reply)


WS_ACTIONS = ["send", "sync", "read", "typing", "presence", "signal", "ping", "auth", "$default"]


@pytest.mark.parametrize("route", WS_ACTIONS)
def test_websocket_actions_answer_every_frame_with_a_code(route: str) -> None:
    with fuzz_world() as world:
        action_frames = (
            st.one_of(*(frames(a, world) for a in WS_ACTIONS[:-1]), JSON)
            if route == "$default"
            else frames(route, world)
        )
        function = {"send": "ws_send", "sync": "ws_sync"}.get(route, "ws_live")
        handler: Callable[..., dict[str, Any]] = load(function).handler

        @FUZZ
        @given(
            sender=st.sampled_from(USERS),
            body=st.one_of(
                action_frames.map(lambda f: (f, json.dumps(f), False)),
                raw_bodies(action_frames).map(lambda r: (None, *r)),
            ),
        )
        def run(sender: str, body: tuple[Any, str | None, bool]) -> None:
            world.examples += 1
            frame, raw, is_base64 = body
            event = events.ws_event(route, user=sender, connection=f"{sender}-conn")
            event["body"] = raw
            event["isBase64Encoded"] = is_base64
            reply = check_ws_reply(route, handler(event, CONTEXT))
            if route == "send":
                _check_send(world, sender, frame, reply)

        run()
        if route == "send":
            assert stored_messages() == world.acked
        assert world.examples >= EXAMPLES, f"only {world.examples} examples ran"


# ---- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    function: str
    success: set[int]
    body: Callable[[World], st.SearchStrategy[Any]] | None = None
    path: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    public: bool = False


def _register_bodies(world: World) -> st.SearchStrategy[Any]:
    valid = st.fixed_dictionaries(
        {"userId": VALID_USER_ID, "password": st.text(min_size=8, max_size=20)},
        optional={"displayName": st.text(max_size=70)},
    )
    invalid = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "userId": USER_IDS,
                "password": st.one_of(st.text(max_size=7), st.just("p" * 129), JSON),
                "displayName": JSON,
            },
        ),
        st.fixed_dictionaries({"userId": USER_IDS, "password": JSON, "extra": JSON}),
        JSON,
    )
    return _rarely(valid, invalid)


def _login_bodies(world: World) -> st.SearchStrategy[Any]:
    valid = st.fixed_dictionaries(
        {
            "userId": st.sampled_from([*USERS, "ghost"]),
            "password": st.sampled_from([PASSWORD, "wrong password"]),
        }
    )
    invalid = st.one_of(
        st.fixed_dictionaries(
            {}, optional={"userId": JSON, "password": st.one_of(st.just(""), JSON)}
        ),
        st.fixed_dictionaries({"userId": USER_IDS, "password": st.text(max_size=10), "x": JSON}),
        st.fixed_dictionaries({"userId": st.just(""), "password": st.text(max_size=10)}),
        JSON,
    )
    return _rarely(valid, invalid)


def _refresh_bodies(world: World) -> st.SearchStrategy[Any]:
    forged = st.builds(
        lambda sid, gen: tokens.issue_refresh_token(world.keys, sid, gen),
        st.from_regex(r"[A-Za-z0-9_\-]{22}", fullmatch=True),
        st.integers(1, 5),
    )
    token = st.one_of(st.sampled_from(world.refresh_tokens), forged, st.text(max_size=120), JSON)
    return st.one_of(st.fixed_dictionaries({"refreshToken": token}), JSON)


def _group_bodies(world: World) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.text(max_size=70), JSON),
                "members": st.one_of(st.lists(USER_IDS, max_size=5), JSON),
            }
        ),
        JSON,
    )


def _member_bodies(world: World) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"userIds": st.one_of(st.lists(USER_IDS, max_size=5), JSON)}), JSON
    )


def _role_bodies(world: World) -> st.SearchStrategy[Any]:
    role = st.one_of(st.sampled_from(["owner", "admin", "member", "root"]), JSON)
    return st.one_of(st.fixed_dictionaries({"role": role}), JSON)


def _mute_bodies(world: World) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"muted": st.booleans()}),
        st.fixed_dictionaries({"muted": JSON}),
        st.fixed_dictionaries({"muted": st.booleans()}, optional={"extra": JSON}),
        JSON,
    )


def _suspend_bodies(world: World) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({}, optional={"reason": st.one_of(st.text(max_size=600), JSON)}),
        st.fixed_dictionaries({"reason": st.text(max_size=20)}, optional={"extra": JSON}),
        JSON,
    )


def _password_change_bodies(world: World) -> st.SearchStrategy[Any]:
    # Never the right old password: a changed password would only turn the rest into 401s.
    valid = st.fixed_dictionaries(
        {"oldPassword": st.just("wrong password"), "newPassword": st.text(min_size=8, max_size=20)}
    )
    invalid = st.one_of(
        st.fixed_dictionaries(
            {}, optional={"oldPassword": JSON, "newPassword": st.one_of(st.text(max_size=7), JSON)}
        ),
        st.fixed_dictionaries(
            {"oldPassword": st.text(max_size=10), "newPassword": JSON, "x": JSON}
        ),
        JSON,
    )
    return _rarely(valid, invalid)


def _delete_me_bodies(world: World) -> st.SearchStrategy[Any]:
    # Never the right password: the fuzzed users must live through every example.
    valid = st.fixed_dictionaries({"password": st.sampled_from(["wrong password", "x" * 128])})
    invalid = st.one_of(
        st.fixed_dictionaries({}, optional={"password": st.one_of(st.just(""), JSON)}),
        st.fixed_dictionaries({"password": st.text(max_size=10), "x": JSON}),
        JSON,
    )
    return _rarely(valid, invalid)


HTTP_ROUTES: dict[str, Route] = {
    "POST /auth/register": Route("http_auth", {201}, _register_bodies, public=True),
    "POST /auth/login": Route("http_auth", {200}, _login_bodies, public=True),
    "POST /auth/refresh": Route("http_auth", {200}, _refresh_bodies, public=True),
    "POST /auth/logout": Route("http_auth", {204}, _refresh_bodies, public=True),
    "GET /me": Route("http_users", {200}),
    "POST /me/password": Route("http_auth", {204}, _password_change_bodies),
    "DELETE /me": Route("http_auth", {204}, _delete_me_bodies),
    "POST /me/export": Route("http_users", {202}),
    "GET /me/exports/{exportId}": Route("http_users", {200}, path=("exportId",)),
    "POST /users/{userId}/block": Route("http_users", {204}, path=("userId",)),
    "DELETE /users/{userId}/block": Route("http_users", {204}, path=("userId",)),
    "POST /groups": Route("http_groups", {201}, _group_bodies),
    "GET /groups/{id}": Route("http_groups", {200}, path=("id",)),
    "POST /groups/{id}/members": Route("http_groups", {200}, _member_bodies, path=("id",)),
    "DELETE /groups/{id}/members/{userId}": Route("http_groups", {204}, path=("id", "userId")),
    "PATCH /groups/{id}/members/{userId}": Route(
        "http_groups", {200}, _role_bodies, path=("id", "userId")
    ),
    "GET /conversations": Route("http_conversations", {200}, query=("limit", "cursor")),
    "PATCH /conversations/{id}": Route("http_conversations", {200}, _mute_bodies, path=("id",)),
    "GET /conversations/{id}/messages": Route(
        "http_conversations", {200}, path=("id",), query=("beforeSeq", "limit")
    ),
    "GET /rtc/ice-servers": Route("http_rtc", {200}),
    "GET /admin/flags": Route("http_admin", {200}),
    "DELETE /admin/flags/{userId}": Route("http_admin", {204}, path=("userId",)),
    "POST /admin/users/{userId}/suspend": Route(
        "http_admin", {204}, _suspend_bodies, path=("userId",)
    ),
    "DELETE /admin/users/{userId}/suspend": Route("http_admin", {204}, path=("userId",)),
    "DELETE /admin/conversations/{id}/messages/{seq}": Route(
        "http_admin", {204}, path=("id", "seq")
    ),
    "GET /health": Route("health", {200}, public=True),
}


def _authorization(world: World) -> st.SearchStrategy[str | None]:
    bearer = st.sampled_from([f"Bearer {t}" for t in world.tokens.values()])
    return st.one_of(
        bearer,
        bearer,
        st.none(),
        st.sampled_from(["Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "bearer x.y.z"]),
        st.text(max_size=60).map(lambda t: f"Bearer {t}"),
    )


def _path_value(name: str, world: World) -> st.SearchStrategy[str]:
    if name == "userId":
        known = st.sampled_from([*USERS, "ghost", "a", "ALICE"])
    elif name == "exportId":
        known = st.one_of(
            st.from_regex(r"[0-9A-HJKMNP-TV-Z]{26}", fullmatch=True),
            st.sampled_from(["", "x", "01J" + "0" * 23, "0" * 27]),
        )
    elif name == "seq":
        known = st.one_of(st.integers(-1, 30).map(str), st.sampled_from(["", "1e3", "²", "9" * 20]))
    else:
        known = st.sampled_from([*world.conversations, UNKNOWN_GROUP, "grp:x", "dm:a"])
    return st.one_of(known, known, st.text(max_size=40))


def _query_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-5, 2**64).map(str),
        st.sampled_from(["", "1e3", "²", " 5", "0x10"]),
        st.text(max_size=12),
    )


def http_requests(name: str, route: Route, world: World) -> st.SearchStrategy[dict[str, Any]]:
    """API Gateway events for one route (strategies built once: drawing is what is paid per
    example)."""
    method, template = name.split(" ", 1)
    paths = st.fixed_dictionaries({p: _path_value(p, world) for p in route.path})
    keys = st.sampled_from([*route.query, "x"]) if route.query else st.text(max_size=5)
    queries = st.dictionaries(keys, _query_value(), max_size=3)
    bodies = raw_bodies(route.body(world) if route.body else JSON)

    def event(
        path: dict[str, str], query: dict[str, str], auth: str | None, body: Any
    ) -> dict[str, Any]:
        built = events.http_event(method, template, path=path or None, query=query or None)
        if auth is not None:
            built["headers"]["authorization"] = auth
        raw, is_base64 = body
        if raw is None:
            built.pop("body", None)
        else:
            built["body"] = raw
        built["isBase64Encoded"] = is_base64
        return built

    return st.builds(event, paths, queries, _authorization(world), bodies)


def _caller(world: World, event: dict[str, Any]) -> str | None:
    value = event["headers"].get("authorization", "")
    for user, token in world.tokens.items():
        if value == f"Bearer {token}":
            return user
    return None


def _snapshot(name: str, world: World, event: dict[str, Any]) -> Any:
    """What a refused request of this route must leave as it was."""
    if name.startswith(("POST /groups/", "DELETE /groups/", "PATCH /groups/")):
        gid = (event.get("pathParameters") or {}).get("id")
        return group_state(gid) if gid == world.group else None
    if name == "POST /groups":
        caller = _caller(world, event)
        return len(runtime.members().for_user(caller)) if caller else None
    if name == "POST /auth/register":
        try:
            user_id = json.loads(event.get("body") or "null").get("userId")
        except (AttributeError, ValueError):
            return None
        return (user_id, runtime.users().get(user_id)) if ids.is_user_id(user_id) else None
    return None


def _check_refused(name: str, world: World, event: dict[str, Any], before: Any) -> None:
    if before is None:
        return
    if name == "POST /auth/register":
        user_id, profile = before
        assert runtime.users().get(user_id) == profile
    elif name == "POST /groups":
        assert len(runtime.members().for_user(_caller(world, event))) == before
    else:
        assert group_state(world.group) == before


@pytest.mark.parametrize("name", sorted(HTTP_ROUTES))
def test_http_routes_answer_every_request_with_a_code(name: str) -> None:
    route = HTTP_ROUTES[name]
    with fuzz_world() as world:
        handler: Callable[..., dict[str, Any]] = load(route.function).handler

        @FUZZ
        @given(event=http_requests(name, route, world))
        def run(event: dict[str, Any]) -> None:
            world.examples += 1
            before = _snapshot(name, world, event)
            status, _ = check_http_reply(route.success, handler(event, CONTEXT))
            if status >= 400:
                _check_refused(name, world, event, before)

        run()
        # Group changes write their system messages in the same transaction as the change.
        last_seq, rows, count = group_state(world.group)
        assert count == len(rows)
        assert sorted(stored_messages()[world.group]) == list(range(1, last_seq + 1))
        assert world.examples >= EXAMPLES, f"only {world.examples} examples ran"
