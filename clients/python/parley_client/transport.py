"""Opening the WebSocket: the handshake, its token, and the 401 → refresh → retry rule."""

from __future__ import annotations

import logging
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

from ._net import is_loopback_url
from .errors import ErrorCode, ParleyConnectionError, ParleyError
from .options import ClientOptions
from .tokens import TokenProvider
from .wire import with_token

log = logging.getLogger("parley_client.ws")

#: Incoming frames above this size close the socket (the server sends far less).
MAX_INCOMING_BYTES = 4 * 2**20
USER_AGENT = "parley-client/0.1 (python)"


async def open_connection(
    ws_url: str,
    token_provider: TokenProvider,
    options: ClientOptions,
    on_token: Callable[[str], None],
) -> ClientConnection:
    """One connection attempt: ``token_provider(False)``, and after a 401 ``(True)`` once.

    ``on_token`` is told each token before it is presented.

    Raises:
        ParleyError: 1003 when the handshake is refused with 401 also with a renewed
            token (or whatever the provider raises).
        ParleyConnectionError: the server cannot be reached or refused otherwise.
        ValueError: the URL is not usable.
    """
    token = await token_provider(False)
    try:
        return await _dial(ws_url, token, options, on_token)
    except InvalidStatus as exc:
        if exc.response.status_code != 401:
            raise _handshake_error(exc) from exc
    log.info("handshake refused with 401; asking the token provider for a fresh token")
    token = await token_provider(True)
    try:
        return await _dial(ws_url, token, options, on_token)
    except InvalidStatus as exc:
        if exc.response.status_code == 401:
            raise ParleyError(
                ErrorCode.UNAUTHENTICATED,
                "WebSocket handshake refused with HTTP 401, also with a renewed token",
                401,
            ) from exc
        raise _handshake_error(exc) from exc


async def _dial(
    ws_url: str, token: str, options: ClientOptions, on_token: Callable[[str], None]
) -> ClientConnection:
    on_token(token)
    try:
        return await ws_connect(
            with_token(ws_url, token),
            open_timeout=options.open_timeout,
            ping_interval=options.ws_ping_interval,
            ping_timeout=options.ws_ping_interval,
            close_timeout=5,
            max_size=MAX_INCOMING_BYTES,
            proxy=None if is_loopback_url(ws_url) else True,
            user_agent_header=USER_AGENT,
        )
    except InvalidStatus:
        raise
    except InvalidURI as exc:
        raise ValueError(f"bad WebSocket URL {ws_url!r}: {exc}") from exc
    except TimeoutError as exc:
        raise ParleyConnectionError(f"cannot connect to {ws_url}: handshake timed out") from exc
    except (OSError, WebSocketException) as exc:
        raise ParleyConnectionError(f"cannot connect to {ws_url}: {exc}") from exc


def _handshake_error(exc: InvalidStatus) -> ParleyConnectionError:
    return ParleyConnectionError(
        f"WebSocket handshake refused with HTTP {exc.response.status_code}"
    )
