"""Devices and push configuration (protocol 10): `GET /push/config`, `POST/GET/DELETE
/devices`.

A device is one Web Push subscription, or one FCM or APNs token (an SNS platform endpoint).
The same endpoint or token registered again is the same device (`200`, same id, keys and
registration time refreshed); registered by another user, it moves to the caller (a shared
browser must not ring for the account that left it). A user keeps at most `max_devices`:
an 11th replaces the least recently registered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from parley import ids
from parley.clock import Clock
from parley.errors import InvalidParam, NotFound, Unavailable
from parley.ports import Devices, PushPlatforms
from parley.push_rules import EndpointPolicy, check_endpoint, check_subscription_keys
from parley.records import Device, Platform

__all__ = ["MAX_DEVICES", "DeviceService", "device_key"]

MAX_DEVICES = 10
_ATTEMPTS = 3  # registrations racing for one endpoint: re-read the claim, then give up (2001)


def device_key(platform: str, address: str) -> str:
    """The claim key of an endpoint or token: SHA-256 of platform and address (the table
    never holds an endpoint in a key, and the key has a fixed size whatever the URL's)."""
    return hashlib.sha256(f"{platform}\n{address}".encode()).hexdigest()


@dataclass(eq=False, kw_only=True)
class DeviceService:
    """Registers, lists and removes a user's push devices; answers the push configuration."""

    devices: Devices
    platforms: PushPlatforms | None
    enabled: frozenset[str]
    policy: EndpointPolicy
    vapid_public_key: Callable[[], str]
    clock: Clock
    max_devices: int = MAX_DEVICES

    def config(self) -> dict[str, Any]:
        """`GET /push/config`: the VAPID public key and which native platforms are on."""
        return {
            "webpush": {"vapidPublicKey": self.vapid_public_key()},
            "fcm": "fcm" in self.enabled,
            "apns": "apns" in self.enabled,
        }

    def register_webpush(
        self, caller: str, endpoint: str, p256dh: str, auth: str
    ) -> tuple[int, dict[str, Any]]:
        """A Web Push subscription: (201 or 200, `{deviceId}`); a refused endpoint or
        malformed keys are 1001."""
        check_endpoint(endpoint, self.policy)
        check_subscription_keys(p256dh, auth)
        fields = {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}
        return self._register(caller, "webpush", device_key("webpush", endpoint), fields)

    def register_token(
        self, caller: str, platform: Platform, token: str
    ) -> tuple[int, dict[str, Any]]:
        """An FCM or APNs token: its SNS endpoint is created with the device (1001 when the
        platform is not enabled)."""
        if platform not in self.enabled or self.platforms is None:
            raise InvalidParam(f"platform {platform} is not enabled")
        return self._register(caller, platform, device_key(platform, token), {"token": token})

    def list(self, caller: str) -> dict[str, Any]:
        """`GET /devices`, oldest first."""
        found = sorted(self.devices.list_for(caller), key=lambda d: (d["createdAt"], d["deviceId"]))
        return {
            "devices": [
                {"deviceId": d["deviceId"], "platform": d["platform"], "createdAt": d["createdAt"]}
                for d in found
            ]
        }

    def delete(self, caller: str, device_id: str) -> None:
        """`DELETE /devices/{deviceId}`: another user's device or an unknown id is 2003."""
        if ids.ULID_RE.fullmatch(device_id) is None:
            raise NotFound("no such device")
        device = self.devices.get(caller, device_id)
        if device is None or not self.devices.remove(device):
            raise NotFound("no such device")
        self._drop_endpoint(device)

    # ---- registration ---------------------------------------------------------------------

    def _register(
        self, caller: str, platform: Platform, key: str, fields: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        now = self.clock.now_ms()
        for _ in range(_ATTEMPTS):
            previous = self._holder(key)
            if previous is not None and previous["userId"] == caller and "platform" in previous:
                refreshed: Device = {**previous, **fields, "registeredAt": now}  # type: ignore[typeddict-item]
                self.devices.refresh(refreshed)
                return 200, {"deviceId": previous["deviceId"]}
            mine = [
                d
                for d in self.devices.list_for(caller)
                if previous is None or d["deviceId"] != previous["deviceId"]
            ]
            # Leave room for the new one; more than one when racing registrations overshot.
            excess = len(mine) - (self.max_devices - 1)
            oldest = sorted(mine, key=lambda d: (d["registeredAt"], d["deviceId"]))
            evict = oldest[: max(0, excess)]
            device: Device = {
                "userId": caller,
                "deviceId": ids.new_ulid(now),
                "platform": platform,
                "key": key,
                "createdAt": now,
                "registeredAt": now,
                **fields,  # type: ignore[typeddict-item]
            }
            if platform != "webpush":
                assert self.platforms is not None
                device["snsEndpointArn"] = self.platforms.create_endpoint(platform, fields["token"])
            if self.devices.add(device, evict, previous):
                for old in [*evict, *([previous] if previous else [])]:
                    if old.get("snsEndpointArn") != device.get("snsEndpointArn"):
                        self._drop_endpoint(old)
                return 201, {"deviceId": device["deviceId"]}
        raise Unavailable("device registration raced; retry")

    def _holder(self, key: str) -> Device | None:
        """The device that holds `key` now: the full device, or (a claim left behind by an
        interrupted removal) a stand-in with its ids only, so the claim can be taken over."""
        owner = self.devices.owner(key)
        if owner is None:
            return None
        user_id, device_id = owner
        found = self.devices.get(user_id, device_id)
        if found is not None:
            return found
        return cast(Device, {"userId": user_id, "deviceId": device_id, "key": key})

    def _drop_endpoint(self, device: Device) -> None:
        arn = device.get("snsEndpointArn")
        if arn and self.platforms is not None:
            self.platforms.delete_endpoint(arn)
