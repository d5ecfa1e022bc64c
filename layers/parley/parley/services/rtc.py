"""ICE servers for calls: STUN URLs and TURN credentials in the time-limited HMAC scheme
that coturn and other TURN servers accept (`use-auth-secret` / `static-auth-secret`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from parley.clock import Clock


def turn_credentials(secret: str, user_id: str, now_s: int, ttl: int) -> tuple[str, str]:
    """`username = "<expiry>:<userId>"`, `credential = base64(HMAC-SHA1(secret, username))`."""
    username = f"{now_s + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class IceServer(TypedDict):
    """One entry of `iceServers` (TURN entries carry credentials)."""

    urls: list[str]
    username: NotRequired[str]
    credential: NotRequired[str]


class IceServers(TypedDict):
    """The body of `GET /rtc/ice-servers`."""

    iceServers: list[IceServer]
    ttl: int


def split_urls(value: str) -> list[str]:
    """A comma-separated list of URLs (blanks dropped)."""
    return [u.strip() for u in value.split(",") if u.strip()]


@dataclass(eq=False, kw_only=True)
class RtcService:
    """Hands out ICE server lists; TURN credentials expire after `ttl` seconds."""

    stun_urls: list[str]
    turn_urls: list[str]
    ttl: int
    turn_secret: Callable[[], str]
    clock: Clock

    def ice_servers(self, user_id: str) -> IceServers:
        """`{iceServers: [{urls, username?, credential?}], ttl}` for `user_id`."""
        servers: list[IceServer] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        if self.turn_urls:
            username, credential = turn_credentials(
                self.turn_secret(), user_id, self.clock.now_ms() // 1000, self.ttl
            )
            servers.append(
                {"urls": list(self.turn_urls), "username": username, "credential": credential}
            )
        return {"iceServers": servers, "ttl": self.ttl}
