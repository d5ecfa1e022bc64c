"""Feature flags of the local cloud: the document the AppConfigData emulation serves.

Parley's functions read their flags with Powertools' `AppConfigStore`, which calls AWS
AppConfigData (`StartConfigurationSession`, then `GetLatestConfiguration`). moto has no
AppConfigData, so the local cloud serves the configuration itself
(`parley_local.appconfigdata`). What it serves is a `FlagStore`: one Powertools Feature
Flags JSON document, taken from the template's `AWS::AppConfig::HostedConfigurationVersion`
(`Content`), or from `--flags FILE`, and replaced while the cloud runs by
`PUT /_local/flags`. Each replacement is a new *version*: a session that already holds the
previous one gets the new content on its next `GetLatestConfiguration`.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.feature_flags.exceptions import SchemaValidationError
from aws_lambda_powertools.utilities.feature_flags.schema import SchemaValidator


class FlagsError(ValueError):
    """A flags document that cannot be served (the message says where and why)."""


def validate_flags(document: Any, where: str = "flags") -> dict[str, Any]:
    """`document` if it is a Feature Flags document: a JSON object whose every flag is an
    object with a `default`, and whose rules and conditions Powertools' own schema
    validator accepts (a document it refuses would leave the functions on their last one)."""
    if not isinstance(document, dict):
        raise FlagsError(f"{where}: a JSON object of flags is expected, not {_kind(document)}")
    for name, flag in document.items():
        if not isinstance(flag, dict):
            raise FlagsError(f"{where}: flag {name!r} is {_kind(flag)}, not an object")
        if "default" not in flag:
            raise FlagsError(f"{where}: flag {name!r} has no 'default'")
        rules = flag.get("rules", {})
        if not isinstance(rules, dict):
            raise FlagsError(f"{where}: flag {name!r}: 'rules' is {_kind(rules)}, not an object")
    if document:  # Powertools warns of an empty one, which is valid: every flag at its default
        try:
            SchemaValidator(document).validate()
        except SchemaValidationError as exc:
            raise FlagsError(f"{where}: {exc}") from None
    return document


def parse_flags(text: str | bytes, where: str = "flags") -> dict[str, Any]:
    """A flags document from JSON text, validated."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise FlagsError(f"{where}: not JSON: {exc}") from None
    return validate_flags(document, where)


def load_flags(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The flags document in the file at `path` (`--flags FILE`), validated."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FlagsError(f"{path}: {exc.strerror or exc}") from None
    return parse_flags(text, str(path))


def initial_flags(
    override: tuple[dict[str, Any], str] | None, content: str | None, content_source: str
) -> tuple[dict[str, Any], str, str | None]:
    """(document, source, warning) served at start: the override (`--flags`), else the
    template's hosted `content`, else `{}`. Content that is not a flags document is
    warned about and `{}` served: the functions would refuse it and keep their defaults."""
    if override is not None:
        return override[0], override[1], None
    if content is None:
        return {}, "none in the template: empty document", None
    try:
        return parse_flags(content, content_source), content_source, None
    except FlagsError as exc:
        return {}, f"{content_source}, unusable: empty document", f"{exc}; serving {{}}"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), f"a {type(value).__name__}")


@dataclass(frozen=True)
class FlagsVersion:
    """One version of the served document: its number, JSON bytes and where it came from."""

    number: int
    content: bytes
    source: str


class FlagStore:
    """The flags document being served, replaced atomically (the gateways and the
    AppConfigData emulation read it from the event loop, tests from their own thread)."""

    CONTENT_TYPE = "application/json"

    def __init__(self, document: dict[str, Any], source: str) -> None:
        self._lock = threading.Lock()
        self._current = FlagsVersion(1, _encode(document), source)

    @property
    def current(self) -> FlagsVersion:
        """The version served now."""
        with self._lock:
            return self._current

    def document(self) -> dict[str, Any]:
        """The document served now (a copy)."""
        parsed: dict[str, Any] = json.loads(self.current.content)
        return parsed

    def replace(self, document: Any, source: str) -> FlagsVersion:
        """Serve `document` (validated) from now on, as a new version."""
        content = _encode(validate_flags(document))
        with self._lock:
            self._current = FlagsVersion(self._current.number + 1, content, source)
            return self._current


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode()
