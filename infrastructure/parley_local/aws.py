"""The local AWS endpoint: moto's server in a child process, and boto3 clients for it.

moto keeps its state in module globals, so it runs in its own process (spawned, like the
function workers): every `LocalCloud` gets an empty account, a restart starts empty, and
moto's request handling does not compete with the gateways for the parent's GIL.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from parley_local._spawn import start_process

ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto's conventional dummy credential


class _SerialDynamoDB:
    """One DynamoDB request at a time, as DynamoDB's own item-level atomicity implies.

    moto's server handles requests on threads but checks a condition and writes in two
    unlocked steps (and deep-copies tables in TransactWriteItems while other threads write),
    so two concurrent conditional puts could both succeed: Parley's ordering relies on
    exactly that condition. DynamoDB calls never block, so serialising them costs little;
    other services (SQS long polls) stay concurrent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def _keep_alive_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAlive(MotoRequestHandler):  # type: ignore[misc,valid-type]
        """HTTP/1.1, so the SDK's pooled connections are reused.

        With werkzeug's default HTTP/1.0 every AWS call opened a TCP connection and the
        server started a thread for it: about a fifth of moto's CPU time per call (a
        GetItem measured 2.0 ms of server CPU with HTTP/1.0, 1.6 ms with HTTP/1.1).
        """

        protocol_version = "HTTP/1.1"

    return KeepAlive


def _moto_main(conn: Connection, host: str, services: tuple[str, ...], region: str) -> None:
    """Child process: run moto's threaded server until told to stop or the parent goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request access log
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from parley_local import moto_speedups

    moto_speedups.install()
    from parley_local.s3_post import PostPolicyFront

    # S3 form uploads are checked as S3 checks them (moto stores any), see s3_post.
    app = PostPolicyFront(
        _SerialDynamoDB(DomainDispatcherApplication(create_backend_app)), SECRET_KEY
    )
    server = make_server(host, 0, app, threaded=True, request_handler=_keep_alive_handler())
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    # moto builds a backend on its first request (SSM's loads AWS's public parameters:
    # most of a second). Build them now, while the parent loads its own SDK models, and
    # before any request can race the creation.
    from moto.backends import get_backend

    for service in services:
        with contextlib.suppress(Exception):
            get_backend(service)  # type: ignore[call-overload]
            get_backend(service)["123456789012"][region]  # type: ignore[call-overload]
    conn.send(server.server_address[1])
    with contextlib.suppress(EOFError, OSError):
        conn.recv()  # "stop", or EOFError when the parent dies
    # The state is discarded anyway: no graceful shutdown of in-flight long polls.
    os._exit(0)


class MotoServer:
    """moto in server mode, in a child process on `host` and a free port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self, services: tuple[str, ...] = (), region: str = "us-east-1") -> None:
        """Start the process (moto warms the backends of `services`); see `wait_ready`."""
        parent, child = multiprocessing.get_context("spawn").Pipe()
        process = start_process(
            _moto_main, (child, self.host, services, region), "parley-local-moto"
        )
        child.close()
        self._process, self._conn = process, parent

    def wait_ready(self, timeout: float = 30.0) -> None:
        parent = self._conn
        if parent is None:
            raise RuntimeError("moto server was not launched")
        if not parent.poll(timeout):
            self.stop()
            raise RuntimeError(f"moto server did not start within {timeout:.0f} s")
        try:
            self.port = int(parent.recv())
        except EOFError:
            self.stop()
            raise RuntimeError("moto server process exited during start-up") from None

    def stop(self, timeout: float = 5.0) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send("stop")
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(timeout)
        if conn is not None:
            conn.close()


class AwsClients:
    """Thread-safe factory of boto3 clients pointed at the local endpoint."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    @staticmethod
    def preload(services: tuple[str, ...]) -> None:
        """Load boto3 and the services' models now (botocore caches them per process)."""
        import boto3

        session = boto3.session.Session(region_name="us-east-1")
        for service in services:
            with contextlib.suppress(Exception):
                session.client(
                    service,
                    endpoint_url="http://127.0.0.1:1",
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=SECRET_KEY,
                )

    def client(self, service: str, *, max_attempts: int = 3) -> Any:
        """A shared client (one per service and retry setting)."""
        key = f"{service}/{max_attempts}"
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.session.Session(
                        aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY,
                        region_name=self.region,
                    )
                self._clients[key] = self._session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=Config(
                        retries={"mode": "standard", "max_attempts": max_attempts},
                        max_pool_connections=64,
                        connect_timeout=5,
                        read_timeout=30,
                    ),
                )
            return self._clients[key]


# Variables of the parent's environment that functions do not inherit: anything that
# could point them at real AWS, and application settings that on Lambda can only come
# from the template (a developer's shell must not hide a variable missing there).
_NOT_INHERITED = ("AWS_", "_X_AMZN", "LAMBDA_", "POWERTOOLS_", "PARLEY_")


def scrubbed_environ() -> dict[str, str]:
    """The parent's environment as the base of a function's (see `_NOT_INHERITED`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
