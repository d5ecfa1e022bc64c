"""Fixtures of the web client's tests: a local cloud that serves it, and a real Chromium.

The browser is the system's Chromium (`apt-get install chromium`), driven by Playwright
without `playwright install`. The browser tests skip, saying why, when Playwright, Chromium
or the built client (`make web`, Node 20+) is missing; `make test` provides all three.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import make_cloud, stop_and_check

ROOT = Path(__file__).resolve().parents[3]
WEB_DIST = ROOT / "clients" / "web" / "dist"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Calls: a fake camera and microphone, allowed without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def chromium_path() -> str | None:
    """The system's Chromium (PARLEY_CHROMIUM overrides), or None."""
    named = os.environ.get("PARLEY_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium on the PATH (apt-get install chromium)"
    if not (WEB_DIST / "index.html").is_file() or not (WEB_DIST / "parley.js").is_file():
        return "the web client is not built: run `make web` (needs Node 20+ and npm)"
    return None


@pytest.fixture(scope="package")
def web_cloud() -> Iterator[LocalCloud]:
    """The real template on free ports, serving the web client (its origin allowed by CORS)."""
    instance = make_cloud(web_port=0).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the package's tests (each test opens its own contexts)."""
    reason = browser_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def page_opener(
    browser: Any, cloud: LocalCloud, timeout_ms: int = 20_000
) -> Iterator[Callable[[], Any]]:
    """Open pages of `cloud`'s web client, each in a fresh browser context (its own
    session); the contexts are closed on exit."""
    contexts: list[Any] = []

    def opener() -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 700})
        context.set_default_timeout(timeout_ms)
        contexts.append(context)
        page = context.new_page()
        page.goto(str(cloud.web_url))
        return page

    try:
        yield opener
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def new_page(browser: Any, web_cloud: LocalCloud) -> Iterator[Callable[[], Any]]:
    """Open a page of the web client in a fresh browser context (its own session)."""
    with page_opener(browser, web_cloud) as opener:
        yield opener
