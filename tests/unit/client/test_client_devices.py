"""Push devices (protocol 10) from the Python client and the CLI, against the fake HTTP API:
register a Web Push subscription, list and remove devices, read the push config."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from parley_client import HttpClient, ParleyError
from parley_client.cli import main

ENDPOINT = "https://push.example.com/send/abc"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


def test_register_list_remove_and_config(http_server: Any, backend: Any) -> None:
    async def scenario() -> None:
        http = HttpClient(http_server.url)
        await http.login("alice", "password123")
        # WHEN alice reads the push config THEN it carries the VAPID key and the platforms
        config = await http.push_config()
        assert set(config) == {"webpush", "fcm", "apns"} and config["webpush"]["vapidPublicKey"]
        # WHEN she registers a Web Push subscription THEN the protocol's body is sent
        device_id = await http.register_device(endpoint=ENDPOINT, p256dh=P256DH, auth=AUTH)
        assert http_server.requests[-1][0:2] == ("POST", "/devices")
        stored = backend.devices[device_id]
        assert (stored["key"], stored["keys"]) == (ENDPOINT, {"p256dh": P256DH, "auth": AUTH})
        # AND registering the same endpoint again answers the same id
        assert await http.register_device(endpoint=ENDPOINT, p256dh=P256DH, auth=AUTH) == device_id
        # AND the list shows it
        devices = await http.devices()
        assert [(d["deviceId"], d["platform"]) for d in devices] == [(device_id, "webpush")]
        # WHEN she removes it THEN it is gone, and removing it again is 2003
        await http.remove_device(device_id)
        assert await http.devices() == []
        with pytest.raises(ParleyError) as caught:
            await http.remove_device(device_id)
        assert caught.value.code == 2003

    asyncio.run(scenario())


def test_refused_registrations(http_server: Any) -> None:
    async def scenario() -> None:
        http = HttpClient(http_server.url)
        await http.login("alice", "password123")
        # WHEN the server refuses the endpoint THEN 1001 reaches the caller
        with pytest.raises(ParleyError) as caught:
            await http.register_device(endpoint="http://10.0.0.1/x", p256dh=P256DH, auth=AUTH)
        assert caught.value.code == 1001
        # AND an incomplete subscription or a token-less native device never leaves the client
        with pytest.raises(ValueError, match="endpoint, p256dh and auth"):
            await http.register_device(endpoint=ENDPOINT, p256dh=P256DH)
        with pytest.raises(ValueError, match="needs its token"):
            await http.register_device("fcm")
        # AND a native token is sent as the protocol says (here: not enabled, 1001)
        with pytest.raises(ParleyError) as caught:
            await http.register_device("fcm", token="t0k3n")
        assert caught.value.code == 1001

    asyncio.run(scenario())


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_devices_add_list_remove(http_server: Any, config_dir: Path, backend: Any) -> None:
    p = ["--http", http_server.url, "--profile", "al"]
    assert cli(*p, "login", "alice", "--password", "password123")[0] == 0
    # GIVEN no device THEN `devices` says so
    assert cli(*p, "devices")[1] == "No devices registered.\n"
    # WHEN a subscription is added THEN its id is printed
    code, out, err = cli(*p, "device", "add-webpush", ENDPOINT, P256DH, AUTH)
    assert code == 0, err
    [device_id] = list(backend.devices)
    assert out == f"Registered device {device_id}.\n"
    # AND `devices` lists it in a table, `--json` as the server's objects
    code, out, _ = cli(*p, "devices")
    lines = out.splitlines()
    assert lines[0].split() == ["DEVICE", "PLATFORM", "REGISTERED"]
    assert lines[1].split()[:2] == [device_id, "webpush"]
    assert json.loads(cli(*p, "devices", "--json")[1])[0]["deviceId"] == device_id
    assert json.loads(cli(*p, "device", "add-webpush", ENDPOINT, P256DH, AUTH, "--json")[1]) == {
        "deviceId": device_id
    }
    # WHEN it is removed THEN the list is empty again
    assert cli(*p, "device", "remove", device_id)[1] == f"Removed device {device_id}.\n"
    assert backend.devices == {}
    # AND a refused endpoint exits non-zero with the protocol's code
    code, _, err = cli(*p, "device", "add-webpush", "http://127.0.0.1/x", P256DH, AUTH)
    assert code != 0 and "1001" in err
