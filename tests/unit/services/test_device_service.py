"""Devices (protocol 10): registration and its idempotency, the 10-device cap, moving an
endpoint between users, removal, FCM/APNs through the platforms port, `/push/config`."""

from __future__ import annotations

import pytest
from parley.errors import InvalidParam, NotFound, Unavailable
from parley.push_rules import b64url_encode
from parley.records import Device
from parley.services.devices import DeviceService, device_key
from parley_memory.devices import MemoryDevices

from tests.fakes.repos import FixedClock

P256DH = b64url_encode(b"\x04" + b"\x11" * 64)
AUTH = b64url_encode(b"\x22" * 16)


class FakePlatforms:
    """SNS platform endpoints: one ARN per token, and what was deleted."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []
        self.deleted: list[str] = []

    def create_endpoint(self, platform: str, token: str) -> str:
        self.created.append((platform, token))
        return f"arn:aws:sns:eu-west-1:123456789012:endpoint/{platform}/app/{token}"

    def delete_endpoint(self, arn: str) -> None:
        self.deleted.append(arn)

    def publish(self, arn: str, message: str) -> object:
        raise AssertionError("the devices API never publishes")


def service(
    *, platforms: FakePlatforms | None = None, enabled: set[str] | None = None
) -> tuple[DeviceService, MemoryDevices, FixedClock]:
    devices, clock = MemoryDevices(), FixedClock()
    svc = DeviceService(
        devices=devices,
        platforms=platforms,
        enabled=frozenset(enabled or {"webpush"}),
        policy="https",
        vapid_public_key=lambda: "BPUBLIC",
        clock=clock,
    )
    return svc, devices, clock


def endpoint(n: int) -> str:
    return f"https://push.example.com/sub/{n}"


def test_registering_a_subscription_then_the_same_endpoint_again_gives_the_same_device() -> None:
    svc, devices, clock = service()
    # WHEN alice registers a subscription
    status, body = svc.register_webpush("alice", endpoint(1), P256DH, AUTH)
    # THEN 201 with a new device id
    assert status == 201
    # WHEN she registers the same endpoint again, with rotated keys
    clock.advance(5000)
    new_auth = b64url_encode(b"\x33" * 16)
    again, same = svc.register_webpush("alice", endpoint(1), P256DH, new_auth)
    # THEN 200 with the same id, the new keys kept, and still one device
    assert (again, same) == (200, body)
    [device] = devices.list_for("alice")
    assert device["auth"] == new_auth and device["registeredAt"] == device["createdAt"] + 5000
    assert svc.list("alice") == {
        "devices": [
            {"deviceId": body["deviceId"], "platform": "webpush", "createdAt": device["createdAt"]}
        ]
    }


def test_the_eleventh_device_replaces_the_least_recently_registered() -> None:
    svc, devices, clock = service()
    ids = []
    for n in range(10):
        clock.advance(1000)
        ids.append(svc.register_webpush("alice", endpoint(n), P256DH, AUTH)[1]["deviceId"])
    # GIVEN the oldest one registered again (it is now the most recent)
    clock.advance(1000)
    assert svc.register_webpush("alice", endpoint(0), P256DH, AUTH)[0] == 200
    # WHEN an 11th endpoint registers
    clock.advance(1000)
    status, body = svc.register_webpush("alice", endpoint(10), P256DH, AUTH)
    # THEN it is added and the least recently registered (endpoint 1) is gone, claim too
    assert status == 201
    left = {d["deviceId"] for d in devices.list_for("alice")}
    assert len(left) == 10 and ids[1] not in left and ids[0] in left and body["deviceId"] in left
    assert devices.owner(device_key("webpush", endpoint(1))) is None
    # AND that endpoint registering again is a new device
    assert svc.register_webpush("alice", endpoint(1), P256DH, AUTH)[0] == 201


def test_an_endpoint_registered_by_another_user_moves_to_the_caller() -> None:
    # GIVEN a browser subscribed while alice was signed in
    svc, devices, _ = service()
    _, first = svc.register_webpush("alice", endpoint(1), P256DH, AUTH)
    # WHEN bob signs in on it and registers the same subscription
    status, second = svc.register_webpush("bob", endpoint(1), P256DH, AUTH)
    # THEN bob has a new device and alice has none: her messages no longer ring there
    assert status == 201 and second != first
    assert devices.list_for("alice") == []
    assert [d["deviceId"] for d in devices.list_for("bob")] == [second["deviceId"]]


def test_a_claim_left_by_an_interrupted_removal_is_taken_over() -> None:
    svc, devices, _ = service()
    _, first = svc.register_webpush("alice", endpoint(1), P256DH, AUTH)
    # GIVEN the device item is gone but its claim stayed (a crash between the two deletes)
    devices.devices.clear()
    # WHEN the endpoint registers again THEN it becomes a new device
    status, body = svc.register_webpush("alice", endpoint(1), P256DH, AUTH)
    assert status == 201 and body != first
    assert devices.owner(device_key("webpush", endpoint(1))) == ("alice", body["deviceId"])


def test_registration_that_keeps_racing_gives_up_with_2001() -> None:
    svc, devices, _ = service()

    def lose(device: Device, evict: list[Device], previous: Device | None = None) -> bool:
        return False

    devices.add = lose  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        svc.register_webpush("alice", endpoint(1), P256DH, AUTH)


def test_refused_endpoints_and_keys_store_nothing() -> None:
    svc, devices, _ = service()
    for url, p256dh, auth in [
        ("https://10.0.0.1/x", P256DH, AUTH),
        ("http://push.example.com/x", P256DH, AUTH),
        (endpoint(1), b64url_encode(b"\x04" * 10), AUTH),
        (endpoint(1), P256DH, b64url_encode(b"\x01" * 8)),
    ]:
        with pytest.raises(InvalidParam):
            svc.register_webpush("alice", url, p256dh, auth)
    assert devices.devices == {} and devices.claims == {}


def test_deleting_another_users_device_or_an_unknown_id_is_2003() -> None:
    svc, devices, _ = service()
    _, body = svc.register_webpush("alice", endpoint(1), P256DH, AUTH)
    for user, device_id in [("bob", body["deviceId"]), ("alice", "01ARZ3NDEKTSV4RRFFQ69G5FAV")]:
        with pytest.raises(NotFound):
            svc.delete(user, device_id)
    with pytest.raises(NotFound):
        svc.delete("alice", "../etc")
    # WHEN alice deletes her own THEN it and its claim are gone, and a second delete is 2003
    svc.delete("alice", body["deviceId"])
    assert devices.list_for("alice") == [] and devices.claims == {}
    with pytest.raises(NotFound):
        svc.delete("alice", body["deviceId"])


def test_a_native_platform_that_is_not_enabled_is_1001() -> None:
    svc, _, _ = service()
    for platform in ("fcm", "apns"):
        with pytest.raises(InvalidParam, match="not enabled"):
            svc.register_token("alice", platform, "tok")  # type: ignore[arg-type]
    svc, _, _ = service(platforms=FakePlatforms(), enabled={"webpush", "fcm"})
    with pytest.raises(InvalidParam):
        svc.register_token("alice", "apns", "tok")


def test_tokens_create_sns_endpoints_and_removals_delete_them() -> None:
    platforms = FakePlatforms()
    svc, devices, _ = service(platforms=platforms, enabled={"webpush", "fcm", "apns"})
    # WHEN alice registers an FCM token, twice
    status, body = svc.register_token("alice", "fcm", "tok-1")
    assert (status, svc.register_token("alice", "fcm", "tok-1")) == (201, (200, body))
    # THEN one SNS endpoint was created and stored with the device
    assert platforms.created == [("fcm", "tok-1")]
    [device] = devices.list_for("alice")
    assert device["snsEndpointArn"].endswith("/fcm/app/tok-1")
    # WHEN bob takes the token over THEN the endpoint (same token, same ARN) is kept
    svc.register_token("bob", "fcm", "tok-1")
    assert platforms.deleted == []
    # WHEN bob deletes the device THEN its endpoint is deleted too
    [bobs] = devices.list_for("bob")
    svc.delete("bob", bobs["deviceId"])
    assert platforms.deleted == [bobs["snsEndpointArn"]]


def test_push_config_serves_the_public_key_and_the_platforms() -> None:
    svc, _, _ = service(platforms=FakePlatforms(), enabled={"webpush", "apns"})
    assert svc.config() == {"webpush": {"vapidPublicKey": "BPUBLIC"}, "fcm": False, "apns": True}
