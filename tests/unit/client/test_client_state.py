"""Current state (protocol 1.1 §9.2): MessageStore's rules and the core delivering updates."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parley_client import ClientCore, ClientOptions, MessageStore
from parley_client.core import Deliver, Reply
from parley_client.state import Updated

CONV = "grp:1"


def msg(seq: int, body: dict[str, Any], sender: str = "alice", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "conversationId": CONV,
        "seq": seq,
        "messageId": f"m{seq}",
        "senderId": sender,
        "clientMsgId": f"c{seq}",
        "body": body,
        "ts": 1000 + seq,
        **extra,
    }


def text(seq: int, words: str = "hello", sender: str = "alice", **extra: Any) -> dict[str, Any]:
    return msg(seq, {"type": "text", "text": words}, sender, **extra)


def edit(seq: int, target: int, words: str, sender: str = "alice") -> dict[str, Any]:
    return msg(seq, {"type": "edit", "target": target, "text": words}, sender)


def delete(seq: int, target: int, sender: str = "alice") -> dict[str, Any]:
    return msg(seq, {"type": "delete", "target": target}, sender)


def react(seq: int, target: int, key: str, sender: str, on: bool = True) -> dict[str, Any]:
    return msg(seq, {"type": "reaction", "target": target, "key": key, "on": on}, sender)


# ------------------------------------------------------------------- edits


def test_an_edit_replaces_the_text_and_sets_edited() -> None:
    # GIVEN a held text message
    store = MessageStore()
    assert store.add(text(1, "helo")) == []
    # WHEN an edit of it arrives
    [update] = store.add(edit(2, 1, "hello"))
    # THEN the target reads the new text with edited {seq, ts}, reported as one update
    assert update.seq == 1 and update.event["seq"] == 2
    current = store.get(CONV, 1)
    assert current is not None
    assert current["body"] == {"type": "text", "text": "hello"}
    assert current["edited"] == {"seq": 2, "ts": 1002}
    assert update.message == current
    # AND the edit event itself is held as a message too
    assert store.holds(CONV, 2)
    # AND a copy handed out does not change what is held
    current["body"]["text"] = "tampered"
    assert store.get(CONV, 1)["body"]["text"] == "hello"  # type: ignore[index]


def test_an_older_edit_or_an_edit_of_a_non_text_message_changes_nothing() -> None:
    # GIVEN a synced message that already shows its edit at seq 5
    store = MessageStore()
    store.add(text(1, "newest", edited={"seq": 5, "ts": 9}))
    # WHEN the older edit at seq 3, and the same edit at seq 5, arrive
    # THEN neither changes it
    assert store.add(edit(3, 1, "older")) == []
    assert store.add(edit(5, 1, "newest")) == []
    assert store.get(CONV, 1)["body"]["text"] == "newest"  # type: ignore[index]
    # AND an edit of a custom message changes nothing
    store.add(msg(6, {"type": "custom", "data": {"x": 1}}))
    assert store.add(edit(7, 6, "nope")) == []
    assert store.get(CONV, 6)["body"] == {"type": "custom", "data": {"x": 1}}  # type: ignore[index]


# ----------------------------------------------------------------- deletes


def test_a_delete_erases_the_target_and_the_text_of_its_edits() -> None:
    # GIVEN a held reply with mentions, edited once, with a reaction
    store = MessageStore()
    store.add(
        msg(1, {"type": "text", "text": "secret", "replyTo": 0 + 1, "mentions": ["bob"]}, "alice")
    )
    store.add(edit(2, 1, "more secret"))
    store.add(react(3, 1, "👍", "bob"))
    # WHEN bob (a group admin) deletes it
    updates = store.add(delete(4, 1, sender="bob"))
    # THEN the target reads deleted, by bob, with nothing of its text
    current = store.get(CONV, 1)
    assert current is not None
    assert current["body"] == {"type": "deleted"}
    assert current["deleted"] == {"seq": 4, "ts": 1004, "by": "bob"}
    assert "secret" not in json.dumps(current)
    # AND the held edit lost its text
    assert store.get(CONV, 2)["body"] == {"type": "edit", "target": 1}  # type: ignore[index]
    assert sorted(u.seq for u in updates) == [1, 2]
    # AND nothing held anywhere still says "secret"
    assert "secret" not in json.dumps(store.messages(CONV))


def test_a_delete_erases_a_file_and_its_caption() -> None:
    # GIVEN a held file message
    store = MessageStore()
    body = {
        "type": "file",
        "attachmentId": "a1",
        "name": "plan.pdf",
        "size": 3,
        "contentType": "application/pdf",
        "caption": "the plan",
    }
    store.add(msg(1, body))
    # WHEN it is deleted THEN no name, caption or attachment id is left
    store.add(delete(2, 1))
    assert store.get(CONV, 1)["body"] == {"type": "deleted"}  # type: ignore[index]
    # AND a second delete, an edit or a reaction on it change nothing
    assert store.add(delete(3, 1)) == []
    assert store.add(react(4, 1, "👍", "bob")) == []
    assert store.get(CONV, 1)["deleted"]["seq"] == 2  # type: ignore[index]


def test_a_synced_deleted_target_is_not_deleted_again() -> None:
    # GIVEN a message synced as already deleted
    store = MessageStore()
    store.add(msg(1, {"type": "deleted"}, deleted={"seq": 2, "ts": 5, "by": "alice"}))
    # WHEN the delete event and an old edit come after it THEN nothing changes
    assert store.add(delete(2, 1)) == []
    assert store.add(msg(3, {"type": "edit", "target": 1})) == []
    assert store.get(CONV, 1)["deleted"] == {"seq": 2, "ts": 5, "by": "alice"}  # type: ignore[index]


# --------------------------------------------------------------- reactions


def test_reactions_add_and_remove_the_sender_and_empty_keys_disappear() -> None:
    # GIVEN a held message
    store = MessageStore()
    store.add(text(1))
    # WHEN bob and carol react 👍 and alice reacts ❤️
    store.add(react(2, 1, "👍", "bob"))
    store.add(react(3, 1, "👍", "carol"))
    [update] = store.add(react(4, 1, "❤️", "alice"))
    # THEN each key lists its users in order
    assert update.message["reactions"] == {"👍": ["bob", "carol"], "❤️": ["alice"]}
    # WHEN bob and alice take theirs back
    store.add(react(5, 1, "👍", "bob", on=False))
    store.add(react(6, 1, "❤️", "alice", on=False))
    # THEN ❤️ is gone and 👍 keeps carol
    assert store.get(CONV, 1)["reactions"] == {"👍": ["carol"]}  # type: ignore[index]
    # WHEN carol takes hers back THEN the message has no reactions field at all
    store.add(react(7, 1, "👍", "carol", on=False))
    assert "reactions" not in store.get(CONV, 1)  # type: ignore[operator]


def test_a_reaction_already_shown_by_a_synced_target_changes_nothing() -> None:
    # GIVEN a synced message showing bob's 👍
    store = MessageStore()
    store.add(text(1, reactions={"👍": ["bob"]}))
    # WHEN bob's 👍 event, and a removal by carol who never reacted, arrive
    # THEN nothing changes and nothing is reported
    assert store.add(react(2, 1, "👍", "bob")) == []
    assert store.add(react(3, 1, "👍", "carol", on=False)) == []
    assert store.get(CONV, 1)["reactions"] == {"👍": ["bob"]}  # type: ignore[index]


# ------------------------------------------------------------ idempotency


def test_an_event_applied_twice_changes_nothing_the_second_time() -> None:
    # GIVEN a reaction on, off, and the "on" event again (a repeat from history)
    store = MessageStore()
    store.add(text(1))
    store.add(react(2, 1, "👍", "bob"))
    store.add(react(3, 1, "👍", "bob", on=False))
    # WHEN the same events (same seqs) are added again
    assert store.add(react(2, 1, "👍", "bob")) == []
    assert store.add(edit(4, 1, "x")) != []
    assert store.add(edit(4, 1, "x")) == []
    # THEN the state is as after the first pass
    current = store.get(CONV, 1)
    assert current is not None and "reactions" not in current
    assert current["edited"]["seq"] == 4


def test_a_repeat_of_a_held_message_with_newer_state_updates_it() -> None:
    # GIVEN a held message
    store = MessageStore()
    store.add(text(1, "v1"))
    # WHEN a history page brings it again, edited at seq 9
    [update] = store.add(text(1, "v2", edited={"seq": 9, "ts": 99}))
    # THEN the newer text is taken; the same copy again, or an older one, changes nothing
    assert update.message["body"]["text"] == "v2"
    assert store.add(text(1, "v2", edited={"seq": 9, "ts": 99})) == []
    assert store.add(text(1, "v1")) == []
    # WHEN it comes back deleted THEN it reads deleted
    [update] = store.add(msg(1, {"type": "deleted"}, deleted={"seq": 10, "ts": 1, "by": "a"}))
    assert update.message["body"] == {"type": "deleted"}


# -------------------------------------------------------------- ordering


def test_an_event_before_its_target_is_kept_and_applied_when_the_target_arrives() -> None:
    # GIVEN events whose target (seq 1) is not held
    store = MessageStore()
    assert store.add(edit(3, 1, "late edit")) == []
    assert store.add(react(4, 1, "👍", "bob")) == []
    assert [e["seq"] for e in store.pending_events(CONV)] == [3, 4]
    assert store.get(CONV, 1) is None
    # WHEN the target arrives (e.g. from a history page)
    updates = store.add_all([text(1, "first")])
    # THEN both events are applied, in seq order, and no longer pending
    current = store.get(CONV, 1)
    assert current is not None
    assert current["body"]["text"] == "late edit"
    assert current["reactions"] == {"👍": ["bob"]}
    assert [u.event["seq"] for u in updates] == [3, 4]
    assert store.pending_events(CONV) == []


def test_a_delete_erases_the_text_of_pending_edits_too() -> None:
    # GIVEN an edit and a delete of a target that is not held
    store = MessageStore()
    store.add(edit(2, 1, "hidden"))
    store.add(delete(3, 1))
    # WHEN the delete arrives before the target THEN the kept edit loses its text
    # once the target arrives
    store.add(text(1, "original"))
    assert "hidden" not in json.dumps(store.pending_events(CONV) + store.messages(CONV))
    assert store.get(CONV, 1)["body"] == {"type": "deleted"}  # type: ignore[index]


# ----------------------------------------------------------------- bounds


def test_each_conversation_holds_at_most_limit_messages_and_events() -> None:
    # GIVEN a store holding 3 per conversation
    store = MessageStore(limit=3)
    for seq in range(1, 6):
        store.add(text(seq))
    store.add({**text(1), "conversationId": "other"})
    # THEN the lowest seqs were forgotten, per conversation
    assert [m["seq"] for m in store.messages(CONV)] == [3, 4, 5]
    assert [m["seq"] for m in store.messages("other")] == [1]
    # AND an event on a forgotten message is only kept, as pending
    assert store.add(edit(6, 1, "x")) == []
    for seq in range(7, 11):
        store.add(react(seq, 100 + seq, "👍", "bob"))
    assert len(store.pending_events(CONV)) == 3
    # AND forget() drops a conversation, or everything
    store.forget(CONV)
    assert store.messages(CONV) == [] and store.messages("other") != []
    store.forget()
    assert store.messages("other") == []


def test_limit_zero_holds_nothing_and_bad_messages_are_ignored() -> None:
    # GIVEN a store that holds nothing THEN adding changes nothing
    assert MessageStore(limit=0).add(text(1)) == []
    with pytest.raises(ValueError, match="limit"):
        MessageStore(limit=-1)
    # AND messages without a conversation or an integer seq are ignored
    store = MessageStore()
    assert store.add({"type": "message", "seq": 1}) == []
    assert store.add({**text(1), "seq": True}) == []
    assert store.messages(CONV) == []
    # AND events with a malformed body field change nothing
    store.add(text(1))
    assert store.add(msg(2, {"type": "reaction", "target": 1, "key": 5, "on": True}, "b")) == []
    assert store.add(msg(3, {"type": "edit", "target": 1})) == []


def test_updated_as_event() -> None:
    # GIVEN an Updated WHEN turned into the app's event THEN it names the message and event
    update = Updated(CONV, 1, {"seq": 1}, {"seq": 2})
    assert update.as_event() == {
        "type": "updated",
        "conversationId": CONV,
        "seq": 1,
        "message": {"seq": 1},
        "event": {"seq": 2},
    }


# ------------------------------------------------------------------- core


def core_as(user: str = "alice", **options: Any) -> ClientCore:
    core = ClientCore(ClientOptions(**options), rng=random.Random(1), id_prefix="t")
    core.token_presented(f"h.{_b64({'sub': user, 'exp': 4_000_000_000})}.s")
    return core


def _b64(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


def test_the_core_delivers_an_updated_event_after_an_event_on_a_held_message() -> None:
    # GIVEN a core that delivered message 1
    core = core_as()
    core.receive_data(json.dumps(text(1, "hi", sender="bob")))
    assert [o.event["seq"] for o in core.events_received() if isinstance(o, Deliver)] == [1]
    # WHEN bob's edit is pushed
    core.receive_data(json.dumps(edit(2, 1, "hi all", sender="bob")))
    # THEN the edit is delivered, then an updated event with message 1's current state
    first, second = core.events_received()
    assert isinstance(first, Deliver) and first.event["seq"] == 2
    assert isinstance(second, Deliver) and second.event["type"] == "updated"
    assert second.event["message"]["body"]["text"] == "hi all"
    assert core.messages.get(CONV, 1)["edited"]["seq"] == 2  # type: ignore[index]


def test_the_core_holds_its_own_acked_sends_and_applies_its_own_events() -> None:
    # GIVEN alice's core sent a text, acked at seq 1
    core = core_as("alice", max_held_messages=10)
    pending = core.begin_send("typo", conversation_id=CONV)
    core.send_acked(pending, {"type": "ack", "conversationId": CONV, "seq": 1, "ts": 5})
    held = core.messages.get(CONV, 1)
    assert held is not None
    assert (held["senderId"], held["body"], held["ts"]) == (
        "alice",
        {"type": "text", "text": "typo"},
        5,
    )
    assert core.events_received() == []  # own sends are not delivered
    # WHEN she edits it and the edit is acked at seq 2
    pending = core.begin_send({"type": "edit", "target": 1, "text": "fixed"}, conversation_id=CONV)
    core.send_acked(pending, {"type": "ack", "conversationId": CONV, "seq": 2, "ts": 6})
    # THEN her held message reads the new text and the app gets the update
    [update] = core.events_received()
    assert isinstance(update, Deliver) and update.event["type"] == "updated"
    assert update.event["message"]["body"]["text"] == "fixed"


def test_sync_replies_pass_through_the_store() -> None:
    # GIVEN a sync bringing a message already edited, then its (older) edit event
    core = core_as()
    run = core.begin_sync()
    out = core.request(core.sync_frame(run))
    reply = {
        "type": "sync",
        "id": out.request_id,
        "complete": True,
        "conversations": [
            {
                "conversationId": CONV,
                "type": "group",
                "lastSeq": 2,
                "readSeq": 0,
                "hasMore": False,
                "messages": [
                    text(1, "v2", edited={"seq": 2, "ts": 3}),
                    edit(2, 1, "v2"),
                ],
            }
        ],
    }
    core.receive_data(json.dumps(reply))
    [answer] = core.events_received()
    assert isinstance(answer, Reply)
    # WHEN the reply is applied THEN both are delivered and no update is made up
    assert core.sync_replied(run, answer.frame) is None
    delivered = [o.event for o in core.events_received() if isinstance(o, Deliver)]
    assert [(e["type"], e["seq"]) for e in delivered] == [("message", 1), ("message", 2)]
    assert core.messages.get(CONV, 1)["body"]["text"] == "v2"  # type: ignore[index]


def test_max_held_messages_is_validated() -> None:
    # GIVEN/WHEN a negative bound THEN the options refuse it
    with pytest.raises(ValueError, match="max_held_messages"):
        ClientOptions(max_held_messages=-1)


# -------------------------------------------------------------- properties

_events = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.integers(1, 3), st.sampled_from(["a", "b"])),
        st.tuples(st.just("delete"), st.integers(1, 3), st.just("")),
        st.tuples(
            st.just("reaction"),
            st.integers(1, 3),
            st.tuples(
                st.sampled_from(["👍", "🎉"]), st.sampled_from(["bob", "eve"]), st.booleans()
            ),
        ),
    ),
    max_size=12,
)


def _event_messages(spec: list[tuple[str, int, Any]]) -> list[dict[str, Any]]:
    out = []
    for offset, (kind, target, extra) in enumerate(spec):
        seq = 4 + offset
        if kind == "edit":
            out.append(edit(seq, target, f"{extra}{seq}"))
        elif kind == "delete":
            out.append(delete(seq, target))
        else:
            key, user, on = extra
            out.append(react(seq, target, key, user, on))
    return out


@settings(max_examples=200, deadline=None)
@given(spec=_events, split=st.integers(0, 12))
def test_state_is_the_same_whatever_repeats_or_early_events(
    spec: list[tuple[str, int, Any]], split: int
) -> None:
    # GIVEN three text messages and any run of events on them, applied in order
    targets = [text(seq, f"t{seq}") for seq in (1, 2, 3)]
    events = _event_messages(spec)
    reference = MessageStore()
    reference.add_all(targets + events)
    # WHEN another store gets everything twice over (repeats, as after a re-sync)
    repeated = MessageStore()
    repeated.add_all(targets + events)
    assert repeated.add_all(targets + events) == []
    # AND a third gets the first events before their targets (out of order)
    early = MessageStore()
    early.add_all(events[:split] + targets + events[split:])
    # THEN all three hold the same current state
    assert repeated.messages(CONV) == reference.messages(CONV)
    assert early.messages(CONV) == reference.messages(CONV)
