"""Rich messages in the CLI: parsing, the commands against the fakes, and chat's updates;
and their readable formatting."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from parley_client.cli import build_parser, main
from parley_client.formatting import (
    describe_body,
    format_chat_line,
    format_event,
    format_message,
    format_size,
)


def cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def urls(http_server: Any, threaded_ws: Any, config_dir: Path) -> list[str]:
    """Global options pointing the CLI at the fakes."""
    return ["--http", http_server.url, "--ws", threaded_ws.server.url]


# ------------------------------------------------------------------ parsing


def test_rich_commands_parse() -> None:
    parser = build_parser()
    # GIVEN/WHEN each new command line THEN its parts land in their fields
    args = parser.parse_args(["reply", "grp:1", "12", "sure", "thing", "--mention", "bob"])
    assert (args.conversation, args.seq, args.text, args.mention) == (
        "grp:1",
        12,
        ["sure", "thing"],
        ["bob"],
    )
    assert parser.parse_args(["reply", "bob", "1", "x"]).mention is None
    args = parser.parse_args(["edit", "dm:a:b", "3", "fixed", "text"])
    assert (args.conversation, args.seq, args.text) == ("dm:a:b", 3, ["fixed", "text"])
    args = parser.parse_args(["delete", "dm:a:b", "3", "--json"])
    assert (args.conversation, args.seq, args.json) == ("dm:a:b", 3, True)
    args = parser.parse_args(["react", "dm:a:b", "3", "👍"])
    assert (args.key, args.off) == ("👍", False)
    assert parser.parse_args(["react", "dm:a:b", "3", "👍", "--off"]).off is True
    args = parser.parse_args(["send-file", "bob", "a.png", "--caption", "look"])
    assert (args.target, args.path, args.caption, args.name, args.content_type) == (
        "bob",
        "a.png",
        "look",
        None,
        None,
    )
    args = parser.parse_args(["send-file", "grp:1", "a", "--name", "b", "--type", "image/png"])
    assert (args.name, args.content_type) == ("b", "image/png")
    args = parser.parse_args(["download", "att1", "-o", "out.bin"])
    assert (args.attachment_id, args.output) == ("att1", "out.bin")
    assert parser.parse_args(["download", "att1"]).output is None


@pytest.mark.parametrize(
    "argv",
    [
        ["reply", "grp:1", "0", "x"],
        ["reply", "grp:1", "1"],
        ["edit", "grp:1", "x", "text"],
        ["delete", "grp:1"],
        ["react", "grp:1", "1"],
        ["send-file", "bob"],
        ["download"],
    ],
)
def test_bad_rich_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a malformed command line WHEN parsed THEN usage error, exit 2
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2


# ------------------------------------------------------------------ commands


def test_reply_edit_react_delete(urls: list[str], config_dir: Path, backend: Any) -> None:
    # GIVEN alice logged in, and bob's message in their conversation
    conv = backend.dm("alice", "bob")
    backend.store(conv, "bob", {"type": "text", "text": "lunch?"})
    assert cli(*urls, "login", "alice", "--password", "password123")[0] == 0
    # WHEN she replies to #1 by the user's name, mentioning bob
    code, out, err = cli("reply", "bob", "1", "yes", "please", "--mention", "bob")
    # THEN a text with replyTo and mentions is sent to their direct conversation
    assert code == 0, err
    assert out.startswith("sent #2 to dm:alice:bob")
    assert conv.messages[1]["body"] == {
        "type": "text",
        "text": "yes please",
        "replyTo": 1,
        "mentions": ["bob"],
    }
    # WHEN she edits, reacts, unreacts and deletes by conversation id
    code, out, _ = cli("edit", "dm:alice:bob", "2", "yes!")
    assert code == 0 and out.startswith("edited #2: sent #3 to dm:alice:bob")
    code, out, _ = cli("react", "dm:alice:bob", "1", "👍")
    assert code == 0 and out.startswith("reacted 👍 to #1: sent #4")
    code, out, _ = cli("react", "dm:alice:bob", "1", "👍", "--off")
    assert code == 0 and out.startswith("removed 👍 from #1: sent #5")
    code, out, _ = cli("delete", "dm:alice:bob", "2", "--json")
    assert code == 0 and json.loads(out)["seq"] == 6
    # THEN each went out as its §9.1 body
    assert [m["body"] for m in conv.messages[2:]] == [
        {"type": "edit", "target": 2, "text": "yes!"},
        {"type": "reaction", "target": 1, "key": "👍", "on": True},
        {"type": "reaction", "target": 1, "key": "👍", "on": False},
        {"type": "delete", "target": 2},
    ]
    # WHEN a key breaks §9.1 THEN it fails locally with the protocol code, nothing sent
    code, _, err = cli("react", "bob", "1", "x" * 33)
    assert code == 1 and "error 1006 PAYLOAD_TOO_LARGE" in err
    code, _, err = cli("reply", "bob", "1", "x", "--mention", "bob", "--mention", "bob")
    assert code == 1 and "1001" in err
    assert len(conv.messages) == 6


def test_send_file_and_download(
    urls: list[str], config_dir: Path, backend: Any, tmp_path: Path
) -> None:
    # GIVEN alice logged in and a file
    assert cli(*urls, "login", "alice", "--password", "password123")[0] == 0
    path = tmp_path / "notes.txt"
    path.write_text("remember the milk\n")
    # WHEN she sends it to bob with a caption
    code, out, err = cli("send-file", "bob", str(path), "--caption", "for later")
    # THEN it is uploaded and sent as a file body
    assert code == 0, err
    assert out.startswith(f"sent {path} as sent #1 to dm:alice:bob")
    [attachment_id] = backend.attachments
    body = backend.conversations["dm:alice:bob"].messages[0]["body"]
    assert body == {"type": "file", "attachmentId": attachment_id, "caption": "for later"}
    # WHEN it is downloaded to a path THEN the bytes are the same
    target = tmp_path / "copy.txt"
    code, out, err = cli("download", attachment_id, "-o", str(target))
    assert code == 0, err
    assert out == f"saved {target} (18 B)\n"
    assert target.read_text() == "remember the milk\n"
    # AND --json prints where it went
    code, out, _ = cli("download", attachment_id, "-o", str(tmp_path), "--json")
    assert json.loads(out) == {"attachmentId": attachment_id, "path": str(tmp_path / "notes.txt")}
    # WHEN the attachment is unknown THEN exit 1 with 2003
    code, _, err = cli("download", "nope", "-o", str(tmp_path))
    assert code == 1 and "2003 NOT_FOUND" in err
    # WHEN the file does not exist THEN exit 1, nothing created
    code, _, err = cli("send-file", "grp:1", str(tmp_path / "missing"))
    assert code == 1 and "not a file" in err
    assert len(backend.attachments) == 1
    # WHEN the destination cannot be written THEN exit 1 naming it
    code, _, err = cli("download", attachment_id, "-o", str(tmp_path / "no" / "dir" / "f"))
    assert code == 1 and "cannot write" in err


def test_chat_shows_updates_in_place_or_as_short_lines(
    urls: list[str], config_dir: Path, backend: Any, threaded_ws: Any
) -> None:
    # GIVEN bob's and alice's messages; alice's chat shows only the last one
    conv = backend.dm("alice", "bob")
    backend.store(conv, "bob", {"type": "text", "text": "old 1"})
    backend.store(conv, "alice", {"type": "text", "text": "old 2"})
    assert cli(*urls, "login", "alice", "--password", "password123")[0] == 0
    read_fd, write_fd = os.pipe()
    out = io.StringIO()

    def push(body: dict[str, Any]) -> None:
        message = backend.store(conv, "bob", body)
        threaded_ws.call(threaded_ws.server.push("alice", {"type": "message", **message}))

    def act() -> None:
        deadline = time.monotonic() + 5
        while not threaded_ws.server.live("alice") and time.monotonic() < deadline:
            time.sleep(0.01)
        # WHEN bob edits #1 (not shown), reacts to #2 (shown), replies to #2, deletes that
        push({"type": "edit", "target": 1, "text": "new 1"})
        push({"type": "reaction", "target": 2, "key": "👍", "on": True})
        push({"type": "text", "text": "ok", "replyTo": 2})
        push({"type": "delete", "target": 5})
        while "message deleted" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.close(write_fd)

    helper = threading.Thread(target=act)
    helper.start()
    with os.fdopen(read_fd) as stdin:
        try:
            code = main(
                ["chat", "bob", "--history", "1"], stdin=stdin, stdout=out, stderr=io.StringIO()
            )
        finally:
            helper.join(5)
    # THEN the held messages show their new state, the others a short update line
    assert code == 0
    assert out.getvalue().splitlines() == [
        "[alice] old 2",
        "[bob] ✎ edited #1: new 1",
        "[#2] ↻ alice: old 2  👍 bob",
        "[bob] ↪ #2 ok",
        "[#5] ↻ bob: message deleted",
    ]


# --------------------------------------------------------------- formatting


def test_bodies_read_well() -> None:
    # GIVEN each §9 body WHEN described THEN a short readable text
    assert describe_body({"type": "text", "text": "hi", "replyTo": 12}) == "↪ #12 hi"
    assert describe_body({"type": "text", "text": "hi", "mentions": ["bob", "eve"]}) == (
        "hi (@bob @eve)"
    )
    file = {"type": "file", "attachmentId": "A1", "name": "a.pdf", "size": 2048}
    assert describe_body(file) == "📎 a.pdf (2.0 KB, id A1)"
    assert describe_body({**file, "size": 5, "caption": "see"}) == "📎 a.pdf (5 B, id A1) see"
    assert describe_body({"type": "file", "attachmentId": "att1"}) == "📎 attachment att1"
    assert describe_body({"type": "edit", "target": 3, "text": "x"}) == "✎ edited #3: x"
    assert describe_body({"type": "edit", "target": 3}) == "✎ edited #3"
    assert describe_body({"type": "delete", "target": 3}) == "🗑 deleted #3"
    assert describe_body({"type": "reaction", "target": 3, "key": "👍", "on": True}) == (
        "reacted 👍 to #3"
    )
    assert describe_body({"type": "reaction", "target": 3, "key": "👍", "on": False}) == (
        "removed 👍 from #3"
    )
    assert describe_body({"type": "deleted"}) == "message deleted"


def test_sizes_read_well() -> None:
    # GIVEN byte counts WHEN formatted THEN 1024-based units with one decimal
    assert [format_size(n) for n in (0, 1023, 1024, 1536, 25 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "1.5 KB",
        "25.0 MB",
        "3072.0 GB",
    ]
    assert format_size(None) == format_size(-1) == format_size(True) == "? B"


def test_current_state_and_updates_read_well() -> None:
    # GIVEN a message in its current state, edited with reactions
    message = {
        "type": "message",
        "conversationId": "dm:a:b",
        "seq": 4,
        "senderId": "alice",
        "ts": None,
        "body": {"type": "text", "text": "hello"},
        "edited": {"seq": 5, "ts": 1},
        "reactions": {"👍": ["alice", "bob"], "🎉": ["carol"]},
    }
    # WHEN formatted THEN "(edited)" and each key with its users follow the text
    assert format_message(message, with_conversation=False).endswith(
        "[#4] alice: hello (edited)  👍 alice, bob  🎉 carol"
    )
    assert format_chat_line(message) == "[alice] hello (edited)  👍 alice, bob  🎉 carol"
    # AND a deleted message reads so, without "(edited)"
    deleted = {**message, "body": {"type": "deleted"}, "deleted": {"seq": 6}, "reactions": {}}
    assert format_chat_line(deleted) == "[alice] message deleted"
    # AND listen prints an updated event on one line, naming where it is
    update = {"type": "updated", "conversationId": "dm:a:b", "seq": 4, "message": message}
    assert format_event(update) == "[dm:a:b #4] ↻ alice: hello (edited)  👍 alice, bob  🎉 carol"
    assert format_event({"type": "updated", "seq": 1}) == "[? #1] ↻ ?: null"
