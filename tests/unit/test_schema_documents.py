"""`docs/schema/`: committed documents match the models, are valid, and are complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from parley import models
from parley.errors import HTTP_STATUS, Code
from parley_schema import requests
from parley_schema.__main__ import DOCUMENTS, main, render, stale
from parley_schema.enums import NAMED_ENUMS
from parley_schema.http import build_openapi
from parley_schema.routes import ROUTES, route_codes
from parley_schema.schemas import PREFIX, REQUEST_FIELDS, REQUEST_MODELS, refs
from parley_schema.ws import ACTIONS, PUSHES, build_asyncapi, client_models, server_models

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "docs" / "schema"


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return build_asyncapi()


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return build_openapi()


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The object a local `$ref` (`#/a/b/c`) points to in `document`."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in all_refs(item)]
    return []


# ---- committed == generated ------------------------------------------------------------------


def test_committed_documents_are_what_the_models_generate() -> None:
    # GIVEN the committed documents and the models
    # WHEN both documents are generated again
    different = stale(SCHEMA_DIR)
    # THEN nothing differs (otherwise: `make schema` and commit the result)
    assert different == [], f"stale: {[p.name for p in different]}; run `make schema`"


def test_generation_is_deterministic() -> None:
    # GIVEN / WHEN each document is rendered twice
    # THEN both renderings are the same text (stable key order, no timestamps)
    for build in DOCUMENTS.values():
        assert render(build()) == render(build())


def test_check_mode_names_a_stale_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN freshly written documents, one then edited by hand
    assert main(["--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "openapi.json").read_text())
    document["info"]["title"] = "edited"
    (tmp_path / "openapi.json").write_text(render(document))
    # WHEN checked
    status = main(["--out", str(tmp_path), "--check"])
    # THEN the check fails and names the stale file only
    assert status == 1
    err = capsys.readouterr().err
    assert "openapi.json is stale" in err and "asyncapi.json" not in err


# ---- valid documents -------------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3_1(openapi: dict[str, Any]) -> None:
    # GIVEN / WHEN the OpenAPI document is checked by openapi-spec-validator
    # THEN it is valid OpenAPI 3.1 (raises otherwise)
    assert openapi["openapi"] == "3.1.0"
    validate_openapi(openapi)


def test_every_reference_resolves(asyncapi: dict[str, Any], openapi: dict[str, Any]) -> None:
    # GIVEN both documents
    for document in (asyncapi, openapi):
        # WHEN every $ref is followed
        # THEN it lands on an object of the same document
        for ref in all_refs(document):
            assert isinstance(resolve(document, ref), dict), ref


def test_component_schemas_are_valid_json_schema(
    asyncapi: dict[str, Any], openapi: dict[str, Any]
) -> None:
    # GIVEN the component schemas (AsyncAPI's Schema Object is a superset of draft 07,
    # OpenAPI 3.1 uses draft 2020-12)
    # WHEN each is checked against its meta-schema
    # THEN each is valid
    for schema in asyncapi["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)
    for schema in openapi["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_asyncapi_has_no_openapi_discriminators(
    asyncapi: dict[str, Any], openapi: dict[str, Any]
) -> None:
    # GIVEN both documents' schemas
    def discriminators(document: dict[str, Any]) -> list[Any]:
        found: list[Any] = []

        def search(node: Any) -> None:
            if isinstance(node, dict):
                if "discriminator" in node and isinstance(node.get("oneOf"), list):
                    found.append(node["discriminator"])
                for value in node.values():
                    search(value)
            elif isinstance(node, list):
                for item in node:
                    search(item)

        search(document["components"]["schemas"])
        return found

    # THEN OpenAPI's unions name their tag (`{propertyName, mapping}`); AsyncAPI's, whose
    # `discriminator` means schema-name inheritance, carry none (the const tags suffice)
    assert discriminators(openapi) and all("propertyName" in d for d in discriminators(openapi))
    assert discriminators(asyncapi) == []


def test_asyncapi_operations_use_channel_messages(asyncapi: dict[str, Any]) -> None:
    # GIVEN the one channel and its messages
    channel = asyncapi["channels"]["socket"]
    channel_refs = {f"#/channels/socket/messages/{name}" for name in channel["messages"]}
    for name, operation in asyncapi["operations"].items():
        # THEN every operation (and reply) is on that channel and names only its messages
        assert operation["channel"] == {"$ref": "#/channels/socket"}, name
        assert operation["action"] in {"send", "receive"}, name
        used = [m["$ref"] for m in operation["messages"]]
        used += [m["$ref"] for m in operation.get("reply", {}).get("messages", [])]
        assert set(used) <= channel_refs, name
    # AND the socket is opened with the token in the query string
    query = channel["bindings"]["ws"]["query"]
    assert query["required"] == ["token"] and query["properties"]["token"]["type"] == "string"


# ---- complete --------------------------------------------------------------------------------


def test_every_client_and_server_frame_is_a_message(asyncapi: dict[str, Any]) -> None:
    # GIVEN every client frame the runtime parses and every server frame model
    messages = asyncapi["components"]["messages"]
    # THEN each has a message whose payload is its schema
    assert set(models.FRAMES) == {a.name for a in ACTIONS}
    for model in [*client_models(), *server_models()]:
        payload = messages[model.__name__]["payload"]
        assert payload == {"$ref": PREFIX + model.__name__}
    # AND every action is a `receive` operation, every push a `send` one
    operations = asyncapi["operations"]
    assert {a.name for a in ACTIONS} == {
        n for n, o in operations.items() if o["action"] == "receive"
    }
    assert {p.name for p in PUSHES} == {n for n, o in operations.items() if o["action"] == "send"}


def test_every_error_code_is_in_both_documents(
    asyncapi: dict[str, Any], openapi: dict[str, Any]
) -> None:
    for document in (asyncapi, openapi):
        # GIVEN the ErrorCode schema and the error code table of a document
        schema = document["components"]["schemas"]["ErrorCode"]
        table = {e["code"]: e for e in document["x-parley-error-codes"]}
        # THEN both list every code of the runtime, with its name and HTTP status
        assert schema["enum"] == [int(c) for c in Code]
        assert schema["x-enum-varnames"] == [c.name for c in Code]
        assert {c: (e["name"], e["httpStatus"]) for c, e in table.items()} == {
            int(c): (c.name, HTTP_STATUS[c]) for c in Code
        }
    # AND the 1009 close code is documented for the socket
    assert [c["code"] for c in asyncapi["x-parley-close-codes"]] == [1009]


def test_limits_come_from_the_runtime(asyncapi: dict[str, Any]) -> None:
    # GIVEN the limits table and the schemas of the frames they bound
    limits = asyncapi["x-parley-limits"]
    schemas = asyncapi["components"]["schemas"]
    # THEN every size limit of the runtime is stated, in the table and in the schemas
    assert limits["frameBytes"]["value"] == models.MAX_FRAME_BYTES
    assert schemas["TextBody"]["properties"]["text"]["maxLength"] == models.MAX_TEXT_CHARS
    assert (
        schemas["CustomBody"]["properties"]["data"]["x-parley-max-json-bytes"]
        == models.MAX_CUSTOM_BYTES
    )
    assert (
        schemas["SignalFrame"]["properties"]["payload"]["x-parley-max-json-bytes"]
        == models.MAX_SIGNAL_PAYLOAD_BYTES
    )
    assert schemas["PresenceFrame"]["properties"]["userIds"]["maxItems"] == models.MAX_PRESENCE_IDS
    assert schemas["SyncFrame"]["properties"]["limit"]["maximum"] == 500


def test_named_enums_are_referenced_not_repeated(
    asyncapi: dict[str, Any], openapi: dict[str, Any]
) -> None:
    # GIVEN the named enums
    values = [sorted(e) for e in NAMED_ENUMS]
    for document in (asyncapi, openapi):
        schemas = document["components"]["schemas"]
        # WHEN the schemas are searched for inline string enums
        inline: list[list[str]] = []

        def search(node: Any, inline: list[list[str]] = inline) -> None:
            if isinstance(node, dict):
                if node.get("type") == "string" and "enum" in node and "title" not in node:
                    inline.append(sorted(node["enum"]))
                for value in node.values():
                    search(value)
            elif isinstance(node, list):
                for item in node:
                    search(item)

        search(schemas)
        # THEN none repeats a named enum: each use is a reference to it
        assert not [v for v in inline if v in values]
    # AND the WebSocket document has every one of them
    assert {e.__name__ for e in NAMED_ENUMS} <= set(asyncapi["components"]["schemas"])


def test_request_annotations_name_existing_fields() -> None:
    # GIVEN the keywords added to the request models' schemas
    # THEN each names a request model (a twin of a runtime one) and one of its fields (a
    # rename fails here)
    for name, fields in REQUEST_FIELDS.items():
        model = getattr(requests, name)
        assert set(fields) <= set(model.model_fields), name
        assert hasattr(models, name), name
    for name in REQUEST_MODELS:
        assert hasattr(requests, name) and hasattr(models, name), name


def test_http_routes_document_security_and_errors(openapi: dict[str, Any]) -> None:
    # GIVEN the OpenAPI document with bearer security by default
    assert openapi["security"] == [{"bearer": []}]
    for route in ROUTES:
        operation = openapi["paths"][route.path][route.method.lower()]
        # THEN only /health and /auth/* opt out of it (`/auth/logout-all` ends the caller's
        # logins: it needs the caller's token)
        public = route.path == "/health" or (
            route.path.startswith("/auth/") and route.path != "/auth/logout-all"
        )
        assert (operation.get("security") == []) is public, route.key
        # AND every error code of the route is answered with its HTTP status and ErrorBody
        for code in route_codes(route):
            response = operation["responses"][str(HTTP_STATUS[code])]
            assert int(code) in response["x-parley-error-codes"], (route.key, code)
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": PREFIX + "ErrorBody"}
        # AND a protected route documents 401
        assert public or "401" in operation["responses"], route.key


def test_history_query_parameters_carry_their_limits(openapi: dict[str, Any]) -> None:
    # GIVEN the history route
    operation = openapi["paths"]["/conversations/{id}/messages"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    # THEN limit is 1-100 (default 50) and beforeSeq a positive seq
    assert query["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert query["beforeSeq"]["minimum"] == 1
    # AND both path parameters of a member route are declared
    member = openapi["paths"]["/groups/{id}/members/{userId}"]["patch"]
    assert [p["name"] for p in member["parameters"] if p["in"] == "path"] == ["id", "userId"]


def test_no_component_is_unused(asyncapi: dict[str, Any], openapi: dict[str, Any]) -> None:
    # GIVEN each document's schemas
    for document in (asyncapi, openapi):
        schemas = document["components"]["schemas"]
        outside = {k: v for k, v in document.items() if k != "components"}
        outside["messages"] = document["components"].get("messages", {})
        # WHEN the references from outside the schemas (and from the two frame unions, the
        # roots an SDK takes its frame types from) are followed transitively
        used: set[str] = set()
        todo = list(refs(outside) | ({"ClientFrame", "ServerFrame"} & set(schemas)))
        while todo:
            name = todo.pop()
            if name not in used:
                used.add(name)
                todo += refs(schemas[name])
        # THEN every schema is reachable (ErrorCode is reachable through the error bodies)
        assert set(schemas) == used
