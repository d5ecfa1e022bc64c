"""Declarative validation of client frames and request bodies, with no pydantic at runtime.

A *shape* is a frozen dataclass plus a spec of its fields. :func:`validate` checks a parsed
JSON value against the spec (strict: no coercion, no extra fields) and builds the dataclass,
or raises the protocol error: 1006 when any value is over a size limit, else 1001 for the
first problem, its message naming the field (`body.text: ...`).

Importing pydantic costs a cold start about a quarter of boto3's own; the published schema
is still generated from pydantic models, the *twins* of these shapes in
`infrastructure/parley_schema/requests.py`, and `tests/unit/test_schema_models.py` holds each
shape and its twin to the same verdicts (accepted, 1001 or 1006).

Declaring a body::

    @dataclass(frozen=True, kw_only=True)
    class RenameBody:
        name: str
        notify: bool

    shape(RenameBody, name=Str(min_len=1, max_len=64), notify=Default(Bool(), False))

    body = validate(RenameBody, request.json())  # RenameBody(name=..., notify=False)

and its twin, under the same class name, in `parley_schema/requests.py`::

    class RenameBody(Strict):
        name: Annotated[str, Field(min_length=1, max_length=64)]
        notify: bool = False
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from parley.errors import InvalidParam, PayloadTooLarge
from parley.wire import json_size

T = TypeVar("T")


@dataclass(frozen=True)
class Issue:
    """One problem: where (`body.text`), what, and whether it is a size limit (1006)."""

    where: tuple[str, ...]
    message: str
    too_large: bool = False

    @property
    def location(self) -> str:
        return ".".join(self.where) or "body"


class Invalid(Exception):
    """The issues found in a value (raised by checks, turned into protocol errors by
    :func:`validate`)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues)
        self.issues = issues


def _fail(where: tuple[str, ...], message: str, *, too_large: bool = False) -> Invalid:
    return Invalid([Issue(where, message, too_large)])


class Check:
    """A field's rule: returns the (possibly cleaned) value or raises :class:`Invalid`."""

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Str(Check):
    """A string: `clean` first (may raise ValueError), then length in code points, pattern
    (the whole string) and valid Unicode (no lone surrogate). Past `max_len` is 1006 when
    `too_long` is set, else 1001."""

    min_len: int = 0
    max_len: int | None = None
    pattern: str | None = None
    too_long: bool = False
    clean: Callable[[str], str] | None = None

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, str):
            raise _fail(where, "must be a string")
        if self.clean is not None:
            try:
                value = self.clean(value)
            except ValueError as exc:
                raise _fail(where, str(exc)) from None
        if len(value) < self.min_len:
            raise _fail(
                where,
                "must not be empty"
                if self.min_len == 1
                else f"must be at least {self.min_len} characters",
            )
        if self.max_len is not None and len(value) > self.max_len:
            if self.too_long:
                raise _fail(where, f"is over {self.max_len} characters", too_large=True)
            raise _fail(where, f"must be at most {self.max_len} characters")
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise _fail(where, f"must match {self.pattern}")
        try:
            value.encode()
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800" in JSON) cannot be stored, hashed or sent as UTF-8.
            raise _fail(where, "must be valid Unicode") from None
        return value


@dataclass(frozen=True)
class Int(Check):
    """An integer within [ge, le]; a boolean or a float (even 4.0) is not one."""

    ge: int | None = None
    le: int | None = None

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, "must be an integer")
        if self.ge is not None and value < self.ge:
            raise _fail(where, f"must be at least {self.ge}")
        if self.le is not None and value > self.le:
            raise _fail(where, f"must be at most {self.le}")
        return value


@dataclass(frozen=True)
class Bool(Check):
    """`true` or `false`, nothing else (not 0 or 1)."""

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, bool):
            raise _fail(where, "must be a boolean")
        return value


class Choice(Check):
    """One of a few strings (a `Literal`): `Choice(*typing.get_args(SignalKind))`."""

    def __init__(self, *values: str) -> None:
        self.values = values

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, str) or value not in self.values:
            raise _fail(where, "must be one of " + ", ".join(self.values))
        return value


@dataclass(frozen=True)
class ListOf(Check):
    """A JSON array of `item`s, with `min_len`..`max_len` items (1001 outside)."""

    item: Check
    min_len: int = 0
    max_len: int | None = None

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, list):
            raise _fail(where, "must be a list")
        issues: list[Issue] = []
        if len(value) < self.min_len:
            issues.append(Issue(where, f"must have at least {self.min_len} items"))
        if self.max_len is not None and len(value) > self.max_len:
            issues.append(Issue(where, f"must have at most {self.max_len} items"))
        out = [_collect(self.item, v, (*where, str(i)), issues) for i, v in enumerate(value)]
        if issues:
            raise Invalid(issues)
        return out


@dataclass(frozen=True)
class MapOf(Check):
    """A JSON object used as a map: every key a `key`, every value a `value`."""

    key: Check
    value: Check
    max_len: int | None = None

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, "must be an object")
        issues: list[Issue] = []
        if self.max_len is not None and len(value) > self.max_len:
            issues.append(Issue(where, f"must have at most {self.max_len} entries"))
        out: dict[Any, Any] = {}
        for k, v in value.items():
            # A key is named by its index: the key itself may be long or not printable.
            at = (*where, f"[key {len(out)}]")
            out[_collect(self.key, k, at, issues)] = _collect(self.value, v, at, issues)
        if issues:
            raise Invalid(issues)
        return out


@dataclass(frozen=True)
class AnyJson(Check):
    """Any JSON value whose compact UTF-8 form fits in `max_bytes` (1006 past it)."""

    max_bytes: int

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        try:
            size = json_size(value)
        except (TypeError, ValueError):
            raise _fail(where, "must be JSON") from None  # NaN, Infinity
        if size > self.max_bytes:
            raise _fail(where, f"is over {self.max_bytes} bytes", too_large=True)
        return value


@dataclass(frozen=True)
class Nested(Check):
    """A JSON object validated as the shape `model`."""

    model: type[Any]

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        return _SHAPES[self.model].build(value, where)


@dataclass(frozen=True)
class Tagged(Check):
    """One of several shapes, told apart by the value of the field `tag` (`type`)."""

    tag: str
    models: Mapping[str, type[Any]]

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, "must be an object")
        tag = value.get(self.tag)
        model = self.models.get(tag) if isinstance(tag, str) else None
        if model is None:
            names = ", ".join(self.models)
            raise _fail((*where, self.tag), f"must be one of {names}")
        return _SHAPES[model].build(value, where)


@dataclass(frozen=True)
class Opt(Check):
    """May be absent or null (then None); otherwise `check`."""

    check: Check

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        return None if value is None else self.check(value, where)


@dataclass(frozen=True)
class Default(Check):
    """May be absent (then a copy of `value`); null is refused like any other non-`check`."""

    check: Check
    value: Any

    def __call__(self, value: Any, where: tuple[str, ...]) -> Any:
        return self.check(value, where)


Rule = Callable[[Mapping[str, Any]], Issue | None]
"""A rule over the whole object, run once every field is valid (pydantic's `model_validator`)."""


def exactly_one(*names: str) -> Rule:
    """A rule: exactly one of the fields `names` is given (not null)."""

    def rule(values: Mapping[str, Any]) -> Issue | None:
        if sum(values[name] is not None for name in names) == 1:
            return None
        return Issue((), f"exactly one of {' or '.join(names)} is required")

    return rule


@dataclass(frozen=True)
class Shape:
    """A dataclass and the checks of its fields."""

    model: type[Any]
    fields: Mapping[str, Check]
    rules: tuple[Rule, ...] = ()

    def build(self, data: Any, where: tuple[str, ...] = ()) -> Any:
        """The dataclass instance of `data`, or :class:`Invalid` with every issue found."""
        if not isinstance(data, dict):
            raise _fail(where, "must be an object")
        issues = [Issue((*where, k), "unknown field") for k in data if k not in self.fields]
        values: dict[str, Any] = {}
        for name, check in self.fields.items():
            if name in data:
                values[name] = _collect(check, data[name], (*where, name), issues)
            elif isinstance(check, Opt):
                values[name] = None
            elif isinstance(check, Default):
                values[name] = copy.copy(check.value)
            else:
                issues.append(Issue((*where, name), "field required"))
        if not issues:
            for rule in self.rules:
                issue = rule(values)
                if issue is not None:
                    issues.append(Issue((*where, *issue.where), issue.message, issue.too_large))
        if issues:
            raise Invalid(issues)
        return self.model(**values)


def _collect(check: Check, value: Any, where: tuple[str, ...], issues: list[Issue]) -> Any:
    try:
        return check(value, where)
    except Invalid as exc:
        issues.extend(exc.issues)
        return None


_SHAPES: dict[type[Any], Shape] = {}


def shape(model: type[T], *, rules: tuple[Rule, ...] = (), **fields: Check) -> type[T]:
    """Declare the checks of the dataclass `model`'s fields (every field, no more)."""
    if not dataclasses.is_dataclass(model):
        raise TypeError(f"{model.__name__} is not a dataclass")
    declared = {f.name for f in dataclasses.fields(model)}
    if declared != set(fields):
        raise TypeError(f"{model.__name__}: checks for {sorted(fields)}, fields {sorted(declared)}")
    _SHAPES[model] = Shape(model, fields, rules)
    return model


def fields_of(model: type[Any]) -> Mapping[str, Check]:
    """The checks declared for `model` (for tests and tools)."""
    return _SHAPES[model].fields


def validate(model: type[T], data: Any) -> T:
    """`data` as a `model`, or the protocol error: 1006 if any value is over a size limit,
    else 1001 for the first problem found."""
    try:
        result: T = _SHAPES[model].build(data)
    except Invalid as exc:
        for issue in exc.issues:
            if issue.too_large:
                raise PayloadTooLarge(f"{issue.location}: {issue.message}") from None
        first = exc.issues[0]
        raise InvalidParam(f"{first.location}: {first.message}") from None
    return result
