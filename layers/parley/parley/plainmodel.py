"""The part of pydantic's model API that `parley.config` uses, on plain Python.

Every function reads its settings at cold start. Building a 40-field pydantic model (and
importing pydantic, whose plugin loader scans the installed distributions) cost about a
tenth of a second of every cold start, and functions that validate no frames (the
authorizer, `$connect`, `$disconnect`, fanout) imported pydantic for nothing else. This
module keeps `Settings` declared the pydantic way (annotated fields, `Field(ge=, le=)`,
`ConfigDict(frozen=True, extra="ignore")`, `@model_validator(mode="after")`,
`Model.model_validate(mapping)`) with the same answers:

* values are parsed from the environment's strings the way pydantic's lax mode does:
  `int` from decimal text, `bool` from `1/0/true/false/yes/no/on/off/t/f/y/n`, `str` as is,
  `X | None` accepting None; anything else, or a number out of its bounds, is an error;
* unknown keys are ignored; instances are frozen;
* every problem is reported at once as a `pydantic_core.ValidationError` (the exception
  callers have always seen; pydantic is imported only on this failure path), or a plain
  `ValueError` where pydantic is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

_MISSING: Any = object()
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n"}
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound="BaseModel")


class FieldInfo:
    """A field's default and numeric bounds."""

    def __init__(self, default: Any, ge: int | None, le: int | None) -> None:
        self.default = default
        self.ge = ge
        self.le = le


def Field(default: Any = _MISSING, *, ge: int | None = None, le: int | None = None) -> Any:  # noqa: N802 - pydantic's name
    """`Field(default, ge=..., le=...)` as in pydantic (the subset Parley uses)."""
    return FieldInfo(default, ge, le)


def ConfigDict(**options: Any) -> dict[str, Any]:  # noqa: N802 - pydantic's name
    return dict(options)


def model_validator(*, mode: str) -> Callable[[F], F]:
    """Mark a method to run after the fields are set (`mode="after"` only)."""
    if mode != "after":
        raise ValueError("only mode='after' is supported")

    def mark(fn: F) -> F:
        fn.__plainmodel_after__ = True  # type: ignore[attr-defined]
        return fn

    return mark


class _Spec:
    __slots__ = ("default", "ge", "kind", "le", "optional")

    def __init__(self, annotation: str, default: Any) -> None:
        text = annotation.replace(" ", "")
        self.optional = text.endswith("|None") or text.startswith("None|")
        base = text.replace("|None", "").replace("None|", "")
        if base not in {"int", "bool", "str"}:
            raise TypeError(f"unsupported field type {annotation!r}")
        self.kind = base
        self.ge: int | None = None
        self.le: int | None = None
        if isinstance(default, FieldInfo):
            self.ge, self.le, default = default.ge, default.le, default.default
        self.default = default


class BaseModel:
    """A frozen, validated record declared like a pydantic model."""

    model_config: ClassVar[dict[str, Any]] = {}
    __fields: ClassVar[dict[str, _Spec]] = {}
    __after: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, _Spec] = {}
        after: list[str] = []
        for klass in reversed(cls.__mro__):
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if "ClassVar" in str(annotation) or name.startswith("_"):
                    continue
                default = vars(klass).get(name, _MISSING)
                fields[name] = _Spec(str(annotation), default)
            after += [n for n, v in vars(klass).items() if getattr(v, "__plainmodel_after__", 0)]
        for name in fields:
            if name in vars(cls):
                delattr(cls, name)  # the instance attribute, not the declaration, answers
        cls.__fields = fields
        cls.__after = tuple(after)

    def __init__(self, **values: Any) -> None:
        errors: list[tuple[str, str, Any]] = []
        for name, spec in self.__fields.items():
            raw = values.get(name, _MISSING)
            if raw is _MISSING:
                if spec.default is _MISSING:
                    errors.append((name, "Field required", None))
                    continue
                value = spec.default
            else:
                try:
                    value = _parse(spec, raw)
                except ValueError as exc:
                    errors.append((name, str(exc), raw))
                    continue
            object.__setattr__(self, name, value)
        if not errors:
            for method in self.__after:
                try:
                    getattr(self, method)()
                except ValueError as exc:
                    errors.append(("", f"Value error, {exc}", None))
                    break
        if errors:
            raise _validation_error(type(self).__name__, errors)

    @classmethod
    def model_validate(cls: type[M], data: Mapping[str, Any]) -> M:
        """An instance from a mapping; keys that are not fields are ignored."""
        known = cls.__fields
        return cls(**{k: v for k, v in data.items() if k in known})

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__fields)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self.__fields))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__fields)
        return f"{type(self).__name__}({inner})"


def _parse(spec: _Spec, raw: Any) -> Any:
    if raw is None:
        if spec.optional:
            return None
        raise ValueError(f"Input should be a valid {_NAMES[spec.kind]}")
    if spec.kind == "str":
        if not isinstance(raw, str):
            raise ValueError("Input should be a valid string")
        return raw
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, str | int) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("Input should be a valid boolean")
    if isinstance(raw, bool):
        raise ValueError("Input should be a valid integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit() and raw.strip().isascii():
        value = int(raw.strip())
    else:
        raise ValueError("Input should be a valid integer, unable to parse string as an integer")
    if spec.ge is not None and value < spec.ge:
        raise ValueError(f"Input should be greater than or equal to {spec.ge}")
    if spec.le is not None and value > spec.le:
        raise ValueError(f"Input should be less than or equal to {spec.le}")
    return value


_NAMES = {"int": "integer", "bool": "boolean", "str": "string"}


def _validation_error(title: str, errors: list[tuple[str, str, Any]]) -> Exception:
    try:
        from pydantic_core import PydanticCustomError, ValidationError
    except ImportError:  # pragma: no cover - pydantic is in the layer
        text = "; ".join(f"{loc or title}: {msg}" for loc, msg, _ in errors)
        return ValueError(f"{len(errors)} validation error(s) for {title}: {text}")
    details: list[Any] = [
        {
            "type": PydanticCustomError(
                "settings_error", message.replace("{", "(").replace("}", ")")
            ),
            "loc": (loc,) if loc else (),
            "input": value,
        }
        for loc, message, value in errors
    ]
    return ValidationError.from_exception_data(title, details)
