"""Python client library for Parley, the serverless instant-messaging backend.

* :class:`HttpClient` — accounts, tokens, groups, conversations, history (HTTP API).
* :class:`ParleyClient` — the live WebSocket connection: idempotent sending with
  retries, sync, ordered and de-duplicated delivery of pushed messages, receipts,
  typing, presence, call signalling, keepalive and automatic reconnection; tuned
  with :class:`ClientOptions`. It is a thin asyncio shell around
  :class:`ClientCore`, the sans-I/O state machine that holds every rule.

Quick start::

    import asyncio
    from parley_client import HttpClient, ParleyClient

    async def main() -> None:
        http = HttpClient("http://127.0.0.1:3000")
        await http.login("alice", "correct horse battery")
        async with ParleyClient("ws://127.0.0.1:3001", http.token_provider) as client:
            ack = await client.send("hi Bob", to="bob")
            print("stored as", ack["conversationId"], ack["seq"])
            async for event in client:
                print(event)

    asyncio.run(main())
"""

from .backoff import full_jitter
from .client import ParleyClient
from .core import ClientCore, SyncResult
from .errors import (
    ErrorCode,
    ParleyClientError,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from .events import EventListener
from .formatting import dm_conversation_id
from .http_client import HttpClient, TokensCallback
from .options import ClientOptions
from .ordering import Sequencer
from .tokens import TokenProvider, jwt_claims, static_token
from .wire import MAX_FRAME_BYTES, JsonObject, text_body

__version__ = "0.1.0"

__all__ = [
    "MAX_FRAME_BYTES",
    "ClientCore",
    "ClientOptions",
    "ErrorCode",
    "EventListener",
    "HttpClient",
    "JsonObject",
    "ParleyClient",
    "ParleyClientError",
    "ParleyClosedError",
    "ParleyConnectionError",
    "ParleyError",
    "ParleyTimeoutError",
    "Sequencer",
    "SyncResult",
    "TokenProvider",
    "TokensCallback",
    "__version__",
    "dm_conversation_id",
    "full_jitter",
    "jwt_claims",
    "static_token",
    "text_body",
]
