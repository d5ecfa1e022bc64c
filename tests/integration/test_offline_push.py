"""Offline push end to end against moto (protocol 10): the real send and fanout handlers put
notify work items on NotifyQueue for members with no live connection, and the real notifier
turns them into an encrypted Web Push POST to a push service on loopback. Every call is
checked against the functions' roles by the IAM audit (conftest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parley import runtime
from samtranslator.yaml_helper import yaml_parse

from tests.integration.conftest import CONTEXT, Harness
from tests.integration.helpers import create_group, send_frame, text_frame
from tests.support import events
from tests.support.handlers import load
from tests.support.stack import client
from tests.support.webpush import Browser, PushService

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

DM = "dm:alice:bob"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def push(monkeypatch: pytest.MonkeyPatch, app: Harness) -> Iterator[PushService]:
    monkeypatch.setenv("PARLEY_PUSH_ENDPOINT_POLICY", "loopback")
    runtime.reset()
    load("notifier").transport.cache_clear()
    service = PushService()
    yield service
    service.close()
    load("notifier").transport.cache_clear()


def subscribe(app: Harness, user: str, push: PushService) -> Browser:
    """Register a browser subscription of `user` at the loopback push service."""
    browser = Browser()
    body = {
        "platform": "webpush",
        "subscription": {"endpoint": push.url(f"/push/{user}"), "keys": browser.keys()},
    }
    token = app.tokens[user]["accessToken"]
    status, reply = app.http("http_devices", "POST", "/devices", token=token, body=body)
    assert status == 201, reply
    return browser


def notify_items(app: Harness) -> list[dict[str, Any]]:
    """Take every work item off NotifyQueue."""
    sqs = client("sqs")
    items: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=app.stack.notify_queue_url, MaxNumberOfMessages=10)
        messages = got.get("Messages", [])
        if not messages:
            return items
        for m in messages:
            items.append(json.loads(m["Body"]))
            sqs.delete_message(
                QueueUrl=app.stack.notify_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )


def run_notifier(items: list[dict[str, Any]]) -> None:
    if items:
        result = load("notifier").handler(events.sqs_event(items), CONTEXT)
        assert result == {"batchItemFailures": []}


# ---- through the send handler -----------------------------------------------------------


def test_an_offline_recipients_browser_gets_the_notification_of_a_real_send(
    app: Harness, push: PushService
) -> None:
    # GIVEN alice connected and bob offline with a subscribed browser
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    browser = subscribe(app, "bob", push)
    # WHEN alice sends bob a text through the send handler
    ack = send_frame(app, text_frame("c1", "lunch at noon?", to="bob"))
    # THEN NotifyQueue holds one item naming bob and the message (never its text)
    items = notify_items(app)
    assert items == [{"conversationId": DM, "seq": ack["seq"], "userIds": ["bob"]}]
    # AND the notifier's POST decrypts to protocol 10's payload (previews off: no text)
    run_notifier(items)
    [got] = push.received
    assert got.path == "/push/bob"
    assert browser.decrypt(got.body) == {
        "type": "message",
        "conversationId": DM,
        "seq": ack["seq"],
        "senderId": "alice",
        "ts": ack["ts"],
    }


def test_an_online_recipient_is_not_queued(app: Harness) -> None:
    # GIVEN both connected
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    # WHEN alice sends
    send_frame(app, text_frame("c1", to="bob"))
    # THEN bob got the frame and nothing is queued for the notifier
    assert app.gateway.frames("b1", "message")
    assert notify_items(app) == []


def test_events_are_not_queued(app: Harness) -> None:
    # GIVEN a message to offline bob (queued once)
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    ack = send_frame(app, text_frame("c1", to="bob"))
    assert len(notify_items(app)) == 1
    # WHEN alice edits it and reacts to it
    for n, body in enumerate(
        [
            {"type": "edit", "target": ack["seq"], "text": "fixed"},
            {"type": "reaction", "target": ack["seq"], "key": "+1", "on": True},
        ]
    ):
        frame = {"action": "send", "id": f"e{n}", "clientMsgId": f"e{n}", "body": body, "to": "bob"}
        send_frame(app, frame)
    # THEN nothing more is queued
    assert notify_items(app) == []


def test_a_muted_member_is_queued_but_never_notified(app: Harness, push: PushService) -> None:
    # GIVEN bob, offline with a browser, muted his conversation with alice
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    subscribe(app, "bob", push)
    send_frame(app, text_frame("c0", to="bob"))
    notify_items(app)
    push.received.clear()
    status, body = app.http(
        "http_conversations",
        "PATCH",
        "/conversations/{id}",
        token=app.tokens["bob"]["accessToken"],
        path={"id": DM},
        body={"muted": True},
    )
    assert status == 200, body
    # WHEN alice sends again and the notifier runs
    send_frame(app, text_frame("c1", to="bob"))
    run_notifier(notify_items(app))
    # THEN bob's push service received nothing
    assert push.received == []


# ---- through the fanout handler (a group over InlineFanoutMax) ---------------------------


def test_a_large_group_notifies_only_mentioned_offline_members(
    app: Harness, reconfigure: Any
) -> None:
    # GIVEN a group of 6 that takes the queued path (inline max 2) and is over the limit (3)
    reconfigure(PARLEY_INLINE_FANOUT_MAX=2, PARLEY_PUSH_ALL_MEMBERS_MAX=3)
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    for user in users:
        app.user(user)
    app.connect("alice", "a1")
    app.connect("carol", "c1")
    group = create_group(app, app.tokens["alice"]["accessToken"], users[1:])
    cid = group["conversationId"]
    # WHEN alice mentions carol (online) and dave (offline), and the fanout runs
    frame = text_frame("m1", "@carol @dave", conversationId=cid)
    frame["body"]["mentions"] = ["carol", "dave"]
    ack = send_frame(app, frame)
    assert app.drain_queue() >= 2
    # THEN carol got the frame, and only dave is queued for a notification
    assert app.gateway.frames("c1", "message")
    items = notify_items(app)
    assert items == [{"conversationId": cid, "seq": ack["seq"], "userIds": ["dave"]}]


def test_a_large_group_under_the_limit_notifies_every_offline_member(
    app: Harness, reconfigure: Any
) -> None:
    # GIVEN a group of 4 on the queued path (inline max 2) under the limit (default 100)
    reconfigure(PARLEY_INLINE_FANOUT_MAX=2)
    users = ["alice", "bob", "carol", "dave"]
    for user in users:
        app.user(user)
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    group = create_group(app, app.tokens["alice"]["accessToken"], users[1:])
    # WHEN alice sends without mentions and the fanout runs
    send_frame(app, text_frame("m1", conversationId=group["conversationId"]))
    app.drain_queue()
    # THEN carol and dave (offline) are queued; not bob (online) nor alice (the sender)
    queued = sorted(u for item in notify_items(app) for u in item["userIds"])
    assert queued == ["carol", "dave"]


# ---- the template: who may hand work to the notifier -------------------------------------


def test_only_the_send_and_fanout_functions_queue_notifications() -> None:
    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    functions = {
        name: res["Properties"]
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
    }

    def env(props: dict[str, Any]) -> dict[str, Any]:
        return dict(props.get("Environment", {}).get("Variables", {}))

    # GIVEN the functions given NotifyQueue's URL and the mentions limit
    queued = {n for n, p in functions.items() if "PARLEY_NOTIFY_QUEUE_URL" in env(p)}
    limited = {n for n, p in functions.items() if "PARLEY_PUSH_ALL_MEMBERS_MAX" in env(p)}
    # THEN they are the two that deliver messages (and the notifier, for its retries)
    assert queued == {"SendFunction", "FanoutFunction", "NotifierFunction"}
    assert limited == {"SendFunction", "FanoutFunction"}
    for name in limited:
        assert env(functions[name])["PARLEY_PUSH_ALL_MEMBERS_MAX"] == {"Ref": "PushAllMembersMax"}
        # AND each may SendMessage to NotifyQueue
        statements = functions[name]["Policies"][0]["Statement"]
        notify = {"Fn::GetAtt": ["NotifyQueue", "Arn"]}
        assert any(
            isinstance(st, dict)
            and st.get("Action") == ["sqs:SendMessage"]
            and isinstance(st.get("Resource"), list)
            and notify in st["Resource"]
            for st in statements
        ), name
