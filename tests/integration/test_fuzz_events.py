"""Fuzzing the rich-message bodies (protocol 9.1) through the real `send` handler on moto.

Each kind (edit, delete, reaction, and text with replyTo and mentions) gets its own run of
`PARLEY_FUZZ_EXAMPLES` examples (300 in `make test`, 10,000 in `make fuzz`), against one
stack seeded with text, custom and file-free messages from several senders. Bodies are near
the shape (targets around the stored seqs, keys at and past 32 bytes, control characters,
junk in every field). For every example: the answer is an ack or a client error code, never
3001; an ack is a new seq (or the first copy of a retried clientMsgId); a refusal takes no
seq and leaves the targeted message exactly as it was (the event's put and its target's
update are one transaction).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from parley import ddb, runtime

from tests.integration.conftest import CONTEXT
from tests.integration.test_fuzz import (
    CLIENT_IDS,
    EXAMPLES,
    FUZZ,
    JSON,
    TEXTS,
    USERS,
    World,
    check_ws_reply,
    fuzz_world,
)
from tests.support import events
from tests.support.handlers import load

KINDS = ["edit", "delete", "reaction", "reply"]


def _seed(world: World) -> int:
    """Text from alice and bob and a custom message in the group; the newest seq."""
    for i, (user, body) in enumerate(
        [
            ("alice", {"type": "text", "text": "one"}),
            ("bob", {"type": "text", "text": "two"}),
            ("alice", {"type": "custom", "data": {"k": 1}}),
            ("bob", {"type": "text", "text": "three"}),
        ]
    ):
        frame = {
            "action": "send",
            "conversationId": world.group,
            "clientMsgId": f"seed-{i}",
            "body": body,
        }
        reply = world.app.frame("send", frame, user=user, connection=f"{user}-conn")
        assert reply is not None and reply["type"] == "ack", reply
    return runtime.messages().last_seq(world.group)


def _item(world: World, seq: Any) -> Any:
    """The stored item at `seq` in the group (every attribute), or None."""
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= 2**53:
        return None
    found = boto3.client("dynamodb").get_item(
        TableName=world.app.stack.tables["MessagesTable"],
        Key=ddb.key(conversationId=world.group, seq=seq),
        ConsistentRead=True,
    )
    return found.get("Item")


def bodies(kind: str, newest: int) -> st.SearchStrategy[Any]:
    """A valid body of `kind` about a third of the time; otherwise one field dropped or
    junk, a reference past the log, or not a body at all."""
    near = st.integers(1, newest + 3)
    valid: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "edit": {"target": near, "text": st.text(min_size=1, max_size=20)},
        "delete": {"target": near},
        "reaction": {
            "target": near,
            "key": st.sampled_from(["+1", "👍", "ok", "x" * 32, "é" * 16]),
            "on": st.booleans(),
        },
        "reply": {
            "text": st.text(min_size=1, max_size=20),
            "replyTo": st.integers(1, newest),
            "mentions": st.lists(st.sampled_from(["alice", "bob"]), min_size=1, unique=True),
        },
    }[kind]
    junk: dict[str, st.SearchStrategy[Any]] = {
        # Beyond any seq the run reaches (the log grows as examples are acked): 2003.
        "target": st.one_of(
            st.integers(-1, newest + 40),
            st.integers(10**6, 2**53),
            st.sampled_from([0, 2**53 + 1]),
            JSON,
        ),
        "text": TEXTS,
        "replyTo": st.one_of(st.integers(-1, newest + 40), st.integers(10**6, 2**53), JSON),
        "key": st.one_of(
            st.sampled_from(["x" * 33, "é" * 17, "a\x00", "\u0085", ""]), st.text(), JSON
        ),
        "on": JSON,
        "mentions": st.one_of(
            st.lists(st.sampled_from([*USERS, "ghost", "Alice"]), max_size=52), JSON
        ),
        "type": JSON,
    }
    tag = "text" if kind == "reply" else kind
    base = st.fixed_dictionaries({"type": st.just(tag), **valid})
    names = sorted(["type", *valid])

    def spoil(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
        name = data.draw(st.sampled_from(names))
        if data.draw(st.booleans()):
            body.pop(name)
        else:
            body[name] = data.draw(junk[name])
        return body

    spoiled = st.builds(spoil, base, st.data())
    # A valid body whose reference is past the log (which grows as examples are acked): 2003.
    field = "replyTo" if kind == "reply" else "target"
    far = st.builds(lambda b, seq: {**b, field: seq}, base, st.integers(10**6, 2**53))
    return st.one_of(base, base, spoiled, spoiled, far, JSON)


@pytest.mark.parametrize("kind", KINDS)
def test_rich_bodies_never_answer_3001_nor_half_write(kind: str) -> None:
    with fuzz_world() as world:
        newest = _seed(world)
        handler = load("ws_send").handler
        acked: dict[int, str] = {}
        codes: set[int] = set()

        @FUZZ
        @given(
            # Mostly the group's members (carol is outside it: 1004).
            sender=st.sampled_from(["alice", "bob", "alice", "bob", "carol"]),
            # Mostly fresh ids; some repeated (retries), some junk.
            client_id=st.one_of(
                st.uuids().map(str), st.sampled_from(["dup-1", "dup-2"]), CLIENT_IDS
            ),
            body=bodies(kind, newest),
        )
        def run(sender: str, client_id: Any, body: Any) -> None:
            world.examples += 1
            frame = {
                "action": "send",
                "conversationId": world.group,
                "clientMsgId": client_id,
                "body": body,
            }
            target = body.get("target", body.get("replyTo")) if isinstance(body, dict) else None
            before_item = _item(world, target)
            before_last = runtime.messages().last_seq(world.group)
            event = events.ws_event("send", user=sender, connection=f"{sender}-conn")
            event["body"] = json.dumps(frame)
            reply = check_ws_reply("send", handler(event, CONTEXT))
            assert reply is not None
            if reply["type"] == "ack":
                # A new seq just above the last, or the first copy of a retried one.
                seq = reply["seq"]
                assert acked.setdefault(seq, reply["messageId"]) == reply["messageId"]
                assert seq <= before_last + 1
                return
            codes.add(reply["code"])
            # Refused: no seq taken, the target untouched.
            assert runtime.messages().last_seq(world.group) == before_last, (frame, reply)
            assert _item(world, target) == before_item, (frame, reply)

        run()
        assert world.examples >= EXAMPLES, f"only {world.examples} examples ran"
        # The examples reached the rules, not only the validation: some were stored, and
        # refusals came from the target checks as well as from the shape.
        assert acked and 1001 in codes and 2003 in codes, (len(acked), codes)
        # Every acked event is stored at its seq, and seqs have no gap.
        last = runtime.messages().last_seq(world.group)
        page, _ = runtime.messages().after_with_own(world.group, 0, last + 1, consistent=True)
        assert [m["seq"] for m in page] == list(range(1, last + 1))
