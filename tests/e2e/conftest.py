"""End-to-end fixtures: ONE local cloud of the real `template.yaml` for the whole suite.

The cloud listens on free ports, runs at most two workers per function, and is stopped
once the last e2e test has run (package scope: under `make test` it does not linger, with
its worker processes, through the unit and integration tests that follow); every process
it ever started must then be gone. Tests share it safely because each one signs up users
with unique ids. Tests that need other template parameters (TURN) or that stop a cloud on
purpose start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import make_cloud, stop_and_check


@pytest.fixture(scope="package")
def cloud() -> Iterator[LocalCloud]:
    instance = make_cloud().start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, show the end of the local cloud's log (what the functions said)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, LocalCloud):
            tail = "\n".join(value.log_lines()[-150:])
            report.sections.append((f"local cloud log ({name})", tail))
