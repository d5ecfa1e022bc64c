"""The protocol as machine-readable documents: JSON Schema, AsyncAPI 3.0 and OpenAPI 3.1.

`docs/protocol.md` is the contract in prose; this package states it as data, from pydantic
models. Client frames and HTTP request bodies are the models the functions validate with
(:mod:`parley.models`); server frames, response bodies and enums are declared here (see
:mod:`parley_schema.models`), outside the Lambda layer, so no function pays for building
them at cold start. `make schema` writes `docs/schema/asyncapi.json` (the WebSocket API)
and `docs/schema/openapi.json` (the HTTP API); a test fails when they are stale.
"""

from __future__ import annotations

PROTOCOL_VERSION = "1"
