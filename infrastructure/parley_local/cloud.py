"""`LocalCloud`: the whole template running on one machine, started and stopped as a unit."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar

from aiohttp import web

from parley_local.appconfigdata import AppConfigDataServer
from parley_local.aws import AwsClients, MotoServer, scrubbed_environ
from parley_local.builder import StackBuilder
from parley_local.fault_proxy import FaultProxy
from parley_local.faults import FaultInjector, FaultProfile, check_scopes, load_profile
from parley_local.flags import FlagStore, initial_flags, load_flags, validate_flags
from parley_local.lambda_runtime import (
    FunctionRuntime,
    InvocationResult,
    lambda_environment,
)
from parley_local.logs import LogSink
from parley_local.reload import CodeWatcher
from parley_local.resources import registry
from parley_local.responses import message_response
from parley_local.sqs_poller import SqsPoller
from parley_local.stack import ACCOUNT_ID, Stack
from parley_local.template import TemplateError, load_template
from parley_local.web_server import WebServer
from parley_local.web_server import origins as web_origins

_T = TypeVar("_T")


def _not_found_app() -> web.Application:
    async def not_found(request: web.Request) -> web.Response:
        return message_response(404, "Not Found")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


class PortInUseError(OSError):
    """The gateway could not listen on the asked port."""


LOCAL_FLAGS_CACHE_SECONDS = 5
"""How long `make dev`'s functions keep a feature flags document (the template's
`FeatureFlagsCacheSeconds`, unless overridden)."""

MOTO_HOST = "127.0.0.1"
"""Where moto listens, whatever `--host` says (it answers any caller, unauthenticated)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class LocalCloud:
    """Runs `template.yaml` locally: moto, the Lambda workers, the gateways and the pollers.

    Use as a context manager, or call `start()` and `stop()`. Port 0 picks a free port;
    the actual URLs are `http_url` and `ws_url` once started.
    """

    def __init__(
        self,
        template_path: str | os.PathLike[str] = "template.yaml",
        *,
        http_port: int = 0,
        ws_port: int = 0,
        host: str = "127.0.0.1",
        workers: int = 4,
        idle_timeout: float = 600.0,
        max_connection_age: float = 7200.0,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = "parley-local",
        region: str = "us-east-1",
        json_logs: bool = False,
        log_stream: TextIO | None = None,
        color: bool | None = None,
        verbose: bool = False,
        reload: bool = True,
        web_port: int | None = None,
        web_root: str | os.PathLike[str] | None = None,
        faults: FaultProfile | str | None = None,
        function_environment: Mapping[str, str] | None = None,
        flags: dict[str, Any] | str | os.PathLike[str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if idle_timeout <= 0 or max_connection_age <= 0:
            raise ValueError("idle_timeout and max_connection_age must be positive")
        self.template_path = Path(template_path).resolve()
        self.host = host
        self.http_port = http_port
        self.ws_port = ws_port
        self.workers = workers
        self.idle_timeout = idle_timeout
        self.max_connection_age = max_connection_age
        self.parameter_overrides = dict(parameter_overrides or {})
        self.stack_name = stack_name
        self.region = region
        self.reload = reload
        # The web client (section 14): served only when a port is given (0 = any free).
        self.web_port = web_port
        self.web_root = Path(web_root) if web_root is not None else None
        # Fault injection (see parley_local.faults): a profile, or a built-in's name / a file.
        self.fault_profile = load_profile(faults) if isinstance(faults, str) else faults
        self.faults: FaultInjector | None = None
        self.fault_proxy_url: str | None = None
        # Variables added to every function's environment, over the template's (as
        # `sam local invoke --env-vars`): e.g. the soak's shorter PARLEY_SECRET_MAX_AGE.
        self.function_environment = dict(function_environment or {})
        # Feature flags (see parley_local.flags): a document, or a file, instead of the
        # template's hosted configuration.
        self._flags_override: tuple[dict[str, Any], str] | None = None
        if isinstance(flags, dict):
            self._flags_override = (validate_flags(flags), "given document")
        elif flags is not None:
            self._flags_override = (load_flags(flags), f"--flags {flags}")
        self.flags: FlagStore | None = None
        self.appconfigdata_url: str | None = None
        self.sink = LogSink(
            log_stream, json_logs=json_logs, color=color, level="DEBUG" if verbose else "INFO"
        )
        self.stack: Stack | None = None
        self.functions: dict[str, FunctionRuntime] = {}
        self.pollers: list[SqsPoller] = []
        self.moto: MotoServer | None = None
        self.clients: AwsClients | None = None
        self.ws_gateway: Any = None
        self.http_gateway: Any = None
        self._sockets: list[socket.socket] = []
        self._runners: list[web.AppRunner] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._watcher: CodeWatcher | None = None
        self._started = False
        self._stopped = False
        self._stop_lock = threading.Lock()

    # ------------------------------------------------------------ URLs

    @property
    def http_url(self) -> str:
        return f"http://{self._url_host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.ws_port}"

    @property
    def web_url(self) -> str | None:
        """The web client's URL, or None when it is not served."""
        return None if self.web_port is None else f"http://{self._url_host}:{self.web_port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def aws_endpoint_url(self) -> str:
        if self.moto is None:
            raise RuntimeError("the local cloud is not started")
        return self.moto.endpoint_url

    @property
    def running(self) -> bool:
        return self._started and not self._stopped

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        """Stand everything up; raises (after cleaning up) if anything fails."""
        if self._started:
            raise RuntimeError("a LocalCloud starts once; make a new one")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        template = load_template(self.template_path)
        http_sock = _bind(self.host, self.http_port)
        self._sockets.append(http_sock)
        self.http_port = int(http_sock.getsockname()[1])
        ws_sock = _bind(self.host, self.ws_port)
        self._sockets.append(ws_sock)
        self.ws_port = int(ws_sock.getsockname()[1])
        web_sock: socket.socket | None = None
        if self.web_port is not None:
            try:
                web_sock = _bind(self.host, self.web_port)
            except PortInUseError as exc:
                # The web client is an extra: the APIs still run without it.
                self.sink.warning("web", f"the web client is not served: {exc.strerror}")
                self.web_port = None
        if web_sock is not None:
            self._sockets.append(web_sock)
            self.web_port = int(web_sock.getsockname()[1])
            # The API lets the web client's origins in, and only them, unless told otherwise.
            if "AllowedOrigins" in template.parameters:
                self.parameter_overrides.setdefault(
                    "AllowedOrigins", ",".join(web_origins(self.web_port))
                )

        # A local stack's Web Push subscriptions point at push services on this machine
        # (protocol 10: `make dev` runs with PushEndpointPolicy=loopback), unless told otherwise.
        if "PushEndpointPolicy" in template.parameters:
            self.parameter_overrides.setdefault("PushEndpointPolicy", "loopback")
        # Protocol 12: `make dev` makes `admin` an app admin, unless told otherwise.
        if "AdminUsers" in template.parameters:
            self.parameter_overrides.setdefault("AdminUsers", "admin")
        # Protocol 13: `make dev` asks no registration challenge and lets local tests create
        # many accounts from one address, unless told otherwise.
        for name, value in (("RegistrationChallenge", "off"), ("RegistrationsPerHour", "10000")):
            if name in template.parameters:
                self.parameter_overrides.setdefault(name, value)
        # Issue 17: a flag changed with PUT /_local/flags reaches every function within
        # LOCAL_FLAGS_CACHE_SECONDS rather than the deployed stacks' 30 s, unless told otherwise.
        if "FeatureFlagsCacheSeconds" in template.parameters:
            self.parameter_overrides.setdefault(
                "FeatureFlagsCacheSeconds", str(LOCAL_FLAGS_CACHE_SECONDS)
            )

        # moto boots in its process while this one loads the SDK (two cores, both busy).
        services = registry.services(template)
        # moto has no authentication: it listens on loopback whatever `host` the gateways
        # take, so a LAN client reaches the APIs but never the raw AWS endpoint.
        self.moto = MotoServer(MOTO_HOST)
        self.moto.launch(services, self.region)
        AwsClients.preload(services)
        self.moto.wait_ready()
        self.clients = AwsClients(self.moto.endpoint_url, self.region)
        builder = StackBuilder(
            template,
            self.clients,
            ws_endpoint=self.ws_url,
            http_endpoint=self.http_url,
            parameter_overrides=self.parameter_overrides,
            stack_name=self.stack_name,
            region=self.region,
            debug=lambda message: self.sink.debug("cloud", message),
        )
        stack = builder.build()
        self.stack = stack
        for warning in stack.warnings:
            self.sink.warning("cloud", warning)

        proxy_sock = self._start_faults(stack)
        appconfig_sock = self._start_flags(stack)
        base_env = scrubbed_environ()
        for logical_id, spec in stack.functions.items():
            env = lambda_environment(
                spec, region=self.region, endpoint_url=self.moto.endpoint_url, base=base_env
            )
            env.update(self.function_environment)
            # moto has no AppConfigData: flags are read from the local emulation.
            env["AWS_ENDPOINT_URL_APPCONFIGDATA"] = str(self.appconfigdata_url)
            if self.fault_proxy_url is not None:
                # DynamoDB and SQS through the fault proxy; the SDK names the function.
                env["AWS_ENDPOINT_URL_DYNAMODB"] = self.fault_proxy_url
                env["AWS_ENDPOINT_URL_SQS"] = self.fault_proxy_url
                if self.faults is not None and "secretsmanager" in self.faults.profile.kinds:
                    # Secrets Manager too, only when faulted: its reads stay direct otherwise.
                    env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = self.fault_proxy_url
                env["AWS_SDK_UA_APP_ID"] = logical_id
            self.functions[logical_id] = FunctionRuntime(
                spec,
                env,
                self.sink,
                max_workers=self.workers,
                project_root=template.base_dir,
                faults=self.faults,
            )

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="parley-local-gateways", daemon=True
        )
        self._thread.start()
        self._run(
            self._start_servers(http_sock, ws_sock, web_sock, proxy_sock, appconfig_sock),
            timeout=30,
        )

        for mapping in stack.sqs_mappings:
            poller = SqsPoller(
                mapping,
                self.functions[mapping.function],
                self.clients,
                self.sink,
                region=self.region,
            )
            poller.start()
            self.pollers.append(poller)
        if self.reload:
            self._watcher = CodeWatcher(self.functions, self.sink)
            self._watcher.start()
        took = int((time.monotonic() - started) * 1000)
        self.sink.debug("cloud", f"started in {took} ms")

    def _start_faults(self, stack: Stack) -> socket.socket | None:
        """With a fault profile: check its scopes, make the injector, bind the fault proxy."""
        if self.fault_profile is None:
            return None
        check_scopes(
            self.fault_profile,
            functions=stack.functions,
            tables=stack.tables,
            queues=stack.queues,
        )
        self.faults = FaultInjector(
            self.fault_profile,
            self.sink,
            tables={t.logical_id: t.name for t in stack.tables.values()},
            queues={q.logical_id: q.name for q in stack.queues.values()},
        )
        sock = _bind(MOTO_HOST, 0)
        self._sockets.append(sock)
        self.fault_proxy_url = f"http://{MOTO_HOST}:{sock.getsockname()[1]}"
        self.sink.info("fault", f"profile {self.fault_profile.describe()}")
        return sock

    def _start_flags(self, stack: Stack) -> socket.socket:
        """The flags document to serve (`--flags`, else the template's hosted content, else
        `{}`), and the AppConfigData emulation's socket."""
        document, source, warning = initial_flags(
            self._flags_override, stack.appconfig.content, stack.appconfig.content_source
        )
        if warning is not None:
            self.sink.warning("flags", warning)
        self.flags = FlagStore(document, source)
        sock = _bind(MOTO_HOST, 0)
        self._sockets.append(sock)
        self.appconfigdata_url = f"http://{MOTO_HOST}:{sock.getsockname()[1]}"
        return sock

    async def _start_servers(
        self,
        http_sock: socket.socket,
        ws_sock: socket.socket,
        web_sock: socket.socket | None,
        proxy_sock: socket.socket | None = None,
        appconfig_sock: socket.socket | None = None,
    ) -> None:
        from parley_local.http_gateway import HttpGateway
        from parley_local.ws_gateway import WebSocketGateway

        assert self.stack is not None
        self.http_gateway = HttpGateway(
            self.stack.http_apis,
            self.functions,
            self.sink,
            account_id=ACCOUNT_ID,
            port=self.http_port,
            faults=self.faults,
            flags=self.flags,
        )
        apps: list[tuple[web.Application, socket.socket]] = [(self.http_gateway.app(), http_sock)]
        if self.stack.websocket_api is not None:
            self.ws_gateway = WebSocketGateway(
                self.stack.websocket_api,
                self.functions,
                self.sink,
                region=self.region,
                account_id=ACCOUNT_ID,
                port=self.ws_port,
                idle_timeout=self.idle_timeout,
                max_connection_age=self.max_connection_age,
                faults=self.faults,
            )
            apps.append((self.ws_gateway.app(), ws_sock))
        else:  # no WebSocket API in the template: answer, rather than leave clients hanging
            apps.append((_not_found_app(), ws_sock))
        if web_sock is not None:
            root = self.web_root or self.template_path.parent / "clients" / "web" / "dist"
            site = WebServer(
                root,
                http_url=self.http_url,
                ws_url=self.ws_url,
                storage_url=self.aws_endpoint_url,
            )
            if not site.built:
                self.sink.warning(
                    "web", f"the web client is not built in {root}: run `make web` (Node 20+)"
                )
            apps.append((site.app(), web_sock))
        if proxy_sock is not None:
            assert self.faults is not None and self.moto is not None
            proxy = FaultProxy(self.moto.endpoint_url, self.faults, self.sink)
            apps.append((proxy.app(), proxy_sock))
        if appconfig_sock is not None:
            assert self.flags is not None
            appconfig = self.stack.appconfig
            known = (
                (appconfig.applications, appconfig.environments, appconfig.profiles)
                if appconfig.defined
                else None
            )
            server = AppConfigDataServer(self.flags, self.sink, known)
            apps.append((server.app(), appconfig_sock))
        for app, sock in apps:
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            self._runners.append(runner)
            await web.SockSite(runner, sock).start()

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Stop everything, run `$disconnect` for open sockets, leave no process behind."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        for poller in self.pollers:
            poller.stop()
        if self._watcher is not None:
            self._watcher.stop()
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            try:
                self._run(self._stop_servers(), timeout=30)
            except Exception as exc:
                self.sink.warning("cloud", f"gateway shutdown: {exc!r}")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        for runtime in self.functions.values():
            runtime.stop()
        if self.moto is not None:
            self.moto.stop()
        for poller in self.pollers:
            poller.join(3.0)  # their long polls end with moto
        for sock in self._sockets:
            sock.close()
        if self._watcher is not None:
            self._watcher.join(2.0)

    async def _stop_servers(self) -> None:
        if self.ws_gateway is not None:
            await self.ws_gateway.shutdown()
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------ helpers

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """Invoke a function of the template directly (by logical id), like `sam local invoke`."""
        runtime = self.functions.get(function)
        if runtime is None:
            known = ", ".join(sorted(self.functions))
            raise KeyError(f"no function {function!r} (functions: {known})")
        return runtime.invoke(event)

    def client(self, service: str) -> Any:
        """A boto3 client for the local AWS endpoint (moto)."""
        if self.clients is None:
            raise RuntimeError("the local cloud is not started")
        return self.clients.client(service)

    def ref(self, logical_id: str) -> Any:
        """What `!Ref logical_id` resolved to (table name, queue URL, secret ARN, ...)."""
        if self.stack is None or logical_id not in self.stack.refs:
            raise KeyError(logical_id)
        return self.stack.refs[logical_id]

    def log_lines(self) -> list[str]:
        """The last lines of the log, without colours."""
        return self.sink.lines()

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The first log line containing `text`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.sink.lines():
                if text in line:
                    return line
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no log line with {text!r} within {timeout} s")
            time.sleep(0.05)

    def child_pids(self, *, ever: bool = False) -> list[int]:
        """Process ids of the live child processes (moto and the function workers);
        with `ever`, of every worker started so far, retired ones included."""
        pids = [
            pid
            for runtime in self.functions.values()
            for pid in (runtime.spawned_pids if ever else runtime.worker_pids())
        ]
        if self.moto is not None and self.moto.pid is not None:
            pids.append(self.moto.pid)
        return pids


__all__ = ["LocalCloud", "PortInUseError", "TemplateError"]
