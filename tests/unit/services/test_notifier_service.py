"""The notifier (protocol 10) over fakes: who gets what, and what each failure does
(404/410 remove, 429/5xx retry with backoff honouring Retry-After, then the DLQ)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley.ports import PublishOutcome, WebPushResult
from parley.push_rules import topic
from parley.records import Device, Message, NotifyItem
from parley.services.notifier import BACKOFF_CAP, NotifierService, retry_delay
from parley_memory.devices import MemoryDevices

CONV = "dm:alice:bob"


def message(body: dict[str, Any], seq: int = 1) -> Message:
    return {
        "conversationId": CONV,
        "seq": seq,
        "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "senderId": "alice",
        "clientMsgId": "c1",
        "body": body,
        "ts": 1_700_000_000_000,
    }


class FakeMessages:
    def __init__(self, *stored: Message) -> None:
        self.stored = {(m["conversationId"], m["seq"]): m for m in stored}

    def get(self, conversation_id: str, seq: int) -> Message | None:
        return self.stored.get((conversation_id, seq))


class FakeMembers:
    """Everyone named is a member of every conversation, except `gone`; `muted` muted it."""

    def __init__(self, muted: set[str] | None = None, gone: set[str] | None = None) -> None:
        self.muted, self.gone = muted or set(), gone or set()
        self.reads: list[tuple[str, list[str]]] = []

    def mute_states(self, conversation_id: str, user_ids: list[str]) -> dict[str, bool]:
        self.reads.append((conversation_id, list(user_ids)))
        return {u: u in self.muted for u in user_ids if u not in self.gone}


class FakeWebPush:
    """Answers each endpoint with the next status of its script (then 201)."""

    def __init__(self, script: dict[str, list[WebPushResult]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[str, dict[str, Any], str, int]] = []

    def send(self, device: Device, data: bytes, *, topic: str, ttl: int) -> WebPushResult:
        self.sent.append((device["endpoint"], json.loads(data), topic, ttl))
        answers = self.script.get(device["endpoint"], [])
        return answers.pop(0) if answers else WebPushResult(201)


class FakeQueue:
    def __init__(self) -> None:
        self.retries: list[tuple[NotifyItem, int]] = []
        self.dead: list[NotifyItem] = []

    def retry(self, item: NotifyItem, delay_seconds: int) -> None:
        self.retries.append((item, delay_seconds))

    def dead_letter(self, item: NotifyItem) -> None:
        self.dead.append(item)


class FakePlatforms:
    def __init__(self, outcome: PublishOutcome = PublishOutcome.SENT) -> None:
        self.outcome = outcome
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []

    def create_endpoint(self, platform: str, token: str) -> str:
        raise AssertionError("the notifier never registers")

    def delete_endpoint(self, arn: str) -> None:
        self.deleted.append(arn)

    def publish(self, arn: str, message: str) -> PublishOutcome:
        self.published.append((arn, json.loads(message)))
        return self.outcome


def webpush_device(user: str, n: int) -> Device:
    return {
        "userId": user,
        "deviceId": f"D{user}{n}",
        "platform": "webpush",
        "key": f"k-{user}-{n}",
        "createdAt": n,
        "registeredAt": n,
        "endpoint": f"https://push.example.com/{user}/{n}",
        "p256dh": "P",
        "auth": "A",
    }


def world(
    *stored: Message,
    script: dict[str, list[WebPushResult]] | None = None,
    previews: bool = False,
    platforms: FakePlatforms | None = None,
    members: FakeMembers | None = None,
) -> tuple[NotifierService, MemoryDevices, FakeWebPush, FakeQueue]:
    devices, push, queue = MemoryDevices(), FakeWebPush(script), FakeQueue()
    for user in ("alice", "bob", "carol"):
        for n in (1, 2):
            devices.add(webpush_device(user, n), [])
    svc = NotifierService(
        messages=FakeMessages(*stored),
        members=members or FakeMembers(),
        devices=devices,
        webpush=push,
        platforms=platforms,
        queue=queue,
        ttl=3600,
        previews=previews,
        jitter=lambda: 1.0,
    )
    return svc, devices, push, queue


ITEM: NotifyItem = {"conversationId": CONV, "seq": 1, "userIds": ["bob", "carol", "alice"]}


def test_each_device_of_each_named_user_gets_the_payload_but_not_the_sender() -> None:
    svc, _, push, queue = world(message({"type": "text", "text": "secret words"}))
    report = svc.handle(ITEM)
    # THEN bob's and carol's two devices each, alice (the sender) none
    assert sorted(e for e, *_ in push.sent) == [
        f"https://push.example.com/{u}/{n}" for u in ("bob", "carol") for n in (1, 2)
    ]
    assert report.sent == 4 and queue.retries == [] and queue.dead == []
    # AND each carries the protocol's payload, no text, the conversation's Topic and the TTL
    for _, data, t, ttl in push.sent:
        assert data == {
            "type": "message",
            "conversationId": CONV,
            "seq": 1,
            "senderId": "alice",
            "ts": 1_700_000_000_000,
        }
        assert (t, ttl) == (topic(CONV), 3600)


def test_previews_on_adds_the_first_100_characters() -> None:
    svc, _, push, _ = world(message({"type": "text", "text": "x" * 300}), previews=True)
    svc.handle(ITEM)
    assert {d["preview"] for _, d, *_ in push.sent} == {"x" * 100}


@pytest.mark.parametrize(
    "body",
    [
        {"type": "edit", "target": 1, "text": "t"},
        {"type": "delete", "target": 1},
        {"type": "reaction", "target": 1, "key": "+1", "on": True},
        {"type": "system", "event": "member_added"},
        {"type": "deleted"},
    ],
)
def test_events_system_and_deleted_messages_never_notify(body: dict[str, Any]) -> None:
    svc, _, push, _ = world(message(body))
    report = svc.handle(ITEM)
    assert push.sent == [] and report.skipped


def test_an_unknown_message_notifies_no_one() -> None:
    svc, _, push, _ = world()
    assert svc.handle(ITEM).skipped == "no such message" and push.sent == []


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscriptions_remove_the_device(status: int) -> None:
    gone = "https://push.example.com/bob/1"
    svc, devices, _, queue = world(
        message({"type": "text", "text": "hi"}), script={gone: [WebPushResult(status)]}
    )
    report = svc.handle(ITEM)
    assert report.removed == 1 and report.sent == 3 and queue.retries == []
    assert [d["deviceId"] for d in devices.list_for("bob")] == ["Dbob2"]


def test_503_is_retried_narrowed_with_backoff_then_dead_lettered() -> None:
    failing = "https://push.example.com/carol/2"
    script = {failing: [WebPushResult(503)] * 10}
    svc, devices, push, queue = world(message({"type": "text", "text": "hi"}), script=script)
    # WHEN the first delivery gets 503 from one device
    report = svc.handle(ITEM)
    # THEN the others are sent and a retry item names only that device, delayed
    assert report.sent == 3 and report.retried == 1
    [(item, delay)] = queue.retries
    assert item == {
        "conversationId": CONV,
        "seq": 1,
        "userIds": ["carol"],
        "deviceIds": ["Dcarol2"],
        "attempt": 1,
    }
    assert delay == 10
    # WHEN each retry fails again
    delays = [delay]
    for _ in range(3):
        push.sent.clear()
        report = svc.handle(queue.retries[-1][0])
        # THEN only that device is tried, and the delay doubles
        assert [e for e, *_ in push.sent] == [failing]
        delays.append(queue.retries[-1][1])
    assert delays == [10, 20, 40, 80]
    # WHEN the fifth attempt fails THEN the narrowed item goes to the DLQ, the device stays
    report = svc.handle(queue.retries[-1][0])
    assert report.dead_lettered == 1 and report.failed == 1
    assert queue.dead == [{**item, "attempt": 5}]
    assert len(devices.list_for("carol")) == 2


def test_429_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    slow = "https://push.example.com/bob/1"
    svc, _, _, queue = world(
        message({"type": "text", "text": "hi"}), script={slow: [WebPushResult(429, 120.0)]}
    )
    svc.handle(ITEM)
    assert queue.retries[0][1] == 120


def test_connection_failures_retry_and_refused_addresses_and_4xx_do_not() -> None:
    script = {
        "https://push.example.com/bob/1": [WebPushResult(0)],
        "https://push.example.com/bob/2": [WebPushResult(-1)],
        "https://push.example.com/carol/1": [WebPushResult(400)],
        "https://push.example.com/carol/2": [WebPushResult(413)],
    }
    svc, devices, _, queue = world(message({"type": "file", "name": "n"}), script=script)
    report = svc.handle(ITEM)
    assert report.retried == 1 and report.failed == 3 and report.removed == 0
    assert queue.retries[0][0]["deviceIds"] == ["Dbob1"]
    assert len(devices.list_for("bob")) == 2


def test_retry_delay_is_capped_at_sqs_maximum() -> None:
    assert retry_delay(20, None, lambda: 1.0) == BACKOFF_CAP
    assert retry_delay(1, 5000.0, lambda: 0.0) == BACKOFF_CAP
    assert retry_delay(1, None, lambda: 0.0) == 5


def native_device(user: str, platform: str) -> Device:
    return {
        "userId": user,
        "deviceId": f"N{user}",
        "platform": platform,  # type: ignore[typeddict-item]
        "key": f"n-{user}",
        "createdAt": 1,
        "registeredAt": 1,
        "token": "tok",
        "snsEndpointArn": f"arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/app/{user}",
    }


def test_fcm_and_apns_devices_get_platform_json_through_sns() -> None:
    platforms = FakePlatforms()
    svc, devices, _, _ = world(message({"type": "text", "text": "hi"}), platforms=platforms)
    devices.add(native_device("bob", "fcm"), [])
    report = svc.handle({"conversationId": CONV, "seq": 1, "userIds": ["bob"]})
    assert report.sent == 3
    [(arn, structure)] = platforms.published
    assert arn.endswith("/bob")
    gcm = json.loads(structure["GCM"])
    assert gcm["data"] == {
        "type": "message",
        "conversationId": CONV,
        "seq": "1",
        "senderId": "alice",
        "ts": "1700000000000",
    }
    apns = json.loads(structure["APNS"])
    assert apns["aps"]["alert"]["body"] == "New message"  # previews off: no text
    assert apns["aps"]["thread-id"] == topic(CONV)


def test_a_disabled_sns_endpoint_removes_the_device_and_deletes_the_endpoint() -> None:
    platforms = FakePlatforms(PublishOutcome.DISABLED)
    svc, devices, _, _ = world(message({"type": "text", "text": "hi"}), platforms=platforms)
    devices.add(native_device("bob", "apns"), [])
    report = svc.handle({"conversationId": CONV, "seq": 1, "userIds": ["bob"]})
    assert report.removed == 1
    assert [d["deviceId"] for d in devices.list_for("bob")] == ["Dbob1", "Dbob2"]
    assert platforms.deleted == [native_device("bob", "apns")["snsEndpointArn"]]


def test_a_throttled_sns_publish_is_retried_and_a_switched_off_platform_fails() -> None:
    platforms = FakePlatforms(PublishOutcome.RETRY)
    svc, devices, _, queue = world(message({"type": "text", "text": "hi"}), platforms=platforms)
    devices.add(native_device("bob", "fcm"), [])
    assert svc.handle({"conversationId": CONV, "seq": 1, "userIds": ["bob"]}).retried == 1
    assert queue.retries[0][0]["deviceIds"] == ["Nbob"]
    svc.platforms = None
    assert svc.handle({"conversationId": CONV, "seq": 1, "userIds": ["bob"]}).failed == 1


# ---- mute: read once, for the named (offline) users only ---------------------------------


def test_members_who_muted_or_left_are_skipped_with_one_read_before_the_devices() -> None:
    # GIVEN bob muted the conversation and carol is no longer a member
    members = FakeMembers(muted={"bob"}, gone={"carol"})
    svc, _, push, _ = world(message({"type": "text", "text": "hi"}), members=members)
    # WHEN an item names bob, carol, dave and the sender
    item: NotifyItem = {"conversationId": CONV, "seq": 1, "userIds": ["bob", "carol", "dave"]}
    svc.devices.add(webpush_device("dave", 1), [])
    report = svc.handle(item)
    # THEN only dave's device rings, after one read of the three users' rows
    assert [e for e, *_ in push.sent] == ["https://push.example.com/dave/1"]
    assert report.sent == 1
    assert members.reads == [(CONV, ["bob", "carol", "dave"])]


def test_an_item_whose_users_all_muted_reads_no_device() -> None:
    # GIVEN bob and carol both muted the conversation
    members = FakeMembers(muted={"bob", "carol"})
    svc, _, push, _ = world(message({"type": "text", "text": "hi"}), members=members)
    # WHEN the item is handled
    report = svc.handle(ITEM)
    # THEN nothing is sent and the reason is reported
    assert push.sent == [] and report.sent == 0
    assert report.skipped is not None and "muted" in report.skipped


def test_an_event_reads_no_member_row() -> None:
    # GIVEN an edit (events never notify)
    members = FakeMembers()
    svc, _, push, _ = world(message({"type": "edit", "target": 1, "text": "x"}), members=members)
    # WHEN its item is handled
    svc.handle(ITEM)
    # THEN neither the member rows nor any device was read
    assert members.reads == [] and push.sent == []
