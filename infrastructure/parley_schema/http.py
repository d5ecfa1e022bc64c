"""The HTTP API as an OpenAPI 3.1 document (protocol sections 3 and 4).

:data:`ROUTES` is the route table of `template.yaml` with what each route takes and
answers; `tests/unit/test_schema_routes.py` holds it equal to the template's `HttpApi`
events and to the `ROUTES` of `functions/*/app.py`. The error responses of a route are its
own codes plus those every route shares: 401 for a route that needs a token, 400 and 413 for
one with a JSON body, 503 where a dependency may fail, and 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from parley import ids, models
from parley.errors import HTTP_STATUS, Code
from parley.web import MAX_HTTP_BODY
from pydantic import BaseModel

from parley_schema import PROTOCOL_VERSION
from parley_schema.enums import ERROR_WHEN
from parley_schema.limits import error_codes, limits
from parley_schema.models import (
    ConversationList,
    ErrorBody,
    Group,
    Health,
    HistoryPage,
    IceServers,
    Profile,
    Registered,
    RoleChange,
    TokenPair,
)
from parley_schema.schemas import PREFIX, component_schemas

MAX_SEQ = 2**53


@dataclass(frozen=True)
class Query:
    """An integer query parameter within [low, high] (1001 otherwise)."""

    name: str
    low: int
    high: int
    default: int | None
    description: str


@dataclass(frozen=True)
class Route:
    """One route: what it takes, what it answers on success, and its own error codes."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    status: int
    reply: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[Code, ...] = ()
    public: bool = False
    query: tuple[Query, ...] = ()
    description: str = ""

    @property
    def key(self) -> str:
        """The API Gateway route key, `METHOD /path/{param}`."""
        return f"{self.method} {self.path}"


_GROUP = (Code.FORBIDDEN, Code.USER_NOT_FOUND, Code.CONVERSATION_NOT_FOUND)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health", "health", "The stack can serve", 200, Health, public=True),
    Route(
        "POST",
        "/auth/register",
        "register",
        "auth",
        "Create an account",
        201,
        Registered,
        models.RegisterBody,
        (Code.CONFLICT,),
        public=True,
        description="A taken userId answers 409 1008.",
    ),
    Route(
        "POST",
        "/auth/login",
        "login",
        "auth",
        "Log in with a password",
        200,
        TokenPair,
        models.LoginBody,
        (Code.UNAUTHENTICATED, Code.RATE_LIMITED),
        public=True,
        description="Unknown user and wrong password give the same 401 1003. Past the failed "
        "logins allowed per source address, 429 1005 with `retryAfterMs` and `Retry-After`, "
        "even for a correct password, until the window passes.",
    ),
    Route(
        "POST",
        "/auth/refresh",
        "refresh",
        "auth",
        "Rotate the refresh token",
        200,
        TokenPair,
        models.RefreshBody,
        (Code.UNAUTHENTICATED,),
        public=True,
        description="The used refresh token is spent. Presenting a spent one again revokes "
        "every token of that login (reuse detection) and answers 401.",
    ),
    Route(
        "POST",
        "/auth/logout",
        "logout",
        "auth",
        "End the login",
        204,
        body=models.RefreshBody,
        errors=(Code.UNAUTHENTICATED,),
        public=True,
        description="Its refresh token and access tokens are refused from then on; its open "
        "sockets are closed.",
    ),
    Route(
        "GET",
        "/me",
        "me",
        "users",
        "The caller's account",
        200,
        Profile,
        errors=(Code.USER_NOT_FOUND,),
    ),
    Route(
        "POST",
        "/users/{userId}/block",
        "block",
        "users",
        "Block a user",
        204,
        errors=(Code.INVALID_PARAM, Code.USER_NOT_FOUND),
        description="A blocked user cannot open or write to a direct conversation with the "
        "blocker, type in it, nor call them (1004). Blocking yourself: 400 1001.",
    ),
    Route(
        "DELETE",
        "/users/{userId}/block",
        "unblock",
        "users",
        "Lift a block",
        204,
        errors=(Code.INVALID_PARAM, Code.USER_NOT_FOUND),
    ),
    Route(
        "POST",
        "/groups",
        "createGroup",
        "groups",
        "Create a group",
        201,
        Group,
        models.CreateGroupBody,
        (Code.USER_NOT_FOUND,),
        description="The caller is the owner. Recorded as `system` messages (`group_created`, "
        "then `members_added` chunks).",
    ),
    Route(
        "GET",
        "/groups/{id}",
        "getGroup",
        "groups",
        "A group and its members",
        200,
        Group,
        errors=(Code.FORBIDDEN, Code.CONVERSATION_NOT_FOUND),
    ),
    Route(
        "POST",
        "/groups/{id}/members",
        "addMembers",
        "groups",
        "Add members (owner or admin)",
        200,
        Group,
        models.AddMembersBody,
        _GROUP,
    ),
    Route(
        "DELETE",
        "/groups/{id}/members/{userId}",
        "removeMember",
        "groups",
        "Remove a member, or leave",
        204,
        errors=(Code.INVALID_PARAM, *_GROUP),
        description="An admin removes members, the owner removes admins and members, anyone "
        "may leave; the owner cannot be removed nor leave before handing ownership over.",
    ),
    Route(
        "PATCH",
        "/groups/{id}/members/{userId}",
        "setRole",
        "groups",
        "Change a member's role (owner only)",
        200,
        RoleChange,
        models.RoleBody,
        _GROUP,
        description="`owner` hands ownership over: the target becomes the owner and the caller "
        "an admin, recorded as one `role_changed` message with `role: owner`.",
    ),
    Route(
        "GET",
        "/conversations",
        "listConversations",
        "conversations",
        "The caller's conversations",
        200,
        ConversationList,
    ),
    Route(
        "GET",
        "/conversations/{id}/messages",
        "history",
        "conversations",
        "A page of history",
        200,
        HistoryPage,
        errors=(Code.INVALID_PARAM, Code.FORBIDDEN, Code.CONVERSATION_NOT_FOUND),
        query=(
            Query(
                "beforeSeq",
                1,
                MAX_SEQ,
                None,
                "The page just below this seq (exclusive); absent: the newest page.",
            ),
            Query("limit", 1, 100, 50, "Messages per page."),
        ),
    ),
    Route(
        "GET",
        "/rtc/ice-servers",
        "iceServers",
        "rtc",
        "STUN/TURN servers with short-lived TURN credentials",
        200,
        IceServers,
    ),
)

TAGS = {
    "health": "Liveness.",
    "auth": "Accounts and tokens (no bearer token needed).",
    "users": "The caller's account and block list.",
    "groups": "Groups and membership; every change is also a `system` message.",
    "conversations": "Conversation list and history.",
    "rtc": "Calls: ICE servers.",
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
}

DESCRIPTION = f"""\
Parley's HTTP API: accounts, tokens, groups, conversation list, history and ICE servers.
The prose contract is `docs/protocol.md` (sections 3 and 4); this document states it as data.

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


def route_codes(route: Route) -> list[Code]:
    """Every error code the route may answer with, its own and the shared ones."""
    codes = set(route.errors) | {Code.INTERNAL}
    if not route.public:
        codes.add(Code.UNAUTHENTICATED)
    if route.body is not None:
        codes |= {Code.INVALID_PARAM, Code.PAYLOAD_TOO_LARGE}
    if route.query:
        codes.add(Code.INVALID_PARAM)
    if route.path != "/health":
        codes.add(Code.MESSAGE_SEND_FAILED)  # a dependency failed or throttled: retry
    return sorted(codes)


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": route.summary}
    if route.reply is not None:
        success["content"] = {
            "application/json": {"schema": {"$ref": PREFIX + route.reply.__name__}}
        }
    responses[str(route.status)] = success
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
        schema: dict[str, Any] = {"type": "integer", "minimum": query.low, "maximum": query.high}
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
            "required": True,
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
