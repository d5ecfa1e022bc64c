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
from .bodies import (
    attachment_request,
    delete_body,
    edit_body,
    file_body,
    reaction_body,
    rich_text_body,
)
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
from .multipart import encode_multipart
from .options import ClientOptions
from .ordering import Sequencer
from .state import MessageStore, Updated
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
    "MessageStore",
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
    "Updated",
    "__version__",
    "attachment_request",
    "delete_body",
    "dm_conversation_id",
    "edit_body",
    "encode_multipart",
    "file_body",
    "full_jitter",
    "jwt_claims",
    "reaction_body",
    "rich_text_body",
    "static_token",
    "text_body",
]
