"""Small networking helpers shared by the HTTP and WebSocket clients."""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback_url(url: str) -> bool:
    """True when ``url`` points at this machine (proxies are bypassed for it)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def quote_segment(value: str) -> str:
    """Percent-encode one path segment (``:`` kept, as in ``dm:alice:bob``)."""
    return urllib.parse.quote(value, safe=":@")
