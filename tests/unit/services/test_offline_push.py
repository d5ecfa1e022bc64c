"""Offline push decided by the fan-out (protocol 10), over the in-memory fakes: who is handed
to the notifier (members with no live connection, never the sender, mentioned users only in
a group over PushAllMembersMax), for which messages (text, file, custom; never events or
system messages), and that a failing NotifyQueue never fails the send. The mute check is
the notifier's: the last tests run the notifier over what the fan-out queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from parley.models import SendFrame, parse_frame
from parley.ports import WebPushResult
from parley.records import ConversationWork, Device, UsersWork
from parley.services.notifier import NotifierService
from parley_memory import NotifyOutbox
from parley_memory.devices import MemoryDevices

from tests.unit.services.conftest import World, build_world

GROUP = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
DM = "dm:alice:bob"


@pytest.fixture
def outbox() -> NotifyOutbox:
    return NotifyOutbox()


@pytest.fixture
def world(outbox: NotifyOutbox) -> Iterator[World]:
    w = build_world()
    w.push.notify = outbox
    for user in ("alice", "bob", "carol", "dave", "erin"):
        w.repos.users.add(user)
    yield w
    if w.push._pool is not None:
        w.push._pool.shutdown(wait=True)


def frame(
    body: dict[str, Any], *, to: str | None = None, conversation: str | None = None, n: int = 1
) -> SendFrame:
    raw: dict[str, Any] = {"action": "send", "clientMsgId": f"c-{n}", "body": body}
    if to is not None:
        raw["to"] = to
    else:
        raw["conversationId"] = conversation
    parsed = parse_frame(json.dumps(raw))
    assert isinstance(parsed, SendFrame)
    return parsed


def text(words: str = "hi", mentions: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "text", "text": words}
    if mentions is not None:
        body["mentions"] = mentions
    return body


def group_with(world: World, users: list[str]) -> None:
    world.repos.add_conversation(GROUP)
    for user in users:
        world.repos.add_member(GROUP, user)


# ---- who is handed over ------------------------------------------------------------------


def test_an_offline_dm_recipient_is_queued_once_with_a_reference(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN alice online and bob with no connection
    world.repos.connections.add("a1", "alice")
    # WHEN alice sends bob a text
    ack = world.send("alice", frame(text(), to="bob"), connection_id="a1")
    # THEN one work item names bob and the message, never its text
    assert outbox.items == [{"conversationId": DM, "seq": ack["seq"], "userIds": ["bob"]}]
    assert ("NotifyUsersQueued", 1) in world.metrics


def test_nothing_is_queued_while_the_recipient_is_online(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN both online
    world.repos.connections.add("a1", "alice")
    world.repos.connections.add("b1", "bob")
    # WHEN alice sends
    world.send("alice", frame(text(), to="bob"), connection_id="a1")
    # THEN bob got the frame and no notification was queued
    assert world.gateway.frames("b1", "message")
    assert outbox.items == []


def test_the_sender_is_never_queued_even_with_no_connection(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN a group where nobody, not even the sender, has a connection
    group_with(world, ["alice", "bob", "carol"])
    # WHEN alice's message is published
    world.send("alice", frame(text(), conversation=GROUP))
    # THEN bob and carol are queued, alice is not
    assert outbox.users() == ["bob", "carol"]


def test_a_user_whose_only_connection_is_gone_counts_as_offline(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN bob's only connection record is stale (its post answers 410)
    world.repos.connections.add("a1", "alice")
    world.repos.connections.add("b1", "bob")
    world.gateway.gone.add("b1")
    # WHEN alice sends
    world.send("alice", frame(text(), to="bob"), connection_id="a1")
    # THEN the record is deleted and bob is notified
    assert world.repos.connections.get("b1") is None
    assert outbox.users() == ["bob"]


def test_a_throttled_post_is_retried_not_notified(world: World, outbox: NotifyOutbox) -> None:
    # GIVEN bob is online but his post is throttled
    world.repos.connections.add("a1", "alice")
    world.repos.connections.add("b1", "bob")
    world.gateway.throttled.add("b1")
    # WHEN alice sends
    world.send("alice", frame(text(), to="bob"), connection_id="a1")
    # THEN the post goes to the retry queue and no notification is queued
    assert world.repos.queue.of_kind("connections")
    assert outbox.items == []


@pytest.mark.parametrize(
    "body",
    [
        {"type": "custom", "data": {"poll": "lunch?"}},
        text("plain"),
    ],
)
def test_text_and_custom_messages_notify(
    world: World, outbox: NotifyOutbox, body: dict[str, Any]
) -> None:
    # GIVEN bob offline
    world.repos.connections.add("a1", "alice")
    # WHEN alice sends a text or a custom message
    world.send("alice", frame(body, to="bob"), connection_id="a1")
    # THEN bob is queued
    assert outbox.users() == ["bob"]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "edit", "target": 1, "text": "fixed"},
        {"type": "reaction", "target": 1, "key": "+1", "on": True},
        {"type": "delete", "target": 1},
    ],
)
def test_events_never_notify(world: World, outbox: NotifyOutbox, event: dict[str, Any]) -> None:
    # GIVEN a stored message and bob offline
    world.repos.connections.add("a1", "alice")
    world.send("alice", frame(text(), to="bob"), connection_id="a1")
    outbox.items.clear()
    # WHEN alice edits, reacts to or deletes it
    world.send("alice", frame(event, to="bob", n=2), connection_id="a1")
    # THEN nothing more is queued
    assert outbox.items == []


def test_system_messages_never_notify(world: World, outbox: NotifyOutbox) -> None:
    # GIVEN alice online, bob and carol offline
    world.repos.connections.add("a1", "alice")
    # WHEN alice creates a group with them, then adds dave (system messages)
    view = world.groups.create("alice", "lunch", ["bob", "carol"])
    world.groups.add_members("alice", view["conversationId"], ["dave"])
    # THEN no notification is queued
    assert outbox.items == []


def test_a_group_over_the_limit_notifies_only_mentioned_offline_members(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN a group of 5 over a limit of 3; carol is online
    world.push.push_all_max = 3
    group_with(world, ["alice", "bob", "carol", "dave", "erin"])
    world.repos.connections.add("a1", "alice")
    world.repos.connections.add("c1", "carol")
    # WHEN alice mentions carol and dave
    world.send(
        "alice",
        frame(text("@carol @dave", ["carol", "dave"]), conversation=GROUP),
        connection_id="a1",
    )
    # THEN only dave (mentioned and offline) is queued: not carol (online), not bob or erin
    assert outbox.users() == ["dave"]
    # AND a message that mentions nobody queues nothing
    outbox.items.clear()
    world.send("alice", frame(text("all"), conversation=GROUP, n=2), connection_id="a1")
    assert outbox.items == []


def test_a_group_at_the_limit_notifies_every_offline_member(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN a group of 5 with a limit of 5
    world.push.push_all_max = 5
    group_with(world, ["alice", "bob", "carol", "dave", "erin"])
    # WHEN alice sends without mentions
    world.send("alice", frame(text(), conversation=GROUP))
    # THEN every other member is queued
    assert outbox.users() == ["bob", "carol", "dave", "erin"]


def test_a_failing_notify_queue_never_fails_the_send(world: World, outbox: NotifyOutbox) -> None:
    # GIVEN the NotifyQueue refuses everything
    outbox.fail = True
    world.repos.connections.add("a1", "alice")
    # WHEN alice sends to offline bob
    ack = world.send("alice", frame(text(), to="bob"), connection_id="a1")
    # THEN the message is stored and acked, and the failure is counted
    assert world.repos.messages.get(DM, ack["seq"]) is not None
    assert ("NotifyEnqueueFailed", 1) in world.metrics
    assert world.push_errors == []


def test_without_an_outbox_nothing_is_decided(outbox: NotifyOutbox) -> None:
    # GIVEN a push service with no NotifyQueue (a function that sends no messages)
    w = build_world()
    for user in ("alice", "bob"):
        w.repos.users.add(user)
    # WHEN a message to an offline user is sent
    w.send("alice", frame(text(), to="bob"))
    # THEN nothing was queued anywhere
    assert outbox.items == [] and not [m for m, _ in w.metrics if m.startswith("Notify")]


# ---- the queued path (large groups) --------------------------------------------------------


def conversation_item(seq: int) -> ConversationWork:
    return {
        "kind": "conversation",
        "conversationId": GROUP,
        "message": {"conversationId": GROUP, "seq": seq},
        "exclude": None,
        "extraUsers": [],
        "correlationId": None,
    }


def expanded(world: World) -> list[UsersWork]:
    return [i for i in world.repos.queue.of_kind("users") if i["kind"] == "users"]


@pytest.mark.parametrize(("limit", "rule"), [(30, "all"), (29, "mentions")])
def test_expansion_sets_the_rule_from_the_group_size(limit: int, rule: str) -> None:
    # GIVEN a group of 30 members, batches of 10 and a limit around its size
    w = build_world(batch_users=10)
    w.push.push_all_max = limit
    for i in range(30):
        w.repos.add_member(GROUP, f"u{i:03d}")
    # WHEN its conversation item is expanded
    w.push.expand_conversation(conversation_item(1))
    # THEN every users item carries the rule the size gives
    items = expanded(w)
    assert len(items) == 3 and {i.get("notify") for i in items} == {rule}


def test_expansion_past_the_limit_sends_full_batches_before_the_list_ends() -> None:
    # GIVEN a group of 2,500 members (three pages of the member list), a limit of 10
    w = build_world(batch_users=100)
    w.push.push_all_max = 10
    for i in range(2500):
        w.repos.add_member(GROUP, f"u{i:05d}")
    # WHEN it is expanded
    w.push.expand_conversation(conversation_item(1))
    # THEN the first SQS batch went out with the first page, and every item says mentions
    assert w.repos.queue.calls >= 3
    assert {i.get("notify") for i in expanded(w)} == {"mentions"}
    assert sum(len(i["userIds"]) for i in expanded(w)) == 2500


def test_a_users_item_queues_its_offline_users_by_its_rule(
    world: World, outbox: NotifyOutbox
) -> None:
    # GIVEN a stored group text mentioning dave; bob online
    group_with(world, ["alice", "bob", "carol", "dave"])
    stored = world.repos.add_message(GROUP, 1, "alice", "hey")
    world.repos.connections.add("b1", "bob")
    users = ["alice", "bob", "carol", "dave"]
    base: UsersWork = {
        "kind": "users",
        "userIds": users,
        "message": {"conversationId": GROUP, "seq": stored["seq"]},
        "exclude": None,
        "correlationId": None,
    }
    # WHEN it is delivered under the "all" rule
    world.push.deliver_users_item({**base, "notify": "all"})
    # THEN carol and dave (offline, not the sender) are queued
    assert outbox.users() == ["carol", "dave"]
    # AND under "mentions", with no mentions, nobody; an item with no rule (queued by the
    # release before offline push) queues nobody either
    outbox.items.clear()
    world.push.deliver_users_item({**base, "notify": "mentions"})
    world.push.deliver_users_item(base)
    assert outbox.items == []


# ---- the fan-out and the notifier together: mute ----------------------------------------


class RecordingWebPush:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, device: Device, data: bytes, *, topic: str, ttl: int) -> WebPushResult:
        self.sent.append(device["userId"])
        return WebPushResult(201)


def device(user: str) -> Device:
    return {
        "userId": user,
        "deviceId": f"D-{user}",
        "platform": "webpush",
        "key": f"k-{user}",
        "createdAt": 1,
        "registeredAt": 1,
        "endpoint": f"https://push.example.com/{user}",
        "p256dh": "P",
        "auth": "A",
    }


class NoQueue:
    def retry(self, item: Any, delay_seconds: int) -> None:
        raise AssertionError("nothing fails here")

    def dead_letter(self, item: Any) -> None:
        raise AssertionError("nothing fails here")


def test_a_muted_offline_member_is_not_notified(world: World, outbox: NotifyOutbox) -> None:
    # GIVEN a group where bob muted it and carol did not, both offline with a device
    group_with(world, ["alice", "bob", "carol"])
    world.repos.members.set_muted(GROUP, "bob", True)
    devices = MemoryDevices()
    for user in ("bob", "carol"):
        devices.add(device(user), [])
    webpush = RecordingWebPush()
    notifier = NotifierService(
        messages=world.repos.messages,
        members=world.repos.members,
        devices=devices,
        webpush=webpush,
        platforms=None,
        queue=NoQueue(),
        ttl=60,
        previews=False,
    )
    # WHEN alice sends and the notifier runs the queued items
    world.send("alice", frame(text(), conversation=GROUP))
    for item in outbox.items:
        notifier.handle(item)
    # THEN the fan-out did not read member rows for it, and only carol's device rang
    assert outbox.users() == ["bob", "carol"]
    assert webpush.sent == ["carol"]
