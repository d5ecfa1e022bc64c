"""End to end: the Python client and the `parley` CLI send a file (their own multipart
upload to the presigned form, then a `file` message) and the other member downloads it,
through the local cloud."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

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


def test_the_cli_sends_a_file_and_downloads_it(
    cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice and bob, each with a CLI profile, and a file
    alice, bob = run(sign_up_all(cloud, "alice", "bob"))
    monkeypatch.setenv("PARLEY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PARLEY_PASSWORD", PASSWORD)
    urls = ["--http", cloud.http_url, "--ws", cloud.ws_url]

    def parley(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), stdin=io.StringIO(), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    for user in (alice, bob):
        code, _, err = parley(*urls, "--profile", user.user_id, "login", user.user_id)
        assert code == 0, err
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
