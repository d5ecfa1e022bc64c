"""End to end: a file announced, uploaded with a real multipart POST to the presigned form,
sent as a `file` message and downloaded, through the local cloud of `template.yaml`; and
storage refusing an upload of another size, as S3 does."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import requests
from parley_local import LocalCloud

from tests.e2e.helpers import TIMEOUT, connect_all, run, sign_up, sign_up_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


class Api:
    """Plain HTTP with one user's token (any HTTP client can use the forms and links)."""

    def __init__(self, cloud: LocalCloud, token: str) -> None:
        self.base = cloud.http_url
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = requests.request(
            method,
            self.base + path,
            json=body,
            headers={"authorization": f"Bearer {self.token}"},
            timeout=TIMEOUT,
        )
        return response.status_code, response.json() if response.content else None


def signed_in(cloud: LocalCloud, prefix: str) -> Api:
    return Api(cloud, run(sign_up(cloud, prefix)).token)


def test_a_file_goes_up_through_the_form_and_down_through_the_link(cloud: LocalCloud) -> None:
    async def scenario() -> None:
        # GIVEN alice and bob in a group
        alice, bob = await sign_up_all(cloud, "alice", "bob")
        group = await alice.http.create_group("files", [bob.user_id])
        conversation = str(group["conversationId"])
        content = "naïve résumé\n".encode() * 100
        as_alice, as_bob = Api(cloud, alice.token), Api(cloud, bob.token)

        # WHEN alice announces a file and uploads it as multipart/form-data (any client)
        status, created = as_alice.call(
            "POST",
            "/attachments",
            {
                "conversationId": conversation,
                "name": "résumé.txt",
                "size": len(content),
                "contentType": "text/plain",
            },
        )
        assert status == 201, created
        attachment = created["attachmentId"]
        upload = created["upload"]
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("x", content)}, timeout=TIMEOUT
        )
        assert posted.status_code in (200, 201, 204), posted.text
        # THEN bob may not download it while no message carries it
        status, refused = as_bob.call("GET", f"/attachments/{attachment}")
        assert (status, refused["code"]) == (403, 1004)

        # WHEN she sends it as a file message
        async with contextlib.AsyncExitStack() as stack:
            (client,) = await connect_all(stack, alice.client())
            ack = await client.send(
                {"type": "file", "attachmentId": attachment, "caption": "cv"},
                conversation_id=conversation,
            )
            assert ack["seq"] >= 1

        # THEN bob downloads it through a short link, with its name and type
        status, found = as_bob.call("GET", f"/attachments/{attachment}")
        assert status == 200, found
        assert found["size"] == len(content) and found["expiresIn"] <= 300
        got = requests.get(found["url"], timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"].startswith("text/plain")
        assert "filename*=UTF-8''r%C3%A9sum%C3%A9.txt" in got.headers["content-disposition"]
        # AND the stored message carries the file's fields
        history = await bob.http.history(conversation)
        [message] = [m for m in history["messages"] if m["body"]["type"] == "file"]
        assert message["body"] == {
            "type": "file",
            "attachmentId": attachment,
            "name": "résumé.txt",
            "size": len(content),
            "contentType": "text/plain",
            "caption": "cv",
        }

    run(scenario())


@pytest.mark.parametrize(
    ("size", "status", "code"), [(6, 400, "EntityTooLarge"), (4, 400, "EntityTooSmall")]
)
def test_storage_refuses_another_size_as_s3_does(
    cloud: LocalCloud, size: int, status: int, code: str
) -> None:
    alice = signed_in(cloud, "alice")
    _, group = alice.call("POST", "/groups", {"name": "files", "members": []})
    _, created = alice.call(
        "POST",
        "/attachments",
        {
            "conversationId": group["conversationId"],
            "name": "five.bin",
            "size": 5,
            "contentType": "application/octet-stream",
        },
    )
    upload = created["upload"]
    posted = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("x", b"x" * size)}, timeout=TIMEOUT
    )
    assert posted.status_code == status and f"<Code>{code}</Code>" in posted.text
    # AND nothing was stored: the file message would answer "not uploaded"
    status_, found = alice.call("GET", f"/attachments/{created['attachmentId']}")
    assert status_ == 200
    # (S3 answers a missing key 403 to a signer without s3:ListBucket, as here)
    assert requests.get(found["url"], timeout=TIMEOUT).status_code in (403, 404)


def test_a_changed_content_type_is_access_denied(cloud: LocalCloud) -> None:
    alice = signed_in(cloud, "alice")
    _, group = alice.call("POST", "/groups", {"name": "files", "members": []})
    _, created = alice.call(
        "POST",
        "/attachments",
        {
            "conversationId": group["conversationId"],
            "name": "page.txt",
            "size": 5,
            "contentType": "text/plain",
        },
    )
    fields = {**created["upload"]["fields"], "Content-Type": "text/html"}
    posted = requests.post(
        created["upload"]["url"], data=fields, files={"file": ("x", b"<b>x!")}, timeout=TIMEOUT
    )
    assert posted.status_code == 403 and "<Code>AccessDenied</Code>" in posted.text
