"""Validate JSON values against the published documents' schemas (with `jsonschema`).

The tests use it to hold real frames and bodies to the documents; a client author can use
it the same way. Two things go beyond plain JSON Schema:

* `x-parley-max-json-bytes` (a limit JSON Schema cannot state: the size of a value as
  compact UTF-8 JSON) is enforced, as the server does;
* `closed=True` forbids properties a schema does not declare. The documents leave server
  objects open, since clients must ignore fields they do not know; a conformance test closes
  them so that a field the server sends but the documents lack fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend
from parley.wire import json_size

from parley_schema.schemas import PREFIX

MAX_JSON_BYTES = "x-parley-max-json-bytes"


def _max_json_bytes(
    validator: Any, limit: int, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    size = json_size(instance)
    if size > limit:
        yield ValidationError(f"{size} bytes of compact JSON is over {limit}")


ParleyValidator = extend(Draft202012Validator, {MAX_JSON_BYTES: _max_json_bytes})


def _closed(schemas: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schemas)
    for schema in out.values():
        if schema.get("type") == "object" and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    return out


class DocumentValidator:
    """Validates instances against the named schemas of one document's `components`."""

    def __init__(self, document: dict[str, Any], *, closed: bool = False) -> None:
        schemas = document["components"]["schemas"]
        self.components = {"schemas": _closed(schemas) if closed else schemas}
        self._validators: dict[str, Any] = {}

    def _validator(self, name: str) -> Any:
        if name not in self._validators:
            if name not in self.components["schemas"]:
                raise KeyError(f"no schema named {name!r}")
            # The document's components ride along in the root, so `#/components/...`
            # references resolve as they do in the document.
            root = {"$ref": PREFIX + name, "components": self.components}
            self._validators[name] = ParleyValidator(root)
        return self._validators[name]

    def errors(self, name: str, instance: Any) -> list[str]:
        """Every way `instance` fails the schema `name` (empty when it is valid)."""
        found = self._validator(name).iter_errors(instance)
        return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in found]

    def is_valid(self, name: str, instance: Any) -> bool:
        """Whether `instance` is valid against the schema `name`."""
        return not self.errors(name, instance)

    def matching(self, names: list[str], instance: Any) -> list[str]:
        """The names among `names` whose schema `instance` is valid against."""
        return [name for name in names if self.is_valid(name, instance)]
