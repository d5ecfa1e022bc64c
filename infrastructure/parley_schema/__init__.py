"""The protocol as machine-readable documents: JSON Schema, AsyncAPI 3.0 and OpenAPI 3.1.

`docs/protocol.md` is the contract in prose; this package states it as data, from pydantic
models, all declared here, outside the Lambda layer, so no function pays for pydantic at
cold start: client frames and HTTP request bodies in :mod:`parley_schema.requests` (the
twins of the dataclasses the functions validate with, :mod:`parley.models`, held to the
same verdicts by the tests), server frames, response bodies and enums in
:mod:`parley_schema.models`. `make schema` writes `docs/schema/asyncapi.json` (the WebSocket API)
and `docs/schema/openapi.json` (the HTTP API); a test fails when they are stale.
"""

from __future__ import annotations

PROTOCOL_VERSION = "1"
