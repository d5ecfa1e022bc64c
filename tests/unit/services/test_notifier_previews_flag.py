"""The `pushPreviews` flag (issue 17): decided per recipient, within what the deployment's
PushPreviews allows, on Web Push payloads and on FCM/APNs alerts alike."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from parley.features import Features

from tests.unit.services.test_notifier_service import (
    ITEM,
    FakePlatforms,
    message,
    native_device,
    world,
)
from tests.unit.test_features import DictStore

CAROL_ONLY = {
    "pushPreviews": {
        "default": False,
        "rules": {
            "carol": {
                "when_match": True,
                "conditions": [{"action": "EQUALS", "key": "userId", "value": "carol"}],
            }
        },
    }
}


def previews_by_user(sent: list[tuple[str, dict[str, Any], str, int]]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {}
    for endpoint, data, *_ in sent:
        out.setdefault(endpoint.split("/")[-2], set()).add(data.get("preview"))
    return out


def test_previews_follow_each_recipients_flag() -> None:
    # GIVEN previews allowed by the deployment, and the flag on for carol only
    svc, _, push, _ = world(message({"type": "text", "text": "hello there"}), previews=True)
    svc = dataclasses.replace(svc, features=Features(store=DictStore(CAROL_ONLY)))
    # WHEN bob and carol are notified
    svc.handle(ITEM)
    # THEN carol's devices carry the preview, bob's do not
    assert previews_by_user(push.sent) == {"carol": {"hello there"}, "bob": {None}}


def test_the_flag_cannot_show_previews_the_deployment_forbids() -> None:
    # GIVEN PushPreviews off, and the flag on for carol
    svc, _, push, _ = world(message({"type": "text", "text": "hello there"}), previews=False)
    svc = dataclasses.replace(svc, features=Features(store=DictStore(CAROL_ONLY)))
    # WHEN notified THEN nobody gets a preview
    svc.handle(ITEM)
    assert previews_by_user(push.sent) == {"carol": {None}, "bob": {None}}


def test_native_alerts_follow_the_flag_too() -> None:
    # GIVEN carol and bob with an FCM/APNs device, previews allowed, the flag on for carol
    platforms = FakePlatforms()
    svc, devices, _, _ = world(
        message({"type": "text", "text": "hello there"}), previews=True, platforms=platforms
    )
    for user in ("bob", "carol"):
        devices.add(native_device(user, "apns"), [])
    svc = dataclasses.replace(svc, features=Features(store=DictStore(CAROL_ONLY)))
    # WHEN notified
    svc.handle(ITEM)
    # THEN carol's alert shows the text, bob's the neutral alert
    alerts = {arn: json.loads(m["APNS"])["aps"]["alert"]["body"] for arn, m in platforms.published}
    carol, bob = (native_device(u, "apns")["snsEndpointArn"] for u in ("carol", "bob"))
    assert alerts == {carol: "hello there", bob: "New message"}
