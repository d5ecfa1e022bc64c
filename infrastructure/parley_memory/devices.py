"""In-memory push devices and their claims (the `Devices` port), with the DynamoDB
repository's semantics: the registration is all-or-nothing and fails when the claim changed
(`parley.repositories.devices`). Kept apart from :class:`parley_memory.store.Store`: the
benchmarks do not price the devices API."""

from __future__ import annotations

import copy
import threading

from parley.records import Device

__all__ = ["MemoryDevices"]


class MemoryDevices:
    """Devices by (userId, deviceId) and claims by key, under one lock."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], Device] = {}
        self.claims: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def list_for(self, user_id: str) -> list[Device]:
        with self._lock:
            return [copy.deepcopy(d) for (u, _), d in self.devices.items() if u == user_id]

    def get(self, user_id: str, device_id: str) -> Device | None:
        with self._lock:
            found = self.devices.get((user_id, device_id))
            return copy.deepcopy(found) if found is not None else None

    def owner(self, key: str) -> tuple[str, str] | None:
        with self._lock:
            return self.claims.get(key)

    def add(self, device: Device, evict: list[Device], previous: Device | None = None) -> bool:
        with self._lock:
            ids = (device["userId"], device["deviceId"])
            held = self.claims.get(device["key"])
            if ids in self.devices:
                return False
            if held is not None and (previous is None or held[1] != previous["deviceId"]):
                return False
            for old in [*evict, *([previous] if previous is not None else [])]:
                self.devices.pop((old["userId"], old["deviceId"]), None)
                if self.claims.get(old["key"], ("", ""))[1] == old["deviceId"]:
                    del self.claims[old["key"]]
            self.devices[ids] = copy.deepcopy(device)
            self.claims[device["key"]] = ids
            return True

    def refresh(self, device: Device) -> None:
        with self._lock:
            self.devices[(device["userId"], device["deviceId"])] = copy.deepcopy(device)

    def remove(self, device: Device) -> bool:
        with self._lock:
            gone = self.devices.pop((device["userId"], device["deviceId"]), None)
            if self.claims.get(device["key"], ("", ""))[1] == device["deviceId"]:
                del self.claims[device["key"]]
            return gone is not None
