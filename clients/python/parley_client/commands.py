"""The ``parley`` commands: one ``cmd_*`` coroutine per command, over a :class:`Context`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .client import ParleyClient
from .errors import ErrorCode, ParleyClientError, ParleyError
from .events import EventListener
from .formatting import (
    dm_conversation_id,
    format_chat_line,
    format_event,
    format_message,
    format_size,
    format_update,
)
from .http_client import HttpClient, JsonObject
from .options import ClientOptions
from .profile import ProfileStore
from .state import event_target
from .terminal import CliError, isatty, read_lines

DEFAULT_HTTP_URL = "http://127.0.0.1:3000"
DEFAULT_WS_URL = "ws://127.0.0.1:3001"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass
class Context:
    """What a command needs: parsed arguments, streams, the profile and the HTTP client."""

    args: argparse.Namespace
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    store: ProfileStore
    http_url: str
    ws_url: str
    http: HttpClient = field(init=False)

    def __post_init__(self) -> None:
        data = self.store.load()
        self.http = HttpClient(
            self.http_url,
            access_token=_str_or_none(data.get("accessToken")),
            refresh_token=_str_or_none(data.get("refreshToken")),
            on_tokens=self._save_tokens,
        )
        self._stored_user = _str_or_none(data.get("userId"))

    def _save_tokens(self, tokens: JsonObject | None) -> None:
        if tokens is None:
            return
        self.store.update(
            userId=self.http.user_id or self._stored_user,
            accessToken=tokens.get("accessToken"),
            refreshToken=tokens.get("refreshToken"),
            httpUrl=self.http_url,
            wsUrl=self.ws_url,
        )

    @property
    def user_id(self) -> str | None:
        """The profile's user (stored at login, else the token's subject)."""
        return self._stored_user or self.http.user_id

    def require_login(self) -> HttpClient:
        """The HTTP client, or a CliError when this profile holds no login."""
        if self.http.access_token is None and self.http.refresh_token is None:
            raise CliError(f"not logged in (profile {self.store.name!r}); run: parley login USER")
        return self.http

    def ws_client(
        self,
        options: ClientOptions | None = None,
        *,
        cursors: dict[str, int] | None = None,
        on_event: EventListener | None = None,
    ) -> ParleyClient:
        """A :class:`ParleyClient` for this profile (not connected yet)."""
        return ParleyClient(
            self.ws_url, self.http.token_provider, options, cursors=cursors, on_event=on_event
        )

    def out(self, line: str = "") -> None:
        """Print a line to stdout, flushed (output is often piped)."""
        print(line, file=self.stdout, flush=True)

    def err(self, line: str) -> None:
        """Print a line to stderr."""
        print(line, file=self.stderr, flush=True)

    def out_json(self, value: Any) -> None:
        """Print ``value`` as one line of JSON."""
        self.out(json.dumps(value, ensure_ascii=False))


Handler = Callable[[Context], Coroutine[Any, Any, int]]


# ---------------------------------------------------------------- commands


async def cmd_register(ctx: Context) -> int:
    """``parley register USER``: create an account, then log in unless ``--no-login``."""
    args = ctx.args
    password = str(args.password)
    await ctx.http.register(args.user, password, args.display_name)
    if args.no_login:
        ctx.out(f"Registered {args.user}. Log in with: parley login {args.user}")
        return EXIT_OK
    await ctx.http.login(args.user, password)
    ctx.out(f"Registered {args.user} and logged in (profile {ctx.store.name}).")
    return EXIT_OK


async def cmd_login(ctx: Context) -> int:
    """``parley login USER``: log in and store the token pair in the profile."""
    await ctx.http.login(ctx.args.user, str(ctx.args.password))
    ctx.out(f"Logged in as {ctx.args.user} (profile {ctx.store.name}).")
    return EXIT_OK


async def cmd_logout(ctx: Context) -> int:
    """``parley logout``: end the login on the server and forget its tokens."""
    user = ctx.user_id
    if ctx.http.refresh_token is None:
        ctx.store.delete()
        raise CliError(f"not logged in (profile {ctx.store.name!r})")
    try:
        await ctx.http.logout()
    except ParleyError as exc:
        if exc.code != ErrorCode.UNAUTHENTICATED:
            raise
        # the login had already ended (expired or revoked): forgetting it is all we need
    ctx.store.delete()
    ctx.out(f"Logged out{f' {user}' if user else ''}.")
    return EXIT_OK


async def cmd_delete_account(ctx: Context) -> int:
    """``parley delete-account``: delete your account (protocol 12) and forget its tokens."""
    user = ctx.user_id
    await ctx.require_login().delete_account(str(ctx.args.password))
    ctx.store.delete()
    ctx.out(f"Deleted the account{f' {user}' if user else ''}; its messages read as deleted.")
    return EXIT_OK


async def cmd_export(ctx: Context) -> int:
    """``parley export [-o PATH]``: ask for an export of your data, wait for it, save it."""
    http = ctx.require_login()
    export_id = await http.request_export()
    path = await http.download_export(export_id, ctx.args.output)
    if ctx.args.json:
        ctx.out_json({"exportId": export_id, "path": str(path)})
    else:
        ctx.out(f"saved {path} ({format_size(path.stat().st_size)})")
    return EXIT_OK


async def cmd_whoami(ctx: Context) -> int:
    """``parley whoami``: the logged-in user and display name."""
    me = await ctx.require_login().me()
    if ctx.args.json:
        ctx.out_json(me)
    else:
        name = me.get("displayName")
        ctx.out(f"{me.get('userId')}" + (f" ({name})" if name else ""))
    return EXIT_OK


async def cmd_send(ctx: Context) -> int:
    """``parley send``: send one message (text, stdin or ``--data``) and print its ack."""
    args = ctx.args
    ctx.require_login()
    words: list[str] = list(args.words)
    to: str | None = None
    if not args.conversation:
        if not words:
            raise CliError("send: give a USER or --conversation ID", EXIT_USAGE)
        to = words.pop(0)
    body: JsonObject
    if args.data is not None:
        if words:
            raise CliError("send: give either TEXT or --data, not both", EXIT_USAGE)
        try:
            body = {"type": "custom", "data": json.loads(args.data)}
        except ValueError as exc:
            raise CliError(f"send: --data is not valid JSON: {exc}", EXIT_USAGE) from None
    else:
        text = " ".join(words)
        if not text and not isatty(ctx.stdin):
            text = ctx.stdin.read().rstrip("\n")
        if not text:
            raise CliError("send: nothing to send (give TEXT, or pipe it on stdin)", EXIT_USAGE)
        body = {"type": "text", "text": text}
    async with ctx.ws_client(one_shot_options()) as client:
        ack = await client.send(body, to=to, conversation_id=args.conversation)
    print_ack(ctx, ack)
    return EXIT_OK


async def cmd_reply(ctx: Context) -> int:
    """``parley reply CONV SEQ TEXT... [--mention USER]...``: a reply to message SEQ."""
    args = ctx.args
    text, mentions = " ".join(args.text), args.mention or None
    return await send_to_message(
        ctx, lambda client, conv: client.reply(conv, args.seq, text, mentions=mentions)
    )


async def cmd_edit(ctx: Context) -> int:
    """``parley edit CONV SEQ TEXT...``: replace the text of your message SEQ."""
    args = ctx.args
    text = " ".join(args.text)
    return await send_to_message(
        ctx, lambda client, conv: client.edit(conv, args.seq, text), f"edited #{args.seq}:"
    )


async def cmd_delete(ctx: Context) -> int:
    """``parley delete CONV SEQ``: delete (erase) message SEQ."""
    args = ctx.args
    return await send_to_message(
        ctx, lambda client, conv: client.delete(conv, args.seq), f"deleted #{args.seq}:"
    )


async def cmd_react(ctx: Context) -> int:
    """``parley react CONV SEQ KEY [--off]``: add (or remove) your reaction KEY."""
    args = ctx.args
    verb = f"removed {args.key} from" if args.off else f"reacted {args.key} to"
    return await send_to_message(
        ctx,
        lambda client, conv: client.react(conv, args.seq, args.key, on=not args.off),
        f"{verb} #{args.seq}:",
    )


async def cmd_send_file(ctx: Context) -> int:
    """``parley send-file USER|CONV PATH [--caption TEXT]``: upload a file and send it."""
    args = ctx.args
    http = ctx.require_login()
    to, conversation_id = split_target(args.target)
    if not os.path.isfile(args.path):
        raise CliError(f"send-file: not a file: {args.path}")
    async with ctx.ws_client(one_shot_options()) as client:
        try:
            ack = await client.send_file(
                http,
                args.path,
                to=to,
                conversation_id=conversation_id,
                caption=args.caption,
                name=args.name,
                content_type=args.content_type,
            )
        except OSError as exc:
            raise CliError(f"send-file: cannot read {args.path}: {exc.strerror}") from None
    print_ack(ctx, ack, f"sent {args.path} as")
    return EXIT_OK


async def cmd_download(ctx: Context) -> int:
    """``parley download ATTACHMENT_ID [-o PATH]``: save an attachment."""
    args = ctx.args
    try:
        path = await ctx.require_login().download(args.attachment_id, args.output)
    except OSError as exc:
        where = exc.filename or args.output
        raise CliError(f"download: cannot write {where}: {exc.strerror}") from None
    if args.json:
        ctx.out_json({"attachmentId": args.attachment_id, "path": str(path)})
    else:
        ctx.out(f"saved {path} ({format_size(path.stat().st_size)})")
    return EXIT_OK


async def cmd_listen(ctx: Context) -> int:
    """``parley listen``: print every event from now on until interrupted."""
    http = ctx.require_login()
    cursors = await current_cursors(http)
    async with ctx.ws_client(cursors=cursors) as client:
        ctx.err(f"Listening as {ctx.user_id or '?'} on {ctx.ws_url}; Ctrl-C to stop.")
        async for event in client:
            if ctx.args.json:
                ctx.out_json(event)
            else:
                ctx.out(format_event(event))
    return EXIT_OK


async def cmd_chat(ctx: Context) -> int:
    """``parley chat``: show recent history, then send stdin lines and print replies."""
    args = ctx.args
    http = ctx.require_login()
    if (args.user is None) == (args.conversation is None):
        raise CliError("chat: give a USER or --conversation ID", EXIT_USAGE)
    me = ctx.user_id or str((await http.me()).get("userId"))
    to: str | None = args.user
    conversation_id: str = args.conversation or dm_conversation_id(me, args.user)

    cursors = await current_cursors(http)
    history: list[JsonObject] = []
    if args.history > 0:
        try:
            page = await http.history(conversation_id, limit=args.history)
            history = [m for m in page.get("messages") or [] if isinstance(m, dict)]
        except ParleyError as exc:
            # a direct conversation that has no message yet does not exist yet
            if args.conversation or exc.code not in (
                ErrorCode.CONVERSATION_NOT_FOUND,
                ErrorCode.FORBIDDEN,
            ):
                raise
    for message in history:
        ctx.out(format_chat_line(message))
    seqs = [m["seq"] for m in history if isinstance(m.get("seq"), int)]
    if seqs:
        cursors[conversation_id] = max(seqs)

    marker: ReadMarker | None = None

    def on_event(event: JsonObject) -> None:
        if event.get("conversationId") != conversation_id:
            if event.get("type") == "error":
                ctx.err(format_event(event))
            return
        if event.get("type") == "message":
            target = event_target(event)
            # an event on a message the view holds shows as its "updated" line
            if target is None or not client.messages.holds(conversation_id, target):
                ctx.out(format_chat_line(event))
            seq = event.get("seq")
            if marker is not None and isinstance(seq, int):
                marker.mark(seq)
        elif event.get("type") == "updated":
            body = (event.get("message") or {}).get("body")
            if not (isinstance(body, dict) and body.get("type") == "edit"):
                ctx.out(format_update(event, with_conversation=False))

    client = ctx.ws_client(
        ClientOptions(max_buffered_events=100), cursors=cursors, on_event=on_event
    )
    # history comes in its current state; events from now on apply to it
    client.messages.add_all(history)
    marker = ReadMarker(client, conversation_id)
    async with client:
        if seqs:
            marker.mark(max(seqs))
        ctx.err(f"Chatting in {conversation_id} as {me}. Ctrl-D to quit.")
        try:
            async for line in read_lines(ctx.stdin):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    await client.send(text, to=to, conversation_id=args.conversation)
                except ParleyError as exc:
                    ctx.err(f"not sent: error {exc}")
        finally:
            await marker.stop()
    return EXIT_OK


async def cmd_group_create(ctx: Context) -> int:
    """``parley group create NAME MEMBER...``."""
    group = await ctx.require_login().create_group(ctx.args.name, ctx.args.members)
    print_group(ctx, group, "Created")
    return EXIT_OK


async def cmd_group_show(ctx: Context) -> int:
    """``parley group show ID``."""
    group = await ctx.require_login().get_group(ctx.args.id)
    print_group(ctx, group, None)
    return EXIT_OK


async def cmd_group_add(ctx: Context) -> int:
    """``parley group add ID USER...``."""
    result = await ctx.require_login().add_members(ctx.args.id, ctx.args.users)
    if ctx.args.json:
        ctx.out_json(result)
    else:
        ctx.out(f"Added {', '.join(ctx.args.users)} to {ctx.args.id}.")
    return EXIT_OK


async def cmd_group_remove(ctx: Context) -> int:
    """``parley group remove ID USER`` (your own id: leave)."""
    await ctx.require_login().remove_member(ctx.args.id, ctx.args.user)
    ctx.out(f"Removed {ctx.args.user} from {ctx.args.id}.")
    return EXIT_OK


async def cmd_group_role(ctx: Context) -> int:
    """``parley group role ID USER ROLE``."""
    await ctx.require_login().set_role(ctx.args.id, ctx.args.user, ctx.args.role)
    ctx.out(f"{ctx.args.user} is now {ctx.args.role} of {ctx.args.id}.")
    return EXIT_OK


async def cmd_conversations(ctx: Context) -> int:
    """``parley conversations``: a table of conversations with unread counts."""
    conversations = await ctx.require_login().conversations()
    if ctx.args.json:
        ctx.out_json(conversations)
        return EXIT_OK
    if not conversations:
        ctx.out("No conversations yet.")
        return EXIT_OK
    rows = [("CONVERSATION", "TYPE", "NAME", "LAST", "UNREAD", "")]
    for conv in conversations:
        rows.append(
            (
                str(conv.get("conversationId", "?")),
                str(conv.get("type", "?")),
                str(conv.get("name") or ""),
                str(conv.get("lastSeq", "")),
                str(conv.get("unread", "")),
                "muted" if conv.get("muted") else "",
            )
        )
    print_table(ctx, rows)
    return EXIT_OK


async def cmd_history(ctx: Context) -> int:
    """``parley history ID``: one page of history, oldest first."""
    args = ctx.args
    page = await ctx.require_login().history(args.id, before_seq=args.before, limit=args.limit)
    if args.json:
        ctx.out_json(page)
        return EXIT_OK
    messages = [m for m in page.get("messages") or [] if isinstance(m, dict)]
    if not messages:
        ctx.out("No messages.")
    for message in messages:
        ctx.out(format_message(message, with_conversation=False))
    older = page.get("nextBeforeSeq")
    if older is not None and messages:
        ctx.err(f"(older messages: parley history {args.id} --before {older})")
    return EXIT_OK


async def cmd_mute(ctx: Context) -> int:
    """``parley mute CONV`` and ``parley unmute CONV``."""
    muted = ctx.args.command == "mute"
    reply = await ctx.require_login().set_muted(ctx.args.id, muted)
    state = "Muted" if reply.get("muted") else "Unmuted"
    ctx.out(f"{state} {reply.get('conversationId', ctx.args.id)}.")
    return EXIT_OK


async def cmd_devices(ctx: Context) -> int:
    """``parley devices``: your devices registered for offline notifications."""
    devices = await ctx.require_login().devices()
    if ctx.args.json:
        ctx.out_json(devices)
        return EXIT_OK
    if not devices:
        ctx.out("No devices registered.")
        return EXIT_OK
    rows = [("DEVICE", "PLATFORM", "REGISTERED")]
    for device in devices:
        created = device.get("createdAt")
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created / 1000))
            if isinstance(created, int)
            else ""
        )
        rows.append((str(device.get("deviceId", "?")), str(device.get("platform", "?")), when))
    print_table(ctx, rows)
    return EXIT_OK


async def cmd_device_add_webpush(ctx: Context) -> int:
    """``parley device add-webpush ENDPOINT P256DH AUTH``: register a Web Push subscription
    (a bot's own push service, or a browser's subscription copied by hand)."""
    args = ctx.args
    device_id = await ctx.require_login().register_device(
        "webpush", endpoint=args.endpoint, p256dh=args.p256dh, auth=args.auth
    )
    if args.json:
        ctx.out_json({"deviceId": device_id})
    else:
        ctx.out(f"Registered device {device_id}.")
    return EXIT_OK


async def cmd_device_remove(ctx: Context) -> int:
    """``parley device remove ID``: stop notifications to one of your devices."""
    await ctx.require_login().remove_device(ctx.args.id)
    ctx.out(f"Removed device {ctx.args.id}.")
    return EXIT_OK


async def cmd_block(ctx: Context) -> int:
    """``parley block USER``."""
    await ctx.require_login().block(ctx.args.user)
    ctx.out(f"Blocked {ctx.args.user}.")
    return EXIT_OK


async def cmd_unblock(ctx: Context) -> int:
    """``parley unblock USER``."""
    await ctx.require_login().unblock(ctx.args.user)
    ctx.out(f"Unblocked {ctx.args.user}.")
    return EXIT_OK


# ----------------------------------------------------------------- helpers


def one_shot_options() -> ClientOptions:
    """Options for one request and out: no catching up, keepalive or renewal."""
    return ClientOptions(
        sync_on_connect=False, ping_interval=None, auto_renew=False, backfill_unknown=False
    )


def print_table(ctx: Context, rows: Sequence[Sequence[str]]) -> None:
    """Rows (the first one the header) as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        ctx.out("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def print_ack(ctx: Context, ack: JsonObject, what: str | None = None) -> None:
    """``sent #5 to dm:alice:bob (messageId ...)`` (``what`` leads, e.g. ``edited #3:``),
    or the ack's JSON with ``--json``."""
    if ctx.args.json:
        ctx.out_json(ack)
        return
    lead = f"{what} sent" if what else "sent"
    ctx.out(
        f"{lead} #{ack.get('seq')} to {ack.get('conversationId')} "
        f"(messageId {ack.get('messageId')})"
    )


async def send_to_message(
    ctx: Context,
    send: Callable[[ParleyClient, str], Awaitable[JsonObject]],
    what: str | None = None,
) -> int:
    """Resolve ``args.conversation``, ``send(client, conversationId)`` on a one-shot
    connection and print its ack (the reply, edit, delete and react commands)."""
    conversation_id = await resolve_conversation(ctx, ctx.args.conversation)
    async with ctx.ws_client(one_shot_options()) as client:
        ack = await send(client, conversation_id)
    print_ack(ctx, ack, what)
    return EXIT_OK


def split_target(target: str) -> tuple[str | None, str | None]:
    """``(to, conversation_id)`` for a USER or a conversation id (``dm:...``, ``grp:...``).

    UserIds never hold ``:`` (protocol §2) and conversation ids always do.
    """
    return (None, target) if ":" in target else (target, None)


async def resolve_conversation(ctx: Context, target: str) -> str:
    """A conversation id, or a USER's direct conversation with the logged-in user."""
    http = ctx.require_login()
    to, conversation_id = split_target(target)
    if conversation_id is not None:
        return conversation_id
    me = ctx.user_id or str((await http.me()).get("userId"))
    return dm_conversation_id(me, str(to))


def print_group(ctx: Context, group: JsonObject, verb: str | None) -> None:
    """Print a group and its members (or its JSON with ``--json``)."""
    if ctx.args.json:
        ctx.out_json(group)
        return
    head = f"{group.get('conversationId')} {group.get('name', '')!r}"
    ctx.out(f"{verb} group {head}" if verb else f"Group {head}")
    for member in group.get("members") or []:
        if isinstance(member, dict):
            ctx.out(f"  {member.get('userId')} ({member.get('role')})")


async def current_cursors(http: HttpClient) -> dict[str, int]:
    """Cursors at every conversation's current ``lastSeq``: "from now on"."""
    cursors: dict[str, int] = {}
    for conv in await http.conversations():
        conversation_id, last = conv.get("conversationId"), conv.get("lastSeq")
        if isinstance(conversation_id, str) and isinstance(last, int) and last >= 0:
            cursors[conversation_id] = last
    return cursors


class ReadMarker:
    """Moves a conversation's read pointer forward, coalescing calls, best effort."""

    def __init__(self, client: ParleyClient, conversation_id: str) -> None:
        self.client = client
        self.conversation_id = conversation_id
        self.latest = 0
        self._task: asyncio.Task[None] | None = None

    def mark(self, seq: int) -> None:
        """Ask for the read pointer to reach ``seq`` (sent in the background)."""
        if seq <= self.latest:
            return
        self.latest = seq
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        sent = 0
        while sent < self.latest:
            target = self.latest
            with contextlib.suppress(ParleyClientError):
                await self.client.read(self.conversation_id, target)
            sent = target

    async def stop(self) -> None:
        """Stop sending read pointers."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
