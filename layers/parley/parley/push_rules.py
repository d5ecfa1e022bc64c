"""Offline push (protocol 10): the pure rules, with no I/O and no cryptography library.

* the endpoint policy against server-side request forgery: what a Web Push subscription
  may name at registration (:func:`check_endpoint`) and where the notifier may connect at
  send time (:func:`address_allowed`);
* the VAPID private scalar, derived from the deploy-time secret (:func:`vapid_scalar`);
* the `Topic` of a conversation and the notification payload (:func:`topic`,
  :func:`payload`).

docs/security.md, "Offline push", lists the tests that prove each rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from parley.errors import InvalidParam
from parley.records import Message, NotifyItem

__all__ = [
    "MAX_ENDPOINT_CHARS",
    "NOTIFYING_TYPES",
    "P256_ORDER",
    "PREVIEW_CHARS",
    "EndpointPolicy",
    "address_allowed",
    "b64url_decode",
    "b64url_encode",
    "check_endpoint",
    "check_subscription_keys",
    "notify_item",
    "origin",
    "payload",
    "topic",
    "vapid_scalar",
]

EndpointPolicy = Literal["https", "loopback"]

MAX_ENDPOINT_CHARS = 2048
PREVIEW_CHARS = 100
# Only these bodies notify; events (edit, delete, reaction) and system messages never do.
NOTIFYING_TYPES = frozenset({"text", "file", "custom"})

# The order n of the NIST P-256 group (FIPS 186-4, D.1.2.3).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# An RFC 1123 host name of at least two labels (a single label resolves through search
# domains, i.e. to whatever the network's resolver says, so it is refused too).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})+")
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def b64url_decode(text: str) -> bytes:
    """base64url with or without padding (ValueError when it is not base64url)."""
    if _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2), as Web Push keys are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    # Forms inet_aton accepts and some resolvers still map to an address: 2130706433,
    # 0x7f.1, 127.1 (all digits and dots, or hex labels).
    return bool(re.fullmatch(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*", host))


def check_endpoint(endpoint: str, policy: EndpointPolicy) -> str:
    """A Web Push endpoint the service may POST to, else 1001 (protocol 10).

    `https` with a DNS host name and no userinfo; no IP literal (v4 or v6, in any notation),
    no `localhost`. The `loopback` policy (local stacks) also admits
    `http://127.0.0.1:<port>/...`.
    """
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise InvalidParam(f"subscription.endpoint must be at most {MAX_ENDPOINT_CHARS} chars")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in endpoint) or "\\" in endpoint:
        raise InvalidParam("subscription.endpoint must be a plain ASCII URL")
    try:
        url = urlsplit(endpoint)
        port = url.port
    except ValueError:
        raise InvalidParam("subscription.endpoint is not a URL") from None
    if url.username is not None or url.password is not None or "@" in url.netloc:
        raise InvalidParam("subscription.endpoint must not carry userinfo")
    host = (url.hostname or "").lower()
    if policy == "loopback" and url.scheme == "http" and host == "127.0.0.1":
        if port is None or url.netloc != f"127.0.0.1:{port}":
            raise InvalidParam("subscription.endpoint must be http://127.0.0.1:<port>/")
        return endpoint
    if url.scheme != "https":
        raise InvalidParam("subscription.endpoint must be an https URL")
    if url.netloc.startswith("[") or _is_ip_literal(host.rstrip(".")):
        raise InvalidParam("subscription.endpoint must name a host, not an IP address")
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise InvalidParam("subscription.endpoint must not be localhost")
    if _HOST_NAME.fullmatch(name) is None:
        raise InvalidParam("subscription.endpoint must have a DNS host name")
    return endpoint


def address_allowed(address: str, policy: EndpointPolicy) -> bool:
    """Whether the notifier may connect to `address`, an IP a push host resolved to.

    Private, loopback, link-local, shared (CGNAT), multicast, reserved and unspecified
    addresses are refused (an endpoint's DNS name could point into the VPC or at the
    metadata service); under `loopback`, 127.0.0.1 is allowed.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if policy == "loopback" and ip == ipaddress.IPv4Address("127.0.0.1"):
        return True
    return ip.is_global and not ip.is_multicast


def origin(endpoint: str) -> str:
    """The endpoint's origin (`scheme://host[:port]`), the VAPID `aud` (RFC 8292 section 2)."""
    url = urlsplit(endpoint)
    default = {"https": 443, "http": 80}.get(url.scheme)
    host = url.hostname or ""
    port = url.port
    return f"{url.scheme}://{host}" + (f":{port}" if port and port != default else "")


def check_subscription_keys(p256dh: str, auth: str) -> None:
    """The subscription's keys as RFC 8291 needs them, else 1001: `p256dh` an uncompressed
    P-256 point (65 bytes, 0x04 first), `auth` a 16-byte secret."""
    try:
        point = b64url_decode(p256dh)
        secret = b64url_decode(auth)
    except ValueError:
        raise InvalidParam("subscription.keys must be base64url") from None
    if len(point) != 65 or point[0] != 4:
        raise InvalidParam("subscription.keys.p256dh must be an uncompressed P-256 point")
    if len(secret) != 16:
        raise InvalidParam("subscription.keys.auth must be 16 bytes")


def vapid_scalar(seed: str) -> int:
    """The VAPID private key (a P-256 scalar in [1, n-1]) derived from the stack's secret.

    The secret is 64 random characters generated by Secrets Manager at deploy time. The
    scalar follows FIPS 186-4 B.4.1 (key pair generation using extra random bits): 320 bits
    from HKDF-SHA256 (RFC 5869) of the seed, reduced as `c mod (n-1) + 1`, so its bias is
    below 2^-64. The derivation is fixed: a changed formula would change the public key and
    orphan every subscription.
    """
    prk = hmac.new(b"parley-vapid-v1", seed.encode(), hashlib.sha256).digest()
    okm = b""
    block = b""
    counter = 1
    while len(okm) < 40:
        block = hmac.new(
            prk, block + b"p256 private key" + bytes([counter]), hashlib.sha256
        ).digest()
        okm += block
        counter += 1
    return int.from_bytes(okm[:40], "big") % (P256_ORDER - 1) + 1


def topic(conversation_id: str) -> str:
    """The `Topic` header of a conversation's notifications: 32 base64url characters, the
    same for every notification of one conversation (a newer one replaces an undelivered
    older one at the push service), and not the conversation id itself (it names users)."""
    digest = hashlib.sha256(b"parley-topic:" + conversation_id.encode()).digest()
    return b64url_encode(digest[:24])


def payload(message: Message, previews: bool) -> dict[str, Any]:
    """The decrypted notification (protocol 10): `{type, conversationId, seq, senderId, ts,
    preview?}`; `preview` (first 100 code points of the text, or the file's name) only when
    previews are on."""
    out: dict[str, Any] = {
        "type": "message",
        "conversationId": message["conversationId"],
        "seq": message["seq"],
        "senderId": message["senderId"],
        "ts": message["ts"],
    }
    if previews:
        body: dict[str, Any] = message["body"]
        if body.get("type") == "text" and isinstance(body.get("text"), str):
            out["preview"] = body["text"][:PREVIEW_CHARS]
        elif body.get("type") == "file" and isinstance(body.get("name"), str):
            out["preview"] = body["name"][:PREVIEW_CHARS]
    return out


def notify_item(value: Any) -> NotifyItem | None:
    """`value` as a NotifyQueue work item, or None when it is not one (dropped and logged:
    a malformed item would fail the same way on every delivery)."""
    if not isinstance(value, dict):
        return None
    conversation, seq, users = value.get("conversationId"), value.get("seq"), value.get("userIds")
    if not isinstance(conversation, str) or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        return None
    item: NotifyItem = {"conversationId": conversation, "seq": seq, "userIds": users}
    devices, attempt = value.get("deviceIds"), value.get("attempt")
    if devices is not None:
        if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
            return None
        item["deviceIds"] = devices
    if attempt is not None:
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            return None
        item["attempt"] = attempt
    return item
