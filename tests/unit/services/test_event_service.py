"""Events (protocol 9.1-9.2) through MessageService with the in-memory fakes: edit, delete and
reaction, their refusals (which store nothing and take no seq), the current state they leave
on their targets, replies and mentions, and the running count behind unread."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.errors import Forbidden, InvalidParam, NotFound, ParleyError
from parley.models import SendFrame, parse_frame
from parley.ports import Change
from parley.records import Message
from parley.services.events import MAX_EDITS, MAX_REACTION_KEYS

from tests.unit.services.conftest import World

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
DM = "dm:alice:bob"


def frame(body: dict[str, Any], client_id: str, conversation: str = GROUP) -> SendFrame:
    parsed = parse_frame(
        json.dumps(
            {
                "action": "send",
                "conversationId": conversation,
                "clientMsgId": client_id,
                "body": body,
            }
        )
    )
    assert isinstance(parsed, SendFrame)
    return parsed


class Chat:
    """A conversation of the world, with one method per body kind."""

    def __init__(self, world: World, conversation: str = GROUP) -> None:
        self.world = world
        self.conversation = conversation
        self.count = 0

    def _send(self, user: str, body: dict[str, Any], client_id: str | None = None) -> Message:
        self.count += 1
        cid = client_id or f"{user}-{self.count}"
        return self.world.messages.send(user, frame(body, cid, self.conversation)).message

    def text(self, user: str, text: str = "hello", **extra: Any) -> Message:
        return self._send(user, {"type": "text", "text": text, **extra})

    def edit(self, user: str, target: int, text: str, client_id: str | None = None) -> Message:
        return self._send(user, {"type": "edit", "target": target, "text": text}, client_id)

    def delete(self, user: str, target: int, client_id: str | None = None) -> Message:
        return self._send(user, {"type": "delete", "target": target}, client_id)

    def react(
        self, user: str, target: int, key: str = "+1", on: bool = True, client_id: str | None = None
    ) -> Message:
        body = {"type": "reaction", "target": target, "key": key, "on": on}
        return self._send(user, body, client_id)

    def stored(self, seq: int) -> Message:
        found = self.world.repos.messages.get(self.conversation, seq)
        assert found is not None
        return found

    def seqs(self) -> list[int]:
        return self.world.repos.messages.seqs(self.conversation)


@pytest.fixture
def chat(world: World) -> Chat:
    world.repos.add_conversation(GROUP, name="team")
    world.repos.add_member(GROUP, "alice", role="owner")
    world.repos.add_member(GROUP, "bob")
    world.repos.add_member(GROUP, "carol")
    world.repos.add_member(GROUP, "dave", role="admin")
    return Chat(world)


def refused(chat: Chat, code: type[ParleyError], send: Any) -> ParleyError:
    """`send` fails with `code` and leaves every stored message as it was."""
    before = {s: chat.stored(s) for s in chat.seqs()}
    with pytest.raises(code) as raised:
        send()
    assert {s: chat.stored(s) for s in chat.seqs()} == before
    return raised.value


# ---- edit ------------------------------------------------------------------------------------


def test_an_edit_is_a_message_of_its_own_and_changes_its_target(chat: Chat) -> None:
    # GIVEN alice's text message
    original = chat.text("alice", "helo")
    chat.world.clock.advance(5)
    # WHEN she edits it
    edit = chat.edit("alice", original["seq"], "hello")
    # THEN the edit has the next seq and its own body; the target shows the newest text
    # and `edited` (the edit's seq and ts)
    assert edit["seq"] == original["seq"] + 1
    assert edit["body"] == {"type": "edit", "target": original["seq"], "text": "hello"}
    target = chat.stored(original["seq"])
    assert target["body"] == {"type": "text", "text": "hello"}
    assert target["edited"] == {"seq": edit["seq"], "ts": edit["ts"]}
    # AND a second edit moves `edited` on
    again = chat.edit("alice", original["seq"], "hello!")
    assert chat.stored(original["seq"])["edited"]["seq"] == again["seq"]
    assert chat.stored(original["seq"])["body"]["text"] == "hello!"


def test_an_edit_keeps_the_reply_and_mentions_of_its_target(chat: Chat) -> None:
    # GIVEN a reply with a mention
    first = chat.text("bob")
    reply = chat.text("alice", "hi @bob", replyTo=first["seq"], mentions=["bob"])
    # WHEN it is edited
    chat.edit("alice", reply["seq"], "hi @bob!")
    # THEN only the text changed
    assert chat.stored(reply["seq"])["body"] == {
        "type": "text",
        "text": "hi @bob!",
        "replyTo": first["seq"],
        "mentions": ["bob"],
    }


def test_edit_refusals(chat: Chat) -> None:
    # GIVEN messages of several kinds
    bobs = chat.text("bob")
    custom = chat._send("alice", {"type": "custom", "data": {"x": 1}})
    mine = chat.text("alice")
    edit = chat.edit("alice", mine["seq"], "changed")
    gone = chat.text("alice")
    chat.delete("alice", gone["seq"])
    # WHEN alice edits each wrongly THEN: another's 1004; not text, an event or deleted 1001;
    # a seq that does not exist 2003; nothing is stored and no seq taken by any of them
    refused(chat, Forbidden, lambda: chat.edit("alice", bobs["seq"], "x"))
    refused(chat, InvalidParam, lambda: chat.edit("alice", custom["seq"], "x"))
    refused(chat, InvalidParam, lambda: chat.edit("alice", edit["seq"], "x"))
    refused(chat, InvalidParam, lambda: chat.edit("alice", gone["seq"], "x"))
    refused(chat, NotFound, lambda: chat.edit("alice", 999, "x"))


def test_a_message_takes_a_bounded_number_of_edits(chat: Chat) -> None:
    # GIVEN a message edited the most times a delete can still erase in one transaction
    mine = chat.text("alice")
    for i in range(MAX_EDITS):
        chat.edit("alice", mine["seq"], f"v{i}")
    # WHEN it is edited once more THEN 1001, and it can still be deleted (erasing them all)
    refused(chat, InvalidParam, lambda: chat.edit("alice", mine["seq"], "too many"))
    chat.delete("alice", mine["seq"])
    edits = [chat.stored(s) for s in range(mine["seq"] + 1, mine["seq"] + 1 + MAX_EDITS)]
    assert all(m["body"] == {"type": "edit", "target": mine["seq"]} for m in edits)


# ---- delete ----------------------------------------------------------------------------------


def test_a_delete_erases_the_text_of_its_target_and_of_every_edit(chat: Chat) -> None:
    # GIVEN a message with two edits and a reaction
    mine = chat.text("alice", "secret one", mentions=["bob"])
    first = chat.edit("alice", mine["seq"], "secret two")
    second = chat.edit("alice", mine["seq"], "secret three")
    chat.react("bob", mine["seq"])
    # WHEN alice deletes it
    delete = chat.delete("alice", mine["seq"])
    # THEN the target reads deleted (who and when), with no text, edit or reaction left
    target = chat.stored(mine["seq"])
    assert target["body"] == {"type": "deleted"}
    assert target["deleted"] == {"seq": delete["seq"], "ts": delete["ts"], "by": "alice"}
    assert "edited" not in target and "reactions" not in target
    # AND the edits keep only their target
    for edit in (first, second):
        assert chat.stored(edit["seq"])["body"] == {"type": "edit", "target": mine["seq"]}
    # AND no stored item anywhere holds the secret any more
    dump = json.dumps(chat.world.repos.store.messages[GROUP], default=str)
    assert "secret" not in dump


def test_who_may_delete(chat: Chat) -> None:
    # GIVEN messages of bob's
    one, two, three = chat.text("bob"), chat.text("bob"), chat.text("bob")
    # WHEN another member deletes one THEN 1004
    refused(chat, Forbidden, lambda: chat.delete("carol", one["seq"]))
    # WHEN the group's owner or an admin deletes one THEN it is deleted, `by` them
    chat.delete("alice", one["seq"])
    chat.delete("dave", two["seq"])
    assert chat.stored(one["seq"])["deleted"]["by"] == "alice"
    assert chat.stored(two["seq"])["deleted"]["by"] == "dave"
    # AND bob himself may
    chat.delete("bob", three["seq"])


def test_delete_refusals(chat: Chat) -> None:
    # GIVEN a deleted message, an event and the group's system-free log
    mine = chat.text("alice")
    chat.delete("alice", mine["seq"])
    reaction_target = chat.text("alice")
    reaction = chat.react("bob", reaction_target["seq"])
    # WHEN deleting again, deleting an event, or a seq that does not exist
    # THEN 1001, 1001, 2003
    refused(chat, InvalidParam, lambda: chat.delete("alice", mine["seq"]))
    refused(chat, InvalidParam, lambda: chat.delete("bob", reaction["seq"]))
    refused(chat, NotFound, lambda: chat.delete("alice", 10_000))


def test_in_a_direct_conversation_only_the_sender_deletes(world: World) -> None:
    # GIVEN a direct conversation with a message of alice's
    dm = Chat(world, DM)
    world.repos.add_conversation(DM)
    world.repos.add_member(DM, "alice")
    world.repos.add_member(DM, "bob")
    mine = dm.text("alice")
    # WHEN bob deletes it THEN 1004 (no owner or admin in a direct conversation)
    with pytest.raises(Forbidden):
        dm.delete("bob", mine["seq"])
    dm.delete("alice", mine["seq"])


# ---- reactions -------------------------------------------------------------------------------


def test_reactions_add_and_remove(chat: Chat) -> None:
    # GIVEN a message
    mine = chat.text("alice")
    # WHEN two members react with one key and one with another
    chat.react("bob", mine["seq"], "+1")
    chat.react("carol", mine["seq"], "+1")
    chat.react("bob", mine["seq"], "🎉")
    # THEN the target lists each key's users
    assert chat.stored(mine["seq"])["reactions"] == {"+1": ["bob", "carol"], "🎉": ["bob"]}
    # WHEN reactions are removed THEN emptied keys disappear, and so does the field
    chat.react("bob", mine["seq"], "+1", on=False)
    chat.react("bob", mine["seq"], "🎉", on=False)
    assert chat.stored(mine["seq"])["reactions"] == {"+1": ["carol"]}
    chat.react("carol", mine["seq"], "+1", on=False)
    assert "reactions" not in chat.stored(mine["seq"])


def test_reaction_refusals(chat: Chat) -> None:
    # GIVEN a message with a reaction, a deleted message and an event
    mine = chat.text("alice")
    chat.react("bob", mine["seq"])
    gone = chat.text("alice")
    chat.delete("alice", gone["seq"])
    edit = chat.edit("alice", mine["seq"], "changed")
    # WHEN a reaction changes nothing, or targets a deleted message or an event
    # THEN 1001 each, nothing stored
    refused(chat, InvalidParam, lambda: chat.react("bob", mine["seq"]))
    refused(chat, InvalidParam, lambda: chat.react("carol", mine["seq"], on=False))
    refused(chat, InvalidParam, lambda: chat.react("bob", gone["seq"]))
    refused(chat, InvalidParam, lambda: chat.react("bob", edit["seq"]))


def test_at_most_twenty_reaction_keys(chat: Chat) -> None:
    # GIVEN a message with 20 distinct keys
    mine = chat.text("alice")
    for i in range(MAX_REACTION_KEYS):
        chat.react("bob", mine["seq"], f"k{i}")
    # WHEN a 21st key is added THEN 1001; another user on an existing key is fine
    refused(chat, InvalidParam, lambda: chat.react("carol", mine["seq"], "k-new"))
    chat.react("carol", mine["seq"], "k0")
    assert chat.stored(mine["seq"])["reactions"]["k0"] == ["bob", "carol"]


# ---- visibility, idempotency, concurrency ---------------------------------------------------


def test_a_target_before_the_callers_join_is_not_found(chat: Chat) -> None:
    # GIVEN a message from before erin joined
    early = chat.text("alice")
    chat.world.repos.add_member(GROUP, "erin", joined_seq=early["seq"] + 1)
    chat.text("alice")
    # WHEN erin reacts to, replies to or deletes it THEN 2003, nothing stored
    refused(chat, NotFound, lambda: chat.react("erin", early["seq"]))
    refused(chat, NotFound, lambda: chat.text("erin", replyTo=early["seq"]))


def test_a_retried_event_answers_its_first_copy(chat: Chat) -> None:
    # GIVEN a reaction sent once
    mine = chat.text("alice")
    first = chat.react("bob", mine["seq"], client_id="r-1")
    # WHEN it is sent again with the same clientMsgId (now it would change nothing)
    again = chat.react("bob", mine["seq"], client_id="r-1")
    # THEN the first copy comes back; nothing new is stored
    assert again == first
    assert chat.seqs()[-1] == first["seq"]


def test_an_event_that_loses_its_target_race_re_reads_and_re_plans(chat: Chat) -> None:
    # GIVEN a message, and a concurrent reaction that lands while bob's is being committed
    mine = chat.text("alice")
    events = chat.world.repos.events
    raced: list[int] = []

    def interleave(event: Message, change: Change) -> None:
        if event["senderId"] == "bob" and not raced:
            raced.append(event["seq"])
            chat.react("carol", mine["seq"], "+1")

    events.before_commit = interleave
    # WHEN bob reacts
    chat.react("bob", mine["seq"], "+1")
    # THEN both reactions are there (bob's re-planned on carol's), in two seqs
    assert chat.stored(mine["seq"])["reactions"] == {"+1": ["bob", "carol"]}
    assert [chat.stored(s)["senderId"] for s in chat.seqs()[-2:]] == ["carol", "bob"]


def test_an_event_in_a_direct_conversation_not_yet_created_creates_nothing(world: World) -> None:
    # GIVEN no conversation between alice and bob
    dm = Chat(world, DM)
    # WHEN alice sends an event or a reply there THEN 2003 and no conversation exists
    with pytest.raises(NotFound):
        dm.react("alice", 1)
    with pytest.raises(NotFound):
        dm.text("alice", replyTo=1)
    assert world.repos.conversations.get(DM) is None
    # AND a stranger is refused as a stranger
    with pytest.raises(Forbidden):
        world.messages.send("carol", frame({"type": "delete", "target": 1}, "c-1", DM))


# ---- replies and mentions --------------------------------------------------------------------


def test_replies_and_mentions_are_checked_and_stored(chat: Chat) -> None:
    # GIVEN a message
    first = chat.text("bob")
    # WHEN alice replies mentioning two members THEN both are stored
    reply = chat.text("alice", replyTo=first["seq"], mentions=["bob", "carol"])
    assert chat.stored(reply["seq"])["body"]["replyTo"] == first["seq"]
    assert chat.stored(reply["seq"])["body"]["mentions"] == ["bob", "carol"]
    # WHEN the reply's seq is not there yet, or a mention is not a member
    # THEN 2003 and 1001, nothing stored
    refused(chat, NotFound, lambda: chat.text("alice", replyTo=reply["seq"] + 5))
    refused(chat, InvalidParam, lambda: chat.text("alice", mentions=["bob", "zed"]))


def test_mentions_in_a_direct_conversation(world: World) -> None:
    # GIVEN alice and bob's direct conversation (not yet created)
    dm = Chat(world, DM)
    # WHEN alice mentions carol THEN 1001 and nothing is created
    with pytest.raises(InvalidParam):
        dm.text("alice", mentions=["carol"])
    assert world.repos.conversations.get(DM) is None
    # WHEN she mentions bob THEN it is stored
    assert dm.text("alice", mentions=["bob"])["body"]["mentions"] == ["bob"]


# ---- the running count behind unread ---------------------------------------------------------


def test_only_text_file_and_custom_messages_count(chat: Chat) -> None:
    # GIVEN text, an edit, a reaction, a custom message and a delete
    one = chat.text("alice")
    chat.edit("alice", one["seq"], "x")
    chat.react("bob", one["seq"])
    chat._send("bob", {"type": "custom", "data": 1})
    chat.delete("alice", one["seq"])
    # THEN each stored message's running count moves only on the countable ones
    counts = [chat.world.repos.store.messages[GROUP][s].get("n") for s in chat.seqs()]
    assert counts == [1, 1, 1, 2, 2]


def test_unread_counts_only_text_file_and_custom_messages(chat: Chat) -> None:
    # GIVEN bob has read up to alice's first message
    first = chat.text("alice")
    chat.world.live.read("bob", GROUP, first["seq"], "conn-bob")
    # WHEN alice sends two texts, edits one, reacts, and a custom message follows
    second = chat.text("alice")
    chat.text("alice")
    chat.edit("alice", second["seq"], "changed")
    chat.react("carol", second["seq"])
    chat._send("carol", {"type": "custom", "data": 1})
    # THEN bob's unread counts the two texts and the custom message, not the events
    listed = chat.world.conversations.list("bob")["conversations"]
    (entry,) = [c for c in listed if c["conversationId"] == GROUP]
    assert (entry["readSeq"], entry["lastSeq"], entry["unread"]) == (first["seq"], 6, 3)
    # AND reading up to an event leaves what is above it
    chat.world.live.read("bob", GROUP, 4, "conn-bob")
    (entry,) = [
        c
        for c in chat.world.conversations.list("bob")["conversations"]
        if c["conversationId"] == GROUP
    ]
    assert entry["unread"] == 1


def test_unread_of_messages_stored_before_counts_is_their_seq_difference(world: World) -> None:
    # GIVEN a conversation whose messages have no running count (stored before counts)
    world.repos.add_conversation(GROUP)
    world.repos.add_member(GROUP, "alice", read_seq=1)
    for seq in (1, 2, 3):
        world.repos.add_message(GROUP, seq, "bob")
    # WHEN alice lists her conversations THEN unread is lastSeq - readSeq, as before
    (entry,) = world.conversations.list("alice")["conversations"]
    assert entry["unread"] == 2
