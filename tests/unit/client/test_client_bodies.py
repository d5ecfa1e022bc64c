"""Rich message bodies (protocol 1.1 §9): building, local validation, multipart encoding."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from parley_client import (
    ErrorCode,
    ParleyError,
    attachment_request,
    delete_body,
    edit_body,
    encode_multipart,
    file_body,
    reaction_body,
    rich_text_body,
)
from parley_client.bodies import check_caption, has_control

Parse = Callable[[str, bytes], list[tuple[str, str | None, bytes]]]

# ------------------------------------------------------------------ bodies


def test_bodies_are_built_as_the_protocol_writes_them() -> None:
    # GIVEN/WHEN each builder is called with valid input THEN the body is §9.1's shape
    assert rich_text_body("hi") == {"type": "text", "text": "hi"}
    assert rich_text_body("hi @bob", reply_to=12, mentions=["bob", "carol"]) == {
        "type": "text",
        "text": "hi @bob",
        "replyTo": 12,
        "mentions": ["bob", "carol"],
    }
    assert edit_body(3, "fixed") == {"type": "edit", "target": 3, "text": "fixed"}
    assert delete_body(3) == {"type": "delete", "target": 3}
    assert reaction_body(3, "👍") == {"type": "reaction", "target": 3, "key": "👍", "on": True}
    assert reaction_body(3, "👍", on=False)["on"] is False
    assert file_body("att1") == {"type": "file", "attachmentId": "att1"}
    assert file_body("att1", "the plan") == {
        "type": "file",
        "attachmentId": "att1",
        "caption": "the plan",
    }
    assert attachment_request("dm:alice:bob", "plan.pdf", 10, "application/pdf") == {
        "conversationId": "dm:alice:bob",
        "name": "plan.pdf",
        "size": 10,
        "contentType": "application/pdf",
    }


def test_limits_are_inclusive() -> None:
    # GIVEN values exactly at each limit WHEN built THEN nothing is refused
    assert rich_text_body("x" * 4000)["text"] == "x" * 4000
    assert len(rich_text_body("hi", mentions=[f"user{i}" for i in range(50)])["mentions"]) == 50
    assert reaction_body(1, "é" * 16)["key"] == "é" * 16  # 32 bytes
    assert file_body("a", "c" * 1000)["caption"] == "c" * 1000
    assert attachment_request("c", "n" * 255, 1, "text/plain")["name"] == "n" * 255
    check_caption(None)


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: rich_text_body(""), ErrorCode.INVALID_PARAM),
        (lambda: rich_text_body("x" * 4001), ErrorCode.PAYLOAD_TOO_LARGE),
        (lambda: rich_text_body("hi", reply_to=0), ErrorCode.INVALID_PARAM),
        (lambda: rich_text_body("hi", reply_to=True), ErrorCode.INVALID_PARAM),
        (lambda: rich_text_body("hi", mentions=[]), ErrorCode.INVALID_PARAM),
        (lambda: rich_text_body("hi", mentions=["bob", "bob"]), ErrorCode.INVALID_PARAM),
        (lambda: rich_text_body("hi", mentions=[""]), ErrorCode.INVALID_PARAM),
        (
            lambda: rich_text_body("hi", mentions=[f"u{i}" for i in range(51)]),
            ErrorCode.INVALID_PARAM,
        ),
        (lambda: edit_body(1, ""), ErrorCode.INVALID_PARAM),
        (lambda: edit_body(-1, "x"), ErrorCode.INVALID_PARAM),
        (lambda: delete_body(0), ErrorCode.INVALID_PARAM),
        (lambda: reaction_body(1, ""), ErrorCode.INVALID_PARAM),
        (lambda: reaction_body(1, "a\nb"), ErrorCode.INVALID_PARAM),
        (lambda: reaction_body(1, "\x7f"), ErrorCode.INVALID_PARAM),
        (lambda: reaction_body(1, "\u0085"), ErrorCode.INVALID_PARAM),
        (lambda: reaction_body(1, "é" * 17), ErrorCode.PAYLOAD_TOO_LARGE),
        (lambda: reaction_body(1, "x", on=1), ErrorCode.INVALID_PARAM),  # type: ignore[arg-type]
        (lambda: file_body(""), ErrorCode.INVALID_PARAM),
        (lambda: file_body("a", "c" * 1001), ErrorCode.PAYLOAD_TOO_LARGE),
        (lambda: file_body("a", 5), ErrorCode.INVALID_PARAM),  # type: ignore[arg-type]
        (lambda: attachment_request("", "n", 1, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "", 1, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "a/b", 1, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "a\tb", 1, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "n" * 256, 1, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "n", 0, "text/plain"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "n", 1, "text"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "n", 1, "text/plain; x=1"), ErrorCode.INVALID_PARAM),
        (lambda: attachment_request("c", "n", 1, "/plain"), ErrorCode.INVALID_PARAM),
    ],
)
def test_bad_input_fails_locally_with_the_protocol_code(build: object, code: int) -> None:
    # GIVEN input that breaks a rule §9 states WHEN the body is built
    with pytest.raises(ParleyError) as caught:
        build()  # type: ignore[operator]
    # THEN the client's typed error carries the code the server would answer
    assert caught.value.code == code
    assert caught.value.status is None


def test_control_characters_are_unicode_cc() -> None:
    # GIVEN C0, DEL and C1 controls, and printable or format characters
    # WHEN checked THEN only category Cc counts as control
    assert all(has_control(c) for c in ("\x00", "\x1f", "\x7f", "\x9f"))
    assert not any(has_control(c) for c in ("a", " ", "👍", "\u200d", "❤️"))


# --------------------------------------------------------------- multipart


def test_multipart_holds_every_field_then_the_file_last(read_multipart: Parse) -> None:
    # GIVEN signed fields and a binary file with CRLFs, NULs and non-ASCII bytes
    fields = {
        "key": "att/1",
        "Content-Type": "image/png",
        "policy": "cG9saWN5",
        "x-amz-signature": "ab",
    }
    content = b"\x89PNG\r\n\x1a\n\x00\xff--not-a-boundary\r\n\r\nend"
    # WHEN encoded
    data, header = encode_multipart(fields, "photo été.png", content, "image/png")
    # THEN the standard library's MIME parser reads back every field in order, the file last
    assert header.startswith("multipart/form-data; boundary=parley-")
    parts = read_multipart(header, data)
    assert [name for name, _, _ in parts] == [*fields, "file"]
    assert [value.decode() for _, _, value in parts[:-1]] == list(fields.values())
    assert parts[-1] == ("file", "photo été.png", content)
    # AND the body is framed with CRLFs and ends with the closing delimiter
    boundary = header.split("boundary=", 1)[1]
    assert data.startswith(f"--{boundary}\r\nContent-Disposition: form-data; name=".encode())
    assert data.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert (
        b'name="file"; filename="photo \xc3\xa9t\xc3\xa9.png"\r\nContent-Type: image/png\r\n\r\n'
        in data
    )


def test_multipart_quotes_names_and_refuses_a_boundary_inside_the_content(
    read_multipart: Parse,
) -> None:
    # GIVEN a file name with quotes and line breaks
    data, header = encode_multipart({}, 'a"b\r\nc', b"x", "text/plain", boundary="BOUND")
    # THEN they are percent-encoded as browsers do, never ending the header
    assert b'filename="a%22b%0D%0Ac"' in data
    assert header == "multipart/form-data; boundary=BOUND"
    assert data == (
        b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a%22b%0D%0Ac"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--BOUND--\r\n"
    )
    # WHEN a given boundary occurs in the content THEN encoding refuses
    with pytest.raises(ValueError, match="boundary"):
        encode_multipart({}, "f", b"..BOUND..", "text/plain", boundary="BOUND")
    # AND an empty file is still a well-formed part
    data, header = encode_multipart({"k": "v"}, "empty", b"", "text/plain")
    assert read_multipart(header, data)[-1] == ("file", "empty", b"")
