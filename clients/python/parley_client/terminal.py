"""Terminal input for the ``parley`` CLI: passwords and non-blocking stdin lines."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import getpass
import io
import os
import select
import threading
from collections.abc import AsyncIterator
from typing import TextIO


class CliError(Exception):
    """A failure to report as ``error: <message>`` with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def read_password(given: str | None, stdin: TextIO, stderr: TextIO, *, confirm: bool) -> str:
    """``--password``, else ``$PARLEY_PASSWORD``, else a prompt (a line of stdin if piped).

    Runs before the event loop starts, so Ctrl-C at the prompt exits at once.
    """
    if given:
        return given
    env = os.environ.get("PARLEY_PASSWORD")
    if env:
        return env
    if isatty(stdin):
        password = getpass.getpass("Password: ", stream=stderr)
        if confirm and getpass.getpass("Repeat password: ", stream=stderr) != password:
            raise CliError("passwords do not match")
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password given")
    return password


def isatty(stream: TextIO) -> bool:
    """``stream.isatty()``, false for streams that cannot tell (closed, fake)."""
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
