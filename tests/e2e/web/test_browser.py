"""The web client in a real Chromium against the local cloud: chat, groups, going offline,
rich messages (replies, edits, deletes, reactions, files), a video call, and the SDK alone
from `/parley.js`.

Set PARLEY_WEB_SCREENSHOTS to a directory to save the main screens there (docs/web/).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from parley_local import LocalCloud

from tests.e2e.helpers import uid

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
SHOTS = os.environ.get("PARLEY_WEB_SCREENSHOTS")


def shot(page: Any, name: str) -> None:
    """Save a screenshot of `page` as `name`.png when PARLEY_WEB_SCREENSHOTS is set."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def register(page: Any, prefix: str) -> str:
    """Create an account on the sign-in screen and enter the app; returns the userId."""
    user = uid(prefix)
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    page.locator("#connection-status[data-state=online]").wait_for()
    assert page.locator("#me").inner_text() == user
    return user


def start_dm(page: Any, peer: str) -> None:
    page.get_by_role("button", name="New message").click()
    page.get_by_label("To (user name)").fill(peer)
    page.get_by_role("button", name="Start").click()
    page.locator("#chat-title", has_text=peer).wait_for()


def send(page: Any, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.keyboard.press("Enter")
    page.locator("#messages .message.mine:not(.pending) .text", has_text=text).wait_for()


def dm_pair(new_page: Callable[[], Any], first_line: str) -> list[tuple[Any, str]]:
    """Alice and bob, signed up in their own browsers, with alice's first line sent to bob."""
    pages = [new_page(), new_page()]
    ids = [register(pages[0], "alice"), register(pages[1], "bob")]
    start_dm(pages[0], ids[1])
    send(pages[0], first_line)
    return list(zip(pages, ids, strict=True))


def texts(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#messages .message .text").all_inner_texts()]


def open_conversation(page: Any, title: str) -> None:
    page.locator("#conversation-list .conversation", has_text=title).click()
    page.locator("#chat-title", has_text=title).wait_for()


def test_two_people_chat_see_typing_and_seen(new_page: Callable[[], Any]) -> None:
    # GIVEN alice and bob, each in their own browser, signed up through the web client
    alice, bob = new_page(), new_page()
    shot(alice, "login")
    alice_id, bob_id = register(alice, "alice"), register(bob, "bob")
    # WHEN alice starts a DM with bob and writes
    start_dm(alice, bob_id)
    send(alice, "Hi Bob! Lunch today?")
    # THEN bob's list shows the conversation with one unread message
    row = bob.locator("#conversation-list .conversation", has_text=alice_id)
    row.locator(".badge", has_text="1").wait_for()
    assert "1 unread" in str(row.get_attribute("aria-label"))
    # WHEN bob opens it THEN he reads it, and alice sees "Seen"
    open_conversation(bob, alice_id)
    assert texts(bob) == ["Hi Bob! Lunch today?"]
    alice.locator("#seen", has_text="Seen").wait_for()
    assert row.locator(".badge").count() == 0
    # WHEN bob types THEN alice sees him typing
    bob.get_by_label("Message", exact=True).press_sequentially("Sure", delay=20)
    alice.locator("#typing", has_text=f"{bob_id} is typing").wait_for()
    # WHEN bob sends THEN the typing line clears and alice has both messages in order
    bob.keyboard.press("Enter")
    alice.locator("#messages .message:not(.mine) .text", has_text="Sure").wait_for()
    assert texts(alice) == ["Hi Bob! Lunch today?", "Sure"]
    assert alice.locator("#typing").inner_text() == ""
    send(alice, "12:30 at the usual place")
    bob.locator("#messages .text", has_text="12:30").wait_for()
    # AND bob reading it moves "Seen" under alice's newest message
    alice.wait_for_function(
        """() => document.querySelector('#seen')?.previousElementSibling
                   ?.textContent.includes('12:30 at the usual place')"""
    )
    # AND presence shows bob online to alice
    alice.locator("#chat-sub", has_text="Online").wait_for(timeout=30_000)
    shot(alice, "dm")


def test_a_group_of_three(new_page: Callable[[], Any]) -> None:
    # GIVEN three people
    pages = [new_page() for _ in range(3)]
    alice, bob, carol = pages
    ids = [
        register(page, name) for page, name in zip(pages, ("alice", "bob", "carol"), strict=True)
    ]
    # WHEN alice creates a group with the other two and each writes once
    alice.get_by_role("button", name="New group").click()
    alice.get_by_label("Group name").fill("Weekend trip")
    alice.get_by_label("Members (user names, separated by commas)").fill(f"{ids[1]}, {ids[2]}")
    alice.get_by_role("button", name="Create group").click()
    alice.locator("#chat-title", has_text="Weekend trip").wait_for()
    alice.locator("#chat-sub", has_text="3 members").wait_for()
    send(alice, "Who is driving?")
    for page, line in ((bob, "I can drive"), (carol, "I'll bring snacks")):
        page.locator("#conversation-list .conversation", has_text="Weekend trip").wait_for()
        open_conversation(page, "Weekend trip")
        send(page, line)
    # THEN everyone sees the same three messages in the same order, and who wrote them
    expected = ["Who is driving?", "I can drive", "I'll bring snacks"]
    for page in pages:
        page.locator("#messages .text", has_text="snacks").wait_for()
        assert texts(page) == expected
        page.locator("#messages .system", has_text="created the group").wait_for()
    assert alice.locator("#messages .sender").all_inner_texts() == [ids[1], ids[2]]
    # AND alice sees who has read her message
    alice.locator("#seen", has_text="Seen by").wait_for()
    shot(alice, "group")


def test_offline_then_back_every_message_once_in_order(
    new_page: Callable[[], Any], browser: Any
) -> None:
    # GIVEN alice and bob in a DM, bob's browser open on it
    alice, bob = new_page(), new_page()
    alice_id, bob_id = register(alice, "alice"), register(bob, "bob")
    start_dm(alice, bob_id)
    send(alice, "before")
    bob.locator("#conversation-list .conversation", has_text=alice_id).click()
    bob.locator("#messages .text", has_text="before").wait_for()
    # WHEN bob's browser goes offline while alice sends five messages
    bob.context.set_offline(True)
    bob.locator("#connection-banner[data-state=offline]").wait_for()
    assert "offline" in bob.locator("#connection-banner").inner_text().lower()
    assert bob.locator("#connection-status").inner_text() == "Offline"
    sent = [f"while you were away {n}" for n in range(1, 6)]
    for text in sent:
        send(alice, text)
    shot(bob, "offline")
    # AND comes back
    bob.context.set_offline(False)
    bob.locator("#connection-status[data-state=online]").wait_for(timeout=60_000)
    # THEN bob has every message exactly once, in order
    bob.locator("#messages .text", has_text="away 5").wait_for(timeout=60_000)
    assert texts(bob) == ["before", *sent]
    seqs = [
        int(s)
        for s in bob.locator("#messages .message").evaluate_all(
            "els => els.map(e => e.dataset.seq)"
        )
    ]
    assert seqs == sorted(set(seqs))
    assert bob.locator("#connection-banner").is_hidden()


def _playing(page: Any) -> dict[str, float]:
    return dict(
        page.evaluate(
            """() => { const v = document.querySelector('#remote-video');
                return {width: v.videoWidth, time: v.currentTime}; }"""
        )
    )


def test_a_video_call_between_two_pages(new_page: Callable[[], Any]) -> None:
    # GIVEN alice and bob, with a DM between them
    (alice, alice_id), (bob, bob_id) = dm_pair(new_page, "Can I call you?")
    # WHEN alice starts a video call and bob accepts it
    alice.get_by_role("button", name=f"Video call {bob_id}").click()
    bob.locator("#call[data-phase=incoming]").wait_for()
    assert f"{alice_id} is calling you (video)" in bob.locator("#call-status").inner_text()
    shot(bob, "incoming-call")
    bob.get_by_role("button", name="Accept").click()
    # THEN both peer connections reach "connected"
    for page in (alice, bob):
        page.wait_for_function(
            "() => window.parleyApp.call.pc?.connectionState === 'connected'",
            timeout=30_000,
        )
        page.locator("#call[data-phase=connected]").wait_for()
    # AND each remote video plays: it has a size and its time advances
    for page in (alice, bob):
        page.wait_for_function(
            "() => document.querySelector('#remote-video').videoWidth > 0", timeout=20_000
        )
        first = _playing(page)
        page.wait_for_function(
            f"() => document.querySelector('#remote-video').currentTime > {first['time'] + 0.3}",
            timeout=20_000,
        )
    shot(alice, "call")
    # WHEN alice hangs up THEN bob's call ends too
    alice.get_by_role("button", name="Hang up").click()
    bob.locator("#call[data-phase=ended]").wait_for(state="attached")
    assert bob.evaluate("() => window.parleyApp.call.pc === undefined")
    assert "ended the call" in bob.locator("#toast").inner_text()


def test_the_sdk_alone_from_parley_js(browser: Any, web_cloud: LocalCloud) -> None:
    # GIVEN a page of the web client's origin that is not the app (the config document)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{web_cloud.web_url}/config.json")
    user = uid("bare")
    try:
        # WHEN it imports /parley.js, signs up, connects and writes a note to itself
        result = page.evaluate(
            """async ([user, password]) => {
                const sdk = await import('/parley.js');
                const config = await (await fetch('/config.json')).json();
                const http = new sdk.HttpClient(config.httpUrl);
                await http.register(user, password);
                await http.login(user, password);
                const client = new sdk.ParleyClient(config.wsUrl, http.tokenProvider);
                await client.connect();
                const ack = await client.send('note to self', {to: user});
                const page = await http.history(ack.conversationId, {});
                let refused = null;
                try { await http.login(user, 'wrong password!'); }
                catch (e) { refused = {code: e.code, name: e.name}; }
                await client.close();
                return {ack, texts: page.messages.map(m => m.body.text), refused,
                        exports: Object.keys(sdk).sort()};
            }""",
            [user, PASSWORD],
        )
    finally:
        context.close()
    # THEN the SDK works cross-origin (CORS) with the server's codes as error classes
    assert result["ack"]["conversationId"] == f"dm:{user}:{user}"
    assert result["ack"]["seq"] == 1
    assert result["texts"] == ["note to self"]
    assert result["refused"] == {"code": 1003, "name": "UnauthenticatedError"}
    assert {"HttpClient", "ParleyClient", "RateLimitedError"} <= set(result["exports"])


def test_errors_are_in_words(new_page: Callable[[], Any]) -> None:
    # GIVEN the sign-in screen
    page = new_page()
    # WHEN signing in with an unknown account
    page.get_by_label("User name").fill(uid("nobody"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # THEN the screen says so in words, without a code
    alert = page.locator("#login-error")
    alert.get_by_text("Wrong user name or password.").wait_for()
    assert not re.search(r"\b1\d{3}\b", alert.inner_text())
    # WHEN a taken user name is registered again
    taken = register(page, "taken")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("User name").fill(taken)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    alert.get_by_text("That user name is taken.").wait_for()


def test_history_pages_in_when_scrolling_up(new_page: Callable[[], Any]) -> None:
    # GIVEN 45 messages from alice to bob, sent while bob was signed out
    alice, bob = new_page(), new_page()
    alice_id, bob_id = register(alice, "alice"), register(bob, "bob")
    bob.get_by_role("button", name="Sign out").click()
    alice.evaluate(
        """async (to) => { for (let n = 1; n <= 45; n++)
            await window.parleyApp.client.send(`line ${n}`, {to}); }""",
        bob_id,
    )
    # WHEN bob signs in and opens the conversation
    bob.get_by_label("User name").fill(bob_id)
    bob.get_by_label("Password").fill(PASSWORD)
    bob.get_by_role("button", name="Sign in", exact=True).click()
    row = bob.locator("#conversation-list .conversation", has_text=alice_id)
    row.locator(".badge", has_text="45").wait_for(timeout=30_000)
    open_conversation(bob, alice_id)
    bob.locator("#messages .text", has_text="line 45").wait_for()
    # THEN he sees the newest page, and older ones come in as he scrolls up, in order
    assert texts(bob) == [f"line {n}" for n in range(16, 46)]
    bob.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    bob.locator("#messages .text", has_text="line 1").first.wait_for()
    bob.locator("#messages .history-start", has_text="Start of the conversation").wait_for()
    assert texts(bob) == [f"line {n}" for n in range(1, 46)]
    # AND the page he was reading stays in view (the list grew above it)
    assert bob.locator("#messages").evaluate("el => el.scrollTop") > 0


def test_an_audio_call_can_be_declined(new_page: Callable[[], Any]) -> None:
    # GIVEN alice and bob, with a DM between them
    (alice, alice_id), (bob, bob_id) = dm_pair(new_page, "Quick call?")
    # WHEN alice places an audio call THEN bob's page rings, saying who calls
    alice.get_by_role("button", name=f"Audio call {bob_id}").click()
    bob.locator("#call[data-phase=incoming]").wait_for()
    assert bob.locator("#call-status").inner_text() == f"{alice_id} is calling you"
    alice.locator("#call[data-phase=ringing]").wait_for()
    assert alice.get_by_role("button", name=f"Video call {bob_id}").is_disabled()
    # WHEN bob declines THEN alice's call ends with the reason in words
    bob.get_by_role("button", name="Decline").click()
    alice.locator("#call[data-phase=ended]").wait_for(state="attached")
    alice.locator("#toast", has_text=f"{bob_id} declined the call.").wait_for()
    assert alice.get_by_role("button", name=f"Video call {bob_id}").is_enabled()


def test_a_row_redrawn_under_the_pointer_still_opens(new_page: Callable[[], Any]) -> None:
    # GIVEN bob's list with alice's DM in it
    (_, alice_id), (bob, _) = dm_pair(new_page, "Are you there?")
    row = bob.locator("#conversation-list .conversation", has_text=alice_id)
    row.wait_for()
    # WHEN the list redraws with new content between the click's mousedown and mouseup (as
    # when the conversation list's load or a push lands mid-click)
    bob.evaluate(
        """(id) => document.addEventListener('mousedown', () => {
            const app = window.parleyApp;
            app.conversations.get(id).lastText = 'changed under the pointer';
            app.online.set(id.split(':').find((u) => u !== app.me), true);
            app.renderList();
        }, {capture: true, once: true})""",
        sorted_dm(alice_id, str(bob.locator("#me").inner_text())),
    )
    row.click()
    # THEN the click still opens the conversation, with its message
    bob.locator("#chat-title", has_text=alice_id).wait_for(timeout=5_000)
    bob.locator("#messages .text", has_text="Are you there?").wait_for()


def sorted_dm(a: str, b: str) -> str:
    return "dm:" + ":".join(sorted((a, b)))


def message(page: Any, text: str) -> Any:
    """The message (`li`) of `page` whose text contains `text`."""
    return page.locator("#messages .message", has=page.locator(".text", has_text=text))


def act(page: Any, text: str, action: str) -> None:
    """Hover the message with `text` and press one of its action buttons (by its label)."""
    target = message(page, text)
    target.hover()
    target.get_by_role("button", name=action, exact=True).click()


def test_reply_edit_delete_and_react_appear_on_the_other_side(
    new_page: Callable[[], Any],
) -> None:
    # GIVEN alice and bob in a DM with three of alice's messages, open on both sides
    (alice, alice_id), (bob, _) = dm_pair(new_page, "Lunch at noon?")
    send(alice, "The new place on Main St is open")
    send(alice, "teh booking is at 12:15")
    open_conversation(bob, alice_id)
    bob.locator("#messages .text", has_text="teh booking").wait_for()
    # WHEN alice starts an edit and presses Escape THEN nothing changes
    act(alice, "teh booking", "Edit")
    editor = alice.get_by_label("Edit message")
    editor.fill("discarded")
    editor.press("Escape")
    assert alice.locator(".edit-input").count() == 0
    assert message(alice, "teh booking").count() == 1
    # WHEN alice edits her message THEN bob sees the new text, marked edited
    act(alice, "teh booking", "Edit")
    editor.fill("the booking is at 12:15")
    editor.press("Enter")
    edited = message(bob, "the booking is at 12:15")
    edited.locator(".edited").wait_for()
    assert message(bob, "teh booking").count() == 0
    message(alice, "the booking is at 12:15").locator(".edited").wait_for()
    # WHEN bob reacts with a thumbs up THEN alice sees one, and bob sees his own highlighted
    act(bob, "the booking", "Add a reaction")
    bob.get_by_role("button", name="React with 👍").click()
    message(alice, "the booking").locator(".chip", has_text="👍 1").wait_for()
    mine = message(bob, "the booking").locator(".chip.yours", has_text="👍 1")
    mine.wait_for()
    assert mine.get_attribute("aria-pressed") == "true"
    # AND alice adding the same reaction makes it two on both sides
    message(alice, "the booking").locator(".chip", has_text="👍 1").click()
    message(bob, "the booking").locator(".chip", has_text="👍 2").wait_for()
    act(alice, "Main St", "Add a reaction")
    alice.get_by_role("button", name="React with 🎉").click()
    message(bob, "Main St").locator(".chip", has_text="🎉 1").wait_for()
    # WHEN bob replies to the first message THEN alice sees it quoted above his reply
    act(bob, "Lunch at noon?", "Reply")
    bob.locator("#reply-bar", has_text="Replying to").wait_for()
    send(bob, "Yes, see you there")
    assert bob.locator("#reply-bar").is_hidden()
    reply = message(alice, "Yes, see you there")
    quote = reply.locator(".reply-quote", has_text="Lunch at noon?")
    quote.wait_for()
    # AND clicking the quote shows the original
    quote.click()
    alice.locator("#messages .message.flash", has_text="Lunch at noon?").wait_for()
    # WHEN alice deletes a message THEN bob sees "Message deleted" and the text is gone
    send(alice, "oops, wrong chat")
    message(bob, "oops, wrong chat").wait_for()
    act(alice, "oops, wrong chat", "Delete")
    alice.get_by_role("dialog").get_by_role("button", name="Delete").click()
    bob.locator("#messages .message.deleted", has_text="Message deleted").wait_for()
    assert message(bob, "oops").count() == 0
    alice.locator("#messages .message.deleted", has_text="Message deleted").wait_for()
    # AND bob cannot delete alice's messages in a DM (no Delete offered)
    message(bob, "Main St").hover()
    assert message(bob, "Main St").get_by_role("button", name="Delete").count() == 0
    # AND every action button has a label
    for page in (alice, bob):
        unlabeled = page.locator(
            "#chat button.icon:not([aria-label]), #chat .chip:not([aria-label])"
        ).count()
        assert unlabeled == 0


def png(width: int, height: int) -> bytes:
    """A `width` x `height` RGB PNG with a gradient (a real image for the browser to decode)."""
    rows = b"".join(
        b"\x00"
        + b"".join(
            bytes((40 + 200 * x // width, 90 + 120 * y // height, 200 - 120 * x // width))
            for x in range(width)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def downloaded(page: Any, name: str) -> bytes:
    """Press the download button of the file `name` and return the bytes the browser saved."""
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile(f"^Download {re.escape(name)}")).click()
    return Path(info.value.path()).read_bytes()


def test_a_file_upload_and_its_download(new_page: Callable[[], Any]) -> None:
    # GIVEN alice and bob in a DM, open on both sides
    (alice, alice_id), (bob, _) = dm_pair(new_page, "Photos from the trip")
    open_conversation(bob, alice_id)
    image = png(240, 160)
    notes = b"Packing list:\n- boots\n- tent\n" * 60
    # WHEN alice attaches an image with the attach button
    with alice.expect_file_chooser() as chooser:
        alice.get_by_role("button", name="Attach a file").click()
    chooser.value.set_files({"name": "lake.png", "mimeType": "image/png", "buffer": image})
    # AND drops a text file on the conversation
    alice.evaluate(
        """(text) => { const data = new DataTransfer();
            data.items.add(new File([text], 'notes.txt', {type: 'text/plain'}));
            const chat = document.querySelector('#chat');
            for (const type of ['dragover', 'drop']) chat.dispatchEvent(
                new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true})); }""",
        notes.decode(),
    )
    # THEN bob sees the image previewed (decoded, with its size) and the file by name and size
    bob.wait_for_function(
        """() => [...document.querySelectorAll('#messages img.attachment-image')]
                  .some((img) => img.complete && img.naturalWidth === 240)""",
        timeout=20_000,
    )
    bob.get_by_role("button", name=re.compile(r"^Download notes\.txt, 1\.\d KB$")).wait_for()
    for page in (alice, bob):
        page.locator("#messages .message:not(.pending) .file-name", has_text="notes.txt").wait_for()
    # AND both files download in bob's browser with the bytes alice sent
    assert downloaded(bob, "notes.txt") == notes
    assert downloaded(bob, "lake.png") == image
    # AND alice's own image shows without a reload
    alice.wait_for_function(
        """() => [...document.querySelectorAll('#messages img.attachment-image')]
                  .some((img) => img.complete && img.naturalWidth === 240)"""
    )


def test_a_group_owner_deletes_a_members_message(new_page: Callable[[], Any]) -> None:
    # GIVEN alice's group with bob, where bob wrote something
    alice, bob = new_page(), new_page()
    register(alice, "alice")
    bob_id = register(bob, "bob")
    alice.get_by_role("button", name="New group").click()
    alice.get_by_label("Group name").fill("Book club")
    alice.get_by_label("Members (user names, separated by commas)").fill(bob_id)
    alice.get_by_role("button", name="Create group").click()
    send(alice, "Next book: Dune")
    bob.locator("#conversation-list .conversation", has_text="Book club").wait_for()
    open_conversation(bob, "Book club")
    send(bob, "spam spam spam")
    # THEN bob, a member, may delete only his own messages
    message(bob, "Next book").hover()
    assert message(bob, "Next book").get_by_role("button", name="Delete").count() == 0
    # WHEN alice, the owner, deletes bob's message THEN it reads "Message deleted" for both
    message(alice, "spam spam spam").wait_for()
    act(alice, "spam spam spam", "Delete")
    dialog = alice.get_by_role("dialog")
    assert bob_id in dialog.inner_text()
    dialog.get_by_role("button", name="Delete").click()
    for page in (alice, bob):
        page.locator("#messages .message.deleted", has_text="Message deleted").wait_for()
        assert message(page, "spam").count() == 0
