"""End to end through the local cloud: the Python client and the `parley` CLI send a file
(their own multipart upload to the presigned form, then a `file` message) that the other
member downloads, and edit, react to, reply to and delete messages, which the other client
holds in their current state (protocol 9)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from parley_client import ErrorCode, ParleyError
from parley_client.cli import main
from parley_local import LocalCloud

from tests.e2e.helpers import PASSWORD, TIMEOUT, connect_all, dm, run, sign_up_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_the_python_client_sends_a_file_and_the_other_member_downloads_it(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # GIVEN a binary file with CRLFs, NULs and non-ASCII bytes, and a non-ASCII name
    source = tmp_path / "relevé été.bin"
    content = bytes(range(256)) * 40 + b"\r\n--\r\nfin"
    source.write_bytes(content)

    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        group = await alice.http.create_group("files", [bob.user_id])
        conversation = str(group["conversationId"])
        async with contextlib.AsyncExitStack() as stack:
            sender, receiver = await connect_all(stack, alice.client(), bob.client())
            # WHEN alice sends it with a caption
            ack = await sender.send_file(
                alice.http, source, conversation_id=conversation, caption="le relevé"
            )
            # THEN bob gets the file message with its name, size and type filled in
            pushed = await receiver.next_event(
                "message", conversationId=conversation, seq=ack["seq"], timeout=TIMEOUT
            )
            body = pushed["body"]
            assert body["type"] == "file"
            assert (body["name"], body["size"], body["caption"]) == (
                source.name,
                len(content),
                "le relevé",
            )
            assert body["contentType"] == "application/octet-stream"
            # AND he holds it, and downloads exactly the bytes alice uploaded
            assert receiver.message(conversation, ack["seq"]) is not None
            path = await bob.http.download(body["attachmentId"], tmp_path / "down")
            assert path.read_bytes() == content

            # WHEN bob asks for an attachment id that does not exist THEN 2003, no file
            attachment_id = str(body["attachmentId"])
            unknown = attachment_id[:-1] + ("A" if attachment_id[-1] != "A" else "B")
            with pytest.raises(ParleyError) as caught:
                await bob.http.download(unknown, tmp_path / "never")
            assert caught.value.code == ErrorCode.NOT_FOUND
            assert not (tmp_path / "never").exists()

    (tmp_path / "down").mkdir()
    run(scenario())


def parley(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def cli_users(cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """alice and bob, signed up and each logged in to a CLI profile of their own."""
    users = run(sign_up_all(cloud, "alice", "bob"))
    monkeypatch.setenv("PARLEY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PARLEY_PASSWORD", PASSWORD)
    urls = ["--http", cloud.http_url, "--ws", cloud.ws_url]
    for user in users:
        code, _, err = parley(*urls, "--profile", user.user_id, "login", user.user_id)
        assert code == 0, err
    return users


def test_the_cli_sends_a_file_and_downloads_it(
    cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice and bob, each with a CLI profile, and a file
    alice, bob = cli_users(cloud, tmp_path, monkeypatch)
    menu = tmp_path / "menu.txt"
    menu.write_text("soup, bread\n")
    # AND their direct conversation exists (its first message creates it)
    code, _, err = parley("--profile", alice.user_id, "send", bob.user_id, "menu coming")
    assert code == 0, err
    # WHEN alice sends it to bob with the CLI
    code, out, err = parley("--profile", alice.user_id, "send-file", bob.user_id, str(menu))
    assert code == 0, err
    assert f"to {dm(alice.user_id, bob.user_id)}" in out
    # THEN bob's history shows it readably, and he downloads it by its attachment id
    page = run(bob.http.history(dm(alice.user_id, bob.user_id)))
    message = page["messages"][-1]
    code, out, err = parley("--profile", bob.user_id, "history", dm(alice.user_id, bob.user_id))
    attachment_id = message["body"]["attachmentId"]
    assert code == 0 and f"📎 menu.txt (12 B, id {attachment_id})" in out, (out, err)
    target = tmp_path / "got.txt"
    code, out, err = parley("--profile", bob.user_id, "download", attachment_id, "-o", str(target))
    assert code == 0, err
    assert target.read_text() == "soup, bread\n"


def test_edits_reactions_and_deletes_reach_the_other_client_in_current_state(
    cloud: LocalCloud,
) -> None:
    async def scenario() -> None:
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        group = await alice.http.create_group("events", [bob.user_id])
        conversation = str(group["conversationId"])
        async with contextlib.AsyncExitStack() as stack:
            sender, receiver = await connect_all(stack, alice.client(), bob.client())
            # GIVEN alice's message, which bob receives
            ack = await sender.send({"type": "text", "text": "helo"}, conversation_id=conversation)
            seq = int(ack["seq"])
            await receiver.next_event("message", conversationId=conversation, seq=seq)
            # WHEN alice edits it, bob reacts and replies, and alice deletes her message
            edit = await sender.edit(conversation, seq, "hello")
            await receiver.next_event("message", seq=edit["seq"], timeout=TIMEOUT)
            assert receiver.message(conversation, seq)["body"]["text"] == "hello"  # type: ignore[index]
            react = await receiver.react(conversation, seq, "👍")
            await sender.next_event("message", seq=react["seq"], timeout=TIMEOUT)
            assert sender.message(conversation, seq)["reactions"] == {"👍": [bob.user_id]}  # type: ignore[index]
            reply = await receiver.reply(conversation, seq, "nice", mentions=[alice.user_id])
            delete = await sender.delete(conversation, seq)
            await receiver.next_event("message", seq=delete["seq"], timeout=TIMEOUT)
            # THEN bob holds the message as deleted, and its edit without text
            held = receiver.message(conversation, seq)
            assert held is not None and held["body"] == {"type": "deleted"}
            assert held["deleted"]["by"] == alice.user_id
            edited = receiver.message(conversation, int(edit["seq"]))
            assert edited is not None and edited["body"] == {"type": "edit", "target": seq}
            # AND the server's history agrees, the reply keeping its reference
            page = await bob.http.history(conversation)
            by_seq = {m["seq"]: m for m in page["messages"]}
            assert by_seq[seq]["body"] == {"type": "deleted"}
            assert by_seq[int(edit["seq"])]["body"] == {"type": "edit", "target": seq}
            assert by_seq[int(reply["seq"])]["body"]["replyTo"] == seq
            # AND a refused event is a typed error: bob cannot edit alice's message
            with pytest.raises(ParleyError) as caught:
                await receiver.edit(conversation, int(reply["seq"]) - 1, "x")
            assert caught.value.code in (ErrorCode.FORBIDDEN, ErrorCode.INVALID_PARAM)

    run(scenario())


def test_the_cli_edits_reacts_and_deletes(
    cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice and bob with CLI profiles and a message from alice
    alice, bob = cli_users(cloud, tmp_path, monkeypatch)
    conversation = dm(alice.user_id, bob.user_id)
    code, _, err = parley("--profile", alice.user_id, "send", bob.user_id, "teh plan")
    assert code == 0, err
    # WHEN alice edits it and bob reacts with the CLI
    code, _, err = parley("--profile", alice.user_id, "edit", bob.user_id, "1", "the plan")
    assert code == 0, err
    code, _, err = parley("--profile", bob.user_id, "react", conversation, "1", "👍")
    assert code == 0, err
    # THEN the history shows the new text and the reaction
    page = run(bob.http.history(conversation))
    first = page["messages"][0]
    assert first["body"]["text"] == "the plan" and first["reactions"] == {"👍": [bob.user_id]}
    code, out, err = parley("--profile", bob.user_id, "history", conversation)
    assert code == 0 and "the plan" in out, (out, err)
    # WHEN alice deletes it THEN no text of it is left in the history
    code, _, err = parley("--profile", alice.user_id, "delete", bob.user_id, "1")
    assert code == 0, err
    page = run(bob.http.history(conversation))
    assert "plan" not in json.dumps(page)
    # AND bob cannot delete alice's messages: an error in words, exit code 1
    code, _, err = parley("--profile", bob.user_id, "delete", conversation, "2")
    assert code != 0 and err
