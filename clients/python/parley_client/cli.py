"""``parley``: a command-line client for Parley.

Run ``parley --help`` for the commands. Logins are stored per profile in
``~/.config/parley/<profile>.json`` (or ``$PARLEY_CONFIG_DIR``), readable by the
owner only; the access token is refreshed with the stored refresh token when it
expires or is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import getpass
import io
import json
import logging
import os
import select
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
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
)
from .http_client import HttpClient, JsonObject
from .options import ClientOptions
from .profile import ProfileStore

DEFAULT_HTTP_URL = "http://127.0.0.1:3000"
DEFAULT_WS_URL = "ws://127.0.0.1:3001"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as ``error: <message>`` with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
    await ctx.http.login(ctx.args.user, str(ctx.args.password))
    ctx.out(f"Logged in as {ctx.args.user} (profile {ctx.store.name}).")
    return EXIT_OK


async def cmd_logout(ctx: Context) -> int:
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


async def cmd_whoami(ctx: Context) -> int:
    me = await ctx.require_login().me()
    if ctx.args.json:
        ctx.out_json(me)
    else:
        name = me.get("displayName")
        ctx.out(f"{me.get('userId')}" + (f" ({name})" if name else ""))
    return EXIT_OK


async def cmd_send(ctx: Context) -> int:
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
        if not text and not _isatty(ctx.stdin):
            text = ctx.stdin.read().rstrip("\n")
        if not text:
            raise CliError("send: nothing to send (give TEXT, or pipe it on stdin)", EXIT_USAGE)
        body = {"type": "text", "text": text}
    # one send and out: no catching up, keepalive or renewal
    one_shot = ClientOptions(
        sync_on_connect=False, ping_interval=None, auto_renew=False, backfill_unknown=False
    )
    async with ctx.ws_client(one_shot) as client:
        ack = await client.send(body, to=to, conversation_id=args.conversation)
    if args.json:
        ctx.out_json(ack)
    else:
        ctx.out(
            f"sent #{ack.get('seq')} to {ack.get('conversationId')} "
            f"(messageId {ack.get('messageId')})"
        )
    return EXIT_OK


async def cmd_listen(ctx: Context) -> int:
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
        if event.get("type") == "message" and event.get("conversationId") == conversation_id:
            ctx.out(format_chat_line(event))
            seq = event.get("seq")
            if marker is not None and isinstance(seq, int):
                marker.mark(seq)
        elif event.get("type") == "error":
            ctx.err(format_event(event))

    client = ctx.ws_client(
        ClientOptions(max_buffered_events=100), cursors=cursors, on_event=on_event
    )
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
    group = await ctx.require_login().create_group(ctx.args.name, ctx.args.members)
    print_group(ctx, group, "Created")
    return EXIT_OK


async def cmd_group_show(ctx: Context) -> int:
    group = await ctx.require_login().get_group(ctx.args.id)
    print_group(ctx, group, None)
    return EXIT_OK


async def cmd_group_add(ctx: Context) -> int:
    result = await ctx.require_login().add_members(ctx.args.id, ctx.args.users)
    if ctx.args.json:
        ctx.out_json(result)
    else:
        ctx.out(f"Added {', '.join(ctx.args.users)} to {ctx.args.id}.")
    return EXIT_OK


async def cmd_group_remove(ctx: Context) -> int:
    await ctx.require_login().remove_member(ctx.args.id, ctx.args.user)
    ctx.out(f"Removed {ctx.args.user} from {ctx.args.id}.")
    return EXIT_OK


async def cmd_group_role(ctx: Context) -> int:
    await ctx.require_login().set_role(ctx.args.id, ctx.args.user, ctx.args.role)
    ctx.out(f"{ctx.args.user} is now {ctx.args.role} of {ctx.args.id}.")
    return EXIT_OK


async def cmd_conversations(ctx: Context) -> int:
    conversations = await ctx.require_login().conversations()
    if ctx.args.json:
        ctx.out_json(conversations)
        return EXIT_OK
    if not conversations:
        ctx.out("No conversations yet.")
        return EXIT_OK
    rows = [("CONVERSATION", "TYPE", "NAME", "LAST", "UNREAD")]
    for conv in conversations:
        rows.append(
            (
                str(conv.get("conversationId", "?")),
                str(conv.get("type", "?")),
                str(conv.get("name") or ""),
                str(conv.get("lastSeq", "")),
                str(conv.get("unread", "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        ctx.out("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return EXIT_OK


async def cmd_history(ctx: Context) -> int:
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


async def cmd_block(ctx: Context) -> int:
    await ctx.require_login().block(ctx.args.user)
    ctx.out(f"Blocked {ctx.args.user}.")
    return EXIT_OK


async def cmd_unblock(ctx: Context) -> int:
    await ctx.require_login().unblock(ctx.args.user)
    ctx.out(f"Unblocked {ctx.args.user}.")
    return EXIT_OK


# ----------------------------------------------------------------- helpers


def print_group(ctx: Context, group: JsonObject, verb: str | None) -> None:
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def read_password(given: str | None, stdin: TextIO, stderr: TextIO, *, confirm: bool) -> str:
    """``--password``, else ``$PARLEY_PASSWORD``, else a prompt (a line of stdin if piped).

    Runs before the event loop starts, so Ctrl-C at the prompt exits at once.
    """
    if given:
        return given
    env = os.environ.get("PARLEY_PASSWORD")
    if env:
        return env
    if _isatty(stdin):
        password = getpass.getpass("Password: ", stream=stderr)
        if confirm and getpass.getpass("Repeat password: ", stream=stderr) != password:
            raise CliError("passwords do not match")
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password given")
    return password


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def read_lines(stream: TextIO) -> AsyncIterator[str]:
    """Lines of ``stream`` without blocking the event loop; ends at EOF.

    A real file descriptor is read by a helper thread that waits in ``select`` on it
    and on a wake-up pipe, so leaving early (Ctrl-C, cancellation) stops the thread
    at once. Streams without a descriptor (``io.StringIO``) are read directly.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        while line := stream.readline():
            yield line
        return

    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    wake_r, wake_w = os.pipe()

    def deliver(chunk: bytes) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(chunks.put_nowait, chunk)

    def pump() -> None:
        try:
            while True:
                ready, _, _ = select.select([fd, wake_r], [], [])
                if wake_r in ready:
                    return
                chunk = os.read(fd, 65536)
                deliver(chunk)
                if not chunk:
                    return
        except (OSError, ValueError):
            deliver(b"")

    thread = threading.Thread(target=pump, name="parley-stdin", daemon=True)
    thread.start()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    try:
        while True:
            chunk = await chunks.get()
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
            if not chunk:
                if pending:
                    yield pending
                return
    finally:
        os.write(wake_w, b"x")
        thread.join(timeout=2)
        os.close(wake_r)
        os.close(wake_w)


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    """The ``parley`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print raw JSON")

    parser = argparse.ArgumentParser(
        prog="parley",
        description="Command-line client for the Parley instant-messaging service.",
        epilog=(
            "URLs: flag, else $PARLEY_HTTP_URL / $PARLEY_WS_URL, else the ones stored "
            f"at login, else {DEFAULT_HTTP_URL} and {DEFAULT_WS_URL}."
        ),
    )
    parser.add_argument("--http", metavar="URL", help="HTTP API URL")
    parser.add_argument("--ws", metavar="URL", help="WebSocket API URL")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        default=os.environ.get("PARLEY_PROFILE", "default"),
        help="login profile (default: $PARLEY_PROFILE or 'default')",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(handler=handler, **kw)
        return sub

    option_help = "password (default: $PARLEY_PASSWORD, else prompt; visible to `ps`!)"
    sub = command("register", cmd_register, "create an account (and log in)")
    sub.add_argument("user", metavar="USER")
    sub.add_argument("--display-name", metavar="NAME")
    sub.add_argument("--password", help=option_help)
    sub.add_argument("--no-login", action="store_true", help="do not log in afterwards")

    sub = command("login", cmd_login, "log in and store the tokens in the profile")
    sub.add_argument("user", metavar="USER")
    sub.add_argument("--password", help=option_help)

    command("logout", cmd_logout, "end the login and forget its tokens")
    command("whoami", cmd_whoami, "show the logged-in user")

    sub = command("send", cmd_send, "send one message (TEXT, or stdin when no TEXT)")
    sub.add_argument("words", nargs="*", metavar="USER|TEXT", help="USER TEXT..., or TEXT...")
    sub.add_argument("--conversation", "-c", metavar="ID", help="send to this conversation")
    sub.add_argument("--data", metavar="JSON", help="send a custom body with this data")

    command("listen", cmd_listen, "print incoming events, one per line, until Ctrl-C")

    sub = command("chat", cmd_chat, "interactive chat: stdin lines are sent; Ctrl-D quits")
    sub.add_argument("user", nargs="?", metavar="USER")
    sub.add_argument("--conversation", "-c", metavar="ID")
    sub.add_argument(
        "--history", type=_int_range(0, 100), default=10, metavar="N", help="show N (10)"
    )

    group = commands.add_parser("group", help="manage groups", description="manage groups")
    group_commands = group.add_subparsers(dest="group_command", metavar="SUBCOMMAND", required=True)

    def group_command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = group_commands.add_parser(
            name, help=help_text, description=help_text, parents=[common]
        )
        sub.set_defaults(handler=handler)
        return sub

    sub = group_command("create", cmd_group_create, "create a group; you are its owner")
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("members", nargs="+", metavar="MEMBER")
    sub = group_command("show", cmd_group_show, "show a group and its members")
    sub.add_argument("id", metavar="ID")
    sub = group_command("add", cmd_group_add, "add members (owner or admin)")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("users", nargs="+", metavar="USER")
    sub = group_command("remove", cmd_group_remove, "remove a member, or yourself to leave")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("user", metavar="USER")
    sub = group_command("role", cmd_group_role, "change a member's role (owner only)")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("user", metavar="USER")
    sub.add_argument("role", choices=["admin", "member"])

    command("conversations", cmd_conversations, "list your conversations")

    sub = command("history", cmd_history, "show a page of a conversation's history")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("--before", type=_int_range(1, None), metavar="N", help="below seq N")
    sub.add_argument("--limit", type=_int_range(1, 100), default=50, metavar="N", help="1-100")

    sub = command("block", cmd_block, "block a user")
    sub.add_argument("user", metavar="USER")
    sub = command("unblock", cmd_unblock, "unblock a user")
    sub.add_argument("user", metavar="USER")
    return parser


def _int_range(low: int, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"{low}-{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}")
        return value

    return parse


# -------------------------------------------------------------------- main


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = build_parser().parse_args(argv)

    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package_log = logging.getLogger("parley_client")
    package_log.addHandler(handler)
    package_log.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
    package_log.propagate = False
    interactive = args.command in ("listen", "chat")
    try:
        try:
            store = ProfileStore(args.profile)
            stored = store.load()
            http_url = args.http or os.environ.get("PARLEY_HTTP_URL") or stored.get("httpUrl")
            ws_url = args.ws or os.environ.get("PARLEY_WS_URL") or stored.get("wsUrl")
            ctx = Context(
                args=args,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                store=store,
                http_url=str(http_url or DEFAULT_HTTP_URL),
                ws_url=str(ws_url or DEFAULT_WS_URL),
            )
            # fail on a bad WebSocket URL now rather than after an HTTP call
            ParleyClient(ctx.ws_url, "unused")
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if args.command in ("register", "login"):
            args.password = read_password(
                args.password, stdin, stderr, confirm=args.command == "register"
            )
        command: Handler = args.handler
        return asyncio.run(command(ctx))
    except KeyboardInterrupt:
        if interactive:
            print(file=stderr)
            return EXIT_OK
        print("interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except CliError as exc:
        print(f"error: {exc}", file=stderr)
        return exc.exit_code
    except ParleyError as exc:
        print(f"error {exc}", file=stderr)
        if exc.code == ErrorCode.UNAUTHENTICATED and args.command not in ("login", "register"):
            print("hint: log in again with: parley login USER", file=stderr)
        return EXIT_ERROR
    except ParleyClientError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_ERROR
    finally:
        package_log.removeHandler(handler)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
