"""The pure rules of offline push (protocol 10): the endpoint policy against SSRF, the
addresses the notifier may connect to, the VAPID scalar, the Topic and the payload."""

from __future__ import annotations

from typing import Any

import pytest
from parley.errors import InvalidParam
from parley.push_rules import (
    P256_ORDER,
    address_allowed,
    b64url_decode,
    b64url_encode,
    check_endpoint,
    check_subscription_keys,
    notify_item,
    origin,
    payload,
    topic,
    vapid_scalar,
)

# Every form protocol 10 refuses, under both policies (docs/security.md, "Offline push").
REFUSED = [
    "http://push.example.com/x",  # another scheme than https
    "ftp://push.example.com/x",
    "wss://push.example.com/x",
    "https://1.2.3.4/x",  # IPv4 literal
    "https://10.0.0.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://2130706433/x",  # 127.0.0.1 as one number
    "https://0x7f.1/x",  # and in hex
    "https://127.1/x",
    "https://[::1]/x",  # IPv6 literals
    "https://[2001:db8::1]:8443/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://localhost/x",
    "https://localhost./x",
    "https://api.localhost/x",
    "https://user@push.example.com/x",  # userinfo
    "https://user:pw@push.example.com/x",
    "https://push.example.com@evil.example.net/x",
    "https://intranet/x",  # a single label resolves through search domains
    "https:///x",
    "https://push.example.com:99999/x",  # not a port
    "https://push example.com/x",
    "https://push.example.com\\@evil.example/x",
    "https://bücher.example/x",  # non-ASCII host (IDNs come punycoded)
    "javascript:alert(1)",
    "",
    "https://" + "a" * 2048 + ".example.com/",
]


@pytest.mark.parametrize("endpoint", REFUSED)
@pytest.mark.parametrize("policy", ["https", "loopback"])
def test_every_listed_endpoint_form_is_refused(endpoint: str, policy: Any) -> None:
    # WHEN a subscription names one of the refused forms, THEN 1001
    with pytest.raises(InvalidParam):
        check_endpoint(endpoint, policy)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://push.example.com:8443/x?y=1",
        "https://xn--bcher-kva.example/x",
    ],
)
def test_https_endpoints_with_dns_names_are_accepted(endpoint: str) -> None:
    assert check_endpoint(endpoint, "https") == endpoint


def test_loopback_policy_admits_only_http_127_0_0_1_with_a_port() -> None:
    # GIVEN the local stack's policy
    assert check_endpoint("http://127.0.0.1:8123/push/1", "loopback")
    # THEN the default policy refuses the same endpoint
    with pytest.raises(InvalidParam):
        check_endpoint("http://127.0.0.1:8123/push/1", "https")
    # AND loopback admits nothing else new: no other loopback form, no port-less URL
    for other in [
        "http://127.0.0.1/push",
        "http://127.0.0.2:8123/",
        "http://localhost:8123/",
        "http://[::1]:8123/",
        "http://u@127.0.0.1:8123/",
    ]:
        with pytest.raises(InvalidParam):
            check_endpoint(other, "loopback")


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
    ],
)
def test_private_link_local_and_loopback_addresses_are_refused_at_send_time(address: str) -> None:
    assert not address_allowed(address, "https")


def test_public_addresses_are_allowed_and_loopback_policy_adds_127_0_0_1_only() -> None:
    assert address_allowed("142.250.1.1", "https")
    assert address_allowed("2a00:1450:4001::200e", "https")
    assert address_allowed("127.0.0.1", "loopback")
    assert not address_allowed("127.0.0.2", "loopback")
    assert not address_allowed("10.0.0.1", "loopback")


def test_origin_is_the_vapid_audience() -> None:
    assert origin("https://push.example.com/a/b?c") == "https://push.example.com"
    assert origin("https://push.example.com:443/a") == "https://push.example.com"
    assert origin("https://push.example.com:8443/a") == "https://push.example.com:8443"
    assert origin("http://127.0.0.1:9000/a") == "http://127.0.0.1:9000"


def test_subscription_keys_must_have_their_rfc_8291_sizes() -> None:
    point = b64url_encode(b"\x04" + b"\x01" * 64)
    secret = b64url_encode(b"\x02" * 16)
    check_subscription_keys(point, secret)
    check_subscription_keys(point + "=", secret + "==")  # padded base64url too
    for p256dh, auth in [
        (b64url_encode(b"\x03" + b"\x01" * 32), secret),  # compressed point
        (b64url_encode(b"\x04" + b"\x01" * 63), secret),
        (point, b64url_encode(b"\x02" * 15)),
        (point, "not*base64"),
    ]:
        with pytest.raises(InvalidParam):
            check_subscription_keys(p256dh, auth)


def test_b64url_round_trips_and_refuses_other_alphabets() -> None:
    assert b64url_decode(b64url_encode(b"\xfb\xff")) == b"\xfb\xff"
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode("+/==")


def test_vapid_scalar_is_a_fixed_valid_p256_key_per_seed() -> None:
    # GIVEN two seeds
    a, b = vapid_scalar("seed-one"), vapid_scalar("seed-two")
    # THEN each is in [1, n-1], the same seed gives the same key, and seeds differ
    assert 1 <= a < P256_ORDER and 1 <= b < P256_ORDER
    assert a == vapid_scalar("seed-one") and a != b
    # AND the derivation is pinned: a change would orphan every deployed subscription
    assert vapid_scalar("pinned") == int(
        "2cba18ecb3395835f4170db88027b3d033f86c15c60e6211a0b3dfdce8cb47b3", 16
    )


def test_topic_is_32_base64url_characters_per_conversation() -> None:
    t = topic("grp:01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert len(t) == 32 and set(t) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert t == topic("grp:01ARZ3NDEKTSV4RRFFQ69G5FAV") != topic("dm:alice:bob")
    assert "alice" not in topic("dm:alice:bob")


MESSAGE: Any = {
    "conversationId": "dm:alice:bob",
    "seq": 7,
    "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "senderId": "alice",
    "clientMsgId": "c1",
    "body": {"type": "text", "text": "é" * 150},
    "ts": 1_700_000_000_000,
}


def test_payload_is_exactly_the_protocols_and_previews_only_when_on() -> None:
    # WHEN previews are off THEN exactly the five fields, no text
    assert payload(MESSAGE, False) == {
        "type": "message",
        "conversationId": "dm:alice:bob",
        "seq": 7,
        "senderId": "alice",
        "ts": 1_700_000_000_000,
    }
    # WHEN on THEN the first 100 code points of the text, or the file's name
    assert payload(MESSAGE, True)["preview"] == "é" * 100
    file_message = {**MESSAGE, "body": {"type": "file", "name": "notes.txt", "size": 3}}
    assert payload(file_message, True)["preview"] == "notes.txt"
    custom = {**MESSAGE, "body": {"type": "custom", "data": {"x": 1}}}
    assert "preview" not in payload(custom, True)


def test_notify_items_are_checked_before_use() -> None:
    ok = {"conversationId": "dm:a:b", "seq": 3, "userIds": ["bob"]}
    assert notify_item(ok) == ok
    assert notify_item({**ok, "deviceIds": ["D"], "attempt": 2}) == {
        **ok,
        "deviceIds": ["D"],
        "attempt": 2,
    }
    for bad in [
        None,
        [],
        {**ok, "seq": "3"},
        {**ok, "seq": True},
        {**ok, "userIds": "bob"},
        {**ok, "userIds": [1]},
        {**ok, "deviceIds": "D"},
        {**ok, "attempt": -1},
        {"seq": 3, "userIds": []},
    ]:
        assert notify_item(bad) is None
