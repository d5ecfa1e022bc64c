"""The ``parley`` CLI: argument parsing, profile files, and runs against the fakes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from parley_client.cli import build_parser, main, read_lines
from parley_client.profile import ProfileStore


class Run:
    """One CLI invocation's outcome."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r})"


def cli(*argv: str, stdin: str = "") -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def urls(http_server: Any, threaded_ws: Any, config_dir: Path) -> list[str]:
    """Global options pointing the CLI at the fakes."""
    return ["--http", http_server.url, "--ws", threaded_ws.server.url]


def profile(config_dir: Path, name: str = "default") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((config_dir / f"{name}.json").read_text())
    return data


# ------------------------------------------------------------------ parsing


def test_argument_parsing() -> None:
    parser = build_parser()
    # GIVEN/WHEN a send to a user with several words THEN user and words are kept apart
    args = parser.parse_args(["--profile", "work", "send", "bob", "hello", "world"])
    assert (args.profile, args.command, args.words, args.conversation) == (
        "work",
        "send",
        ["bob", "hello", "world"],
        None,
    )
    # AND a send to a conversation takes every word as text
    args = parser.parse_args(["send", "--conversation", "grp:01X", "hi", "all"])
    assert (args.conversation, args.words) == ("grp:01X", ["hi", "all"])
    # AND history, group and listen options parse
    args = parser.parse_args(["history", "dm:a:b", "--before", "40", "--limit", "20"])
    assert (args.id, args.before, args.limit) == ("dm:a:b", 40, 20)
    assert parser.parse_args(["history", "x"]).limit == 50
    args = parser.parse_args(["group", "create", "team", "bob", "carol"])
    assert (args.name, args.members) == ("team", ["bob", "carol"])
    args = parser.parse_args(["group", "add", "grp:1", "dave"])
    assert (args.id, args.users) == ("grp:1", ["dave"])
    assert parser.parse_args(["listen", "--json"]).json is True
    args = parser.parse_args(["chat", "--conversation", "grp:1", "--history", "5"])
    assert (args.user, args.conversation, args.history) == (None, "grp:1", 5)
    args = parser.parse_args(["register", "dave", "--display-name", "Dave D", "--password", "p"])
    assert (args.user, args.display_name, args.password) == ("dave", "Dave D", "p")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["history", "x", "--limit", "0"],
        ["history", "x", "--limit", "101"],
        ["history", "x", "--before", "abc"],
        ["group"],
        ["group", "create", "team"],
        ["nosuch"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the arguments are wrong THEN argparse exits with status 2 and a usage line
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_urls_come_from_flags_env_profile_then_defaults(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no login WHEN whoami runs THEN it fails before any network call, exit 1
    run = cli("whoami")
    assert run.code == 1 and "not logged in" in run.err
    # AND a bad URL from the environment is a usage error naming it
    monkeypatch.setenv("PARLEY_WS_URL", "http://wrong")
    run = cli("whoami")
    assert run.code == 2 and "ws(s) URL" in run.err


# ----------------------------------------------------------------- commands


def test_register_login_send_whoami_logout(
    urls: list[str], config_dir: Path, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WHEN dave registers with a password option
    run = cli(*urls, "register", "dave", "--display-name", "Dave D", "--password", "password123")
    # THEN he is registered and logged in, and the tokens are stored privately
    assert run.code == 0, run
    assert "Registered dave and logged in" in run.out
    stored = profile(config_dir)
    assert stored["userId"] == "dave"
    assert stored["accessToken"] and stored["refreshToken"]
    assert stat.S_IMODE((config_dir / "default.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700

    # WHEN dave logs in again with the password from the environment
    monkeypatch.setenv("PARLEY_PASSWORD", "password123")
    run = cli(*urls, "login", "dave")
    assert run.code == 0, run
    assert profile(config_dir)["accessToken"] != stored["accessToken"]

    # WHEN dave sends to bob (URLs now come from the profile)
    run = cli("send", "bob", "hello", "there")
    # THEN it went over the WebSocket and the ack is shown
    assert run.code == 0, run
    assert run.out.startswith("sent #1 to dm:bob:dave")
    message = backend.conversations["dm:bob:dave"].messages[0]
    assert message["body"] == {"type": "text", "text": "hello there"}
    assert message["senderId"] == "dave"

    # WHEN the text comes on stdin and --json is asked for THEN the raw ack is printed
    run = cli("send", "bob", "--json", stdin="from stdin\n")
    assert run.code == 0, run
    assert json.loads(run.out)["seq"] == 2
    assert backend.conversations["dm:bob:dave"].messages[1]["body"]["text"] == "from stdin"

    # WHEN a custom body is sent to the conversation THEN data is JSON-decoded
    run = cli("send", "-c", "dm:bob:dave", "--data", '{"kind": "poke"}')
    assert run.code == 0, run
    assert backend.conversations["dm:bob:dave"].messages[2]["body"] == {
        "type": "custom",
        "data": {"kind": "poke"},
    }

    run = cli("whoami")
    assert (run.code, run.out) == (0, "dave (Dave D)\n")

    # WHEN dave logs out THEN the profile is gone and the login is refused
    current = profile(config_dir)
    run = cli("logout")
    assert run.code == 0 and "Logged out dave" in run.out
    assert not (config_dir / "default.json").exists()
    assert backend.user_for(current["accessToken"]) is None
    assert cli("whoami").code == 1


def test_failures_exit_non_zero_with_code_and_message(urls: list[str], config_dir: Path) -> None:
    # WHEN the password is wrong THEN exit 1 with the protocol code and message
    run = cli(*urls, "login", "alice", "--password", "wrong-password")
    assert run.code == 1
    assert "error 1003 UNAUTHENTICATED: bad credentials" in run.err
    assert not (config_dir / "alice.json").exists()
    # WHEN registering a taken id THEN 1008
    run = cli(*urls, "register", "alice", "--password", "password123")
    assert run.code == 1 and "1008 CONFLICT" in run.err
    # WHEN the password is piped on stdin THEN it is read from there
    run = cli(*urls, "login", "alice", stdin="password123\n")
    assert run.code == 0, run
    # WHEN sending nothing THEN usage error
    run = cli(*urls, "send", "bob")
    assert run.code == 2 and "nothing to send" in run.err
    # WHEN sending to a conversation alice is not in THEN the server's error
    run = cli(*urls, "send", "-c", "grp:nope", "hi")
    assert run.code == 1 and "2002" in run.err
    # WHEN the server cannot be reached THEN exit 1 with the reason
    run = cli("--http", "http://127.0.0.1:9", "whoami")
    assert run.code == 1 and "cannot reach" in run.err


def test_expired_access_token_is_refreshed_and_stored(
    urls: list[str], config_dir: Path, backend: Any
) -> None:
    # GIVEN a login whose access token the server now refuses
    assert cli(*urls, "login", "bob", "--password", "password123").code == 0
    before = profile(config_dir)
    backend.expire_access_tokens("bob")
    # WHEN bob runs an HTTP command, then a WebSocket one
    run = cli("whoami")
    assert run.code == 0, run
    # THEN the pair was refreshed and saved, still private
    after = profile(config_dir)
    assert after["refreshToken"] != before["refreshToken"]
    assert stat.S_IMODE((config_dir / "default.json").stat().st_mode) == 0o600
    backend.expire_access_tokens("bob")
    run = cli("send", "alice", "still here")
    assert run.code == 0, run
    assert profile(config_dir)["refreshToken"] != after["refreshToken"]


def test_groups_conversations_history(urls: list[str], config_dir: Path, backend: Any) -> None:
    assert cli(*urls, "--profile", "al", "login", "alice", "--password", "password123").code == 0
    p = ["--profile", "al"]
    # GIVEN no conversation yet THEN conversations says so
    assert cli(*p, "conversations").out == "No conversations yet.\n"
    assert cli(*p, "block", "carol").out == "Blocked carol.\n"
    assert cli(*p, "unblock", "carol").out == "Unblocked carol.\n"
    assert ("alice", "carol") not in backend.blocked
    # WHEN alice creates a group THEN its id and members are shown
    run = cli(*p, "group", "create", "team", "bob")
    assert run.code == 0, run
    gid = run.out.split()[2]
    assert gid.startswith("grp:")
    assert "alice (owner)" in run.out and "bob (member)" in run.out
    assert cli(*p, "group", "add", gid, "carol").code == 0
    run = cli(*p, "group", "show", gid, "--json")
    assert {m["userId"] for m in json.loads(run.out)["members"]} == {"alice", "bob", "carol"}
    # WHEN listing conversations THEN a table with the group
    run = cli(*p, "conversations")
    assert run.out.splitlines()[0].split() == ["CONVERSATION", "TYPE", "NAME", "LAST", "UNREAD"]
    assert gid in run.out and "team" in run.out
    # WHEN reading history THEN system messages read as sentences, oldest first
    run = cli(*p, "history", gid)
    lines = run.out.splitlines()
    assert "#1] * alice created the group" in lines[0]
    assert "#2] * alice added carol" in lines[1]
    run = cli(*p, "history", gid, "--limit", "1")
    assert len(run.out.splitlines()) == 1 and "--before 2" in run.err
    run = cli(*p, "history", gid, "--before", "2", "--json")
    assert [m["seq"] for m in json.loads(run.out)["messages"]] == [1]


def test_chat_shows_history_and_sends_lines(
    urls: list[str], config_dir: Path, backend: Any
) -> None:
    # GIVEN earlier messages between alice and bob
    conv = backend.dm("alice", "bob")
    for n in range(1, 4):
        backend.store(conv, "bob" if n % 2 else "alice", {"type": "text", "text": f"old {n}"})
    assert cli(*urls, "login", "alice", "--password", "password123").code == 0
    # WHEN alice chats with bob, typing two lines then Ctrl-D (end of input)
    run = cli("chat", "bob", "--history", "2", stdin="hi bob\n\nhow are you?\n")
    # THEN the last messages are shown, then both lines are sent (the blank one skipped)
    assert run.code == 0, run
    assert run.out.splitlines()[:2] == ["[alice] old 2", "[bob] old 3"]
    assert [m["body"]["text"] for m in conv.messages[3:]] == ["hi bob", "how are you?"]
    assert "Chatting in dm:alice:bob as alice" in run.err


def test_listen_prints_events_until_ctrl_c(
    urls: list[str], config_dir: Path, backend: Any, threaded_ws: Any
) -> None:
    assert cli(*urls, "login", "bob", "--password", "password123").code == 0
    conv = backend.dm("alice", "bob")
    backend.store(conv, "alice", {"type": "text", "text": "before listening"})
    out = io.StringIO()

    def act() -> None:
        # WHEN alice's message is pushed while bob listens, then Ctrl-C is pressed
        deadline = time.monotonic() + 5
        while not threaded_ws.server.live("bob") and time.monotonic() < deadline:
            time.sleep(0.01)
        message = backend.store(conv, "alice", {"type": "text", "text": "hello bob"})
        threaded_ws.call(threaded_ws.server.push("bob", {"type": "message", **message}))
        while "hello bob" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=act)
    helper.start()
    try:
        code = main(["listen"], stdin=io.StringIO(), stdout=out, stderr=io.StringIO())
    finally:
        helper.join(5)
    # THEN only the new message was printed, readable, and Ctrl-C exits cleanly
    assert code == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("[dm:alice:bob #2] alice: hello bob")


# ------------------------------------------------------------ files, stdin


def test_profile_file_permissions(tmp_path: Path) -> None:
    # GIVEN a profile file left world-readable by something else
    store = ProfileStore("work", tmp_path / "cfg")
    store.save({"accessToken": "a"})
    os.chmod(store.path, 0o644)
    # WHEN it is read and written again
    assert store.load() == {"accessToken": "a"}
    store.update(refreshToken="r", accessToken=None)
    # THEN it is private again, and atomically replaced (no temp files left)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text()) == {"refreshToken": "r"}
    assert [p.name for p in store.directory.iterdir()] == ["work.json"]
    # AND profile names cannot escape the directory
    for bad in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="profile name"):
            ProfileStore(bad, tmp_path)
    assert store.delete() and not store.delete()


def test_read_lines_from_a_pipe_stops_its_thread() -> None:
    async def scenario() -> list[str]:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, "one\ntwo é\nthr".encode())
        with os.fdopen(read_fd, "r") as stream:
            got: list[str] = []
            # WHEN the reader is left after two lines (the writer is still open)
            async for line in read_lines(stream):
                got.append(line)
                if len(got) == 2:
                    break
            os.close(write_fd)
            return got

    # THEN the lines are decoded and the helper thread is gone (checked by the fixture)
    assert asyncio.run(scenario()) == ["one\n", "two é\n"]

    async def to_eof() -> list[str]:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, b"a\nlast")
        os.close(write_fd)
        with os.fdopen(read_fd, "r") as stream:
            return [line async for line in read_lines(stream)]

    assert asyncio.run(to_eof()) == ["a\n", "last"]
