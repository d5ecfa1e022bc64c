"""A LocalCloud on free ports, running the small fixture template (tests/fixtures/localcloud).

The cloud is shared by this package's tests (they use their own connections, bodies and
keys). It is stopped at the end, and every process it ever started must be gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parley_local import LocalCloud

from tests.integration.localcloud.helpers import make_cloud, stop_and_check


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
    if report.when == "call" and report.failed:
        for name in ("cloud", "short_cloud"):
            instance = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(instance, LocalCloud):
                tail = "\n".join(instance.log_lines()[-120:])
                report.sections.append((f"local cloud log ({name})", tail))
