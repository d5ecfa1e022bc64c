"""Fuzzing the two attachment bodies (protocol 9.1 `file`, 9.3 `POST /attachments`) and
the download route with generated input (hypothesis), as tests/integration/test_fuzz.py
fuzzes the rest: every answer is a coded error of the protocol's table or a success, never
3001, and nothing is half-written. A refused announcement stores no record; a refused
`file` send stores no message, takes no seq and leaves every attachment as it was; an
acked one holds exactly one claim (the record `used` by that message's seq).

`PARLEY_FUZZ_EXAMPLES` sets the examples per test (default 300; `make fuzz` 10,000).
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st
from parley import ddb

from tests.integration.conftest import CONTEXT
from tests.integration.test_fuzz import (
    EXAMPLES,
    FUZZ,
    JSON,
    USERS,
    World,
    check_http_reply,
    check_ws_reply,
    conversation_ids,
    fuzz_world,
    raw_bodies,
    stored_messages,
)
from tests.support import events
from tests.support.handlers import load
from tests.support.stack import client

UNKNOWN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
NAMES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["a.txt", "", "a/b", "x" * 255, "x" * 256, "\x00", "\ud800", "ok\u0085"]),
    JSON,
)
TYPES = st.one_of(
    st.sampled_from(
        ["text/plain", "image/png", "text", "a/b/c", "text/plain; q=1", " text/plain", "x" * 300]
    ),
    st.from_regex(r"[a-z0-9!#$&^_.+\-]{1,12}/[a-z0-9!#$&^_.+\-]{1,12}", fullmatch=True),
    st.text(max_size=20),
    JSON,
)
SIZES = st.one_of(
    st.integers(-2, 30 * 1024 * 1024), st.sampled_from([0, 1, 26214400, 26214401, 2**64]), JSON
)


def attachments() -> dict[str, dict[str, Any]]:
    """Every attachment record by id (a Scan: tests only)."""
    table = os.environ["PARLEY_ATTACHMENTS_TABLE"]
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {item["attachmentId"]: item for page in pages for item in ddb.decode_all(page["Items"])}


def announce(world: World, user: str, conversation: str, content: bytes, upload: bool) -> str:
    status, body = world.app.http(
        "http_attachments",
        "POST",
        "/attachments",
        token=world.tokens[user],
        body={
            "conversationId": conversation,
            "name": "f.bin",
            "size": len(content),
            "contentType": "application/octet-stream",
        },
    )
    assert status == 201, body
    if upload:
        form = body["upload"]
        posted = requests.post(
            form["url"], data=form["fields"], files={"file": ("f", content)}, timeout=10
        )
        assert posted.status_code in (200, 201, 204)
    return str(body["attachmentId"])


def test_announcements_and_downloads_answer_every_request_with_a_code() -> None:
    with fuzz_world() as world:
        handler = load("http_attachments").handler
        pending = announce(world, "alice", world.group, b"12345", upload=True)
        bodies = st.fixed_dictionaries(
            {},
            optional={
                "conversationId": conversation_ids(world),
                "name": NAMES,
                "size": SIZES,
                "contentType": TYPES,
                "extra": JSON,
            },
        )
        ids = st.one_of(st.sampled_from([pending, UNKNOWN, "", "x" * 300]), st.text(max_size=40))

        @FUZZ
        @given(
            user=st.sampled_from(USERS),
            request=st.one_of(
                raw_bodies(bodies).map(lambda r: ("POST", r, None)),
                ids.map(lambda i: ("GET", (None, False), i)),
            ),
        )
        def run(user: str, request: tuple[str, tuple[str | None, bool], str | None]) -> None:
            world.examples += 1
            method, (raw, is_base64), attachment_id = request
            route = "/attachments" if method == "POST" else "/attachments/{attachmentId}"
            event = events.http_event(
                method,
                route,
                token=world.tokens[user],
                path={"attachmentId": attachment_id} if attachment_id is not None else None,
            )
            event["body"] = raw
            event["isBase64Encoded"] = is_base64
            status, body = check_http_reply({200, 201}, handler(event, CONTEXT))
            if status == 201:
                created.add(body["attachmentId"])

        created = {pending}
        run()
        # Only the announcements that answered 201 left a record, each a pending one.
        records = attachments()
        assert set(records) == created
        assert all(r["state"] == "pending" and "expiresAt" in r for r in records.values())
        assert world.examples >= EXAMPLES, f"only {world.examples} examples ran"


def test_file_sends_answer_every_frame_with_a_code_and_claim_at_most_once() -> None:
    with fuzz_world() as world:
        handler = load("ws_send").handler
        pool = [
            announce(world, "alice", world.group, b"alice-group", upload=True),
            announce(world, "alice", world.group, b"never", upload=False),
            announce(world, "bob", world.group, b"bob-group", upload=True),
            announce(world, "alice", "dm:alice:bob", b"alice-dm", upload=True),
            announce(world, "alice", "dm:alice:bob", b"alice-dm-2", upload=True),
        ]
        captions = st.one_of(
            st.text(max_size=30), st.sampled_from(["x" * 1000, "x" * 1001, "\ud800"]), JSON
        )
        bodies = st.fixed_dictionaries(
            {
                "type": st.just("file"),
                "attachmentId": st.one_of(
                    st.sampled_from([*pool, UNKNOWN]), st.text(max_size=30), JSON
                ),
            },
            optional={"caption": captions, "extra": JSON},
        )
        frames = st.fixed_dictionaries(
            {
                "action": st.just("send"),
                "clientMsgId": st.one_of(
                    st.sampled_from(["f-1", "f-2", "f-3"]),
                    st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
                ),
                "body": bodies,
            },
            optional={
                "id": st.text(min_size=1, max_size=8),
                "conversationId": st.sampled_from([world.group, "dm:alice:bob", "dm:alice:carol"]),
                "to": st.sampled_from(["bob", "carol"]),
            },
        )

        state = {"records": attachments()}

        @FUZZ
        @given(sender=st.sampled_from(USERS), frame=frames)
        def run(sender: str, frame: dict[str, Any]) -> None:
            world.examples += 1
            # Only the handler writes: the state after the last example is the state before.
            before = state["records"]
            event = events.ws_event("send", user=sender, connection=f"{sender}-conn")
            event["body"] = json.dumps(frame)
            reply = check_ws_reply("send", handler(event, CONTEXT))
            after = state["records"] = attachments()
            claimed = {k for k, v in after.items() if v != before.get(k)}
            if reply is None or reply["type"] != "ack":
                assert not claimed  # a refused send changes no attachment
                return
            seen = world.acked.setdefault(reply["conversationId"], {})
            if reply["seq"] in seen:
                # A retried send: the first ack, and nothing new is claimed.
                assert seen[reply["seq"]] == reply["messageId"] and not claimed
                return
            seen[reply["seq"]] = reply["messageId"]
            [attachment] = claimed
            record = after[attachment]
            assert record["state"] == "used" and "expiresAt" not in record
            assert record["seq"] == reply["seq"] and record["uploaderId"] == sender
            assert record["conversationId"] == reply["conversationId"]

        run()
        # Exactly the acked messages exist: a refused send stored nothing and took no seq.
        assert stored_messages() == world.acked
        used = [r for r in attachments().values() if r["state"] == "used"]
        assert len({(r["conversationId"], r["seq"]) for r in used}) == len(used)
        assert world.examples >= EXAMPLES, f"only {world.examples} examples ran"
