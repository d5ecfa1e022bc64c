"""`/push/config` and `/devices` (protocol 10): the VAPID public key, and a user's push
devices (Web Push subscriptions, FCM and APNs tokens).

The VAPID public key is computed here from the stack's secret: the elliptic-curve library
(`cryptography`, this function's own requirement) stays out of the shared layer, where it
would slow every function's cold start (docs/architecture.md, "Offline push").
"""

from __future__ import annotations

from functools import cache
from typing import Any

from parley import runtime
from parley.models import WebPushDeviceBody, parse_device_body
from parley.observability import instrumented
from parley.push_rules import b64url_encode, vapid_scalar
from parley.records import Platform
from parley.web import HttpRequest, http_response, serve_http


@cache
def vapid_public_key() -> str:
    """The base64url uncompressed P-256 point (65 bytes) of the stack's VAPID key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.derive_private_key(vapid_scalar(runtime.vapid_seed()), ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url_encode(point)


def config(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.device_service(vapid_public_key).config())


def register(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    body = parse_device_body(request.json())
    service = runtime.device_service(vapid_public_key)
    if isinstance(body, WebPushDeviceBody):
        sub = body.subscription
        status, reply = service.register_webpush(user, sub.endpoint, sub.keys.p256dh, sub.keys.auth)
    else:
        platform: Platform = "fcm" if body.platform == "fcm" else "apns"
        status, reply = service.register_token(user, platform, body.token)
    return http_response(status, reply)


def index(request: HttpRequest) -> dict[str, Any]:
    return http_response(200, runtime.device_service(vapid_public_key).list(request.caller.user_id))


def remove(request: HttpRequest) -> dict[str, Any]:
    user = request.caller.user_id
    runtime.device_service(vapid_public_key).delete(user, request.path.get("deviceId", ""))
    return http_response(204)


ROUTES = {
    "GET /push/config": config,
    "POST /devices": register,
    "GET /devices": index,
    "DELETE /devices/{deviceId}": remove,
}


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve_http(event, ROUTES)
