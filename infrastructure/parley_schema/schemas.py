"""JSON Schema from the models: the `components.schemas` of both documents.

pydantic generates the schemas (draft 2020-12, which OpenAPI 3.1 uses as is). On top of
what the types say, this module adds what the request models check in validators (text
length, one of `to`/`conversationId`, JSON byte sizes) and their descriptions, without
touching :mod:`parley_schema.requests`: see :data:`REQUEST_FIELDS`. Inline enums become references
to the named enums of :mod:`parley_schema.enums`, so an SDK gets one `Role` type, not five
unions of strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from parley import models
from parley.errors import Code
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from parley_schema.enums import NAMED_ENUMS
from parley_schema.limits import error_code_schema

PREFIX = "#/components/schemas/"
Schemas = dict[str, Any]

_ONE_TARGET = "Exactly one of `to` and `conversationId`."
_CURSOR_NOTE = "A conversation id (`dm:<a>:<b>` or `grp:<ULID>`)."

# Model -> field -> schema keywords the runtime model checks in code rather than in types.
# `tests/unit/test_schema_documents.py` fails when an entry names a field that is gone.
REQUEST_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "TextBody": {
        "text": {
            "minLength": 1,
            "maxLength": models.MAX_TEXT_CHARS,
            "description": f"1-{models.MAX_TEXT_CHARS} Unicode code points (longer: 1006).",
        },
    },
    "CustomBody": {
        "data": {
            "description": f"Any JSON, at most {models.MAX_CUSTOM_BYTES} bytes as compact "
            "UTF-8 JSON (larger: 1006).",
            "x-parley-max-json-bytes": models.MAX_CUSTOM_BYTES,
        },
    },
    "SendFrame": {
        "to": {"description": f"A userId: the direct conversation with them. {_ONE_TARGET}"},
        "conversationId": {
            "description": f"A conversation the caller is a member of. {_ONE_TARGET}"
        },
        "clientMsgId": {
            "description": "Chosen by the client (a UUID fits). A send repeated with the "
            "same clientMsgId in the same conversation stores nothing new and gets the first "
            "ack."
        },
    },
    "SyncFrame": {
        "cursors": {
            "description": "conversationId -> the last seq the client has (absent: 0). "
            + _CURSOR_NOTE
        },
        "limit": {"description": "Messages per conversation."},
    },
    "ReadFrame": {
        "seq": {"description": "Read up to here: readSeq moves forward only, never past lastSeq."},
    },
    "PresenceFrame": {
        "userIds": {"description": "Anyone's userIds; unknown users are reported offline."},
    },
    "SignalFrame": {
        "to": {"description": "The callee (or yourself, to reach your other devices)."},
        "callId": {"description": "Chosen by the caller; names the call in every signal."},
        "payload": {
            "description": "Any JSON, at most "
            f"{models.MAX_SIGNAL_PAYLOAD_BYTES} bytes as compact UTF-8 JSON (larger: 1006).",
            "x-parley-max-json-bytes": models.MAX_SIGNAL_PAYLOAD_BYTES,
        },
        "toConnection": {
            "description": "Deliver to this one connection of `to` (a `fromConnection` it "
            "sent from); 1002 when it is not live. Absent: every connection of `to` but "
            "the sender's."
        },
    },
    "AuthFrame": {
        "token": {"description": "A fresh access token of the same user."},
    },
    "RegisterBody": {
        "displayName": {
            "minLength": 1,
            "description": f"1-{models.MAX_DISPLAY_NAME} characters after control characters "
            "are removed and white space is folded; defaults to the userId.",
        },
    },
    "CreateGroupBody": {
        "name": {
            "minLength": 1,
            "description": f"1-{models.MAX_DISPLAY_NAME} characters after control characters "
            "are removed and white space is folded.",
        },
        "members": {
            "description": "The other members (the caller becomes the owner). An unknown user "
            "gives 1002; more than the group size, 1006."
        },
    },
    "AddMembersBody": {
        "userIds": {
            "description": "Users already in the group are skipped; an unknown user gives "
            "1002 and adds nobody."
        },
    },
    "RoleBody": {
        "role": {
            "description": "`admin` or `member`; `owner` hands ownership over (the caller "
            "becomes an admin)."
        },
    },
}

# Model-level keywords: descriptions, and the rules of `model_validator`s.
REQUEST_MODELS: dict[str, dict[str, Any]] = {
    "TextBody": {"description": "A text message."},
    "CustomBody": {"description": "Application-defined content the server stores as is."},
    "SendFrame": {
        "description": "Store a message; reply `ack`.",
        "oneOf": [
            {"properties": {"to": {"type": "string"}}, "required": ["to"]},
            {"properties": {"conversationId": {"type": "string"}}, "required": ["conversationId"]},
        ],
    },
    "SyncFrame": {"description": "What the client missed, per conversation; reply `sync`."},
    "ReadFrame": {"description": "Move the caller's readSeq; reply `ok` with `readSeq`."},
    "TypingFrame": {
        "description": "Relay a typing indicator; no reply on success (errors still answer)."
    },
    "PresenceFrame": {"description": "Ask who is online; reply `presence`."},
    "SignalFrame": {"description": "Relay call signaling; reply `ok` with `delivered`."},
    "PingFrame": {"description": "Keep the socket alive; reply `pong`."},
    "AuthFrame": {
        "description": "Renew the socket's token before it expires; reply `ok` with `expiresAt`."
    },
    "RegisterBody": {"description": "A new account."},
    "LoginBody": {"description": "A password login."},
    "RefreshBody": {"description": "A refresh token to rotate or end."},
    "CreateGroupBody": {"description": "A new group."},
    "AddMembersBody": {"description": "Users to add to a group."},
    "RoleBody": {"description": "A member's new role."},
}

# The request id of every client frame (declared once, on the runtime's base class).
FRAME_ID = "Chosen by the client (1-64 characters), echoed in the reply."


class _Generator(GenerateJsonSchema):
    """pydantic's generator without per-property titles ("Clientmsgid") and without
    `default: null` on fields that are left out rather than sent as null."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        out = super().default_schema(schema)
        if "default" in out and out["default"] is None and not _admits_null(out):
            out = {key: value for key, value in out.items() if key != "default"}
        return out


def _admits_null(schema: dict[str, Any]) -> bool:
    if not schema.keys() - {"default", "description"}:
        return True  # `Any`: every JSON value
    branches = schema.get("anyOf", []) + schema.get("oneOf", [])
    return schema.get("type") == "null" or any(b.get("type") == "null" for b in branches)


def walk(node: Any, visit: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """`node` with `visit` applied to every object in it, innermost first."""
    if isinstance(node, list):
        return [walk(item, visit) for item in node]
    if isinstance(node, dict):
        return visit({key: walk(value, visit) for key, value in node.items()})
    return node


def refs(node: Any) -> set[str]:
    """The component names `node` refers to."""
    found: set[str] = set()

    def collect(obj: dict[str, Any]) -> dict[str, Any]:
        ref = obj.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            found.add(ref[len(PREFIX) :])
        return obj

    walk(node, collect)
    return found


def _named_enum_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """An inline string enum equal to a named enum, as a reference to it."""
    values = schema.get("enum")
    if schema.get("type") != "string" or not isinstance(values, list) or "title" in schema:
        return schema
    for enum in NAMED_ENUMS:
        if set(values) == {member.value for member in enum}:
            rest = {k: v for k, v in schema.items() if k not in {"type", "enum"}}
            return {"$ref": PREFIX + enum.__name__, **rest}
    return schema


def _unwrap(schema: dict[str, Any]) -> dict[str, Any]:
    """Docstring line breaks out of a description (paragraph breaks stay)."""
    text = schema.get("description")
    if not isinstance(text, str):
        return schema
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    return {**schema, "description": "\n\n".join(paragraphs)}


def _rename_refs(old: str, new: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def visit(schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("$ref") == PREFIX + old:
            return {**schema, "$ref": PREFIX + new}
        return schema

    return visit


def _annotate_requests(defs: Schemas) -> None:
    for name, fields in REQUEST_FIELDS.items():
        schema = defs.get(name)
        if schema is None:
            continue
        for field, extra in fields.items():
            schema["properties"][field].update(extra)
    for name, extra in REQUEST_MODELS.items():
        if name in defs:
            defs[name].update(extra)
    for schema in defs.values():
        request_id = schema.get("properties", {}).get("id")
        if schema.get("additionalProperties") is False and request_id is not None:
            request_id["description"] = FRAME_ID


def _enum_schema(enum: type[StrEnum]) -> dict[str, Any]:
    return {
        "type": "string",
        "title": enum.__name__,
        "description": (enum.__doc__ or "").strip(),
        "enum": [member.value for member in enum],
    }


def component_schemas(roots: Iterable[type[BaseModel]]) -> Schemas:
    """The schemas of `roots` and everything they use, by name, in name order."""
    roots = list(roots)
    _, top = models_json_schema(
        [(model, "validation") for model in roots],
        ref_template=PREFIX + "{model}",
        schema_generator=_Generator,
    )
    defs: Schemas = top.get("$defs", {})
    _annotate_requests(defs)
    for enum in NAMED_ENUMS:
        defs[enum.__name__] = _enum_schema(enum)
    defs = walk(walk(defs, _named_enum_refs), _unwrap)
    # pydantic names the IntEnum after its class (`Code`); the documents call it ErrorCode.
    if Code.__name__ in defs:
        defs.pop(Code.__name__)
        defs = walk(defs, _rename_refs(Code.__name__, "ErrorCode"))
    defs["ErrorCode"] = error_code_schema()
    return prune(defs, [model.__name__ for model in roots])


def prune(defs: Schemas, keep: Iterable[str]) -> Schemas:
    """`defs` reduced to `keep` and what it refers to, sorted by name (stable output)."""
    wanted: set[str] = set()
    todo = [name for name in keep if name in defs]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo.extend(refs(defs[name]) - wanted)
    return {name: defs[name] for name in sorted(wanted)}


def asyncapi_flavour(schemas: Schemas) -> Schemas:
    """The same schemas as AsyncAPI 3.0's Schema Object wants them. There, `discriminator`
    names a property whose value is a *schema name* (inheritance), unlike OpenAPI's
    `{propertyName, mapping}` over a union; the unions here tell their members apart by a
    `const` tag (`action`, `type`) already, so the AsyncAPI form leaves it out."""

    def visit(schema: dict[str, Any]) -> dict[str, Any]:
        if isinstance(schema.get("discriminator"), dict):
            return {key: value for key, value in schema.items() if key != "discriminator"}
        return schema

    result: Schemas = walk(schemas, visit)
    return result
