"""The web client's account rules (issue 15) in a real Chromium, against a local cloud that
asks the registration challenge as deployed stacks do (`RegistrationChallenge=pow`, the
template's default difficulty): creating an account solves it in the app's own worker under
the page's Content-Security-Policy; changing the password and signing out everywhere end
the other sign-ins, which return to the sign-in screen with a sentence; too many wrong
passwords for one account say how long to wait.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import make_cloud, stop_and_check, uid
from tests.e2e.web.conftest import page_opener
from tests.e2e.web.test_browser import register

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
FAILED_LOGINS_PER_ACCOUNT = 10


@pytest.fixture(scope="module")
def pow_cloud(browser: Any) -> Iterator[LocalCloud]:
    """The real template serving the web client, with the registration challenge on."""
    instance = make_cloud(web_port=0, parameter_overrides={"RegistrationChallenge": "pow"}).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


@pytest.fixture
def pow_page(browser: Any, pow_cloud: LocalCloud) -> Iterator[Callable[[], Any]]:
    """Open a page of that cloud's web client in a fresh browser context (its own session)."""
    with page_opener(browser, pow_cloud, timeout_ms=30_000) as opener:
        yield opener


def sign_in(page: Any, user: str, password: str = PASSWORD) -> None:
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def signed_in_twice(pow_page: Callable[[], Any], prefix: str) -> tuple[Any, Any, str]:
    """One account (created in the first browser) signed in in a second browser too."""
    first = pow_page()
    user = register(first, prefix)
    second = pow_page()
    sign_in(second, user)
    second.locator("#connection-status[data-state=online]").wait_for()
    return first, second, user


def open_account_menu(page: Any) -> None:
    page.get_by_role("button", name="Account").click()
    assert page.get_by_role("button", name="Account").get_attribute("aria-expanded") == "true"


def test_creating_an_account_solves_the_challenge_in_the_apps_worker(
    pow_page: Callable[[], Any], pow_cloud: LocalCloud
) -> None:
    # GIVEN the sign-in screen of a stack that asks a registration challenge
    page = pow_page()
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    # WHEN an account is created
    user = register(page, "solver")
    # THEN the app is entered (as `user`), the search ran in the app's worker from its own
    # origin, and the page's Content-Security-Policy refused nothing
    assert user
    assert any(re.search(r"/assets/pow\.worker-[^/]*\.js$", url) for url in workers), workers
    assert all(url.startswith(str(pow_cloud.web_url)) for url in workers)
    assert refused == []


def test_changing_the_password_ends_the_other_sign_in(pow_page: Callable[[], Any]) -> None:
    # GIVEN alice signed in twice, in two browsers
    first, second, user = signed_in_twice(pow_page, "changer")
    # WHEN the first gives a wrong current password THEN the dialog says so in words
    open_account_menu(first)
    first.get_by_role("button", name="Change password").click()
    dialog = first.get_by_role("dialog", name="Change password")
    dialog.get_by_label("Current password").fill("not my password")
    dialog.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    dialog.get_by_label("New password again").fill(NEW_PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    dialog.get_by_role("alert").get_by_text("The current password is wrong.").wait_for()
    # WHEN it gives the right one
    dialog.get_by_label("Current password").fill(PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    # THEN it says so and stays signed in, while the other browser is back at the sign-in
    # screen with a sentence
    first.locator("#toast").get_by_text("Your password is changed.").wait_for()
    second.locator("#login-error").get_by_text(re.compile("sign in again")).wait_for(timeout=60_000)
    assert first.locator("#connection-status").get_attribute("data-state") == "online"
    # AND only the new password signs in
    sign_in(second, user)
    second.locator("#login-error").get_by_text("Wrong user name or password.").wait_for()
    sign_in(second, user, NEW_PASSWORD)
    second.locator("#connection-status[data-state=online]").wait_for()


def test_signing_out_everywhere(pow_page: Callable[[], Any]) -> None:
    # GIVEN bob signed in twice, in two browsers
    first, second, _ = signed_in_twice(pow_page, "leaver")
    # WHEN the second signs out everywhere, from the keyboard-reachable account menu
    open_account_menu(second)
    second.get_by_role("button", name="Sign out everywhere").click()
    second.get_by_role("dialog").get_by_role("button", name="Sign out everywhere").click()
    # THEN it is at the sign-in screen saying so, and so is the first, with a sentence
    second.locator("#login-error").get_by_text("You are signed out on every device.").wait_for()
    first.locator("#login-error").get_by_text(re.compile("sign in again")).wait_for(timeout=60_000)
    assert not re.search(r"\b1\d{3}\b", first.locator("#login-error").inner_text())
    # AND the tab forgot its tokens: a reload stays at the sign-in screen
    second.reload()
    second.get_by_role("button", name="Sign in", exact=True).wait_for()


def test_too_many_wrong_passwords_for_one_account_say_how_long_to_wait(
    pow_page: Callable[[], Any], pow_cloud: LocalCloud
) -> None:
    # GIVEN an account whose failed-login budget was spent (from elsewhere)
    page = pow_page()
    user = register(page, "guessed")
    page.get_by_role("button", name="Sign out", exact=True).click()

    # (from the page: Playwright's own event loop runs in this thread)
    statuses = page.evaluate(
        """async ([url, user, times]) => {
            const statuses = [];
            for (let i = 0; i < times; i++) {
                const response = await fetch(`${url}/auth/login`, {
                    method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({userId: user, password: "wrong guess!"}),
                });
                statuses.push(response.status);
            }
            return statuses;
        }""",
        [pow_cloud.http_url, user, FAILED_LOGINS_PER_ACCOUNT],
    )
    assert statuses == [401] * FAILED_LOGINS_PER_ACCOUNT
    # WHEN the right password is then given in the browser
    sign_in(page, user)
    # THEN the screen says how long to wait, in seconds or minutes, without a code
    alert = page.locator("#login-error")
    wait = re.compile(r"^Too many attempts\. Try again in \d+ (second|minute)s?\.$")
    alert.get_by_text(wait).wait_for()
    assert not re.search(r"\b1\d{3}\b", alert.inner_text())


def test_the_sdks_own_solver_under_the_pages_csp(browser: Any, pow_cloud: LocalCloud) -> None:
    # GIVEN a page of the app's origin (its CSP refuses `blob:` workers) that imports only
    # /parley.js, with the SDK's default solver (a Blob URL worker)
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(f"{pow_cloud.web_url}/config.json")
    try:
        # WHEN it registers
        result = page.evaluate(
            """async ([user, password]) => {
                const sdk = await import('/parley.js');
                const config = await (await fetch('/config.json')).json();
                const http = new sdk.HttpClient(config.httpUrl);
                const challenge = await http.registrationChallenge();
                const registered = await http.register(user, password);
                await http.login(user, password);
                return {difficulty: challenge.difficulty, registered, me: (await http.me()).userId};
            }""",
            [uid("bare"), PASSWORD],
        )
    finally:
        context.close()
    # THEN the browser refused the Blob URL worker, the SDK solved on the page in steps
    # instead, and the account exists
    assert any("blob:" in text and "Content Security Policy" in text for text in console), console
    assert result["difficulty"] >= 1
    assert result["registered"]["userId"] == result["me"]
