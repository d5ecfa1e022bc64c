"""DevicesTable: `pk` (S), `sk` (S). Two kinds of item (protocol 10, docs/architecture.md,
"Offline push"):

* a device: `pk` = userId, `sk` = `d#<deviceId>`. "The devices of these users" is one Query
  per user, never a Scan;
* its claim: `pk` = `k#<key>` (the SHA-256 of platform and endpoint or token; a userId has
  no `#`, so the two never meet), `sk` = `claim`, holding userId and deviceId. Registering
  the same endpoint again is one consistent GetItem of the claim, and the transaction that
  writes a device writes its claim on a condition, so two racing registrations cannot make
  two devices of one endpoint.
"""

from __future__ import annotations

import time
from typing import Any, cast

from parley import ddb
from parley.records import Device
from parley.repositories.base import Repository, Sleep, error_code, get_item, query_all, translate

__all__ = ["DevicesRepository"]

_CLAIM_SK = "claim"


def _device_key(user_id: str, device_id: str) -> dict[str, Any]:
    return ddb.key(pk=user_id, sk=f"d#{device_id}")


def _claim_key(key: str) -> dict[str, Any]:
    return ddb.key(pk=f"k#{key}", sk=_CLAIM_SK)


def _item(device: Device) -> dict[str, Any]:
    return ddb.encode({"pk": device["userId"], "sk": f"d#{device['deviceId']}", **device})


def _device(item: dict[str, Any]) -> Device:
    item.pop("pk", None)
    item.pop("sk", None)
    return cast(Device, item)


class DevicesRepository(Repository):
    """Devices and their claims."""

    def __init__(self, table: str, client: Any | None = None, *, sleep: Sleep = time.sleep) -> None:
        super().__init__(table, client, sleep=sleep)

    def list_for(self, user_id: str) -> list[Device]:
        """The user's devices: one Query on its partition, strongly consistent."""
        with translate():
            items = list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :u AND begins_with(sk, :d)",
                    ExpressionAttributeValues=ddb.encode({":u": user_id, ":d": "d#"}),
                    ConsistentRead=True,
                )
            )
        return [_device(ddb.decode(item)) for item in items]

    def get(self, user_id: str, device_id: str) -> Device | None:
        found = get_item(
            self.client, self.table, _device_key(user_id, device_id), ConsistentRead=True
        )
        return _device(found) if found else None

    def owner(self, key: str) -> tuple[str, str] | None:
        found = get_item(self.client, self.table, _claim_key(key), ConsistentRead=True)
        return (str(found["userId"]), str(found["deviceId"])) if found else None

    def add(self, device: Device, evict: list[Device], previous: Device | None = None) -> bool:
        """One TransactWriteItems: the device (new id: must not exist), its claim (absent,
        or still held by `previous`), and the deletes of `evict` and `previous`."""
        from botocore.exceptions import ClientError

        claim: dict[str, Any] = {
            "TableName": self.table,
            "Item": ddb.encode(
                {
                    "pk": f"k#{device['key']}",
                    "sk": _CLAIM_SK,
                    "userId": device["userId"],
                    "deviceId": device["deviceId"],
                }
            ),
        }
        if previous is None:
            claim["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            claim["ConditionExpression"] = "attribute_not_exists(pk) OR deviceId = :old"
            claim["ExpressionAttributeValues"] = ddb.encode({":old": previous["deviceId"]})
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _item(device),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": claim},
        ]
        for old in evict:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": _device_key(old["userId"], old["deviceId"]),
                    }
                }
            )
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": _claim_key(old["key"]),
                        "ConditionExpression": "attribute_not_exists(pk) OR deviceId = :id",
                        "ExpressionAttributeValues": ddb.encode({":id": old["deviceId"]}),
                    }
                }
            )
        if previous is not None:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": _device_key(previous["userId"], previous["deviceId"]),
                    }
                }
            )
        try:
            with translate():
                self.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    def refresh(self, device: Device) -> None:
        with translate():
            self.client.put_item(TableName=self.table, Item=_item(device))

    def remove(self, device: Device) -> bool:
        from botocore.exceptions import ClientError

        with translate():
            old = self.client.delete_item(
                TableName=self.table,
                Key=_device_key(device["userId"], device["deviceId"]),
                ReturnValues="ALL_OLD",
            )
        try:
            with translate():
                self.client.delete_item(
                    TableName=self.table,
                    Key=_claim_key(device["key"]),
                    ConditionExpression="deviceId = :id",
                    ExpressionAttributeValues=ddb.encode({":id": device["deviceId"]}),
                )
        except ClientError as exc:
            # The claim moved to another device (the endpoint was registered again): keep it.
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        return bool(old.get("Attributes"))
