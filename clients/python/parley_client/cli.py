"""``parley``: a command-line client for Parley.

Run ``parley --help`` for the commands. Logins are stored per profile in
``~/.config/parley/<profile>.json`` (or ``$PARLEY_CONFIG_DIR``), readable by the
owner only; the access token is refreshed with the stored refresh token when it
expires or is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .client import ParleyClient
from .commands import (
    DEFAULT_HTTP_URL,
    DEFAULT_WS_URL,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    Handler,
    cmd_block,
    cmd_chat,
    cmd_conversations,
    cmd_delete,
    cmd_delete_account,
    cmd_device_add_webpush,
    cmd_device_remove,
    cmd_devices,
    cmd_download,
    cmd_edit,
    cmd_export,
    cmd_group_add,
    cmd_group_create,
    cmd_group_remove,
    cmd_group_role,
    cmd_group_show,
    cmd_history,
    cmd_listen,
    cmd_login,
    cmd_logout,
    cmd_mute,
    cmd_react,
    cmd_register,
    cmd_reply,
    cmd_send,
    cmd_send_file,
    cmd_unblock,
    cmd_whoami,
)
from .errors import ErrorCode, ParleyClientError, ParleyError
from .profile import ProfileStore
from .terminal import CliError, read_lines, read_password

__all__ = ["CliError", "build_parser", "main", "read_lines", "read_password"]


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

    sub = command("delete-account", cmd_delete_account, "delete your account (asks the password)")
    sub.add_argument("--password", help=option_help)

    sub = command("export", cmd_export, "download an export of your data (JSON)")
    sub.add_argument("-o", "--output", default=".", metavar="PATH", help="file or directory")

    sub = command("send", cmd_send, "send one message (TEXT, or stdin when no TEXT)")
    sub.add_argument("words", nargs="*", metavar="USER|TEXT", help="USER TEXT..., or TEXT...")
    sub.add_argument("--conversation", "-c", metavar="ID", help="send to this conversation")
    sub.add_argument("--data", metavar="JSON", help="send a custom body with this data")

    conv_help = "a conversation id, or a USER for your direct conversation"
    sub = command("reply", cmd_reply, "reply to message SEQ")
    sub.add_argument("conversation", metavar="CONV", help=conv_help)
    sub.add_argument("seq", type=_int_range(1, None), metavar="SEQ")
    sub.add_argument("text", nargs="+", metavar="TEXT")
    sub.add_argument("--mention", action="append", metavar="USER", help="mention USER (repeatable)")

    sub = command("edit", cmd_edit, "replace the text of your message SEQ")
    sub.add_argument("conversation", metavar="CONV", help=conv_help)
    sub.add_argument("seq", type=_int_range(1, None), metavar="SEQ")
    sub.add_argument("text", nargs="+", metavar="TEXT")

    sub = command("delete", cmd_delete, "delete (erase) message SEQ")
    sub.add_argument("conversation", metavar="CONV", help=conv_help)
    sub.add_argument("seq", type=_int_range(1, None), metavar="SEQ")

    sub = command("react", cmd_react, "add (or --off: remove) your reaction KEY to message SEQ")
    sub.add_argument("conversation", metavar="CONV", help=conv_help)
    sub.add_argument("seq", type=_int_range(1, None), metavar="SEQ")
    sub.add_argument("key", metavar="KEY", help="e.g. 👍 (1-32 bytes)")
    sub.add_argument("--off", action="store_true", help="remove the reaction")

    sub = command("send-file", cmd_send_file, "upload a file and send it")
    sub.add_argument("target", metavar="USER|CONV", help="a USER or a conversation id")
    sub.add_argument("path", metavar="PATH")
    sub.add_argument("--caption", metavar="TEXT", help="at most 1,000 characters")
    sub.add_argument("--name", metavar="NAME", help="the name others see (default: PATH's)")
    sub.add_argument("--type", dest="content_type", metavar="TYPE/SUBTYPE", help="default: guessed")

    sub = command("download", cmd_download, "save an attachment")
    sub.add_argument("attachment_id", metavar="ATTACHMENT_ID")
    sub.add_argument(
        "-o", "--output", metavar="PATH", help="file or directory (default: its name, here)"
    )

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

    for name, what in (("mute", "no offline notifications from"), ("unmute", "notify again for")):
        sub = command(name, cmd_mute, f"{what} a conversation")
        sub.add_argument("id", metavar="ID")

    command("devices", cmd_devices, "list your devices registered for offline notifications")
    device = commands.add_parser(
        "device", help="register or remove a push device", description="push devices"
    )
    device_commands = device.add_subparsers(
        dest="device_command", metavar="SUBCOMMAND", required=True
    )
    sub = device_commands.add_parser(
        "add-webpush",
        help="register a Web Push subscription",
        description="register a Web Push subscription (keys base64url, as a browser gives them)",
        parents=[common],
    )
    sub.set_defaults(handler=cmd_device_add_webpush)
    sub.add_argument("endpoint", metavar="ENDPOINT", help="the subscription's https URL")
    sub.add_argument("p256dh", metavar="P256DH", help="the subscription's p256dh key")
    sub.add_argument("auth", metavar="AUTH", help="the subscription's auth secret")
    sub = device_commands.add_parser(
        "remove", help="remove a device", description="remove a device", parents=[common]
    )
    sub.set_defaults(handler=cmd_device_remove)
    sub.add_argument("id", metavar="ID")

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
        if args.command in ("register", "login", "delete-account"):
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
