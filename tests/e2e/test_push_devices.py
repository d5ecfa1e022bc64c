"""End to end on the local cloud (what `make dev` runs): the devices API admits a loopback
push service (the local cloud sets PushEndpointPolicy=loopback), and a real send to an
offline user reaches that service: the send's fan-out puts the work item on NotifyQueue, its
event source runs the notifier, and the POST is VAPID-signed and encrypted for the
subscription. The subscription is registered with the Python client."""

from __future__ import annotations

import asyncio
import contextlib

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from parley_local import LocalCloud

from tests.e2e.helpers import connect_all, dm, eventually, run, sign_up_all
from tests.support.webpush import Browser, PushService, unb64

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_an_offline_users_subscription_is_notified_of_a_real_send(cloud: LocalCloud) -> None:
    push = PushService()
    browser = Browser()
    try:

        async def scenario() -> None:
            alice, bob = await sign_up_all(cloud, "alice", "bob")
            # GIVEN bob's browser subscription at a loopback endpoint (admitted locally),
            # registered with the Python client; bob has no connection (offline)
            config = await bob.http.push_config()
            assert len(unb64(config["webpush"]["vapidPublicKey"])) == 65
            keys = browser.keys()
            device_id = await bob.http.register_device(
                endpoint=push.url("/bob"), p256dh=keys["p256dh"], auth=keys["auth"]
            )
            assert [d["deviceId"] for d in await bob.http.devices()] == [device_id]
            # WHEN alice sends him a message
            async with contextlib.AsyncExitStack() as stack:
                [sender] = await connect_all(stack, alice.client())
                ack = await sender.send("ring ring", to=bob.user_id)
            conversation = dm(alice.user_id, bob.user_id)
            # THEN the push service receives exactly one notification
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
            await asyncio.sleep(1)
            assert len(push.received) == 1
            # AND once bob removes the device, the next message rings nothing
            await bob.http.remove_device(device_id)
            assert await bob.http.devices() == []
            async with contextlib.AsyncExitStack() as stack:
                [sender] = await connect_all(stack, alice.client())
                await sender.send("anyone?", to=bob.user_id)
            await asyncio.sleep(2)
            assert len(push.received) == 1

        run(scenario())
    finally:
        push.close()
