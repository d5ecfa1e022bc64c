"""The WebSocket API as an AsyncAPI 3.0 document (protocol section 5).

AsyncAPI describes an application; this document describes the Parley server. So a client
frame is an operation the server `receive`s (with the reply it sends back), and a frame the
server pushes unasked is an operation it `send`s. One channel is the socket; its messages
are every client and server frame, each named after its schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley import models
from pydantic import BaseModel

from parley_schema import PROTOCOL_VERSION
from parley_schema.limits import CLOSE_MESSAGE_TOO_BIG, error_codes, limits
from parley_schema.models import (
    AckFrame,
    AuthOkFrame,
    ClientFrame,
    ErrorFrame,
    MessageFrame,
    PongFrame,
    PresenceReplyFrame,
    ReadOkFrame,
    ReceiptFrame,
    ServerFrame,
    SignalEventFrame,
    SignalOkFrame,
    SyncReplyFrame,
    TypingEventFrame,
)
from parley_schema.requests import (
    AuthFrame,
    PingFrame,
    PresenceFrame,
    ReadFrame,
    SendFrame,
    SignalFrame,
    SyncFrame,
    TypingFrame,
)
from parley_schema.schemas import asyncapi_flavour, component_schemas

CHANNEL = "socket"
_CHANNEL_REF = f"#/channels/{CHANNEL}"


@dataclass(frozen=True)
class Action:
    """A client frame the server receives, and what it may answer."""

    name: str
    frame: type[BaseModel]
    replies: tuple[type[BaseModel], ...]
    summary: str


@dataclass(frozen=True)
class Push:
    """A frame the server sends unasked."""

    name: str
    frame: type[BaseModel]
    summary: str


ACTIONS: tuple[Action, ...] = (
    Action("send", SendFrame, (AckFrame, ErrorFrame), "Send a message."),
    Action("sync", SyncFrame, (SyncReplyFrame, ErrorFrame), "Catch up from cursors."),
    Action("read", ReadFrame, (ReadOkFrame, ErrorFrame), "Mark messages read."),
    Action("typing", TypingFrame, (ErrorFrame,), "Typing indicator (no reply on success)."),
    Action("presence", PresenceFrame, (PresenceReplyFrame, ErrorFrame), "Who is online."),
    Action("signal", SignalFrame, (SignalOkFrame, ErrorFrame), "Call signaling."),
    Action("ping", PingFrame, (PongFrame, ErrorFrame), "Keep the socket alive."),
    Action("auth", AuthFrame, (AuthOkFrame, ErrorFrame), "Renew the socket's token."),
)

PUSHES: tuple[Push, ...] = (
    Push("pushMessage", MessageFrame, "A stored message, to every member's live connections."),
    Push("pushReceipt", ReceiptFrame, "A member read up to a seq."),
    Push("pushTyping", TypingEventFrame, "A member is typing."),
    Push("pushSignal", SignalEventFrame, "Call signaling from another user or device."),
    Push(
        "pushError",
        ErrorFrame,
        "Why the server closes the socket: 1003 for a frame after the token expired (unless "
        "`auth` renewed it). Logout closes the login's sockets without a frame.",
    ),
)

DESCRIPTION = f"""\
Parley's live traffic: messages, sync, read receipts, typing, presence and call signaling.
The prose contract is `docs/protocol.md` (section 5); this document states it as data.

* Connect with `GET <ws url>?token=<accessToken>`. A missing, malformed, expired or wrongly
  signed token gets the handshake rejected with HTTP 401; too many connects from one
  address, HTTP 429. A connection lives at most 2 hours and is closed after 10 idle minutes
  (API Gateway's limits): send `ping` to stay alive, reconnect with jittered backoff.
* Every client frame is one JSON object with an `action`. A frame that is not a JSON object
  gets an `error` 1001, an unknown action 1007. Replies carry the request's `id` when one
  was given. Every server frame has a `type` naming it.
* A single frame over {models.MAX_FRAME_BYTES} bytes closes the socket with code
  {CLOSE_MESSAGE_TOO_BIG}; a larger message sent in smaller frames gets 1006. Frames past the
  rate limit get 1005 and the socket stays open.
* After the token's expiry any frame gets an `error` 1003 and the socket is closed, unless
  `auth` renewed it. Logout and refresh-token reuse close the login's sockets at once.
* Clients must ignore fields they do not know.

Operations are written from the server's side: `receive` is a client frame (with the
server's `reply`), `send` a frame the server pushes unasked. `x-parley-error-codes` and
`x-parley-limits` are protocol sections 6 and 7.
"""


def _message(model: type[BaseModel], direction: str, schemas: dict[str, Any]) -> dict[str, Any]:
    description = schemas[model.__name__].get("description", "")
    message: dict[str, Any] = {
        "name": model.__name__,
        "title": model.__name__,
        "summary": " ".join(description.split("\n\n")[0].split()),
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        "tags": [{"name": direction}],
    }
    if "id" in model.model_fields:
        message["correlationId"] = {
            "description": "A reply carries the `id` of the request it answers.",
            "location": "$message.payload#/id",
        }
    return message


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"{_CHANNEL_REF}/messages/{model.__name__}"}


def _operation(
    action: str, summary: str, message: type[BaseModel], replies: tuple[type[BaseModel], ...]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": _CHANNEL_REF},
        "summary": summary,
        "messages": [_ref(message)],
    }
    if replies:
        operation["reply"] = {
            "channel": {"$ref": _CHANNEL_REF},
            "messages": [_ref(reply) for reply in replies],
        }
    return operation


def _operations() -> dict[str, Any]:
    operations = {a.name: _operation("receive", a.summary, a.frame, a.replies) for a in ACTIONS}
    operations.update({p.name: _operation("send", p.summary, p.frame, ()) for p in PUSHES})
    return operations


def client_models() -> list[type[BaseModel]]:
    """Every client frame, in the order of the protocol's table."""
    return [action.frame for action in ACTIONS]


def server_models() -> list[type[BaseModel]]:
    """Every server frame model (replies, then pushes), each once."""
    found: list[type[BaseModel]] = []
    for model in [r for a in ACTIONS for r in a.replies] + [p.frame for p in PUSHES]:
        if model not in found:
            found.append(model)
    return found


def build_asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the WebSocket API."""
    clients, servers = client_models(), server_models()
    schemas = asyncapi_flavour(component_schemas([*clients, *servers, ClientFrame, ServerFrame]))
    messages = {m.__name__: _message(m, "client", schemas) for m in clients}
    messages.update({m.__name__: _message(m, "server", schemas) for m in servers})
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley WebSocket API",
            "version": PROTOCOL_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
            "tags": [
                {"name": "client", "description": "Frames a client sends."},
                {"name": "server", "description": "Frames the server sends."},
            ],
        },
        "defaultContentType": "application/json",
        "servers": {
            "aws": {
                "host": "{apiId}.execute-api.{region}.amazonaws.com",
                "pathname": "/{stage}",
                "protocol": "wss",
                "description": "The stack's `WebSocketUrl` output.",
                "variables": {
                    "apiId": {"description": "The WebSocket API's id."},
                    "region": {"default": "us-east-1"},
                    "stage": {"default": "v1", "description": "The `WsStageName` parameter."},
                },
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            },
            "local": {
                "host": "127.0.0.1:3001",
                "protocol": "ws",
                "description": "`make dev` (`PARLEY_WS_PORT` changes the port).",
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            },
        },
        "channels": {
            CHANNEL: {
                "address": "/",
                "title": "The socket",
                "description": "One WebSocket connection: client frames in, replies and "
                "pushed frames out.",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "minLength": 1,
                                    "description": "An access token (`POST /auth/login`). "
                                    "Rejected: HTTP 401, no connection is made.",
                                }
                            },
                            "required": ["token"],
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": _operations(),
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "token": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The access token in the handshake's query string.",
                }
            },
        },
        "x-parley-close-codes": [
            {
                "code": CLOSE_MESSAGE_TOO_BIG,
                "when": f"a single frame over {models.MAX_FRAME_BYTES} bytes (API Gateway)",
            }
        ],
        "x-parley-handshake-refusals": [
            {"status": 401, "when": "missing, malformed, expired, revoked or wrongly signed token"},
            {"status": 429, "when": "too many WebSocket connects from one source address"},
        ],
        "x-parley-error-codes": error_codes(),
        "x-parley-limits": limits(),
    }
