"""The inside of one emulated Lambda execution environment (runs in a spawned process).

It does what the Lambda Python runtime does: applies the function's environment, puts the
code directory first on `sys.path`, imports the handler module once (the *init* phase) and
then serves invocations one at a time, passing a context object like the real one. Its
stdout and stderr (file descriptors 1 and 2, so C extensions and subprocesses are caught
too) are read by threads and sent line by line to the parent, which prints them with the
function's name.

This module imports only the standard library: every cold start pays for what it imports.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import signal
import struct
import sys
import termios
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs; pickled to the child process."""

    function_name: str
    handler: str
    code_dir: str
    environment: dict[str, str]
    invoked_function_arn: str
    project_root: str
    layer_dirs: tuple[str, ...] = ()


class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The context object of the Lambda Python runtime (same attribute names and types)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # The real runtime reads it from the environment, so it is a string there too.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = CognitoIdentity()
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},"
            f"function_version={self.function_version},"
            f"memory_limit_in_mb={self.memory_limit_in_mb}])"
        )


class _OutputPump:
    """Moves what the process writes on fd 1 and 2 to the parent, one line per message."""

    def __init__(self, logs: Connection) -> None:
        self._logs = logs
        self._send_lock = threading.Lock()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._read_fds: list[int] = []
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, fd)
            os.close(write_fd)
            self._read_fds.append(read_fd)
            threading.Thread(
                target=self._pump, args=(read_fd, stream), name=f"pump-{stream}", daemon=True
            ).start()
        # fd 1 is now a pipe, which would make stdout block-buffered: keep lines live.
        with contextlib.suppress(AttributeError, ValueError):
            sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    def _pump(self, read_fd: int, stream: str) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(read_fd, 65536)
            except OSError:
                chunk = b""
            with self._busy_lock:
                self._busy += 1
            try:
                if not chunk:
                    if pending:
                        self._send(stream, pending)
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._send(stream, line)
                if len(pending) > 65536:
                    self._send(stream, pending)
                    pending = b""
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _send(self, stream: str, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        # OSError: the parent is gone; the control pipe ends this process.
        with self._send_lock, contextlib.suppress(OSError):
            self._logs.send((stream, text))

    def drain(self, limit_s: float = 0.2) -> None:
        """Wait (briefly) until everything written so far has been sent to the parent."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with self._busy_lock:
                busy = self._busy
            if not busy and all(_pending_bytes(fd) == 0 for fd in self._read_fds):
                return
            time.sleep(0.001)


def _pending_bytes(fd: int) -> int:
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


def _user_traceback(exc: BaseException) -> Any:
    """The traceback without this module's own frames (the runtime hides its frames too)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _report(
    exc: BaseException, error_type: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """Log an error the way the Lambda runtime does (`[ERROR] Type: message` + traceback)
    and return Lambda's error payload for it."""
    tb = _user_traceback(exc)
    payload = {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(tb)),
    }
    print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
    if tb is not None:
        traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    return payload


def _set_sys_path(code_dir: str, project_root: str, layer_dirs: tuple[str, ...] = ()) -> None:
    """Code directory first, then the layers (`/opt/python` on Lambda); drop the current
    directory and project folders, which Lambda does not have either.

    Installed packages (the venv's site-packages, editable installs' import hooks) stay,
    which is how packages of layers without a local directory are found.
    """
    root = os.path.realpath(project_root)
    cwd = os.path.realpath(os.getcwd())
    kept: list[str] = []
    for entry in sys.path:
        if not entry:
            continue
        real = os.path.realpath(entry)
        inside_project = real == root or real.startswith(root + os.sep)
        if real == cwd or (inside_project and "site-packages" not in real):
            continue
        kept.append(entry)
    sys.path[:] = [code_dir, *layer_dirs, *kept]


def worker_main(config: WorkerConfig, ctrl: Connection, logs: Connection) -> None:
    """Entry point of the worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    pump = _OutputPump(logs)
    os.environ.clear()
    os.environ.update(config.environment)
    with contextlib.suppress(AttributeError):
        time.tzset()
    _set_sys_path(config.code_dir, config.project_root, config.layer_dirs)
    os.chdir(config.code_dir)

    started = time.perf_counter()
    module_path, _, function_name = config.handler.rpartition(".")
    module_name = module_path.replace("/", ".")  # `src/app.handler` works on Lambda too
    error: dict[str, Any] | None
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        error = _report(
            exc, "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        )
    except ImportError as exc:
        error = _report(
            exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        )
    except BaseException as exc:
        error = _report(exc)
    else:
        error = None
    if error is not None:
        pump.drain()
        ctrl.send(("init_error", error))
        return
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        print(f"[ERROR] Runtime.HandlerNotFound: {message}", file=sys.stderr)
        pump.drain()
        ctrl.send(("init_error", {"errorMessage": message, "errorType": "Runtime.HandlerNotFound"}))
        return
    pump.drain()
    ctrl.send(("ready", (time.perf_counter() - started) * 1000))

    while True:
        try:
            message = ctrl.recv()
        except (EOFError, OSError):
            break  # the parent went away
        if message[0] != "invoke":
            break
        _, request_id, event_json, deadline_ms, trace_header = message
        os.environ["_X_AMZN_TRACE_ID"] = trace_header
        context = LambdaContext(request_id, deadline_ms, config.invoked_function_arn)
        reply: tuple[Any, ...]
        try:
            result = handler(json.loads(event_json), context)
        except BaseException as exc:
            reply = ("error", request_id, _report(exc))
        else:
            try:
                reply = ("result", request_id, json.dumps(result))
            except (TypeError, ValueError) as exc:
                message_text = f"Unable to marshal response: {exc}"
                print(f"[ERROR] Runtime.MarshalError: {message_text}", file=sys.stderr)
                reply = (
                    "error",
                    request_id,
                    {"errorMessage": message_text, "errorType": "Runtime.MarshalError"},
                )
        pump.drain()
        try:
            ctrl.send(reply)
        except OSError:
            break
