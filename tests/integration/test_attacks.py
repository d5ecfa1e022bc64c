"""Attacks on Parley's access control, each against the real handlers on moto.

Every forged or stale token is refused both when opening a socket (the `$connect` authorizer
raises `Unauthorized`, API Gateway's 401) and on HTTP (`401` code 1003). Every attack starts
from something that works (a baseline token or action that is accepted) and changes one
thing, so each test fails if the control it names were removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from parley import runtime, tokens
from parley.config import settings

from tests.fakes.repos import FixedClock
from tests.integration.conftest import PASSWORD, Harness
from tests.support.security import (
    assert_accepted,
    assert_refused,
    authorize,
    b64url_json,
    claims_of,
    connect,
    connect_with,
    frame,
    hs256,
    http_raw,
    rebuild_runtime,
    stack_keys,
    unb64url_json,
    unsigned,
    window_aligned_clock,
)

ISSUER, AUDIENCE = "parley", "parley-clients"


# ---- forged and stale tokens ----------------------------------------------------------------


def _baseline(app: Harness, user: str = "alice") -> tuple[dict[str, Any], tokens.Keys]:
    """The claims of a real login of `user` (its session exists) and the stack's real keys."""
    app.user(user)
    return claims_of(app.tokens[user]["accessToken"]), stack_keys(app)


def _rsa_public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _now() -> int:
    # Read when a token is forged, not at import: a test run longer than the offsets (a
    # long xdist run) would otherwise forge a "not yet valid" token that is already valid.
    return int(time.time())


def _with(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**claims, **changes}
    return {k: v for k, v in out.items() if v is not None}


def _tampered(token: str, **changes: Any) -> str:
    """The same header and signature over a changed payload."""
    head, body, signature = token.split(".")
    return f"{head}.{b64url_json({**unb64url_json(body), **changes})}.{signature}"


Forge = Callable[[dict[str, Any], tokens.Keys, str], str]

ATTACKS: dict[str, Forge] = {
    # The verifier pins HS256: an unsigned token is not a token.
    "alg_none": lambda c, k, real: unsigned(c),
    # Algorithm confusion: HS256 "signed" with a public key PEM as the HMAC secret.
    "hs256_with_rsa_public_key": lambda c, k, real: hs256(c, _rsa_public_pem()),
    # Lifetime: exp in the past (beyond the 5 s leeway) and nbf in the future.
    "expired": lambda c, k, real: hs256(
        _with(c, iat=_now() - 3600, nbf=_now() - 3600, exp=_now() - 60), k.jwt
    ),
    "not_yet_valid": lambda c, k, real: hs256(_with(c, nbf=_now() + 600), k.jwt),
    # Issuer and audience are checked, even with Parley's own key.
    "wrong_issuer": lambda c, k, real: hs256(_with(c, iss="someone-else"), k.jwt),
    "wrong_audience": lambda c, k, real: hs256(_with(c, aud="other-clients"), k.jwt),
    # Payload changed after signing: another user with alice's signature.
    "tampered_sub": lambda c, k, real: _tampered(real, sub="bob"),
    # Required claims: no subject, even when correctly signed.
    "missing_sub": lambda c, k, real: hs256(_with(c, sub=None), k.jwt),
    # A `kid` Parley never issued, signed with the attacker's own key (HMAC and RSA).
    "unknown_kid_hmac": lambda c, k, real: hs256(c, b"attacker-secret", {"kid": "attacker"}),
    "unknown_kid_rsa": lambda c, k, real: jwt.encode(
        c,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "attacker"},
    ),
    # Parley's refresh-token key is not its JWT key (keys are derived per purpose).
    "signed_with_refresh_key": lambda c, k, real: hs256(c, k.refresh),
}


def test_a_token_forged_with_the_real_key_and_right_claims_is_accepted(app: Harness) -> None:
    # The baseline every attack below changes one thing of: if this were refused, the
    # refusals below would prove nothing.
    claims, keys = _baseline(app)
    assert_accepted(app, hs256(claims, keys.jwt), "alice")
    assert_accepted(app, app.tokens["alice"]["accessToken"], "alice")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_forged_token_is_refused_at_connect_and_on_http(app: Harness, attack: str) -> None:
    app.user("bob")
    claims, keys = _baseline(app)
    token = ATTACKS[attack](claims, keys, app.tokens["alice"]["accessToken"])
    assert_refused(app, token)


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b.c", "Bearer x", "x" * 5000])
def test_malformed_tokens_are_refused(app: Harness, value: str) -> None:
    assert_refused(app, value)


def test_missing_token_is_refused(app: Harness) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(None)
    status, body = app.http("http_users", "GET", "/me")
    assert (status, body["code"]) == (401, 1003)


def test_access_token_of_a_logged_out_login_is_refused(app: Harness) -> None:
    app.user("alice")
    pair = app.tokens["alice"]
    assert_accepted(app, pair["accessToken"], "alice")
    status, _ = app.http(
        "http_auth", "POST", "/auth/logout", body={"refreshToken": pair["refreshToken"]}
    )
    assert status == 204
    # Still unexpired and correctly signed: only the revocation check refuses it.
    assert_refused(app, pair["accessToken"])
    status, body = app.http(
        "http_auth", "POST", "/auth/refresh", body={"refreshToken": pair["refreshToken"]}
    )
    assert (status, body["code"]) == (401, 1003)


def test_reusing_a_spent_refresh_token_revokes_the_whole_login(
    app: Harness, no_refresh_grace: None
) -> None:
    app.user("alice")
    first = app.tokens["alice"]
    status, second = app.http(
        "http_auth", "POST", "/auth/refresh", body={"refreshToken": first["refreshToken"]}
    )
    assert status == 200
    assert_accepted(app, second["accessToken"], "alice")
    # The spent token comes back (stolen copy or replay): 401, and the login ends.
    status, body = app.http(
        "http_auth", "POST", "/auth/refresh", body={"refreshToken": first["refreshToken"]}
    )
    assert (status, body["code"]) == (401, 1003)
    assert_refused(app, second["accessToken"])
    assert_refused(app, first["accessToken"])
    status, body = app.http(
        "http_auth", "POST", "/auth/refresh", body={"refreshToken": second["refreshToken"]}
    )
    assert (status, body["code"]) == (401, 1003)
    # Another login of the same user is not affected.
    assert_accepted(app, app.login("alice")["accessToken"], "alice")


def test_a_forged_refresh_token_is_refused(app: Harness) -> None:
    app.user("alice")
    session, generation, _ = app.tokens["alice"]["refreshToken"].split(".")
    forged = f"{session}.{int(generation) + 1}.{'A' * 43}"
    status, body = app.http("http_auth", "POST", "/auth/refresh", body={"refreshToken": forged})
    assert (status, body["code"]) == (401, 1003)


# ---- authorization: members only ------------------------------------------------------------


@pytest.fixture
def trio(app: Harness) -> dict[str, Any]:
    """alice and bob share a group and a direct conversation; carol is in neither."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    status, group = app.http(
        "http_groups",
        "POST",
        "/groups",
        token=app.tokens["alice"]["accessToken"],
        body={"name": "ab", "members": ["bob"]},
    )
    assert status == 201
    ack = app.send("alice", "a1", to="bob", client_id="dm-1")
    assert ack["type"] == "ack"
    ack = app.send("alice", "a1", conversationId=group["conversationId"], client_id="g-1")
    assert ack["type"] == "ack"
    return {"group": group["conversationId"], "dm": "dm:alice:bob"}


def _code(reply: dict[str, Any] | None) -> int:
    assert reply is not None and reply["type"] == "error", reply
    return int(reply["code"])


def _last_seqs(*conversations: str) -> list[int]:
    return [runtime.messages().last_seq(c) for c in conversations]


def test_non_member_cannot_send_read_type_or_see_history(
    app: Harness, trio: dict[str, Any]
) -> None:
    group, dm = trio["group"], trio["dm"]
    before = _last_seqs(group, dm)
    carol = app.tokens["carol"]["accessToken"]
    for n, conversation in enumerate((group, dm)):
        # The member (baseline) may; the outsider may not.
        ack = app.send("bob", "b1", conversationId=conversation, client_id=f"ok-{n}")
        assert ack["type"] == "ack"
        before = _last_seqs(group, dm)
        reply = app.send("carol", "c1", conversationId=conversation, client_id="intrude")
        assert _code(reply) == 1004
        read = {"action": "read", "id": "r", "conversationId": conversation, "seq": 1}
        assert _code(app.frame("read", read, user="carol", connection="c1")) == 1004
        typing = {"action": "typing", "conversationId": conversation, "state": "start"}
        assert _code(app.frame("typing", typing, user="carol", connection="c1")) == 1004
        status, body = app.http(
            "http_conversations",
            "GET",
            "/conversations/{id}/messages",
            token=carol,
            path={"id": conversation},
        )
        assert (status, body["code"]) == (403, 1004)
    assert _last_seqs(group, dm) == before
    # No typing indicator reached the members.
    assert app.gateway.frames("a1", "typing") == [] and app.gateway.frames("b1", "typing") == []


def _outsider_codes(app: Harness, user: str, conversation: str) -> list[int]:
    """What `user`, in no conversation named, gets from every route that takes an id."""
    token = app.tokens[user]["accessToken"]
    connection = f"{user[0]}1"
    path = {"id": conversation}
    codes = [_code(app.send(user, connection, conversationId=conversation, client_id="x"))]
    for action, fields in (
        ("read", {"seq": 1}),
        ("typing", {"state": "start"}),
    ):
        body = {"action": action, "id": "r", "conversationId": conversation, **fields}
        codes.append(_code(app.frame(action, body, user=user, connection=connection)))
    replies = [
        app.http(
            "http_conversations", "GET", "/conversations/{id}/messages", token=token, path=path
        ),
        app.http(
            "http_conversations",
            "PATCH",
            "/conversations/{id}",
            token=token,
            path=path,
            body={"muted": True},
        ),
        app.http("http_groups", "GET", "/groups/{id}", token=token, path=path),
        app.http(
            "http_groups",
            "POST",
            "/groups/{id}/members",
            token=token,
            path=path,
            body={"userIds": [user]},
        ),
        app.http(
            "http_groups",
            "DELETE",
            "/groups/{id}/members/{userId}",
            token=token,
            path={**path, "userId": user},
        ),
        app.http(
            "http_groups",
            "PATCH",
            "/groups/{id}/members/{userId}",
            token=token,
            path={**path, "userId": user},
            body={"role": "admin"},
        ),
        app.http(
            "http_attachments",
            "POST",
            "/attachments",
            token=token,
            body={
                "conversationId": conversation,
                "name": "a.txt",
                "size": 1,
                "contentType": "text/plain",
            },
        ),
    ]
    return codes + [int(body["code"]) for _, body in replies]


def test_non_members_get_1004_whether_or_not_the_conversation_exists(
    app: Harness, trio: dict[str, Any]
) -> None:
    # GIVEN alice and bob share a group and a direct conversation; dave exists and never
    # talked to bob; carol is in nothing
    app.user("dave")
    unknown_group = "grp:01HZZZZZZZZZZZZZZZZZZZZZZZ"
    # WHEN carol tries every route on conversations that exist and on ones that do not
    # THEN every answer is 1004 alike, so nobody can map which groups exist or who talks to
    # whom (protocol 13; a DM that did not exist used to answer 2002)
    for existing, missing in ((trio["group"], unknown_group), (trio["dm"], "dm:bob:dave")):
        assert _outsider_codes(app, "carol", existing) == _outsider_codes(app, "carol", missing)
        assert set(_outsider_codes(app, "carol", missing)) == {1004}
    # AND nothing was created or written
    assert _last_seqs(trio["group"], trio["dm"], "dm:bob:dave") == [2, 1, 0]


def test_non_member_cannot_view_a_group(app: Harness, trio: dict[str, Any]) -> None:
    path = {"id": trio["group"]}
    status, _ = app.http(
        "http_groups", "GET", "/groups/{id}", token=app.tokens["bob"]["accessToken"], path=path
    )
    assert status == 200
    status, body = app.http(
        "http_groups", "GET", "/groups/{id}", token=app.tokens["carol"]["accessToken"], path=path
    )
    assert (status, body["code"]) == (403, 1004)


def test_sync_ignores_cursors_for_foreign_conversations(app: Harness, trio: dict[str, Any]) -> None:
    cursors = {trio["group"]: 0, trio["dm"]: 0}
    # bob (member) gets both with these cursors; carol gets nothing of either.
    mine = {c["conversationId"] for c in app.sync("bob", "b1", cursors)["conversations"]}
    assert mine == set(cursors)
    reply = app.sync("carol", "c1", cursors)
    assert reply["type"] == "sync" and reply["conversations"] == [] and reply["complete"]
    status, body = app.http(
        "http_conversations", "GET", "/conversations", token=app.tokens["carol"]["accessToken"]
    )
    assert status == 200 and body["conversations"] == []


def test_a_third_user_cannot_write_into_someone_elses_direct_conversation(
    app: Harness, trio: dict[str, Any]
) -> None:
    # A dm id names its two members; naming it does not make carol one.
    before = _last_seqs(trio["dm"])
    assert _code(app.send("carol", "c1", conversationId="dm:alice:bob", client_id="x")) == 1004
    assert _last_seqs(trio["dm"]) == before


# ---- authorization: group roles ---------------------------------------------------------------


@pytest.fixture
def roles_group(app: Harness) -> str:
    """alice owns a group where bob is an admin and carol a member."""
    for user in ("alice", "bob", "carol", "dave"):
        app.user(user)
    owner = app.tokens["alice"]["accessToken"]
    status, group = app.http(
        "http_groups",
        "POST",
        "/groups",
        token=owner,
        body={"name": "g", "members": ["bob", "carol"]},
    )
    assert status == 201
    gid = str(group["conversationId"])
    status, _ = app.http(
        "http_groups",
        "PATCH",
        "/groups/{id}/members/{userId}",
        token=owner,
        path={"id": gid, "userId": "bob"},
        body={"role": "admin"},
    )
    assert status == 200
    return gid


def _roles(app: Harness, gid: str) -> dict[str, str]:
    status, body = app.http(
        "http_groups",
        "GET",
        "/groups/{id}",
        token=app.tokens["alice"]["accessToken"],
        path={"id": gid},
    )
    assert status == 200
    return {m["userId"]: m["role"] for m in body["members"]}


@pytest.mark.parametrize(
    ("actor", "method", "target", "body"),
    [
        ("bob", "PATCH", "bob", {"role": "owner"}),  # admin makes itself owner
        ("bob", "PATCH", "carol", {"role": "admin"}),  # admin promotes (owner only)
        ("bob", "PATCH", "alice", {"role": "member"}),  # admin demotes the owner
        ("carol", "PATCH", "carol", {"role": "admin"}),  # member promotes itself
        ("carol", "PATCH", "bob", {"role": "member"}),  # member demotes an admin
        ("bob", "DELETE", "alice", None),  # admin removes the owner
        ("carol", "DELETE", "bob", None),  # member removes an admin
    ],
)
def test_role_escalation_is_forbidden(
    app: Harness,
    roles_group: str,
    actor: str,
    method: str,
    target: str,
    body: dict[str, str] | None,
) -> None:
    before = _roles(app, roles_group)
    last = _last_seqs(roles_group)
    status, reply = app.http(
        "http_groups",
        method,
        "/groups/{id}/members/{userId}",
        token=app.tokens[actor]["accessToken"],
        path={"id": roles_group, "userId": target},
        body=body,
    )
    assert (status, reply["code"]) == (403, 1004), reply
    assert _roles(app, roles_group) == before
    assert _last_seqs(roles_group) == last  # no role_changed / member_removed was written


def test_members_cannot_add_but_admins_can(app: Harness, roles_group: str) -> None:
    def add(actor: str) -> tuple[int, Any]:
        return app.http(
            "http_groups",
            "POST",
            "/groups/{id}/members",
            token=app.tokens[actor]["accessToken"],
            path={"id": roles_group},
            body={"userIds": ["dave"]},
        )

    status, body = add("carol")
    assert (status, body["code"]) == (403, 1004)
    assert "dave" not in _roles(app, roles_group)
    status, _ = add("bob")
    assert status == 200 and _roles(app, roles_group)["dave"] == "member"


def test_the_owner_may_do_what_others_may_not(app: Harness, roles_group: str) -> None:
    # Baseline for the escalation cases: the same changes by the owner succeed.
    owner = app.tokens["alice"]["accessToken"]
    status, _ = app.http(
        "http_groups",
        "PATCH",
        "/groups/{id}/members/{userId}",
        token=owner,
        path={"id": roles_group, "userId": "carol"},
        body={"role": "admin"},
    )
    assert status == 200
    status, _ = app.http(
        "http_groups",
        "DELETE",
        "/groups/{id}/members/{userId}",
        token=owner,
        path={"id": roles_group, "userId": "bob"},
    )
    assert status == 204
    assert _roles(app, roles_group) == {"alice": "owner", "carol": "admin"}


# ---- block lists ------------------------------------------------------------------------------


def _block(app: Harness, blocker: str, blocked: str, method: str = "POST") -> None:
    status, _ = app.http(
        "http_users",
        method,
        "/users/{userId}/block",
        token=app.tokens[blocker]["accessToken"],
        path={"userId": blocked},
    )
    assert status == 204


def _signal(app: Harness, caller: str, callee: str) -> dict[str, Any] | None:
    body = {"action": "signal", "id": "s", "to": callee, "callId": "call-1", "kind": "invite"}
    return app.frame("signal", body, user=caller, connection=f"{caller[0]}1")


def test_blocked_user_cannot_write_type_or_call_until_unblocked(app: Harness) -> None:
    for user in ("alice", "bob"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    dm = "dm:alice:bob"
    assert app.send("bob", "b1", to="alice", client_id="before")["seq"] == 1
    _block(app, "alice", "bob")

    for target in ({"to": "alice"}, {"conversationId": dm}):
        assert _code(app.send("bob", "b1", client_id="blocked", **target)) == 1004
    typing = {"action": "typing", "conversationId": dm, "state": "start"}
    assert _code(app.frame("typing", typing, user="bob", connection="b1")) == 1004
    assert _code(_signal(app, "bob", "alice")) == 1004
    assert _last_seqs(dm) == [1]
    assert [f["type"] for f in app.gateway.frames("a1")] == ["message"]  # only "before"

    _block(app, "alice", "bob", method="DELETE")
    assert app.send("bob", "b1", to="alice", client_id="after")["seq"] == 2
    assert app.frame("typing", typing, user="bob", connection="b1") is None
    reply = _signal(app, "bob", "alice")
    assert reply is not None and reply["type"] == "ok" and reply["delivered"] == 1


def test_blocked_user_cannot_open_a_direct_conversation(app: Harness) -> None:
    for user in ("alice", "bob", "carol"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    _block(app, "carol", "bob")
    assert _code(app.send("bob", "b1", to="carol", client_id="hello")) == 1004
    assert runtime.conversations().get("dm:bob:carol") is None
    assert _last_seqs("dm:bob:carol") == [0]
    # Someone carol did not block still can.
    assert app.send("alice", "a1", to="carol", client_id="hello")["type"] == "ack"


def test_blocked_user_stays_blocked_when_the_blocker_opens_the_conversation(
    app: Harness,
) -> None:
    for user in ("bob", "carol"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    _block(app, "carol", "bob")
    assert app.send("carol", "c1", to="bob", client_id="hi")["seq"] == 1
    assert _code(app.send("bob", "b1", to="carol", client_id="reply")) == 1004
    assert _code(app.send("bob", "b1", conversationId="dm:bob:carol", client_id="re")) == 1004
    assert _last_seqs("dm:bob:carol") == [1]
    _block(app, "carol", "bob", method="DELETE")
    assert app.send("bob", "b1", to="carol", client_id="reply")["seq"] == 2


def test_block_answers_do_not_reveal_more_than_1004(app: Harness) -> None:
    for user in ("alice", "bob"):
        app.user(user)
        app.connect(user, f"{user[0]}1")
    _block(app, "alice", "bob")
    reply = app.send("bob", "b1", to="alice", client_id="x")
    assert reply["code"] == 1004 and "block" not in reply["message"].lower()


# ---- rate limits ------------------------------------------------------------------------------

SMALL_LIMITS = {
    "PARLEY_FRAMES_PER_SECOND": "2",
    "PARLEY_FRAME_BURST": "3",
    "PARLEY_SENDS_PER_MINUTE": "3",
    "PARLEY_FAILED_LOGINS_PER_WINDOW": "3",
    "PARLEY_CONNECTS_PER_MINUTE": "2",
}


@pytest.fixture
def clock(app: Harness, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    """The runtime on a clock at the start of a window (fixed windows never straddled)."""
    fixed = window_aligned_clock()
    rebuild_runtime(monkeypatch, app, fixed)
    return fixed


@pytest.fixture
def limited(app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    """Small limits (protocol section 7 parameters), the runtime rebuilt to read them."""
    for name, value in SMALL_LIMITS.items():
        monkeypatch.setenv(name, value)
    rebuild_runtime(monkeypatch, app, clock)
    return clock


def _ping(connection: str, user: str = "alice") -> dict[str, Any] | None:
    return frame("ping", {"action": "ping", "id": "p"}, user=user, connection=connection)


def test_frames_over_the_burst_get_1005_and_the_socket_stays_open(
    app: Harness, limited: FixedClock
) -> None:
    app.user("alice")
    app.connect("alice", "a1")
    assert [_ping("a1") for _ in range(3)] == [{"type": "pong", "id": "p"}] * 3
    reply = _ping("a1")
    assert reply is not None and reply["code"] == 1005 and reply["id"] == "p"
    assert 0 < reply["retryAfterMs"] <= 1500
    assert "a1" not in app.gateway.closed
    # Another connection has its own budget.
    app.connect("alice", "a2")
    assert _ping("a2") == {"type": "pong", "id": "p"}
    # Once the window passes, the same socket works again.
    limited.advance(reply["retryAfterMs"])
    assert _ping("a1") == {"type": "pong", "id": "p"}


def test_the_send_limit_is_per_user_across_connections(app: Harness, limited: FixedClock) -> None:
    for user in ("alice", "bob"):
        app.user(user)
    app.connect("alice", "a1")
    app.connect("alice", "a2")
    acks = [
        app.send("alice", "a1", to="bob", client_id="m1"),
        app.send("alice", "a1", to="bob", client_id="m2"),
        app.send("alice", "a2", to="bob", client_id="m3"),
    ]
    assert [a["seq"] for a in acks] == [1, 2, 3]
    # a2 has sent one frame so far: only the per-user send limit can refuse this one.
    reply = app.send("alice", "a2", to="bob", client_id="m4")
    assert reply["code"] == 1005 and reply["retryAfterMs"] > 0
    assert _last_seqs("dm:alice:bob") == [3]
    # Limits are per user: bob still sends (from another address: connects are limited too).
    connect_with(app, app.tokens["bob"]["accessToken"], "b1", source_ip="198.51.100.20")
    assert app.send("bob", "b1", to="alice", client_id="b1")["seq"] == 4


def test_failed_logins_lock_out_the_source_address_not_others(
    app: Harness, limited: FixedClock
) -> None:
    app.register("alice")
    attacker, other = "198.51.100.7", "198.51.100.8"

    def login(password: str, ip: str) -> tuple[int, dict[str, str], Any]:
        body = {"userId": "alice", "password": password}
        return http_raw("http_auth", "POST", "/auth/login", body=body, source_ip=ip)

    for _ in range(3):
        status, _, body = login("wrong password", attacker)
        assert (status, body["code"]) == (401, 1003)
    status, headers, body = login(PASSWORD, attacker)
    assert (status, body["code"]) == (429, 1005)
    assert 0 < body["retryAfterMs"] <= 60_000
    assert int(headers["retry-after"]) == -(-body["retryAfterMs"] // 1000)
    status, _, body = login(PASSWORD, other)
    assert status == 200 and body["accessToken"]
    # The window passes: the address may try again.
    limited.advance(60_000)
    status, _, _ = login(PASSWORD, attacker)
    assert status == 200


def test_connects_per_address_are_limited(app: Harness, limited: FixedClock) -> None:
    app.user("alice")
    ctx = authorize(app.tokens["alice"]["accessToken"])["context"]

    def open_socket(connection: str, ip: str) -> int:
        response = connect(
            int(ctx["tokenExp"]),
            user="alice",
            connection=connection,
            session=ctx["sessionId"],
            source_ip=ip,
        )
        return int(response["statusCode"])

    assert [open_socket(f"c{i}", "198.51.100.7") for i in range(2)] == [200, 200]
    assert open_socket("c2", "198.51.100.7") == 429
    assert runtime.connections().get("c2") is None
    assert open_socket("c3", "198.51.100.8") == 200


# ---- token lifetime on open sockets -----------------------------------------------------------


def test_a_frame_after_the_token_expired_gets_1003_and_the_socket_is_closed(
    app: Harness, clock: FixedClock
) -> None:
    app.user("alice")
    now_s = clock.now_ms() // 1000
    ctx = authorize(app.tokens["alice"]["accessToken"])["context"]
    for connection, exp in (("fresh", now_s + 600), ("stale", now_s - 1)):
        response = connect(exp, user="alice", connection=connection, session=ctx["sessionId"])
        assert response["statusCode"] == 200
    assert frame(
        "ping", {"action": "ping"}, user="alice", connection="fresh", token_exp=now_s + 600
    ) == {"type": "pong"}
    reply = frame(
        "ping", {"action": "ping", "id": "p"}, user="alice", connection="stale", token_exp=now_s - 1
    )
    assert reply is not None and (reply["type"], reply["code"]) == ("error", 1003)
    assert app.gateway.closed == ["stale"]
    assert [f["code"] for f in app.gateway.frames("stale", "error")] == [1003]


def test_renewing_with_auth_keeps_the_socket_alive_past_the_first_token(
    app: Harness, clock: FixedClock
) -> None:
    app.user("alice")
    first = app.tokens["alice"]["accessToken"]
    ctx = authorize(first)["context"]
    exp = clock.now_ms() // 1000 + 60
    for connection in ("renewed", "not-renewed"):
        assert (
            connect(exp, user="alice", connection=connection, session=ctx["sessionId"])[
                "statusCode"
            ]
            == 200
        )
    fresh = app.login("alice")["accessToken"]  # another login of alice, valid for 15 minutes
    reply = frame(
        "auth",
        {"action": "auth", "id": "a", "token": fresh},
        user="alice",
        connection="renewed",
        token_exp=exp,
    )
    assert reply is not None and reply["type"] == "ok" and reply["expiresAt"] > exp
    clock.advance(120_000)  # the socket's first token has now expired
    ping = {"action": "ping", "id": "p"}
    assert frame("ping", ping, user="alice", connection="renewed", token_exp=exp) == {
        "type": "pong",
        "id": "p",
    }
    reply = frame("ping", ping, user="alice", connection="not-renewed", token_exp=exp)
    assert reply is not None and reply["code"] == 1003
    assert app.gateway.closed == ["not-renewed"]


@pytest.mark.parametrize("whose", ["another_user", "garbage", "revoked"])
def test_auth_with_a_token_that_is_not_the_users_own_valid_one_is_refused(
    app: Harness, clock: FixedClock, whose: str
) -> None:
    app.user("alice")
    app.user("bob")
    token = {
        "another_user": app.tokens["bob"]["accessToken"],
        "garbage": "not-a-token",
        "revoked": app.tokens["alice"]["accessToken"],
    }[whose]
    if whose == "revoked":
        status, _ = app.http(
            "http_auth",
            "POST",
            "/auth/logout",
            body={"refreshToken": app.tokens["alice"]["refreshToken"]},
        )
        assert status == 204
    ctx = authorize(app.login("alice")["accessToken"])["context"]
    exp = clock.now_ms() // 1000 + 60
    connect(exp, user="alice", connection="a1", session=ctx["sessionId"])
    reply = frame(
        "auth",
        {"action": "auth", "id": "a", "token": token},
        user="alice",
        connection="a1",
        token_exp=exp,
    )
    assert reply is not None and (reply["code"], reply["id"]) == (1003, "a")
    # Nothing was renewed: past the first token the socket is closed.
    clock.advance(120_000)
    reply = frame("ping", {"action": "ping"}, user="alice", connection="a1", token_exp=exp)
    assert reply is not None and reply["code"] == 1003
    assert app.gateway.closed == ["a1"]


def test_logout_closes_that_logins_sockets_only(app: Harness) -> None:
    app.user("alice")
    first = app.tokens["alice"]
    second = app.login("alice")
    connect_with(app, first["accessToken"], "first-login")
    connect_with(app, second["accessToken"], "second-login")
    status, _ = app.http(
        "http_auth", "POST", "/auth/logout", body={"refreshToken": first["refreshToken"]}
    )
    assert status == 204
    assert app.gateway.closed == ["first-login"]
    assert_refused(app, first["accessToken"])
    assert_accepted(app, second["accessToken"], "alice")


def test_refresh_token_reuse_closes_that_logins_sockets(
    app: Harness, no_refresh_grace: None
) -> None:
    app.user("alice")
    pair = app.tokens["alice"]
    connect_with(app, pair["accessToken"], "a1")
    body = {"refreshToken": pair["refreshToken"]}
    assert app.http("http_auth", "POST", "/auth/refresh", body=body)[0] == 200
    assert app.gateway.closed == []
    assert app.http("http_auth", "POST", "/auth/refresh", body=body)[0] == 401
    assert app.gateway.closed == ["a1"]


# ---- enumeration and injection ----------------------------------------------------------------


def test_login_answers_unknown_users_and_wrong_passwords_alike(app: Harness) -> None:
    app.register("alice")
    wrong = app.http(
        "http_auth", "POST", "/auth/login", body={"userId": "alice", "password": "not it at all"}
    )
    unknown = app.http(
        "http_auth", "POST", "/auth/login", body={"userId": "nobody", "password": "not it at all"}
    )
    malformed = app.http(
        "http_auth", "POST", "/auth/login", body={"userId": "No Such!", "password": "x"}
    )
    assert wrong == unknown == malformed
    assert wrong[0] == 401 and wrong[1]["code"] == 1003


HOSTILE = "x) OR attribute_exists(pk) #n :v = :v; DROP"


def test_hostile_strings_reach_dynamodb_only_as_values(app: Harness) -> None:
    # Every expression Parley sends is fixed text; user input travels in Key,
    # Item and ExpressionAttributeValues only. Record every DynamoDB request to prove it.
    expressions: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        for key, value in params.items():
            if key.endswith("Expression") and isinstance(value, str):
                expressions.append(value)
        for item in params.get("TransactItems", []):
            for op in item.values():
                expressions.extend(v for k, v in op.items() if k.endswith("Expression"))

    runtime.users()  # the shared client exists before hooking it
    from parley import aws

    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", record)
    app.register("alice", displayName=HOSTILE)
    app.user("bob")
    app.login("alice")
    app.connect("alice", "a1")
    token = app.tokens["alice"]["accessToken"]
    status, group = app.http(
        "http_groups", "POST", "/groups", token=token, body={"name": HOSTILE, "members": ["bob"]}
    )
    assert status == 201 and group["name"] == HOSTILE
    custom = {
        "action": "send",
        "to": "bob",
        "clientMsgId": "h1",
        "body": {"type": "custom", "data": {"#n": HOSTILE, ":v": 1}},
    }
    assert app.frame("send", custom, user="alice", connection="a1")["type"] == "ack"  # type: ignore[index]
    assert (
        app.send(
            "alice", "a1", conversationId=group["conversationId"], client_id="h2", text=HOSTILE
        )["type"]
        == "ack"
    )
    status, page = app.http(
        "http_conversations",
        "GET",
        "/conversations/{id}/messages",
        token=token,
        path={"id": group["conversationId"]},
    )
    assert page["messages"][-1]["body"]["text"] == HOSTILE
    assert expressions, "no DynamoDB request was recorded: the test would prove nothing"
    assert not [e for e in expressions if "DROP" in e or "OR attribute_exists(pk)" in e]


# ---- abuse limits and rules (protocol 13, issue 15) -------------------------------------------

ABUSE_LIMITS = {
    "PARLEY_GROUPS_PER_DAY": "2",
    "PARLEY_MEMBERS_ADDED_PER_HOUR": "5",
    "PARLEY_DIRECT_CONVERSATIONS_PER_HOUR": "2",
    "PARLEY_REPEATED_TEXT_CONVERSATIONS": "2",
    "PARLEY_CONNECTIONS_PER_USER": "2",
    "PARLEY_ADMIN_USERS": "admin",
}


def _abusive(
    app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, **overrides: str
) -> FixedClock:
    for name, value in {**ABUSE_LIMITS, **overrides}.items():
        monkeypatch.setenv(name, value)
    rebuild_runtime(monkeypatch, app, clock)
    return clock


@pytest.fixture
def abusive(app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    """Small protocol 13 limits, `admin` an app admin, the runtime rebuilt to read them."""
    return _abusive(app, clock, monkeypatch)


def _accounts(*names: str) -> None:
    """Users that only need to exist (no login): written straight into the users table."""
    for name in names:
        runtime.users().create(name, "x", name, 0)


def _create_group(app: Harness, owner: str, members: list[str]) -> tuple[int, Any]:
    token = app.tokens[owner]["accessToken"]
    body = {"name": "g", "members": members}
    return app.http("http_groups", "POST", "/groups", token=token, body=body)


def _add(app: Harness, actor: str, group: str, users: list[str]) -> tuple[int, Any]:
    return app.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=app.tokens[actor]["accessToken"],
        path={"id": group},
        body={"userIds": users},
    )


def _flags(app: Harness, user: str) -> tuple[int, Any]:
    token = app.tokens[user]["accessToken"]
    return app.http("http_admin", "GET", "/admin/flags", token=token)


def _is_rate_limited(status: int, body: Any) -> bool:
    return status == 429 and body["code"] == 1005 and body["retryAfterMs"] > 0


def test_a_user_who_blocked_someone_cannot_be_put_in_their_groups(app: Harness) -> None:
    # GIVEN bob blocked alice
    for user in ("alice", "bob", "carol"):
        app.user(user)
    _block(app, "bob", "alice")
    # WHEN alice creates a group with him, or adds him to one she owns
    status, body = _create_group(app, "alice", ["bob", "carol"])
    assert (status, body["code"]) == (403, 1004)
    status, group = _create_group(app, "alice", ["carol"])
    assert status == 201
    gid = group["conversationId"]
    status, body = _add(app, "alice", gid, ["bob"])
    # THEN 1004, and he is in no group of hers
    assert (status, body["code"]) == (403, 1004)
    assert runtime.members().get(gid, "bob") is None
    # AND once he lifts the block she may add him
    _block(app, "bob", "alice", "DELETE")
    assert _add(app, "alice", gid, ["bob"])[0] == 200


def test_one_membership_request_writes_one_system_message(app: Harness) -> None:
    # GIVEN 250 users
    app.user("alice")
    app.connect("alice", "a1")
    others = [f"user{i:03d}" for i in range(250)]
    _accounts(*others)
    # WHEN alice creates a group with 150 of them, then adds the other 100 at once
    status, group = _create_group(app, "alice", others[:150])
    assert status == 201
    gid = group["conversationId"]
    assert _add(app, "alice", gid, others[150:])[0] == 200
    # THEN the group holds two system messages, not one per chunk of 90 (each of which was
    # pushed to everyone added before it), and every member is in
    messages, _ = runtime.messages().after_with_own(gid, 0, 100)
    assert [m["body"]["event"] for m in messages] == ["group_created", "members_added"]
    assert messages[0]["body"]["userIds"] == ["alice", *others[:150]]
    assert messages[1]["body"]["userIds"] == others[150:]
    assert len(runtime.members().all(gid)) == 251
    assert all(
        runtime.members().get(gid, u)["joinedSeq"] == 2  # type: ignore[index]
        for u in others[150:]
    )


def test_presence_shows_users_only_to_those_who_share_a_conversation_and_are_not_blocked(
    app: Harness, trio: dict[str, Any]
) -> None:
    # GIVEN alice, bob and carol online; alice and bob share conversations, carol nothing
    def presence(user: str, about: list[str]) -> list[dict[str, Any]]:
        body = {"action": "presence", "id": "p", "userIds": about}
        reply = app.frame("presence", body, user=user, connection=f"{user[0]}1")
        assert reply is not None and reply["type"] == "presence", reply
        return list(reply["users"])

    hidden = {"online": False, "lastSeen": None}
    # WHEN alice asks about bob and carol, and carol about alice
    bob, carol = presence("alice", ["bob", "carol"])
    # THEN alice sees bob as he is, and carol and alice see each other as offline, never seen
    assert bob["online"] is True and bob["lastSeen"] is not None
    assert carol == {"userId": "carol", **hidden}
    assert presence("carol", ["alice"]) == [{"userId": "alice", **hidden}]
    # AND once bob blocks alice, she no longer sees him
    _block(app, "bob", "alice")
    assert presence("alice", ["bob"]) == [{"userId": "bob", **hidden}]


def test_malformed_frames_count_towards_the_limit_on_the_send_route(
    app: Harness, limited: FixedClock
) -> None:
    # GIVEN alice connected, with a burst of 3 frames
    app.user("alice")
    app.connect("alice", "a1")
    # WHEN she sends frames the send route cannot parse
    unparsable = [
        app.frame("send", user="alice", connection="a1", raw="{not json"),
        app.frame("send", {"action": "send", "id": "q"}, user="alice", connection="a1"),
        app.frame("send", user="alice", connection="a1", raw="[]"),
        app.frame("send", user="alice", connection="a1", raw="{not json"),
    ]
    # THEN each is counted as a frame: past the burst the answer is 1005 with retryAfterMs
    assert [_code(r) for r in unparsable[:3]] == [1001, 1001, 1001]
    assert _code(unparsable[3]) == 1005 and unparsable[3]["retryAfterMs"] > 0  # type: ignore[index]
    # AND frames that parse but name no conversation count towards the send limit
    limited.advance(60_000)
    bad_id = {
        "action": "send",
        "id": "q",
        "clientMsgId": "c",
        "conversationId": "grp:x",
        "body": {"type": "text", "text": "hi"},
    }
    codes = [_code(app.frame("send", bad_id, user="alice", connection="a1")) for _ in range(4)]
    assert codes == [2002, 2002, 2002, 1005]


def test_groups_created_per_user_per_day_are_limited(app: Harness, abusive: FixedClock) -> None:
    # GIVEN alice may create 2 groups a day
    for user in ("alice", "bob"):
        app.user(user)
    assert [_create_group(app, "alice", [])[0] for _ in range(2)] == [201, 201]
    # WHEN she creates a third
    status, body = _create_group(app, "alice", [])
    # THEN 429 1005 with retryAfterMs, while bob still may
    assert _is_rate_limited(status, body)
    assert _create_group(app, "bob", [])[0] == 201


def test_members_added_per_user_per_hour_are_limited_over_all_groups(
    app: Harness, abusive: FixedClock
) -> None:
    # GIVEN alice may add 5 members an hour, creation included
    app.user("alice")
    others = [f"user{i:03d}" for i in range(8)]
    _accounts(*others)
    status, group = _create_group(app, "alice", others[:3])
    assert status == 201
    assert _add(app, "alice", group["conversationId"], others[3:5])[0] == 200
    # WHEN she adds one more, in a new group or the same
    status, body = _create_group(app, "alice", others[5:6])
    assert _is_rate_limited(status, body)
    status, body = _add(app, "alice", group["conversationId"], others[5:6])
    # THEN 1005, and nobody more was added
    assert _is_rate_limited(status, body)
    assert len(runtime.members().all(group["conversationId"])) == 6


def test_new_direct_conversations_per_hour_are_limited_and_flag_the_user(
    app: Harness, abusive: FixedClock
) -> None:
    # GIVEN alice may open 2 direct conversations an hour
    for user in ("alice", "admin"):
        app.user(user)
    app.connect("alice", "a1")
    _accounts("bob", "carol", "dave")
    assert app.send("alice", "a1", to="bob", client_id="1")["type"] == "ack"
    assert app.send("alice", "a1", to="carol", client_id="2")["type"] == "ack"
    # WHEN she opens a third
    reply = app.send("alice", "a1", to="dave", client_id="3")
    # THEN 1005 with retryAfterMs, nothing is created, and admins see her flagged
    assert _code(reply) == 1005 and reply["retryAfterMs"] > 0
    assert runtime.conversations().get("dm:alice:dave") is None
    status, body = _flags(app, "admin")
    assert status == 200
    assert [(f["userId"], f["at"]) for f in body["flags"]] == [("alice", abusive.now_ms())]
    # AND writing into a conversation she already has is not a new one
    assert app.send("alice", "a1", to="bob", client_id="4")["type"] == "ack"


def test_one_text_into_many_conversations_is_refused_flagged_and_kept_only_as_a_hash(
    app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice may send one text into 2 conversations per window
    _abusive(app, clock, monkeypatch, PARLEY_DIRECT_CONVERSATIONS_PER_HOUR="100")
    for user in ("alice", "admin"):
        app.user(user)
    app.connect("alice", "a1")
    _accounts("bob", "carol", "dave")
    text = "Cheap watches at example.invalid"
    for n, to in enumerate(("bob", "carol")):
        assert app.send("alice", "a1", to=to, client_id=f"m{n}", text=text)["type"] == "ack"
    # the same text into the same conversation again is not another conversation
    assert app.send("alice", "a1", to="bob", client_id="again", text=text)["type"] == "ack"
    # WHEN she sends it into a third, changed only in case and spacing
    reply = app.send(
        "alice", "a1", to="dave", client_id="m3", text=f"  CHEAP watches \n at {text[17:]}"
    )
    # THEN 1005 with retryAfterMs, and she is flagged for app admins
    assert _code(reply) == 1005 and reply["retryAfterMs"] > 0
    assert [f["userId"] for f in _flags(app, "admin")[1]["flags"]] == ["alice"]
    # AND another text still goes through
    assert app.send("alice", "a1", to="dave", client_id="m4", text="hello")["type"] == "ack"
    # AND the limits table holds no trace of the text itself
    table = settings().limits_table
    items = runtime.limits().client.scan(TableName=table)["Items"]
    assert items and "watches" not in str(items).lower()


def test_live_connections_per_user_are_limited(app: Harness, abusive: FixedClock) -> None:
    # GIVEN alice may hold 2 live connections
    app.user("alice")
    token = app.tokens["alice"]["accessToken"]
    connect_with(app, token, "a1")
    connect_with(app, token, "a2")
    ctx = authorize(token)["context"]

    def third(connection: str) -> int:
        response = connect(
            int(ctx["tokenExp"]), user="alice", connection=connection, session=ctx["sessionId"]
        )
        return int(response["statusCode"])

    # WHEN she opens a third
    # THEN the handshake is refused with 429
    assert third("a3") == 429
    # AND once one closes, or vanishes without a $disconnect, there is room again
    app.disconnect("alice", "a1")
    assert third("a3") == 200
    runtime.connections().delete("a2")
    assert third("a4") == 200


def test_admin_flags_are_for_app_admins_only(app: Harness, abusive: FixedClock) -> None:
    # GIVEN `admin` is an app admin and alice is not
    for user in ("alice", "admin"):
        app.user(user)
    # WHEN each asks for the flags and for their profile
    status, body = _flags(app, "alice")
    # THEN alice gets 403 1004, the admin an (empty) list, and /me says who is an admin
    assert (status, body["code"]) == (403, 1004)
    assert _flags(app, "admin") == (200, {"flags": []})
    for user, admin in (("alice", False), ("admin", True)):
        token = app.tokens[user]["accessToken"]
        status, me = app.http("http_users", "GET", "/me", token=token)
        assert status == 200 and me["admin"] is admin


# ---- accounts and sessions (issue 15) -----------------------------------------------------


def test_concurrent_login_guesses_reach_the_password_check_at_most_the_account_budget(
    app: Harness, clock: FixedClock, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice, 10 failed logins allowed per account, and a counting password check
    from concurrent.futures import ThreadPoolExecutor

    from parley.services import auth as auth_module

    app.register("alice")
    checked: list[str] = []
    real_verify = auth_module.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checked.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(auth_module, "verify_password", counting_verify)

    def guess(n: int) -> int:
        body = {"userId": "alice", "password": f"guess number {n}"}
        return http_raw("http_auth", "POST", "/auth/login", body=body, source_ip=f"10.0.{n}.1")[0]

    # WHEN a botnet fires 100 guesses at once, each from its own address
    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(guess, range(100)))
    # THEN at most the budget reached the password check; the rest were 429 before it
    assert len(checked) <= 10
    assert statuses.count(401) == len(checked)
    assert statuses.count(429) == 100 - len(checked)


def test_failed_logins_lock_the_account_from_any_address_even_for_the_right_password(
    app: Harness, clock: FixedClock
) -> None:
    app.register("alice")

    def login(password: str, ip: str) -> tuple[int, dict[str, str], Any]:
        body = {"userId": "alice", "password": password}
        return http_raw("http_auth", "POST", "/auth/login", body=body, source_ip=ip)

    # GIVEN 10 wrong passwords for alice, each from another address
    for n in range(10):
        assert login("wrong password", f"198.51.100.{n}")[0] == 401
    # WHEN her right password comes from an address never seen
    status, headers, body = login(PASSWORD, "192.0.2.77")
    # THEN it is 429 1005 with the time left in the 15-minute window
    assert (status, body["code"]) == (429, 1005)
    assert 0 < body["retryAfterMs"] <= 900_000 and headers["retry-after"]
    # AND once the window passes she logs in
    clock.advance(900_000)
    assert login(PASSWORD, "192.0.2.77")[0] == 200


def test_registrations_are_limited_per_source_address(
    app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_REGISTRATIONS_PER_HOUR", "3")
    rebuild_runtime(monkeypatch, app, clock)

    def register(user: str, ip: str) -> tuple[int, dict[str, str], Any]:
        body = {"userId": user, "password": PASSWORD}
        return http_raw("http_auth", "POST", "/auth/register", body=body, source_ip=ip)

    for user in ("user1", "user2", "user3"):
        assert register(user, "198.51.100.7")[0] == 201
    status, _, body = register("user4", "198.51.100.7")
    assert (status, body["code"]) == (429, 1005) and body["retryAfterMs"] > 0
    assert register("user4", "198.51.100.8")[0] == 201


def test_two_tabs_refreshing_with_one_token_keep_the_login(app: Harness) -> None:
    # GIVEN one login shared by two tabs
    app.user("alice")
    body = {"refreshToken": app.tokens["alice"]["refreshToken"]}
    # WHEN both refresh with the same token (or one retries after a lost reply)
    first = app.http("http_auth", "POST", "/auth/refresh", body=body)
    second = app.http("http_auth", "POST", "/auth/refresh", body=body)
    # THEN both get the same new pair and the login lives on
    assert first[0] == second[0] == 200 and first[1] == second[1]
    assert_accepted(app, second[1]["accessToken"], "alice")


def test_a_login_ends_at_its_absolute_lifetime_however_often_refreshed(
    app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_SESSION_MAX_LIFETIME", "7200")
    rebuild_runtime(monkeypatch, app, clock)
    pair = app.user("alice") and app.tokens["alice"]
    # Refreshed well within the sliding refresh lifetime, three times...
    for _ in range(3):
        clock.advance(2000_000)
        status, pair = app.http(
            "http_auth", "POST", "/auth/refresh", body={"refreshToken": pair["refreshToken"]}
        )
        assert status == 200
    # ... the login still ends two hours after it began.
    clock.advance(1200_000)
    status, body = app.http(
        "http_auth", "POST", "/auth/refresh", body={"refreshToken": pair["refreshToken"]}
    )
    assert (status, body["code"]) == (401, 1003)


def test_logout_all_ends_every_login_and_closes_every_socket(app: Harness) -> None:
    # GIVEN alice logged in on two devices, each with a socket, and bob with one
    app.user("alice")
    first, second = app.tokens["alice"], app.login("alice")
    connect_with(app, first["accessToken"], "a1")
    connect_with(app, second["accessToken"], "a2")
    bob = app.user("bob")
    connect_with(app, bob, "b1")
    # WHEN alice logs out everywhere
    status, _ = app.http("http_auth", "POST", "/auth/logout-all", token=first["accessToken"])
    # THEN every token of hers is refused and both her sockets are closed; bob is untouched
    assert status == 204
    for pair in (first, second):
        assert_refused(app, pair["accessToken"])
    assert sorted(app.gateway.closed) == ["a1", "a2"]
    assert_accepted(app, bob, "bob")


def test_a_password_change_ends_every_other_login(app: Harness) -> None:
    app.user("alice")
    here, elsewhere = app.tokens["alice"], app.login("alice")
    connect_with(app, elsewhere["accessToken"], "a2")
    body = {"oldPassword": PASSWORD, "newPassword": "a brand new password"}
    status, _ = app.http("http_auth", "POST", "/me/password", body=body, token=here["accessToken"])
    assert status == 204
    assert_accepted(app, here["accessToken"], "alice")
    assert_refused(app, elsewhere["accessToken"])
    assert app.gateway.closed == ["a2"]
    assert app.login("alice", "a brand new password")["accessToken"]


def test_a_revoked_logins_socket_is_refused_even_when_its_close_was_lost(
    app: Harness, clock: FixedClock
) -> None:
    # GIVEN alice's socket, whose frames pass
    app.user("alice")
    ctx = connect_with(app, app.tokens["alice"]["accessToken"], "a1")

    def ping() -> dict[str, Any] | None:
        body = {"action": "ping", "id": "p"}
        exp, session = int(ctx["tokenExp"]), str(ctx["sessionId"])
        return frame("ping", body, user="alice", connection="a1", token_exp=exp, session=session)

    assert ping() == {"type": "pong", "id": "p"}
    # WHEN her login is revoked and the close never reaches the socket
    runtime.sessions().revoke(str(ctx["sessionId"]), clock.now_ms() // 1000)
    # THEN within the re-check interval her next frame is 1003 and the socket is closed
    clock.advance(30_000)
    reply = ping()
    assert reply is not None and reply["code"] == 1003
    assert app.gateway.closed == ["a1"]


def test_a_throttled_close_of_a_revoked_login_is_retried(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError
    from parley.services import connections as connections_module

    monkeypatch.setattr(connections_module, "CLOSE_BACKOFF_SECONDS", 0, raising=False)
    app.user("alice")
    pair = app.tokens["alice"]
    connect_with(app, pair["accessToken"], "a1")
    real_close = app.gateway.close
    failures = [ClientError({"Error": {"Code": "LimitExceededException"}}, "DeleteConnection")]

    def flaky_close(connection_id: str) -> bool:
        if failures:
            raise failures.pop()
        return real_close(connection_id)

    monkeypatch.setattr(app.gateway, "close", flaky_close)
    body = {"refreshToken": pair["refreshToken"]}
    assert app.http("http_auth", "POST", "/auth/logout", body=body)[0] == 204
    assert app.gateway.closed == ["a1"]


def test_a_legacy_scrypt_hash_is_upgraded_to_argon2id_at_login(app: Harness) -> None:
    # GIVEN bob's account as a release before Argon2id stored it (scrypt, below OWASP's bar)
    import base64
    import hashlib

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    salt = b"0123456789abcdef"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    runtime.users().create("bob", f"scrypt$16384$8$1${b64(salt)}${b64(key)}", "Bob", 0)
    # WHEN bob logs in
    assert app.login("bob")["accessToken"]
    # THEN his stored hash is Argon2id with OWASP's parameters
    stored = (runtime.users().get("bob") or {}).get("passwordHash", "")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_registration_needs_a_fresh_solved_challenge_when_asked(
    app: Harness, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_REGISTRATION_CHALLENGE", "pow")
    monkeypatch.setenv("PARLEY_CHALLENGE_DIFFICULTY", "8")
    rebuild_runtime(monkeypatch, app, clock)
    # A registration without a challenge is 1001 and creates nothing.
    status, body = app.register("bot1")
    assert (status, body["code"]) == (400, 1001)
    status, issued = app.http("http_auth", "GET", "/auth/challenge")
    assert status == 200 and issued["difficulty"] == 8
    solution = tokens.solve_challenge(issued["challenge"], 8)
    extra = {"challenge": issued["challenge"], "solution": solution}
    assert app.register("alice", **extra)[0] == 201
    # The same solved challenge does not open a second account.
    status, body = app.register("bot2", **extra)
    assert (status, body["code"]) == (400, 1001)
    assert runtime.users().get("bot1") is None and runtime.users().get("bot2") is None
