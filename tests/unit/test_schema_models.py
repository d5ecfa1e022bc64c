"""`parley_schema` models and enums: they mirror the runtime, and the client-frame and
request-body schemas accept exactly what the runtime's validation accepts."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from parley import ids, models, roles
from parley.errors import Code, ParleyError
from parley_schema.check import DocumentValidator
from parley_schema.enums import (
    ERROR_WHEN,
    ConversationType,
    Role,
    SignalKind,
    TypingState,
)
from parley_schema.http import build_openapi
from parley_schema.models import CLIENT_FRAMES, ClientFrame
from parley_schema.ws import build_asyncapi
from pydantic import BaseModel

from tests.unit.test_models import GROUP, MISTYPED, VALID


@pytest.fixture(scope="module")
def frames() -> DocumentValidator:
    return DocumentValidator(build_asyncapi())


@pytest.fixture(scope="module")
def bodies() -> DocumentValidator:
    return DocumentValidator(build_openapi())


# ---- enums mirror the runtime --------------------------------------------------------------


def test_enums_mirror_the_runtime_value_sets() -> None:
    # GIVEN the named enums and the value sets the runtime checks against
    # THEN each holds exactly the runtime's values
    assert [k.value for k in SignalKind] == list(get_args(models.SignalKind))
    assert {s.value for s in TypingState} == set(
        get_args(models.TypingFrame.model_fields["state"].annotation)
    )
    assert {r.value for r in Role} == {roles.OWNER, roles.ADMIN, roles.MEMBER}
    assert {r.value for r in Role} == set(get_args(models.RoleBody.model_fields["role"].annotation))
    assert {t.value for t in ConversationType} == {
        ids.conversation_type("dm:alice:bob"),
        ids.conversation_type(GROUP),
    }
    assert set(ERROR_WHEN) == set(Code)


def test_client_frame_union_is_every_runtime_frame() -> None:
    # GIVEN the frames the runtime parses by action
    # THEN the schema's client frames are those models, and the union parses each
    assert set(CLIENT_FRAMES) == set(models.FRAMES.values())
    for action, frame in VALID.items():
        parsed = ClientFrame.model_validate(frame).root
        assert type(parsed) is models.FRAMES[action]


# ---- schema and runtime agree on client frames ---------------------------------------------


def runtime_accepts(model: type[BaseModel], instance: Any) -> bool:
    try:
        models.validate(model, instance)
    except ParleyError:
        return False
    return True


def _with(action: str, **fields: Any) -> dict[str, Any]:
    return {**VALID[action], **fields}


def _without(action: str, *names: str) -> dict[str, Any]:
    return {k: v for k, v in VALID[action].items() if k not in names}


def _custom(size: int) -> dict[str, Any]:
    # {"type":"custom","data":"x..."}: data's compact JSON is the string plus its quotes
    return {"type": "custom", "data": "x" * (size - 2)}


FRAME_CASES: list[tuple[str, dict[str, Any]]] = [
    *[(action, frame) for action, frame in VALID.items()],
    *[
        (action, _with(action, **{name: value}))
        for action, cases in MISTYPED.items()
        for name, value in cases
        # JSON Schema counts 4.0 as an integer; JSON (and a JavaScript client) cannot tell
        # 4.0 from 4, so only Python senders meet the runtime's stricter check.
        if not isinstance(value, float)
    ],
    ("send", _with("send", body={"type": "text", "text": "é" * models.MAX_TEXT_CHARS})),
    ("send", _with("send", body={"type": "text", "text": "é" * (models.MAX_TEXT_CHARS + 1)})),
    ("send", _with("send", body={"type": "text", "text": ""})),
    ("send", _with("send", body={"type": "custom", "data": {"k": [1, None, True]}})),
    ("send", _with("send", body=_custom(models.MAX_CUSTOM_BYTES))),
    ("send", _with("send", body=_custom(models.MAX_CUSTOM_BYTES + 1))),
    ("send", _with("send", body={"type": "custom"})),
    ("send", _with("send", body={"type": "system", "event": "group_created", "by": "bob"})),
    ("send", _with("send", body={"type": "text", "text": "hi", "extra": 1})),
    ("send", _with("send", conversationId=GROUP)),
    ("send", {**_without("send", "to"), "conversationId": GROUP}),
    ("send", {**_without("send", "to"), "conversationId": GROUP, "to": None}),
    ("send", _without("send", "to")),
    ("send", _with("send", to=None)),
    ("send", _with("send", clientMsgId="x" * 64)),
    ("send", _with("send", clientMsgId="x" * 65)),
    ("send", _with("send", clientMsgId="no spaces")),
    ("send", _with("send", id="r" * 64)),
    ("send", _with("send", id="r" * 65)),
    ("send", _with("send", id="")),
    ("send", _with("send", id=None)),
    ("send", _with("send", to="Bob")),
    ("send", _with("send", unknown=True)),
    ("sync", {"action": "sync"}),
    ("sync", _with("sync", limit=0)),
    ("sync", _with("sync", limit=500)),
    ("sync", _with("sync", limit=501)),
    ("sync", _with("sync", cursors={GROUP: -1})),
    ("sync", _with("sync", cursors={"x" * 81: 1})),
    ("read", _with("read", seq=-1)),
    ("read", _with("read", seq=2**53 + 1)),
    ("read", _without("read", "seq")),
    ("typing", _with("typing", state="stop")),
    ("presence", _with("presence", userIds=[])),
    ("presence", _with("presence", userIds=[f"u{i:03d}" for i in range(100)])),
    ("presence", _with("presence", userIds=[f"u{i:03d}" for i in range(101)])),
    *[("signal", _with("signal", kind=kind.value)) for kind in SignalKind],
    ("signal", _without("signal", "payload", "toConnection", "id")),
    ("signal", _with("signal", payload=None)),
    ("signal", _with("signal", payload="p" * (models.MAX_SIGNAL_PAYLOAD_BYTES - 2))),
    ("signal", _with("signal", payload="p" * (models.MAX_SIGNAL_PAYLOAD_BYTES - 1))),
    ("signal", _with("signal", toConnection="")),
    ("ping", {"action": "ping"}),
    ("auth", _with("auth", token="")),
    ("auth", _with("auth", token="t" * 4097)),
]


@pytest.mark.parametrize(("action", "frame"), FRAME_CASES)
def test_frame_schema_accepts_what_the_runtime_accepts(
    frames: DocumentValidator, action: str, frame: dict[str, Any]
) -> None:
    # GIVEN a client frame, valid or not
    model = models.FRAMES[action]
    # WHEN the runtime validates it and the published schemas do
    expected = runtime_accepts(model, frame)
    # THEN both agree, for its action's schema and for the ClientFrame union
    assert frames.is_valid(model.__name__, frame) is expected, frames.errors(model.__name__, frame)
    assert frames.is_valid("ClientFrame", frame) is expected


def test_both_outcomes_are_covered() -> None:
    # GIVEN the frame cases
    outcomes = {runtime_accepts(models.FRAMES[a], f) for a, f in FRAME_CASES}
    # THEN some are accepted and some refused (the agreement test is not vacuous)
    assert outcomes == {True, False}


# ---- schema and runtime agree on request bodies --------------------------------------------

BODY_CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (models.RegisterBody, {"userId": "alice", "password": "p" * 8}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 7}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 128}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 129}),
    (models.RegisterBody, {"userId": "al", "password": "p" * 8}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 8, "displayName": "Alice"}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 8, "displayName": ""}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 8, "displayName": None}),
    (models.RegisterBody, {"userId": "alice", "password": "p" * 8, "admin": True}),
    (models.LoginBody, {"userId": "alice", "password": "x"}),
    (models.LoginBody, {"userId": "", "password": "x"}),
    (models.LoginBody, {"userId": "alice"}),
    (models.RefreshBody, {"refreshToken": "a.1.b"}),
    (models.RefreshBody, {"refreshToken": "t" * 513}),
    (models.CreateGroupBody, {"name": "team"}),
    (models.CreateGroupBody, {"name": "team", "members": ["bob", "carol"]}),
    (models.CreateGroupBody, {"name": "", "members": []}),
    (models.CreateGroupBody, {"name": "team", "members": ["B"]}),
    (models.AddMembersBody, {"userIds": ["bob"]}),
    (models.AddMembersBody, {"userIds": []}),
    *[(models.RoleBody, {"role": role.value}) for role in Role],
    (models.RoleBody, {"role": "guest"}),
]


@pytest.mark.parametrize(("model", "body"), BODY_CASES)
def test_body_schema_accepts_what_the_runtime_accepts(
    bodies: DocumentValidator, model: type[BaseModel], body: dict[str, Any]
) -> None:
    # GIVEN an HTTP request body, valid or not
    # WHEN the runtime validates it and the published schema does
    # THEN both agree
    expected = runtime_accepts(model, body)
    assert bodies.is_valid(model.__name__, body) is expected, bodies.errors(model.__name__, body)


def test_schema_is_looser_only_where_json_schema_cannot_follow(
    bodies: DocumentValidator,
) -> None:
    # GIVEN a display name the runtime cleans to nothing (white space and a format character)
    body = {"userId": "alice", "password": "p" * 8, "displayName": " \t\u200b "}
    # WHEN both validate it
    # THEN the runtime refuses it (1001) while the schema, which cannot strip characters,
    # lets it through: a client that validates with the schema still gets the server's 1001
    assert not runtime_accepts(models.RegisterBody, body)
    assert bodies.is_valid("RegisterBody", body)


# ---- the validator the conformance test relies on -----------------------------------------


def test_closed_validation_refuses_fields_the_documents_lack() -> None:
    # GIVEN a real-looking ack with one field the documents do not declare
    ack = {
        "type": "ack",
        "id": "r1",
        "conversationId": "dm:alice:bob",
        "seq": 1,
        "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "clientMsgId": "m1",
        "ts": 1_700_000_000_000,
    }
    document = build_asyncapi()
    # WHEN validated open (as clients do) and closed (as the conformance test does)
    # THEN only the closed validator refuses the extra field; both accept the declared ack
    assert DocumentValidator(document).is_valid("AckFrame", {**ack, "extra": 1})
    assert not DocumentValidator(document, closed=True).is_valid("AckFrame", {**ack, "extra": 1})
    assert DocumentValidator(document, closed=True).is_valid("AckFrame", ack)
    assert DocumentValidator(document, closed=True).matching(["AckFrame", "PongFrame"], ack) == [
        "AckFrame"
    ]
