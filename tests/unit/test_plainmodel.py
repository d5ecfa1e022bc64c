"""`parley.plainmodel`: the pydantic-shaped settings base that keeps pydantic out of every
cold start (`parley.config` is declared with it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from parley.plainmodel import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


class Example(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str | None = None
    label: str = "x"
    ttl: int = Field(default=900, ge=60, le=86400)
    count: int = 3
    flag: bool = False
    other: str = ""

    @model_validator(mode="after")
    def _check(self) -> Example:
        if self.other == "bad":
            raise ValueError("other must not be bad")
        return self


def test_defaults_and_environment_strings_are_parsed() -> None:
    # GIVEN values as the environment holds them (strings), and an unknown key
    m = Example.model_validate({"name": "n", "ttl": "600", "count": "7", "flag": "true", "x": "1"})
    # THEN each field has its type; unknown keys are ignored; defaults fill the rest
    assert (m.name, m.label, m.ttl, m.count, m.flag) == ("n", "x", 600, 7, True)
    assert Example().name is None
    assert Example(flag="off").flag is False
    assert Example(ttl=60).ttl == 60


@pytest.mark.parametrize(
    "values",
    [
        {"ttl": "soon"},
        {"ttl": "59"},
        {"ttl": "86401"},
        {"ttl": "1.5"},
        {"ttl": True},
        {"flag": "maybe"},
        {"label": 5},
        {"label": None},
        {"other": "bad"},
    ],
)
def test_bad_values_raise_pydantics_validation_error(values: dict[str, object]) -> None:
    # GIVEN a value that is not of its type, out of bounds, or refused by a model validator
    # THEN validation fails with the exception pydantic would raise (a ValueError too)
    with pytest.raises(ValidationError) as caught:
        Example.model_validate(values)
    assert isinstance(caught.value, ValueError)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Example.model_validate({"ttl": "1", "count": "x"})
    assert caught.value.error_count() == 2
    assert {e["loc"] for e in caught.value.errors()} == {("ttl",), ("count",)}


def test_instances_are_frozen_comparable_and_readable() -> None:
    m = Example(name="a")
    with pytest.raises(TypeError):
        m.name = "b"  # type: ignore[misc]
    assert m == Example(name="a") and m != Example(name="b")
    assert hash(m) == hash(Example(name="a"))
    assert "name='a'" in repr(m)


def test_config_is_built_on_it_and_does_not_import_pydantic() -> None:
    # GIVEN a fresh interpreter with the layer on sys.path
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from parley import config; "
        "config.settings(); print('pydantic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "layers" / "parley")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PARLEY_USERS_TABLE": "t"},
    )
    # WHEN the settings are read / THEN pydantic was never imported
    assert out.stdout.strip() == "False"
