"""`parley.models`: strict frame and body validation, size limits at their exact boundary."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley import models, wire
from parley.errors import InvalidParam, PayloadTooLarge, UnknownAction
from parley.models import (
    AddMembersBody,
    CreateGroupBody,
    LoginBody,
    PingFrame,
    PresenceFrame,
    ReadFrame,
    RefreshBody,
    RegisterBody,
    RoleBody,
    SendFrame,
    SignalFrame,
    SyncFrame,
    TypingFrame,
    parse_frame,
    validate,
)
from parley.wire import request_id_of

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


def raw(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False)


# One valid frame per action; every field-level test derives from these.
VALID: dict[str, dict[str, Any]] = {
    "send": {
        "action": "send",
        "id": "r1",
        "to": "bob",
        "clientMsgId": "c-1",
        "body": {"type": "text", "text": "hi"},
    },
    "sync": {"action": "sync", "id": "r2", "cursors": {GROUP: 3}, "limit": 10},
    "read": {"action": "read", "id": "r3", "conversationId": GROUP, "seq": 4},
    "typing": {"action": "typing", "id": "r4", "conversationId": GROUP, "state": "start"},
    "presence": {"action": "presence", "id": "r5", "userIds": ["bob", "carol"]},
    "signal": {
        "action": "signal",
        "id": "r6",
        "to": "bob",
        "callId": "call-1",
        "kind": "offer",
        "payload": {"sdp": "v=0"},
        "toConnection": "conn-b",
    },
    "ping": {"action": "ping", "id": "r7"},
    "auth": {"action": "auth", "id": "r8", "token": "t"},
}

MODEL = {
    "send": SendFrame,
    "sync": SyncFrame,
    "read": ReadFrame,
    "typing": TypingFrame,
    "presence": PresenceFrame,
    "signal": SignalFrame,
    "ping": PingFrame,
    "auth": models.AuthFrame,
}

REQUIRED = {
    "send": ["clientMsgId", "body"],
    "sync": [],
    "read": ["conversationId", "seq"],
    "typing": ["conversationId", "state"],
    "presence": ["userIds"],
    "signal": ["to", "callId", "kind"],
    "ping": [],
    "auth": ["token"],
}

# A value of the wrong JSON type for each field.
MISTYPED: dict[str, list[tuple[str, Any]]] = {
    "send": [
        ("id", 5),
        ("to", 5),
        ("clientMsgId", 7),
        ("body", "hi"),
        ("body", ["text", "hi"]),
    ],
    "sync": [("cursors", [GROUP]), ("cursors", {GROUP: "3"}), ("limit", "5"), ("limit", True)],
    "read": [("conversationId", 5), ("seq", "4"), ("seq", True), ("seq", 4.0), ("seq", None)],
    "typing": [("conversationId", None), ("state", True), ("state", "typing")],
    "presence": [("userIds", "bob"), ("userIds", [5]), ("userIds", {"bob": 1})],
    "signal": [("to", ["bob"]), ("callId", 1), ("kind", "ring"), ("toConnection", 5)],
    "ping": [("id", ["r"])],
    "auth": [("token", 5)],
}


# ---- valid frames ------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(VALID))
def test_each_valid_frame_parses_to_its_model(action: str) -> None:
    # GIVEN a well-formed frame for `action`
    # WHEN it is parsed
    # THEN it becomes that action's model with the request id kept
    frame = parse_frame(raw(VALID[action]))
    assert type(frame) is MODEL[action]
    assert frame.action == action
    assert frame.id == VALID[action]["id"]


def test_frames_without_id_parse_with_id_none() -> None:
    # GIVEN a frame without a request id
    # WHEN it is parsed
    # THEN it is valid and its id is None
    assert parse_frame('{"action":"ping"}').id is None


def test_send_frame_fields_are_kept() -> None:
    # GIVEN a send to a conversation with a custom body
    # WHEN it is parsed
    # THEN every field is available, the body dumped as given
    frame = parse_frame(
        raw(
            {
                "action": "send",
                "conversationId": GROUP,
                "clientMsgId": "A_b-9",
                "body": {"type": "custom", "data": {"k": [1, 2, None]}},
            }
        )
    )
    assert isinstance(frame, SendFrame)
    assert frame.to is None
    assert frame.conversationId == GROUP
    assert frame.body.model_dump() == {"type": "custom", "data": {"k": [1, 2, None]}}


def test_sync_defaults() -> None:
    # GIVEN a bare sync
    # WHEN it is parsed
    # THEN cursors are empty and the limit is 100
    frame = parse_frame('{"action":"sync"}')
    assert isinstance(frame, SyncFrame)
    assert frame.cursors == {}
    assert frame.limit == 100


def test_signal_payload_is_optional() -> None:
    # GIVEN a signal without payload or toConnection
    # WHEN it is parsed
    # THEN both are None
    frame = parse_frame(raw({"action": "signal", "to": "bob", "callId": "c", "kind": "hangup"}))
    assert isinstance(frame, SignalFrame)
    assert frame.payload is None
    assert frame.toConnection is None


@pytest.mark.parametrize(
    "kind", ["invite", "ringing", "accept", "reject", "offer", "answer", "candidate", "hangup"]
)
def test_every_signal_kind_is_accepted(kind: str) -> None:
    # GIVEN each signal kind of the protocol
    # WHEN a signal frame carries it
    # THEN it is valid
    assert parse_frame(raw({**VALID["signal"], "kind": kind})).kind == kind  # type: ignore[attr-defined]


@pytest.mark.parametrize("state", ["start", "stop"])
def test_both_typing_states_are_accepted(state: str) -> None:
    # GIVEN each typing state
    # WHEN a typing frame carries it
    # THEN it is valid
    assert parse_frame(raw({**VALID["typing"], "state": state})).state == state  # type: ignore[attr-defined]


# ---- missing, mistyped and extra fields --------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field"), [(a, f) for a, fields in REQUIRED.items() for f in fields]
)
def test_missing_required_field_is_invalid_param(action: str, field: str) -> None:
    # GIVEN a valid frame with one required field removed
    # WHEN it is parsed
    # THEN it is refused with 1001 naming the field
    frame = {k: v for k, v in VALID[action].items() if k != field}
    with pytest.raises(InvalidParam) as caught:
        parse_frame(raw(frame))
    assert field in caught.value.message


@pytest.mark.parametrize(
    ("action", "field", "value"), [(a, f, v) for a, pairs in MISTYPED.items() for f, v in pairs]
)
def test_mistyped_field_is_invalid_param(action: str, field: str, value: Any) -> None:
    # GIVEN a valid frame with one field of the wrong type (no coercion is done)
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({**VALID[action], field: value}))


@pytest.mark.parametrize("action", sorted(VALID))
def test_extra_field_is_invalid_param(action: str) -> None:
    # GIVEN a valid frame with one unknown field
    # WHEN it is parsed
    # THEN it is refused with 1001 naming the field
    with pytest.raises(InvalidParam) as caught:
        parse_frame(raw({**VALID[action], "surprise": 1}))
    assert "surprise" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        {"type": "text", "text": "hi", "extra": 1},
        {"type": "custom", "data": 1, "extra": 1},
        {"type": "text"},
        {"type": "custom"},
        {"type": "text", "text": ""},
        {"type": "text", "text": 5},
        {"type": "system", "event": "group_created"},
        {"type": "image", "url": "x"},
        {"text": "no type"},
        {"type": 5, "text": "x"},
        {},
    ],
)
def test_bad_bodies_are_invalid_param(body: dict[str, Any]) -> None:
    # GIVEN a send whose body is empty, of an unknown or server-only type, or has extras
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({**VALID["send"], "body": body}))


@pytest.mark.parametrize(
    "targets",
    [
        {"to": "bob", "conversationId": GROUP},
        {},
        {"to": None},
        {"conversationId": None},
    ],
)
def test_send_needs_exactly_one_target(targets: dict[str, Any]) -> None:
    # GIVEN a send with both or neither of `to` and `conversationId`
    # WHEN it is parsed
    # THEN it is refused with 1001
    frame = {k: v for k, v in VALID["send"].items() if k not in ("to", "conversationId")}
    with pytest.raises(InvalidParam):
        parse_frame(raw({**frame, **targets}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clientMsgId", ""),
        ("clientMsgId", "x" * 65),
        ("clientMsgId", "has space"),
        ("clientMsgId", "dot.ted"),
        ("to", "Bob"),
        ("to", "ab"),
        ("id", ""),
        ("id", "x" * 65),
    ],
)
def test_send_field_formats_are_checked(field: str, value: str) -> None:
    # GIVEN a send with a malformed clientMsgId, userId or request id
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({**VALID["send"], field: value}))


def test_client_msg_id_and_request_id_boundaries_are_accepted() -> None:
    # GIVEN a 64-char clientMsgId and request id
    # WHEN the send is parsed
    # THEN it is valid
    frame = parse_frame(raw({**VALID["send"], "clientMsgId": "A" * 64, "id": "i" * 64}))
    assert frame.id == "i" * 64


@pytest.mark.parametrize("seq", [-1, 2**53 + 1])
def test_read_seq_out_of_range_is_invalid_param(seq: int) -> None:
    # GIVEN a read with a negative or too large seq
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({**VALID["read"], "seq": seq}))


@pytest.mark.parametrize("seq", [0, 2**53])
def test_read_seq_range_boundaries_are_accepted(seq: int) -> None:
    # GIVEN the smallest and largest allowed seq
    # WHEN a read is parsed
    # THEN it is valid
    assert parse_frame(raw({**VALID["read"], "seq": seq})).seq == seq  # type: ignore[attr-defined]


def test_sync_cursor_values_must_be_non_negative() -> None:
    # GIVEN a sync with a negative cursor
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({"action": "sync", "cursors": {GROUP: -1}}))


# ---- strict types ------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["5", True, False, 5.0, None, [5]])
def test_strict_int_refuses_strings_booleans_and_floats(limit: Any) -> None:
    # GIVEN a sync limit that is "5", true, 5.0, ... instead of an integer
    # WHEN it is parsed
    # THEN it is refused with 1001 (no coercion)
    with pytest.raises(InvalidParam) as caught:
        parse_frame(raw({"action": "sync", "limit": limit}))
    assert caught.value.code == 1001


def test_strict_str_refuses_numbers() -> None:
    # GIVEN a text body whose text is a number
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({**VALID["send"], "body": {"type": "text", "text": 12}}))


# ---- size limits -------------------------------------------------------------------------


def send_with(body: dict[str, Any]) -> str:
    return raw({**VALID["send"], "body": body})


@pytest.mark.parametrize("unit", ["a", "é", "中", "😀", "\U0001f468"])
def test_text_of_4000_code_points_is_accepted(unit: str) -> None:
    # GIVEN a text of exactly 4000 code points (1-4 UTF-8 bytes each)
    # WHEN the send is parsed
    # THEN it is valid
    frame = parse_frame(send_with({"type": "text", "text": unit * 4000}))
    assert len(frame.body.text) == 4000  # type: ignore[attr-defined]


@pytest.mark.parametrize("unit", ["a", "é", "中", "😀"])
def test_text_of_4001_code_points_is_payload_too_large(unit: str) -> None:
    # GIVEN a text of 4001 code points
    # WHEN the send is parsed
    # THEN it is refused with 1006
    with pytest.raises(PayloadTooLarge) as caught:
        parse_frame(send_with({"type": "text", "text": unit * 4001}))
    assert caught.value.code == 1006
    assert "body.text" in caught.value.message


def test_text_length_counts_code_points_not_utf16_units() -> None:
    # GIVEN 4000 astral-plane emoji (8000 UTF-16 units, 16000 UTF-8 bytes)
    # WHEN the send is parsed
    # THEN it is within the limit: the protocol counts code points
    frame = parse_frame(send_with({"type": "text", "text": "🎉" * 4000}))
    assert isinstance(frame, SendFrame)


def test_text_with_combining_marks_counts_each_code_point() -> None:
    # GIVEN 2000 letters each with a combining accent (4000 code points, 2000 graphemes)
    # WHEN one more code point is added
    # THEN 4000 passes and 4001 is too large
    text = "e\u0301" * 2000
    parse_frame(send_with({"type": "text", "text": text}))
    with pytest.raises(PayloadTooLarge):
        parse_frame(send_with({"type": "text", "text": text + "x"}))


def custom_of_size(size: int, unit: str = "x") -> Any:
    """A JSON string whose compact UTF-8 form is exactly `size` bytes."""
    per = len(unit.encode())
    payload_bytes = size - 2  # the quotes
    count, rest = divmod(payload_bytes, per)
    value = unit * count + "y" * rest
    assert len(wire.compact_json(value).encode()) == size
    return value


@pytest.mark.parametrize("unit", ["x", "é", "中", "😀"])
def test_custom_data_of_8192_bytes_is_accepted(unit: str) -> None:
    # GIVEN custom data whose compact UTF-8 JSON is exactly 8192 bytes
    # WHEN the send is parsed
    # THEN it is valid
    data = custom_of_size(8192, unit)
    frame = parse_frame(send_with({"type": "custom", "data": data}))
    assert frame.body.data == data  # type: ignore[attr-defined]


@pytest.mark.parametrize("unit", ["x", "é", "😀"])
def test_custom_data_of_8193_bytes_is_payload_too_large(unit: str) -> None:
    # GIVEN custom data of 8193 bytes
    # WHEN the send is parsed
    # THEN it is refused with 1006
    with pytest.raises(PayloadTooLarge):
        parse_frame(send_with({"type": "custom", "data": custom_of_size(8193, unit)}))


def test_custom_data_is_measured_compact_not_as_sent() -> None:
    # GIVEN an object sent with lots of whitespace whose compact form is exactly 8192 bytes
    # WHEN the send is parsed
    # THEN it is valid: the size is that of the compact form
    value = {"k": "v" * (8192 - len('{"k":""}'))}
    assert len(wire.compact_json(value).encode()) == 8192
    spaced = (
        '{"action": "send", "to": "bob", "clientMsgId": "c", "body": {"type": "custom", '
        + '"data":   {  "k"  :  "'
        + value["k"]
        + '"  }  }}'
    )
    frame = parse_frame(spaced)
    assert frame.body.data == value  # type: ignore[attr-defined]
    value["k"] += "v"
    with pytest.raises(PayloadTooLarge):
        parse_frame(send_with({"type": "custom", "data": value}))


@pytest.mark.parametrize("data", [None, 0, True, [], {}, "s", [1, {"a": None}]])
def test_custom_data_may_be_any_json(data: Any) -> None:
    # GIVEN custom data of any JSON type
    # WHEN the send is parsed
    # THEN it is valid
    assert parse_frame(send_with({"type": "custom", "data": data})).body.data == data  # type: ignore[attr-defined]


def test_custom_data_with_nan_is_invalid_param() -> None:
    # GIVEN custom data holding NaN (Python's json accepts it; JSON does not)
    # WHEN the send is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(
            '{"action":"send","to":"bob","clientMsgId":"c","body":{"type":"custom","data":NaN}}'
        )


def ping_of_size(size: int) -> str:
    text = '{"action":"ping"}'
    frame = text[:-1] + " " * (size - len(text)) + "}"
    assert len(frame.encode()) == size
    return frame


def test_frame_of_32768_bytes_is_accepted() -> None:
    # GIVEN a valid frame of exactly 32768 bytes
    # WHEN it is parsed
    # THEN it is valid
    assert isinstance(parse_frame(ping_of_size(32768)), PingFrame)
    assert isinstance(parse_frame(ping_of_size(32768).encode()), PingFrame)


def test_frame_of_32769_bytes_is_payload_too_large() -> None:
    # GIVEN a frame of 32769 bytes
    # WHEN it is parsed
    # THEN it is refused with 1006 before any parsing
    with pytest.raises(PayloadTooLarge):
        parse_frame(ping_of_size(32769))


def test_frame_size_is_counted_in_utf8_bytes() -> None:
    # GIVEN a frame of fewer than 32768 characters but more than 32768 UTF-8 bytes
    # WHEN it is parsed
    # THEN it is refused with 1006
    text = "中" * 11000  # 33000 bytes, 11000 characters
    with pytest.raises(PayloadTooLarge):
        parse_frame(send_with({"type": "text", "text": text[:10]}).replace("}}", "}} ") + text)


def test_presence_of_100_ids_is_accepted() -> None:
    # GIVEN a presence request for exactly 100 users
    # WHEN it is parsed
    # THEN it is valid
    user_ids = [f"user{i:03d}" for i in range(100)]
    assert parse_frame(raw({"action": "presence", "userIds": user_ids})).userIds == user_ids  # type: ignore[attr-defined]


def test_presence_of_101_ids_is_invalid_param() -> None:
    # GIVEN a presence request for 101 users
    # WHEN it is parsed
    # THEN it is refused with 1001 (protocol section 7)
    user_ids = [f"user{i:03d}" for i in range(101)]
    with pytest.raises(InvalidParam) as caught:
        parse_frame(raw({"action": "presence", "userIds": user_ids}))
    assert caught.value.code == 1001


def test_presence_of_no_ids_is_invalid_param() -> None:
    # GIVEN a presence request for nobody
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({"action": "presence", "userIds": []}))


@pytest.mark.parametrize("limit", [1, 500])
def test_sync_limit_boundaries_are_accepted(limit: int) -> None:
    # GIVEN a sync limit of 1 or 500
    # WHEN it is parsed
    # THEN it is valid
    assert parse_frame(raw({"action": "sync", "limit": limit})).limit == limit  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [0, 501, -1])
def test_sync_limit_outside_1_to_500_is_invalid_param(limit: int) -> None:
    # GIVEN a sync limit of 0 or 501
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(raw({"action": "sync", "limit": limit}))


def test_signal_payload_limit_is_payload_too_large() -> None:
    # GIVEN a signal payload of 24 KB + 1 byte (compact JSON)
    # WHEN it is parsed
    # THEN it is refused with 1006, while exactly 24 KB passes
    at_limit = "p" * (24 * 1024 - 2)
    parse_frame(raw({**VALID["signal"], "payload": at_limit}))
    with pytest.raises(PayloadTooLarge):
        parse_frame(raw({**VALID["signal"], "payload": at_limit + "p"}))


# ---- not JSON, not an object, unknown action ---------------------------------------------


@pytest.mark.parametrize(
    "frame", ["", None, b"", "not json", "{", "[]", '"ping"', "5", "null", "[1,2]", b"\xff\xfe"]
)
def test_non_object_frames_are_invalid_param(frame: Any) -> None:
    # GIVEN a frame that is not a JSON object
    # WHEN it is parsed
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        parse_frame(frame)


def test_deeply_nested_json_is_invalid_param_not_a_crash() -> None:
    # GIVEN a frame nested deeper than the parser's recursion limit
    # WHEN it is parsed
    # THEN it is refused with 1001 (no RecursionError escapes)
    with pytest.raises(InvalidParam):
        parse_frame("[" * 16000 + "]" * 16000)


@pytest.mark.parametrize(
    "frame", ['{"action":"dance"}', '{"id":"r"}', '{"action":5}', '{"action":null}', "{}"]
)
def test_unknown_or_missing_action_is_unknown_action(frame: str) -> None:
    # GIVEN an object without a known action
    # WHEN it is parsed
    # THEN it is refused with 1007
    with pytest.raises(UnknownAction) as caught:
        parse_frame(frame)
    assert caught.value.code == 1007


def test_unknown_action_message_is_bounded() -> None:
    # GIVEN an enormous unknown action name
    # WHEN it is parsed
    # THEN the error message quotes at most 40 characters of it
    with pytest.raises(UnknownAction) as caught:
        parse_frame(raw({"action": "x" * 5000}))
    assert len(caught.value.message) < 80


# ---- request_id_of -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"action":"ping","id":"r-1"}', "r-1"),
        ('{"id":"r-1","action":"nope"}', "r-1"),
        ('{"id":"' + "i" * 64 + '"}', "i" * 64),
        (b'{"id":"bytes"}', "bytes"),
        ('{"id":"' + "i" * 65 + '"}', None),
        ('{"id":""}', None),
        ('{"id":5}', None),
        ('{"id":null}', None),
        ('{"action":"ping"}', None),
        ('["id"]', None),
        ("not json", None),
        ("", None),
        (None, None),
        (b"\xff", None),
        ("[" * 20000, None),
    ],
)
def test_request_id_of(frame: Any, expected: str | None) -> None:
    # GIVEN any frame, well-formed or not
    # WHEN its request id is looked for
    # THEN a 1-64 char string id comes back, else None, never an exception
    assert request_id_of(frame) == expected


# ---- HTTP bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("  Alice  ", "Alice"),
        ("Al\u200bice", "Alice"),  # zero-width space (Cf)
        ("Al\x00i\x07ce", "Alice"),  # controls (Cc)
        ("Alice\u202e", "Alice"),  # right-to-left override (Cf)
        ("Alice   Smith", "Alice Smith"),
        ("Alice\t\nSmith", "Alice Smith"),
        ("アリス 😀", "アリス 😀"),
        ("x" * 64, "x" * 64),
    ],
)
def test_display_names_are_cleaned(given: str, cleaned: str) -> None:
    # GIVEN a display name with controls, format characters or extra whitespace
    # WHEN it is cleaned
    # THEN only the visible text with single spaces remains
    assert models.clean_display_name(given) == cleaned
    body = validate(RegisterBody, {"userId": "alice", "password": "p" * 8, "displayName": given})
    assert body.displayName == cleaned


@pytest.mark.parametrize("given", ["", "   ", "\u200b\u200b", "\x00\x01", "x" * 65])
def test_display_names_empty_after_cleaning_or_too_long_are_invalid(given: str) -> None:
    # GIVEN a display name with nothing visible, or over 64 characters
    # WHEN a register body carries it
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        validate(RegisterBody, {"userId": "alice", "password": "p" * 8, "displayName": given})


def test_display_name_length_is_counted_after_cleaning() -> None:
    # GIVEN 64 visible characters padded with spaces and zero-width characters
    # WHEN it is cleaned
    # THEN it fits
    assert models.clean_display_name("  " + "x" * 64 + "\u200b  ") == "x" * 64


@pytest.mark.parametrize(
    ("password", "ok"), [("p" * 7, False), ("p" * 8, True), ("p" * 128, True), ("p" * 129, False)]
)
def test_register_password_length_is_8_to_128(password: str, ok: bool) -> None:
    # GIVEN passwords around the 8 and 128 character bounds
    # WHEN a register body is validated
    # THEN exactly those within 8-128 pass, the rest are 1001
    body = {"userId": "alice", "password": password}
    if ok:
        assert validate(RegisterBody, body).password == password
    else:
        with pytest.raises(InvalidParam):
            validate(RegisterBody, body)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (RegisterBody, {"userId": "Alice", "password": "password1"}),
        (RegisterBody, {"userId": "alice", "password": 12345678}),
        (RegisterBody, {"userId": "alice", "password": "password1", "admin": True}),
        (RegisterBody, {"password": "password1"}),
        (LoginBody, {"userId": "alice"}),
        (LoginBody, {"userId": "", "password": "x"}),
        (LoginBody, {"userId": "alice", "password": "x", "remember": True}),
        (RefreshBody, {"refreshToken": ""}),
        (RefreshBody, {"refreshToken": 5}),
        (RefreshBody, {}),
        (CreateGroupBody, {"name": "g", "members": "bob"}),
        (CreateGroupBody, {"name": "g", "members": ["Bob"]}),
        (CreateGroupBody, {"members": ["bob"]}),
        (CreateGroupBody, {"name": "   ", "members": []}),
        (AddMembersBody, {"userIds": []}),
        (AddMembersBody, {"userIds": ["bob", 5]}),
        (RoleBody, {"role": "superuser"}),
        (RoleBody, {"role": "ADMIN"}),
        (RoleBody, {}),
    ],
)
def test_bad_http_bodies_are_invalid_param(model: type[Any], body: dict[str, Any]) -> None:
    # GIVEN an HTTP body with a missing, mistyped, malformed or extra field
    # WHEN it is validated
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        validate(model, body)


def test_good_http_bodies_validate() -> None:
    # GIVEN well-formed HTTP bodies
    # WHEN they are validated
    # THEN their fields come back
    assert validate(LoginBody, {"userId": "anything", "password": "x"}).userId == "anything"
    assert validate(RefreshBody, {"refreshToken": "t"}).refreshToken == "t"
    group = validate(CreateGroupBody, {"name": " Team ", "members": ["bob"]})
    assert (group.name, group.members) == ("Team", ["bob"])
    assert validate(CreateGroupBody, {"name": "Team"}).members == []
    assert validate(AddMembersBody, {"userIds": ["bob"]}).userIds == ["bob"]
    for role in ("owner", "admin", "member"):
        assert validate(RoleBody, {"role": role}).role == role


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_validate_refuses_non_objects(data: Any) -> None:
    # GIVEN a JSON value that is not an object
    # WHEN it is validated as a body
    # THEN it is refused with 1001
    with pytest.raises(InvalidParam):
        validate(LoginBody, data)


def test_parse_json_object_enforces_its_limit_in_bytes() -> None:
    # GIVEN a body of limit bytes and one of limit + 1 bytes
    # WHEN each is parsed with that limit
    # THEN the first is parsed and the second is 1006
    body = '{"k":"' + "v" * 10 + '"}'
    assert wire.parse_json_object(body, limit=len(body)) == {"k": "v" * 10}
    with pytest.raises(PayloadTooLarge):
        wire.parse_json_object(body, limit=len(body) - 1)
