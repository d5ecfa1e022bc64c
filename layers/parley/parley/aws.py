"""Lazily created, reused boto3 clients: the only place that builds them.

Clients are made on first use (a cold start pays only for what its path needs) and kept
for the life of the container. `AWS_ENDPOINT_URL` (read by boto3 itself) points them at
the local cloud; nothing here knows about it.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

_lock = threading.Lock()


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


def _config(pool: int) -> Config:
    from botocore.config import Config

    # Standard retry mode backs off with jitter and bounds attempts; no hand-written sleeps.
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=pool,
        tcp_keepalive=True,
    )


@cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    """A shared client for `service` (thread-safe, cached per endpoint)."""
    with _lock:
        return _session().client(service, endpoint_url=endpoint_url, config=_config(64))


def management_endpoint(api_endpoint: str, stage: str) -> str:
    """The `@connections` endpoint for a WebSocket API: `https://{domain}/{stage}`.

    Built from the API's endpoint (`!GetAtt Api.ApiEndpoint`, a `wss://` URL) so the same
    code serves AWS and the local cloud (whose endpoint is `ws://127.0.0.1:port`).
    """
    if api_endpoint.startswith("wss://"):
        base = "https://" + api_endpoint[len("wss://") :]
    elif api_endpoint.startswith("ws://"):
        base = "http://" + api_endpoint[len("ws://") :]
    else:
        base = api_endpoint
    return f"{base.rstrip('/')}/{stage}"
