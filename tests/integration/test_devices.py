"""Devices API and the notifier against moto (protocol 10), with a push service on loopback.

The push service is a tiny HTTP server in the test: it records each POST and answers what
the test scripts. The test verifies the VAPID JWT against the key `/push/config` serves
and decrypts the body with the subscription's private key and auth secret, as a browser
would. FCM/APNs go through moto's SNS platform endpoints; SNS errors moto does not raise
come from botocore's Stubber.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives.asymmetric import ec
from parley import runtime
from parley.ports import PublishOutcome
from parley.push_rules import topic
from parley.records import Conversation, member_row
from parley.repositories.platforms import SnsPlatforms
from parley.roles import MEMBER

from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import load
from tests.support.stack import client
from tests.support.webpush import Browser, PushService, b64, unb64

CONV = "dm:alice:bob"


@pytest.fixture
def push(monkeypatch: pytest.MonkeyPatch, app: Harness) -> Iterator[PushService]:
    monkeypatch.setenv("PARLEY_PUSH_ENDPOINT_POLICY", "loopback")
    runtime.reset()
    load("notifier").transport.cache_clear()
    load("http_devices").vapid_public_key.cache_clear()
    service = PushService()
    yield service
    service.close()
    load("notifier").transport.cache_clear()


def devices(app: Harness, user: str, method: str, route: str, **kwargs: Any) -> tuple[int, Any]:
    token = app.tokens[user]["accessToken"]
    return app.http("http_devices", method, route, token=token, **kwargs)


def register_browser(app: Harness, user: str, endpoint: str, browser: Browser) -> tuple[int, Any]:
    body = {"platform": "webpush", "subscription": {"endpoint": endpoint, "keys": browser.keys()}}
    return devices(app, user, "POST", "/devices", body=body)


def store_message(body: dict[str, Any], seq: int = 1) -> None:
    """Store a message of alice's in her direct conversation with bob (created on first use:
    the notifier notifies members only)."""
    rows = [member_row(CONV, user, MEMBER, 1, 1_700_000_000_000) for user in ("alice", "bob")]
    conversation: Conversation = {
        "conversationId": CONV,
        "type": "dm",
        "createdAt": 1_700_000_000_000,
        "createdBy": "alice",
        "memberCount": 2,
    }
    runtime.membership().create_dm(conversation, rows)
    runtime.messages().put_if_absent(
        {
            "conversationId": CONV,
            "seq": seq,
            "messageId": "01J00000000000000000000001",
            "senderId": "alice",
            "clientMsgId": f"m{seq}",
            "ts": 1_700_000_000_000 + seq,
            "body": body,
        }
    )


def notify(item: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = load("notifier").handler(events.sqs_event([item]), CONTEXT)
    return result


def queued(url: str) -> list[dict[str, Any]]:
    sqs = client("sqs")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


# ---- Web Push on loopback --------------------------------------------------------------------


def test_a_push_service_on_loopback_gets_a_vapid_signed_encrypted_notification(
    app: Harness, push: PushService
) -> None:
    # GIVEN bob's browser subscribed, and the VAPID key /push/config serves
    app.user("alice")
    app.user("bob")
    browser = Browser()
    endpoint = push.url("/push/bob-1")
    status, body = register_browser(app, "bob", endpoint, browser)
    assert status == 201, body
    status, config = devices(app, "bob", "GET", "/push/config")
    assert status == 200 and config["fcm"] is False and config["apns"] is False
    public = unb64(config["webpush"]["vapidPublicKey"])
    assert len(public) == 65 and public[0] == 4
    # WHEN alice's text message is notified to bob (offline)
    store_message({"type": "text", "text": "the secret plan"})
    started = time.time()
    assert notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]}) == {
        "batchItemFailures": []
    }
    # THEN the push service got one POST at the subscription's path
    [got] = push.received
    assert got.path == "/push/bob-1"
    # AND its Authorization is `vapid t=<JWT>, k=<the served key>`: ES256, aud the origin,
    # exp within 24 h, sub the PushContact
    scheme, _, params = got.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == config["webpush"]["vapidPublicKey"]
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    claims = jwt.decode(
        parts["t"], key, algorithms=["ES256"], audience=f"http://127.0.0.1:{push.port}"
    )
    assert jwt.get_unverified_header(parts["t"])["alg"] == "ES256"
    assert started < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"] == "mailto:push@example.invalid"
    # AND the headers protocol 10 names
    assert got.headers["content-encoding"] == "aes128gcm"
    assert got.headers["urgency"] == "high"
    assert got.headers["ttl"] == "86400"
    assert got.headers["topic"] == topic(CONV) and len(got.headers["topic"]) <= 32
    # AND the body decrypts, with the browser's key and secret, to exactly the payload
    assert browser.decrypt(got.body) == {
        "type": "message",
        "conversationId": CONV,
        "seq": 1,
        "senderId": "alice",
        "ts": 1_700_000_000_001,
    }
    assert b"secret plan" not in got.body


def test_previews_on_puts_the_text_in_the_encrypted_payload(
    app: Harness, push: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_PUSH_PREVIEWS", "on")
    runtime.reset()
    app.user("bob")
    browser = Browser()
    register_browser(app, "bob", push.url("/p"), browser)
    store_message({"type": "text", "text": "hello there"})
    notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]})
    assert browser.decrypt(push.received[0].body)["preview"] == "hello there"


def test_events_and_system_messages_are_not_sent(app: Harness, push: PushService) -> None:
    app.user("bob")
    register_browser(app, "bob", push.url("/p"), Browser())
    store_message({"type": "reaction", "target": 1, "key": "+1", "on": True}, seq=1)
    store_message({"type": "system", "event": "member_added", "userIds": ["bob"]}, seq=2)
    for seq in (1, 2):
        notify({"conversationId": CONV, "seq": seq, "userIds": ["bob"]})
    assert push.received == []


def test_410_removes_the_device(app: Harness, push: PushService) -> None:
    # GIVEN bob's subscription, which the push service says is gone
    app.user("bob")
    _, body = register_browser(app, "bob", push.url("/gone"), Browser())
    push.script["/gone"] = [(410, {})]
    store_message({"type": "text", "text": "hi"})
    # WHEN it is notified
    notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]})
    # THEN bob has no device any more, and registering it again makes a new one
    assert devices(app, "bob", "GET", "/devices") == (200, {"devices": []})
    status, again = register_browser(app, "bob", push.url("/gone"), Browser())
    assert status == 201 and again != body


def test_503_is_retried_honouring_retry_after_then_dead_lettered(
    app: Harness, push: PushService
) -> None:
    # GIVEN bob's push service answering 503 with Retry-After: 120, every time
    app.user("bob")
    _, body = register_browser(app, "bob", push.url("/busy"), Browser())
    push.script["/busy"] = [(503, {"Retry-After": "120"})] * 5
    store_message({"type": "text", "text": "hi"})
    item: dict[str, Any] = {"conversationId": CONV, "seq": 1, "userIds": ["bob"]}
    # WHEN it is delivered: the first attempt goes back to the notify queue, delayed
    notify(item)
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=os.environ["PARLEY_NOTIFY_QUEUE_URL"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    retry = {**item, "userIds": ["bob"], "deviceIds": [body["deviceId"]], "attempt": 1}
    # AND each redelivery (run here without waiting) tries again, until the fifth
    for attempt in range(1, 5):
        notify({**retry, "attempt": attempt})
    # THEN the push service saw five attempts and the item is in the dead-letter queue
    assert len(push.received) == 5
    assert queued(os.environ["PARLEY_NOTIFY_DLQ_URL"]) == [{**retry, "attempt": 5}]
    # AND the device is kept (the service was busy, not gone)
    assert len(devices(app, "bob", "GET", "/devices")[1]["devices"]) == 1


def test_a_host_resolving_to_a_private_address_is_refused_at_send_time(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN bob's subscription at a DNS name that resolves into the VPC (https policy)
    app.user("bob")
    browser = Browser()
    status, _ = register_browser(app, "bob", "https://push.example.com/sub/1", browser)
    assert status == 201
    store_message({"type": "text", "text": "hi"})
    notifier = load("notifier")
    notifier.transport.cache_clear()
    connected: list[Any] = []
    monkeypatch.setattr(notifier, "resolve", lambda host, port: ["10.0.0.5"])
    monkeypatch.setattr(notifier.HttpWebPush, "_post", lambda *a, **k: connected.append(a))
    # WHEN it is notified
    notifier.transport.cache_clear()
    transport = notifier.HttpWebPush(
        runtime.vapid_seed(), "mailto:x@example.com", "https", resolver=notifier.resolve
    )
    monkeypatch.setattr(notifier, "transport", lambda: transport)
    assert notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]}) == {
        "batchItemFailures": []
    }
    # THEN no connection was made, and the device is kept (the failure is counted)
    assert connected == []
    assert len(devices(app, "bob", "GET", "/devices")[1]["devices"]) == 1


def test_a_malformed_work_item_is_dropped_not_retried(app: Harness) -> None:
    assert notify({"conversationId": CONV}) == {"batchItemFailures": []}


# ---- the devices API: every field, every route ---------------------------------------------

GOOD_KEYS = Browser().keys()


def webpush(**subscription: Any) -> dict[str, Any]:
    sub = {"endpoint": "https://push.example.com/s/1", "keys": GOOD_KEYS, **subscription}
    return {"platform": "webpush", "subscription": {k: v for k, v in sub.items() if v != "-"}}


BAD_BODIES = [
    None,
    [],
    {},
    {"platform": "sms", "token": "t"},
    {"platform": 1},
    {"platform": "webpush"},
    {"platform": "webpush", "subscription": None},
    {"platform": "webpush", "subscription": "https://push.example.com/"},
    {**webpush(), "extra": 1},
    {**webpush(), "token": "t"},
    webpush(endpoint="-"),
    webpush(endpoint=""),
    webpush(endpoint=7),
    webpush(endpoint="https://push.example.com/" + "x" * 2048),
    webpush(endpoint="http://push.example.com/s"),
    webpush(endpoint="https://10.0.0.1/s"),
    webpush(endpoint="https://[fd00::1]/s"),
    webpush(endpoint="https://localhost/s"),
    webpush(endpoint="https://u:p@push.example.com/s"),
    webpush(endpoint="http://127.0.0.1:8080/s"),  # loopback only under PushEndpointPolicy
    webpush(keys="-"),
    webpush(keys=None),
    webpush(keys={"p256dh": GOOD_KEYS["p256dh"]}),
    webpush(keys={"auth": GOOD_KEYS["auth"]}),
    webpush(keys={**GOOD_KEYS, "extra": "x"}),
    webpush(keys={**GOOD_KEYS, "p256dh": ""}),
    webpush(keys={**GOOD_KEYS, "p256dh": "a+b/"}),
    webpush(keys={**GOOD_KEYS, "p256dh": b64(b"\x04" * 33)}),
    webpush(keys={**GOOD_KEYS, "p256dh": "A" * 129}),
    webpush(keys={**GOOD_KEYS, "auth": b64(b"\x01" * 15)}),
    webpush(keys={**GOOD_KEYS, "auth": 16}),
    webpush(expirationTime=-1),
    webpush(expirationTime="soon"),
    webpush(extra=True),
    {"platform": "fcm"},
    {"platform": "fcm", "token": ""},
    {"platform": "apns", "token": 5},
    {"platform": "apns", "token": "t" * 4097},
    {"platform": "fcm", "token": "valid-but-fcm-is-off"},
    {"platform": "apns", "token": "valid-but-apns-is-off"},
    {"platform": "fcm", "token": "t", "subscription": webpush()["subscription"]},
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_every_bad_device_body_is_1001_and_stores_nothing(app: Harness, body: Any) -> None:
    app.user("bob")
    status, reply = devices(app, "bob", "POST", "/devices", body=body)
    assert (status, reply["code"]) == (400, 1001), reply
    assert devices(app, "bob", "GET", "/devices") == (200, {"devices": []})


def test_a_body_that_is_not_json_is_1001(app: Harness) -> None:
    app.user("bob")
    token = app.tokens["bob"]["accessToken"]
    status, body = app.http("http_devices", "POST", "/devices", raw="{nope", token=token)
    assert (status, body["code"]) == (400, 1001)


def test_browser_subscription_json_with_null_expiration_is_accepted(app: Harness) -> None:
    app.user("bob")
    status, body = devices(app, "bob", "POST", "/devices", body=webpush(expirationTime=None))
    assert status == 201 and set(body) == {"deviceId"}
    # AND the same endpoint again is 200 with the same id
    assert devices(app, "bob", "POST", "/devices", body=webpush()) == (200, body)


@pytest.mark.parametrize(
    "device_id",
    ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "%2e%2e", "x" * 300, "01arz3ndektsv4rrffq69g5fav"],
)
def test_deleting_an_unknown_or_malformed_device_is_2003(app: Harness, device_id: str) -> None:
    app.user("bob")
    status, body = devices(
        app, "bob", "DELETE", "/devices/{deviceId}", path={"deviceId": device_id}
    )
    assert (status, body["code"]) == (404, 2003)


def test_devices_are_per_user_and_deleting_anothers_is_2003(app: Harness) -> None:
    app.user("alice")
    app.user("bob")
    _, mine = devices(app, "bob", "POST", "/devices", body=webpush())
    path = {"deviceId": mine["deviceId"]}
    assert devices(app, "alice", "GET", "/devices") == (200, {"devices": []})
    status, body = devices(app, "alice", "DELETE", "/devices/{deviceId}", path=path)
    assert (status, body["code"]) == (404, 2003)
    # WHEN bob deletes it THEN 204 and it is gone
    assert devices(app, "bob", "DELETE", "/devices/{deviceId}", path=path) == (204, None)
    assert devices(app, "bob", "GET", "/devices") == (200, {"devices": []})


def test_the_eleventh_device_replaces_the_least_recently_registered(app: Harness) -> None:
    app.user("bob")
    ids = [
        devices(
            app, "bob", "POST", "/devices", body=webpush(endpoint=f"https://p.example.com/{n}")
        )[1]["deviceId"]
        for n in range(11)
    ]
    listed = [d["deviceId"] for d in devices(app, "bob", "GET", "/devices")[1]["devices"]]
    assert len(listed) == 10 and ids[0] not in listed and ids[10] in listed


# ---- FCM and APNs through SNS (moto) ---------------------------------------------------------


@pytest.fixture
def sns_apps(monkeypatch: pytest.MonkeyPatch, app: Harness) -> dict[str, str]:
    sns = client("sns")
    arns = {
        "fcm": sns.create_platform_application(
            Name="parley-fcm", Platform="GCM", Attributes={"PlatformCredential": "key"}
        )["PlatformApplicationArn"],
        "apns": sns.create_platform_application(
            Name="parley-apns", Platform="APNS", Attributes={"PlatformCredential": "key"}
        )["PlatformApplicationArn"],
    }
    monkeypatch.setenv("PARLEY_FCM_APPLICATION_ARN", arns["fcm"])
    monkeypatch.setenv("PARLEY_APNS_APPLICATION_ARN", arns["apns"])
    runtime.reset()
    return arns


def test_tokens_register_sns_endpoints_and_notifications_are_published(
    app: Harness, sns_apps: dict[str, str]
) -> None:
    app.user("bob")
    # GIVEN both platforms enabled
    assert devices(app, "bob", "GET", "/push/config")[1]["fcm"] is True
    # WHEN bob registers an FCM and an APNs token, the FCM one twice
    status, fcm = devices(app, "bob", "POST", "/devices", body={"platform": "fcm", "token": "f1"})
    assert status == 201
    assert devices(app, "bob", "POST", "/devices", body={"platform": "fcm", "token": "f1"}) == (
        200,
        fcm,
    )
    assert (
        devices(app, "bob", "POST", "/devices", body={"platform": "apns", "token": "a1"})[0] == 201
    )
    # THEN each has an SNS endpoint in its platform application
    sns = client("sns")
    for platform, token in (("fcm", "f1"), ("apns", "a1")):
        endpoints = sns.list_endpoints_by_platform_application(
            PlatformApplicationArn=sns_apps[platform]
        )["Endpoints"]
        assert [e["Attributes"]["Token"] for e in endpoints] == [token]
    # WHEN a message is notified THEN both are published (no failure, nothing removed)
    store_message({"type": "text", "text": "hi"})
    assert notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]}) == {
        "batchItemFailures": []
    }
    assert len(devices(app, "bob", "GET", "/devices")[1]["devices"]) == 2
    # WHEN bob deletes the FCM device THEN its SNS endpoint is deleted too
    path = {"deviceId": fcm["deviceId"]}
    assert devices(app, "bob", "DELETE", "/devices/{deviceId}", path=path)[0] == 204
    assert (
        sns.list_endpoints_by_platform_application(PlatformApplicationArn=sns_apps["fcm"])[
            "Endpoints"
        ]
        == []
    )


def test_a_disabled_sns_endpoint_removes_the_device(app: Harness, sns_apps: dict[str, str]) -> None:
    app.user("bob")
    devices(app, "bob", "POST", "/devices", body={"platform": "apns", "token": "a1"})
    [endpoint] = client("sns").list_endpoints_by_platform_application(
        PlatformApplicationArn=sns_apps["apns"]
    )["Endpoints"]
    client("sns").set_endpoint_attributes(
        EndpointArn=endpoint["EndpointArn"], Attributes={"Enabled": "false"}
    )
    store_message({"type": "text", "text": "hi"})
    notify({"conversationId": CONV, "seq": 1, "userIds": ["bob"]})
    assert devices(app, "bob", "GET", "/devices") == (200, {"devices": []})


def test_sns_errors_moto_does_not_raise() -> None:
    # GIVEN SNS answering with throttling, an internal error, a refused token
    import boto3

    sns = boto3.client("sns", region_name="us-east-1")
    platforms = SnsPlatforms({"fcm": "arn:aws:sns:us-east-1:123456789012:app/GCM/x"}, sns)
    arn = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/x/1"
    with Stubber(sns) as stub:
        stub.add_client_error("publish", "Throttling", http_status_code=400)
        stub.add_client_error("publish", "InternalError", http_status_code=500)
        stub.add_client_error("publish", "EndpointDisabled", http_status_code=400)
        stub.add_client_error("publish", "AuthorizationError", http_status_code=403)
        # THEN throttling and faults are retried, a disabled endpoint removes the device
        assert platforms.publish(arn, "{}") is PublishOutcome.RETRY
        assert platforms.publish(arn, "{}") is PublishOutcome.RETRY
        assert platforms.publish(arn, "{}") is PublishOutcome.DISABLED
        # AND an error of ours (a missing permission) is raised: the record fails loudly
        with pytest.raises(Exception, match="AuthorizationError"):
            platforms.publish(arn, "{}")
    from parley.errors import InvalidParam, Unavailable

    with Stubber(sns) as stub:
        stub.add_client_error("create_platform_endpoint", "InvalidParameter", http_status_code=400)
        stub.add_client_error("create_platform_endpoint", "Throttling", http_status_code=400)
        stub.add_client_error("delete_endpoint", "Throttling", http_status_code=400)
        with pytest.raises(InvalidParam):
            platforms.create_endpoint("fcm", "bad")
        with pytest.raises(Unavailable):
            platforms.create_endpoint("fcm", "t")
        platforms.delete_endpoint(arn)  # best effort: never fails the caller


# ---- the Web Push transport ---------------------------------------------------------------


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    parse = load("notifier").retry_after_seconds
    assert parse("120", 1000.0) == 120.0
    assert parse("Thu, 01 Jan 1970 00:17:40 GMT", 1000.0) == 60.0
    assert parse("Thu, 01 Jan 1970 00:00:00 GMT", 1000.0) == 0.0
    assert parse(None, 0.0) is None and parse("soon", 0.0) is None and parse("", 0.0) is None


def test_redirects_are_not_followed_and_unreachable_hosts_are_retried(
    push: PushService, app: Harness
) -> None:
    # GIVEN a push service that redirects (to where the notifier must not go)
    notifier = load("notifier")
    transport = notifier.HttpWebPush("seed", "mailto:ops@example.com", "loopback")
    device: Any = {
        "endpoint": push.url("/moved"),
        **Browser().keys(),
    }
    push.script["/moved"] = [(307, {"Location": "http://169.254.169.254/latest"})]
    # WHEN it sends THEN the 307 is the answer (not followed), counted as a failure
    assert transport.send(device, b"{}", topic="t", ttl=60).status == 307
    assert [r.path for r in push.received] == ["/moved"]
    # AND a host that does not resolve, or a closed port, is "no answer" (retried)
    gone: Any = {**device, "endpoint": "http://127.0.0.1:1/x"}
    assert transport.send(gone, b"{}", topic="t", ttl=60).status == 0
    unresolvable = notifier.HttpWebPush("seed", "mailto:ops@example.com", "https", resolver=_no_dns)
    assert unresolvable.send(device, b"{}", topic="t", ttl=60).status == 0


def _no_dns(host: str, port: int) -> list[str]:
    raise OSError("no such host")


# ---- the devices repository's claim transaction (moto) ------------------------------------


def _device(device_id: str, key: str = "k1") -> Any:
    return {
        "userId": "bob",
        "deviceId": device_id,
        "platform": "webpush",
        "key": key,
        "createdAt": 1,
        "registeredAt": 1,
        "endpoint": "https://push.example.com/1",
        "p256dh": "P",
        "auth": "A",
    }


def test_one_endpoint_can_never_be_claimed_by_two_devices(app: Harness) -> None:
    repo = runtime.devices()
    first, second = _device("01J00000000000000000000001"), _device("01J00000000000000000000002")
    # GIVEN one device holding the endpoint's claim
    assert repo.add(first, [])
    # WHEN a second device claims it as if it were free (a racing registration)
    # THEN the transaction refuses it and writes nothing
    assert not repo.add(second, [])
    assert repo.owner("k1") == ("bob", first["deviceId"])
    assert [d["deviceId"] for d in repo.list_for("bob")] == [first["deviceId"]]
    # WHEN it replaces the holder it read THEN the claim and the device move together
    assert repo.add(second, [], previous=first)
    assert repo.owner("k1") == ("bob", second["deviceId"])
    assert repo.get("bob", first["deviceId"]) is None
    # AND removing the old device again neither finds it nor touches the moved claim
    assert not repo.remove(first)
    assert repo.owner("k1") == ("bob", second["deviceId"])
    assert repo.remove(second) and repo.owner("k1") is None


def test_the_notifier_connects_to_ipv4_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a host with IPv6 and IPv4 addresses (a Lambda function has no IPv6 route)
    notifier = load("notifier")
    answers = [
        (10, 1, 6, "", ("2a00:1450:4001::200e", 443, 0, 0)),
        (2, 1, 6, "", ("142.250.1.1", 443)),
    ]
    monkeypatch.setattr(notifier.socket, "getaddrinfo", lambda *a, **k: answers)
    # THEN the IPv4 address comes first
    assert notifier.resolve("push.example.com", 443) == ["142.250.1.1", "2a00:1450:4001::200e"]
