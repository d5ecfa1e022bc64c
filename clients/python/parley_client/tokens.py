"""Access-token helpers: the token-provider protocol and unverified JWT claim reading."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

#: ``async def provider(force_refresh: bool) -> str`` returning an access token.
#:
#: :class:`~parley_client.ParleyClient` calls it with ``False`` before every
#: connection attempt (return a cached token if it is still good) and with ``True``
#: after the server refused a token (handshake 401 or error 1003): then the provider
#: must obtain a new one, typically with the refresh token. Raising
#: :class:`~parley_client.ParleyError` with code 1003 from the provider tells the
#: client that the login is over; it stops reconnecting.
TokenProvider = Callable[[bool], Awaitable[str]]


def static_token(token: str) -> TokenProvider:
    """Return a provider that always answers ``token`` (it cannot renew anything)."""

    async def provide(force_refresh: bool) -> str:
        return token

    return provide


def jwt_claims(token: str) -> dict[str, Any]:
    """Decode a JWT's payload *without verifying it*; ``{}`` when it is not a JWT.

    Only for client-side conveniences (who am I, when does the token expire); the
    server is the one that verifies tokens.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expires_within(token: str, seconds: float, *, now: float | None = None) -> bool:
    """True when ``token`` has an ``exp`` claim that falls within ``seconds`` from now.

    A token without a readable ``exp`` is assumed good (the server will say otherwise).
    """
    exp = token_expiry(token)
    if exp is None:
        return False
    current = time.time() if now is None else now
    return exp - current <= seconds


def token_expiry(token: str | None) -> float | None:
    """The ``exp`` claim of ``token`` (epoch seconds, unverified), or ``None``."""
    exp = jwt_claims(token).get("exp") if token else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
