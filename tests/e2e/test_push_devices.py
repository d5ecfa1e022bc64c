"""End to end on the local cloud (what `make dev` runs): the devices API admits a loopback
push service (the local cloud sets PushEndpointPolicy=loopback), and a NotifyQueue work item
reaches that service through the queue's event source and the notifier, VAPID-signed and
encrypted for the subscription."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from parley_local import LocalCloud

from tests.e2e.helpers import connect_all, dm, eventually, run, sign_up_all
from tests.support.webpush import Browser, PushService, unb64

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def call(cloud: LocalCloud, token: str, method: str, path: str, body: Any = None) -> Any:
    # The local cloud's HTTP API on loopback (an http URL the test builds itself).
    request = urllib.request.Request(  # noqa: S310
        cloud.http_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read() or b"null")


def test_a_loopback_subscription_is_notified_through_the_local_notifier(
    cloud: LocalCloud,
) -> None:
    push = PushService()
    browser = Browser()
    try:

        async def scenario() -> None:
            alice, bob = await sign_up_all(cloud, "alice", "bob")
            # GIVEN bob's browser subscribed with a loopback endpoint (admitted locally)
            status, config = call(cloud, bob.token, "GET", "/push/config")
            assert status == 200 and len(unb64(config["webpush"]["vapidPublicKey"])) == 65
            body = {
                "platform": "webpush",
                "subscription": {"endpoint": push.url("/bob"), "keys": browser.keys()},
            }
            assert call(cloud, bob.token, "POST", "/devices", body)[0] == 201
            # AND a message from alice
            async with contextlib.AsyncExitStack() as stack:
                [sender] = await connect_all(stack, alice.client())
                ack = await sender.send("ring ring", to=bob.user_id)
            conversation = dm(alice.user_id, bob.user_id)
            # WHEN the fan-out's work item for bob reaches the notify queue
            cloud.client("sqs").send_message(
                QueueUrl=cloud.ref("NotifyQueue"),
                MessageBody=json.dumps(
                    {"conversationId": conversation, "seq": ack["seq"], "userIds": [bob.user_id]}
                ),
            )
            # THEN the push service receives the notification
            await eventually(lambda: bool(push.received), timeout=30)
            [got] = push.received
            scheme, _, params = got.headers["authorization"].partition(" ")
            token = dict(p.strip().split("=", 1) for p in params.split(","))["t"]
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), unb64(config["webpush"]["vapidPublicKey"])
            )
            jwt.decode(token, key, algorithms=["ES256"], audience=f"http://127.0.0.1:{push.port}")
            assert scheme == "vapid"
            assert browser.decrypt(got.body) == {
                "type": "message",
                "conversationId": conversation,
                "seq": ack["seq"],
                "senderId": alice.user_id,
                "ts": ack["ts"],
            }

        run(scenario())
    finally:
        push.close()
