"""`parley.errors`: every code, its HTTP status (protocol section 6) and the payload shape."""

from __future__ import annotations

import pytest
from parley import errors
from parley.errors import Code, ParleyError

# Protocol section 6, verbatim.
PROTOCOL = {
    1001: ("INVALID_PARAM", 400),
    1002: ("USER_NOT_FOUND", 404),
    1003: ("UNAUTHENTICATED", 401),
    1004: ("FORBIDDEN", 403),
    1005: ("RATE_LIMITED", 429),
    1006: ("PAYLOAD_TOO_LARGE", 413),
    1007: ("UNKNOWN_ACTION", 400),
    1008: ("CONFLICT", 409),
    2001: ("MESSAGE_SEND_FAILED", 503),
    2002: ("CONVERSATION_NOT_FOUND", 404),
    2003: ("NOT_FOUND", 404),  # protocol 1.1, section 9.3
    3001: ("INTERNAL", 500),
}

CLASSES = {
    errors.InvalidParam: 1001,
    errors.UserNotFound: 1002,
    errors.Unauthenticated: 1003,
    errors.Forbidden: 1004,
    errors.RateLimited: 1005,
    errors.PayloadTooLarge: 1006,
    errors.UnknownAction: 1007,
    errors.Conflict: 1008,
    errors.MessageSendFailed: 2001,
    errors.ConversationNotFound: 2002,
    errors.NotFound: 2003,
    errors.Internal: 3001,
    errors.Unavailable: 2001,
}


def test_codes_are_exactly_the_protocol_codes() -> None:
    # GIVEN the Code enum
    # WHEN compared with the protocol's table
    # THEN it has exactly those codes under those names
    assert {int(c): c.name for c in Code} == {k: v[0] for k, v in PROTOCOL.items()}


@pytest.mark.parametrize("code", list(Code))
def test_every_code_has_the_protocol_http_status(code: Code) -> None:
    # GIVEN each code
    # WHEN its HTTP status is looked up
    # THEN it is the status of protocol section 6
    assert errors.HTTP_STATUS[code] == PROTOCOL[int(code)][1]


@pytest.mark.parametrize(("cls", "code"), list(CLASSES.items()))
def test_every_error_class_carries_its_code_and_status(cls: type[ParleyError], code: int) -> None:
    # GIVEN each error class
    # WHEN raised with its default message
    # THEN it carries its code, its HTTP status and a non-empty message
    err = cls()
    assert int(err.code) == code
    assert err.http_status == PROTOCOL[code][1]
    assert err.message
    assert str(err) == err.message


def test_every_code_is_raised_by_some_class() -> None:
    # GIVEN the error classes
    # WHEN their codes are collected
    # THEN every protocol code has a class
    assert {int(c.code) for c in CLASSES} == set(PROTOCOL)


def test_payload_shape_without_retry() -> None:
    # GIVEN an error with a custom message
    # WHEN its payload is built
    # THEN it is exactly {code, message}
    assert errors.Forbidden("nope").payload() == {"code": 1004, "message": "nope"}


def test_payload_shape_with_retry_after() -> None:
    # GIVEN a rate-limit error with a retry hint
    # WHEN its payload is built
    # THEN it carries retryAfterMs as an integer
    payload = errors.RateLimited(retry_after_ms=1500).payload()
    assert payload == {"code": 1005, "message": "too many requests", "retryAfterMs": 1500}
    assert type(payload["code"]) is int


def test_retry_after_zero_is_still_reported() -> None:
    # GIVEN a retry hint of 0 ms
    # WHEN the payload is built
    # THEN retryAfterMs is present (0 is a value, not absence)
    assert errors.RateLimited(retry_after_ms=0).payload()["retryAfterMs"] == 0


def test_internal_error_names_the_request_id() -> None:
    # GIVEN a request id
    # WHEN the internal error for it is made
    # THEN it is 3001 / 500 and its message names the request id
    err = errors.internal_error("req-123")
    assert err.payload()["code"] == 3001
    assert err.http_status == 500
    assert "req-123" in err.message
    assert "Traceback" not in err.message


def test_unavailable_is_a_retryable_send_failure() -> None:
    # GIVEN a dependency failure
    # WHEN it is mapped
    # THEN it is 2001 / 503 and asks to retry
    err = errors.Unavailable()
    assert err.code == Code.MESSAGE_SEND_FAILED
    assert err.http_status == 503
    assert "retry" in err.message
