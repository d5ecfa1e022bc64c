"""Import `functions/<name>/app.py` the way the Lambda runtime does (by file, as `app`).

Each loaded handler runs inside an `Invocation` (the function and the `PARLEY_*` settings it
saw), so that test hooks can tell which function made an AWS call: the IAM audit
(tests/support/iam_audit.py) checks each call against that function's role.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@dataclass(frozen=True)
class Invocation:
    """A handler call in progress: the function's directory name and its settings."""

    function: str
    env: tuple[tuple[str, str], ...]


# The handler running in this context (None outside handlers: test setup, assertions).
running: ContextVar[Invocation | None] = ContextVar("running", default=None)


@contextmanager
def as_the_test() -> Iterator[None]:
    """Run a block (or, as a decorator, a function) as the test, not as a handler: a test's
    inspection of the tables may run inside a handler, e.g. from a fake gateway's post."""
    token = running.set(None)
    try:
        yield
    finally:
        running.reset(token)


def _invoked_as(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PARLEY_")))
        token = running.set(Invocation(function, env))
        try:
            return handler(*args, **kwargs)
        finally:
            running.reset(token)

    return invoke


@cache
def load(name: str) -> ModuleType:
    path = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"parley_fn_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    setattr(module, "handler", _invoked_as(name, module.handler))  # noqa: B010 (typed module)
    return module
