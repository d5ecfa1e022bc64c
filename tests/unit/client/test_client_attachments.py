"""Attachments (protocol 1.1 §9.3): HttpClient uploads and downloads, ParleyClient.send_file,
and the rich-message actions over the fakes (see conftest.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from parley_client import ErrorCode, HttpClient, ParleyClient, ParleyError, encode_multipart


async def logged_in(http_server: Any, user: str = "alice") -> HttpClient:
    http = HttpClient(http_server.url)
    await http.login(user, "password123")
    return http


def test_upload_posts_the_signed_fields_then_the_file(
    http_server: Any, backend: Any, tmp_path: Path
) -> None:
    # GIVEN a file on disk
    path = tmp_path / "plan.pdf"
    path.write_bytes(b"%PDF-1.7\r\n\x00binary\r\n")

    async def scenario() -> None:
        http = await logged_in(http_server)
        # WHEN alice uploads it for her direct conversation with bob
        created = await http.upload_attachment("dm:alice:bob", path)
        # THEN POST /attachments got the file's name, size and guessed type
        method, route, auth, body = http_server.requests[-2]
        assert (method, route) == ("POST", "/attachments")
        assert auth is not None
        assert body == {
            "conversationId": "dm:alice:bob",
            "name": "plan.pdf",
            "size": path.stat().st_size,
            "contentType": "application/pdf",
        }
        # AND the storage POST carried every signed field, then the file, with no bearer token
        method, route, auth, form = http_server.requests[-1]
        assert (method, route, auth) == ("POST", "/storage", None)
        assert [name for name, _, _ in form] == ["key", "Content-Type", "policy", "file"]
        stored = backend.attachments[created["attachmentId"]]
        assert stored["content"] == path.read_bytes()
        assert stored["uploadedName"] == "plan.pdf"

    asyncio.run(scenario())


def test_upload_of_bytes_needs_a_name_and_refusals_become_parley_errors(
    http_server: Any, backend: Any
) -> None:
    async def scenario() -> None:
        http = await logged_in(http_server)
        # GIVEN bytes without a name WHEN uploaded THEN refused before any request
        count = len(http_server.requests)
        with pytest.raises(ValueError, match="name"):
            await http.upload_attachment("dm:alice:bob", b"x")
        # AND a bad name fails locally with 1001, a bad content type too
        with pytest.raises(ParleyError) as caught:
            await http.upload_attachment("dm:alice:bob", b"x", name="a/b")
        assert caught.value.code == ErrorCode.INVALID_PARAM
        with pytest.raises(ParleyError):
            await http.upload_attachment("dm:alice:bob", b"x", name="a", content_type="bad")
        assert len(http_server.requests) == count
        # WHEN the bytes are named THEN the type is guessed from the name
        created = await http.upload_attachment("dm:alice:bob", b"hello", name="notes.txt")
        assert backend.attachments[created["attachmentId"]]["contentType"] == "text/plain"
        # AND an unknown extension is sent as application/octet-stream
        created = await http.upload_attachment("dm:alice:bob", b"\x01", name="blob.zzz")
        assert backend.attachments[created["attachmentId"]]["contentType"] == (
            "application/octet-stream"
        )
        # WHEN storage refuses the upload (size outside the signed range)
        http_server.fail_next.append(
            (
                201,
                b'{"attachmentId": "x", "upload": {"url": "'
                + http_server.url.encode()
                + b'/storage", "fields": {}}}',
            )
        )
        with pytest.raises(ParleyError) as caught:
            await http.upload_attachment("dm:alice:bob", b"x", name="n")
        # THEN the storage error is a ParleyError by its XML code, and the signed URL is not shown
        assert caught.value.code == ErrorCode.FORBIDDEN and caught.value.status == 403
        assert "AccessDenied" in caught.value.message
        # WHEN the server refuses POST /attachments THEN its code comes through
        with pytest.raises(ParleyError) as caught:
            await http.upload_attachment("grp:nope", b"x", name="n")
        assert caught.value.code == ErrorCode.FORBIDDEN

    asyncio.run(scenario())


def test_storage_error_codes_map_to_protocol_codes(http_server: Any, backend: Any) -> None:
    async def scenario() -> None:
        http = await logged_in(http_server)
        created = await http.create_attachment("dm:alice:bob", "f.bin", 5, "application/x-y")
        # GIVEN an upload of another size than signed WHEN posted to storage
        upload = created["upload"]
        with pytest.raises(ParleyError) as caught:
            await asyncio.to_thread(
                http._storage_blocking,
                "POST",
                upload["url"],
                *_form(upload["fields"], b"too long"),
                None,
            )
        # THEN EntityTooLarge reads as 1006
        assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE
        # AND an unreachable storage is a connection error
        with pytest.raises(Exception, match="cannot reach"):
            await asyncio.to_thread(
                http._storage_blocking, "GET", "http://127.0.0.1:9/x?sig=1", None, {}, None
            )

    asyncio.run(scenario())


def _form(fields: dict[str, str], content: bytes) -> tuple[bytes, dict[str, str]]:
    data, header = encode_multipart(fields, "f.bin", content, "application/x-y")
    return data, {"Content-Type": header}


def test_download_writes_the_file_to_a_path_or_a_directory(
    http_server: Any, backend: Any, tmp_path: Path
) -> None:
    async def scenario() -> None:
        http = await logged_in(http_server)
        created = await http.upload_attachment("dm:alice:bob", b"\x00\x01data", name="d.bin")
        attachment_id = created["attachmentId"]
        # WHEN bob asks for it THEN he gets its metadata and a presigned URL
        bob = await logged_in(http_server, "bob")
        info = await bob.attachment(attachment_id)
        assert (info["name"], info["size"]) == ("d.bin", 6)
        # WHEN he downloads into a directory THEN the file keeps its name
        path = await bob.download(attachment_id, tmp_path)
        assert path == tmp_path / "d.bin"
        assert path.read_bytes() == b"\x00\x01data"
        # AND to an explicit path
        other = await bob.download(attachment_id, tmp_path / "copy.bin")
        assert other.read_bytes() == b"\x00\x01data"
        # WHEN the attachment is unknown THEN 2003 NOT_FOUND
        with pytest.raises(ParleyError) as caught:
            await bob.download("att-missing", tmp_path)
        assert caught.value.code == ErrorCode.NOT_FOUND
        # WHEN the presigned URL is refused THEN no partial file is left behind
        backend.attachments[attachment_id]["content"] = b"ok"
        http_server.fail_next.append(
            (
                200,
                b'{"name": "x", "url": "' + http_server.url.encode() + b'/storage/nope?s=1"}',
            )
        )
        with pytest.raises(ParleyError) as caught:
            await bob.download(attachment_id, tmp_path / "never.bin")
        # AND the error names the URL without its signature
        assert "/storage/nope" in str(caught.value) and "s=1" not in str(caught.value)
        assert not (tmp_path / "never.bin").exists()

    asyncio.run(scenario())


@pytest.mark.parametrize("name", ["..", ".", "a\\b"])
def test_download_into_a_directory_never_leaves_it(
    http_server: Any, backend: Any, tmp_path: Path, name: str
) -> None:
    # GIVEN an attachment whose name would point outside the directory
    async def scenario() -> None:
        http = await logged_in(http_server)
        created = await http.upload_attachment("dm:alice:bob", b"x", name="x")
        backend.attachments[created["attachmentId"]]["name"] = name
        # WHEN downloaded into a directory THEN it is saved under its id instead
        path = await http.download(created["attachmentId"], tmp_path)
        assert path == tmp_path / created["attachmentId"]

    asyncio.run(scenario())


def test_send_file_and_rich_actions_over_the_websocket(
    http_server: Any, backend: Any, ws_server_cls: Any, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG")

    async def scenario() -> None:
        http = await logged_in(http_server)
        async with (
            ws_server_cls(backend) as server,
            ParleyClient(server.url, http.token_provider) as client,
        ):
            # WHEN alice sends a file to bob, with a caption
            ack = await client.send_file(http, path, to="bob", caption="look")
            # THEN the upload went to the DM and the file body names the attachment
            [attachment_id] = backend.attachments
            assert backend.attachments[attachment_id]["conversationId"] == "dm:alice:bob"
            conv = backend.conversations["dm:alice:bob"]
            assert conv.messages[-1]["body"] == {
                "type": "file",
                "attachmentId": attachment_id,
                "caption": "look",
            }
            assert ack["seq"] == 1
            # WHEN she replies, edits, reacts and deletes
            reply = await client.reply("dm:alice:bob", 1, "hi @bob", mentions=["bob"])
            await client.edit("dm:alice:bob", reply["seq"], "hi bob")
            await client.react("dm:alice:bob", 1, "👍")
            await client.react("dm:alice:bob", 1, "👍", on=False)
            await client.delete("dm:alice:bob", 1)
            # THEN each went out as its §9.1 body
            assert [m["body"]["type"] for m in conv.messages] == [
                "file",
                "text",
                "edit",
                "reaction",
                "reaction",
                "delete",
            ]
            assert conv.messages[1]["body"]["replyTo"] == 1
            # AND her client holds her own messages in their current state
            assert client.message("dm:alice:bob", 2)["body"]["text"] == "hi bob"  # type: ignore[index]
            assert client.message("dm:alice:bob", 1)["body"] == {"type": "deleted"}  # type: ignore[index]
            # WHEN a caption is too long THEN nothing is uploaded
            with pytest.raises(ParleyError) as caught:
                await client.send_file(http, path, to="bob", caption="c" * 1001)
            assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE
            assert len(backend.attachments) == 1
            with pytest.raises(ValueError, match="exactly one"):
                await client.send_file(http, path)
            # AND a file to a conversation id goes there
            await client.send_file(http, b"abc", conversation_id="dm:alice:bob", name="a.txt")
            assert conv.messages[-1]["body"]["type"] == "file"

    asyncio.run(scenario())
