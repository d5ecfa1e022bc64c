"""The HTTP API as an OpenAPI 3.1 document (protocol sections 3 and 4), built from the
route table of :mod:`parley_schema.routes`."""

from __future__ import annotations

import re
from typing import Any

from parley import ids
from parley.errors import HTTP_STATUS, Code
from parley.web import MAX_HTTP_BODY
from pydantic import BaseModel

from parley_schema import PROTOCOL_VERSION
from parley_schema.enums import ERROR_WHEN
from parley_schema.limits import error_codes, limits
from parley_schema.models import ErrorBody
from parley_schema.routes import ROUTES, Route, route_codes
from parley_schema.schemas import PREFIX, component_schemas

TAGS = {
    "health": "Liveness.",
    "auth": "Accounts and tokens (no bearer token needed).",
    "users": "The caller's account and block list.",
    "groups": "Groups and membership; every change is also a `system` message.",
    "conversations": "Conversation list and history.",
    "rtc": "Calls: ICE servers.",
    "admin": "App admins (protocol 12-13): flagged users.",
    "attachments": "Files: upload forms and download links (the bytes go to storage directly).",
    "devices": "Offline push: the VAPID key and the caller's push devices.",
}

_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "id": {
        "type": "string",
        "minLength": 1,
        "description": "A conversation id (`dm:<a>:<b>` or `grp:<ULID>`); a malformed one "
        "answers 404 2002 like an unknown one.",
    },
    "userId": {
        "type": "string",
        "pattern": ids.USER_ID_RE.pattern,
        "description": "A userId (malformed: 400 1001).",
    },
    "seq": {
        "type": "string",
        "pattern": "^[0-9]{1,16}$",
        "description": "A message's seq in its conversation; an unknown or malformed one "
        "answers 404 2003.",
    },
    "attachmentId": {
        "type": "string",
        "minLength": 1,
        "description": "An attachment id (a ULID); an unknown or malformed one answers 404 2003.",
    },
    "deviceId": {
        "type": "string",
        "minLength": 1,
        "description": "A device id (a ULID); another user's, unknown or malformed: 404 2003.",
    },
    "exportId": {
        "type": "string",
        "minLength": 1,
        "description": "An export id (a ULID; malformed: 400 1001); another user's, unknown "
        "or expired: 404 1002.",
    },
}

DESCRIPTION = f"""\
Parley's HTTP API: accounts, tokens, groups, conversation list, history, ICE servers and
attachments. The prose contract is `docs/protocol.md` (sections 3, 4 and 9.3); this document
states it as data.

All bodies are JSON, at most {MAX_HTTP_BODY} bytes (413 1006 past it). Every route except
`/health` and `/auth/*` needs `Authorization: Bearer <accessToken>`; without a valid one it
answers 401 1003. Errors are `{{code, message}}` (`ErrorBody`): the code decides, see
`x-parley-error-codes`; `x-parley-limits` is protocol section 7. Clients must ignore fields
they do not know.
"""


def _error_response(codes: list[Code]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": "; ".join(f"{int(c)} {c.name}: {ERROR_WHEN[c]}" for c in codes),
        "content": {"application/json": {"schema": {"$ref": PREFIX + ErrorBody.__name__}}},
        "x-parley-error-codes": [int(c) for c in codes],
    }
    if Code.RATE_LIMITED in codes:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": route.summary}
    if route.reply is not None:
        success["content"] = {
            "application/json": {"schema": {"$ref": PREFIX + route.reply.__name__}}
        }
    responses[str(route.status)] = success
    for status in route.also:
        responses[str(status)] = success
    by_status: dict[int, list[Code]] = {}
    for code in route_codes(route):
        by_status.setdefault(HTTP_STATUS[code], []).append(code)
    for status in sorted(by_status):
        responses[str(status)] = _error_response(by_status[status])
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "tags": [route.tag],
        "summary": route.summary,
    }
    if route.description:
        operation["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMS[name]}
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    for query in route.query:
        schema: dict[str, Any] = (
            {"type": "string", "minLength": query.low, "maxLength": query.high}
            if query.string
            else {"type": "integer", "minimum": query.low, "maximum": query.high}
        )
        if query.default is not None:
            schema["default"] = query.default
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": False,
                "description": query.description,
                "schema": schema,
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": not route.body_optional,
            "description": f"JSON, at most {MAX_HTTP_BODY} bytes.",
            "content": {"application/json": {"schema": {"$ref": PREFIX + route.body.__name__}}},
        }
    operation["responses"] = responses
    if route.public:
        operation["security"] = []
    return operation


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP API."""
    roots: list[type[BaseModel]] = [ErrorBody]
    for route in ROUTES:
        roots += [m for m in (route.body, route.reply) if m is not None and m not in roots]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley HTTP API",
            "version": PROTOCOL_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "description": "The stack's `HttpApiUrl` output.",
                "variables": {
                    "apiId": {"default": "apiId", "description": "The HTTP API's id."},
                    "region": {"default": "us-east-1"},
                },
            },
            {
                "url": "http://127.0.0.1:3000",
                "description": "`make dev` (`PARLEY_HTTP_PORT` changes the port).",
            },
        ],
        "security": [{"bearer": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": component_schemas(roots),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from `POST /auth/login` or "
                    "`POST /auth/refresh`.",
                }
            },
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before retrying (429 only).",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
        "x-parley-error-codes": error_codes(),
        "x-parley-limits": limits(),
    }
