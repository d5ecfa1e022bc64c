"""Offline notifications and conversation settings in a real Chromium (protocol 1.1 sections
10-11): the service worker's push and notificationclick handlers, the opt-in control, the
mute control, and a conversation list that follows `nextCursor`.

Chromium cannot reach a real push service here (no network, and Chromium's push service is
Google's), so no test subscribes for real: a push is delivered to the service worker through
the DevTools protocol (`ServiceWorker.deliverPushMessage`, the path of DevTools' "Push"
button, which the browser dispatches as a real push event), and the opt-in test stands in a
`PushManager` that returns a loopback subscription. See clients/web/README.md.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import User, connect_all, dm, run, sign_up_all
from tests.e2e.web.test_browser import PASSWORD, SHOTS, shot

pytestmark = pytest.mark.e2e

T = TypeVar("T")

NOTIFICATIONS = """async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map(
        n => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
}"""


def api(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the Python client: on a thread of its own, as Playwright's sync API
    holds this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run, coro).result()


def sign_in(page: Any, user_id: str) -> None:
    """Sign in on the sign-in screen and wait for the live connection."""
    page.get_by_label("User name").fill(user_id)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator("#connection-status[data-state=online]").wait_for()


def notifying_page(
    new_page: Callable[[], Any], cloud: LocalCloud, script: str | None = None
) -> Any:
    """A page of the app whose browser allows its notifications (with `script` run first
    in every load)."""
    page = new_page()
    page.context.grant_permissions(["notifications"], origin=str(cloud.web_url))
    if script is not None:
        page.add_init_script(script)
        page.reload()
    return page


def worker_ready(page: Any) -> None:
    """Wait until the page's service worker is active (the app registers it on sign-in)."""
    page.wait_for_function(
        "navigator.serviceWorker.ready.then(r => r.active?.state === 'activated')"
    )


def deliver_push(page: Any, payload: dict[str, Any]) -> None:
    """Deliver a push message to the page's service worker as the browser would."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    origin = page.evaluate("location.origin")
    while not any(r["scopeURL"] == f"{origin}/" for r in registrations):
        assert time.monotonic() < deadline, "the service worker's registration never showed"
        page.wait_for_timeout(50)
    found = next(r for r in registrations if r["scopeURL"] == f"{origin}/")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": found["registrationId"], "data": json.dumps(payload)},
    )
    cdp.detach()


async def direct_messages(cloud: LocalCloud, sender: str, *others: str) -> list[User]:
    """Sign up `sender` and `others`; the sender writes one line to each (one DM each)."""
    users = await sign_up_all(cloud, sender, *others)
    async with contextlib.AsyncExitStack() as stack:
        (client,) = await connect_all(stack, users[0].client())
        for other in users[1:]:
            await client.send(f"hi {other.user_id}", to=other.user_id)
    return users


def notifications(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(NOTIFICATIONS))


def test_a_push_shows_a_notification_and_its_click_opens_the_conversation(
    new_page: Callable[[], Any], web_cloud: LocalCloud
) -> None:
    # GIVEN bob signed in, notifications allowed, with a DM from alice in his list, none open
    alice, bob = api(direct_messages(web_cloud, "alice", "bob"))
    conversation = dm(alice.user_id, bob.user_id)
    page = notifying_page(new_page, web_cloud)
    sign_in(page, bob.user_id)
    page.locator("#conversation-list .conversation", has_text=alice.user_id).wait_for()
    worker_ready(page)
    push = {"type": "message", "conversationId": conversation, "senderId": alice.user_id}
    # WHEN section 10's push arrives without a preview (the server's default)
    deliver_push(page, {**push, "seq": 1, "ts": 1_700_000_000_000})
    # THEN the service worker shows it: the sender as title, "New message" as body
    page.wait_for_function(f"({NOTIFICATIONS})().then(n => n.length === 1)")
    assert notifications(page) == [
        {
            "title": alice.user_id,
            "body": "New message",
            "tag": f"parley:{conversation}",
            "data": {"conversationId": conversation, "seq": 1},
        }
    ]
    # WHEN a second one comes with a preview (PushPreviews=on)
    deliver_push(page, {**push, "seq": 2, "ts": 1_700_000_001_000, "preview": "Lunch at 12:30?"})
    # THEN it replaces the first (one notification per conversation), showing the preview
    page.wait_for_function(
        f"({NOTIFICATIONS})().then(n => n.length === 1 && n[0].body === 'Lunch at 12:30?')"
    )
    assert notifications(page)[0]["data"] == {"conversationId": conversation, "seq": 2}
    # WHEN the notification is clicked (a NotificationEvent dispatched in the worker: no
    # protocol clicks a system notification)
    assert page.locator("#chat-title").count() == 0
    (worker,) = [w for w in page.context.service_workers if w.url.endswith("/sw.js")]
    worker.evaluate(
        """async () => {
            const [notification] = await self.registration.getNotifications();
            self.dispatchEvent(new NotificationEvent('notificationclick', {notification}));
        }"""
    )
    # THEN the open page shows that conversation, and the notification is gone
    page.locator("#chat-title", has_text=alice.user_id).wait_for()
    page.locator("#messages .text", has_text=f"hi {bob.user_id}").wait_for()
    page.wait_for_function(f"({NOTIFICATIONS})().then(n => n.length === 0)")


def test_a_notification_link_opens_its_conversation_after_sign_in(
    new_page: Callable[[], Any], web_cloud: LocalCloud
) -> None:
    # GIVEN a DM from alice to bob, and the link a click opens when no page of the app is open
    alice, bob = api(direct_messages(web_cloud, "alice", "bob"))
    page = new_page()
    link = f"{web_cloud.web_url}/?conversation={quote(dm(alice.user_id, bob.user_id), safe='')}"
    # WHEN bob follows it and signs in
    page.goto(link)
    sign_in(page, bob.user_id)
    # THEN the conversation is open, and the address is the app's again
    page.locator("#chat-title", has_text=alice.user_id).wait_for()
    assert page.evaluate("location.pathname + location.search") == "/"


# A PushManager standing in for the browser's: Chromium's push service is out of reach here.
# Its subscription's endpoint is on loopback (make dev's PushEndpointPolicy admits it) and
# its keys are real (the server checks their form).
FAKE_PUSH_MANAGER = r"""
(() => {
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const bytes = (text) => Uint8Array.from(
      atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const calls = window.__push = {subscribe: [], unsubscribed: 0};
  // Kept in the tab's storage, as a browser keeps its subscription across page loads.
  const saved = () => JSON.parse(sessionStorage.getItem('fake-push') || 'null');
  const make = ({endpoint, p256dh, auth, key}) => ({
    endpoint, options: {applicationServerKey: bytes(key).buffer, userVisibleOnly: true},
    toJSON: () => ({endpoint, expirationTime: null, keys: {p256dh, auth}}),
    unsubscribe: async () => {
      calls.unsubscribed += 1;
      sessionStorage.removeItem('fake-push');
      return true;
    },
  });
  PushManager.prototype.getSubscription = async function () {
    return saved() && make(saved());
  };
  PushManager.prototype.subscribe = async function (options) {
    const pair = await crypto.subtle.generateKey(
        {name: 'ECDH', namedCurve: 'P-256'}, true, ['deriveBits']);
    const fields = {
      endpoint: 'http://127.0.0.1:9/push/' + crypto.randomUUID(),
      p256dh: b64url(await crypto.subtle.exportKey('raw', pair.publicKey)),
      auth: b64url(crypto.getRandomValues(new Uint8Array(16))),
      key: b64url(new Uint8Array(options.applicationServerKey).buffer),
    };
    calls.subscribe.push({userVisibleOnly: options.userVisibleOnly, key: fields.key});
    sessionStorage.setItem('fake-push', JSON.stringify(fields));
    return make(fields);
  };
})();
"""


def test_turning_notifications_on_registers_the_device_and_off_removes_it(
    new_page: Callable[[], Any], web_cloud: LocalCloud
) -> None:
    # GIVEN carol signed in, notifications allowed, and a PushManager standing in
    (carol,) = api(sign_up_all(web_cloud, "carol"))
    page = notifying_page(new_page, web_cloud, FAKE_PUSH_MANAGER)
    sign_in(page, carol.user_id)
    control = page.get_by_role("button", name="Notifications")
    expect_pressed(control, "false")
    # WHEN she turns them on from the keyboard
    control.focus()
    page.keyboard.press("Enter")
    # THEN the browser is subscribed with the VAPID key of /push/config, once, and the
    # subscription is her one Web Push device
    expect_pressed(control, "true")
    config = api(carol.http.push_config())
    calls = page.evaluate("window.__push")
    vapid_key = config["webpush"]["vapidPublicKey"]
    assert calls["subscribe"] == [{"userVisibleOnly": True, "key": vapid_key}]
    devices = api(carol.http.devices())
    assert [d["platform"] for d in devices] == ["webpush"]
    # WHEN the server drops the device (as after a 410) and the app is loaded again
    api(carol.http.remove_device(devices[0]["deviceId"]))
    page.reload()
    page.locator("#connection-status[data-state=online]").wait_for()
    # THEN the subscription she kept on is registered again, without a new subscription
    expect_pressed(control, "true")
    assert [d["platform"] for d in api(carol.http.devices())] == ["webpush"]
    assert len(page.evaluate("window.__push.subscribe")) == 0
    # WHEN she turns them off
    control.click()
    # THEN the browser unsubscribes and the device is removed
    expect_pressed(control, "false")
    assert page.evaluate("window.__push.unsubscribed") == 1
    assert api(carol.http.devices()) == []


def test_without_a_push_service_the_control_says_so_and_stays_off(
    new_page: Callable[[], Any], web_cloud: LocalCloud
) -> None:
    # GIVEN dave signed in, notifications allowed, with Chromium's own PushManager, whose
    # push service cannot be reached from here
    (dave,) = api(sign_up_all(web_cloud, "dave"))
    page = notifying_page(new_page, web_cloud)
    sign_in(page, dave.user_id)
    control = page.get_by_role("button", name="Notifications")
    # WHEN he turns them on
    control.click()
    # THEN he is told in words, the control stays off, and no device is registered
    page.locator("#toast", has_text="could not subscribe").wait_for(timeout=60_000)
    expect_pressed(control, "false")
    assert api(dave.http.devices()) == []


def test_mute_shows_in_the_list_and_the_api_and_the_list_follows_its_pages(
    new_page: Callable[[], Any], web_cloud: LocalCloud
) -> None:
    # GIVEN erin in three DMs, and pages of two conversations in the app's list
    erin, *others = api(direct_messages(web_cloud, "erin", "finn", "gail", "hugo"))
    page = new_page()
    lists: list[str] = []
    page.on(
        "request",
        lambda r: lists.append(r.url) if "/conversations?" in r.url and r.method == "GET" else None,
    )
    small_pages(page)
    page.reload()
    # WHEN she signs in
    sign_in(page, erin.user_id)
    # THEN all three are listed, from two pages (the second asked for by its cursor)
    rows = page.locator("#conversation-list .conversation")
    rows.nth(2).wait_for()
    assert rows.count() == 3
    assert any("cursor=" in url for url in lists) and all("limit=2" in url for url in lists)
    # WHEN she mutes her DM with gail from the keyboard
    gail = others[1].user_id
    mute = page.get_by_role("button", name=f"Mute {gail}")
    expect_pressed(mute, "false")
    mute.focus()
    page.keyboard.press("Enter")
    # THEN the control and the row say so
    expect_pressed(mute, "true")
    row = page.locator("#conversation-list .conversation", has_text=gail)
    assert str(row.get_attribute("aria-label")).endswith(", muted")
    # AND GET /conversations shows it muted, and only it
    listed = {c["conversationId"]: c["muted"] for c in api(erin.http.conversations())}
    assert listed == {dm(erin.user_id, o.user_id): o.user_id == gail for o in others}
    # WHEN erin signs in from another browser THEN its list shows the mute too
    other = new_page()
    sign_in(other, erin.user_id)
    other_mute = other.get_by_role("button", name=f"Mute {gail}")
    expect_pressed(other_mute, "true")
    if SHOTS:
        other.locator("#conversation-list .conversation", has_text=others[0].user_id).click()
        other.locator("#messages .text", has_text=f"hi {others[0].user_id}").wait_for()
        shot(other, "mute")
    # WHEN she unmutes it there THEN the API has it unmuted
    other_mute.click()
    expect_pressed(other_mute, "false")
    assert not any(c["muted"] for c in api(erin.http.conversations()))


def small_pages(page: Any) -> None:
    """Hand the page a conversation list page size of 2 (in its /config.json)."""

    def handle(route: Any) -> None:
        response = route.fetch()
        body = {**response.json(), "listPageSize": 2}
        route.fulfill(response=response, json=body)

    page.route("**/config.json", handle)


def expect_pressed(locator: Any, pressed: str) -> None:
    """Wait until a toggle button's aria-pressed is `pressed`."""
    locator.and_(locator.page.locator(f"[aria-pressed='{pressed}']")).wait_for()
