"""Lambda emulation: per function, a pool of worker processes that behave like sandboxes.

Each invocation takes a concurrency slot (at most `max_workers` per function run at once;
more wait), a warm worker if one is idle, or spawns a new one (a *cold start*: a fresh
`spawn` process that imports the handler module). The function's `Timeout` is enforced:
a worker that overruns is killed and the invocation fails as on Lambda
(`Task timed out after N seconds`). A worker that dies, or whose code changed on disk, is
replaced; one that died while idle is noticed when it is checked out and replaced by a
fresh one (a cold start, as a new sandbox on AWS), never handed the invocation. Handler
errors come back as Lambda's error payload (`errorType`/`errorMessage`/`stackTrace`); the
traceback is in the function's log.

With a fault profile (`parley_local.faults`), an invocation may fail *before* the handler
runs (no effects) or *after* it ran (its effects happened, the caller sees a failure):
`error` is reported as Lambda's `ServiceException`, `timeout` as `Sandbox.Timedout` once
the function's `Timeout` has passed (the sandbox is reset, as AWS resets it). Latency
rules delay the invocation before it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from parley_local import ids
from parley_local._spawn import start_process
from parley_local._worker import WorkerConfig, worker_main
from parley_local.faults import FaultInjector, FaultRule
from parley_local.logs import LogSink
from parley_local.stack import FunctionSpec

INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase of an on-demand sandbox


@dataclass
class InvocationResult:
    """The outcome of one invocation, as the caller (gateway, poller) sees it."""

    request_id: str
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    cold_start: bool = False
    init_ms: float | None = None
    timed_out: bool = False

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else str(self.error.get("errorType", ""))


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    ctrl: Connection
    generation: int
    log_thread: threading.Thread
    invocations: int = 0
    alive: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class FunctionRuntime:
    """Runs one function's invocations in up to `max_workers` worker processes."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        sink: LogSink,
        *,
        max_workers: int = 4,
        project_root: Path | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.spec = spec
        self.faults = faults
        self.environment = environment
        self.sink = sink
        limit = max_workers
        if spec.reserved_concurrency is not None and spec.reserved_concurrency > 0:
            limit = min(limit, spec.reserved_concurrency)
        self.max_workers = max(1, limit)
        self.project_root = str(project_root or spec.code_dir)
        self.generation = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = False
        self.executor = ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix=f"invoke-{spec.logical_id}"
        )
        self.cold_starts = 0
        self.invocations = 0
        self.spawned_pids: list[int] = []

    # ------------------------------------------------------------ public

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    async def ainvoke(self, event: Any) -> InvocationResult:
        """`invoke` from asyncio code, on this function's own threads."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, self.invoke, event)
        except RuntimeError:  # the executor is shut down: the cloud is stopping
            return self._failure(
                ids.request_id(), "ServiceException", "the local cloud is stopping"
            )

    def invoke(self, event: Any) -> InvocationResult:
        """Invoke the function synchronously with `event` (blocks the calling thread)."""
        request_id = ids.request_id()
        try:
            event_json = json.dumps(event)
        except (TypeError, ValueError) as exc:
            return self._failure(request_id, "InvalidRequestContentException", str(exc))
        with self._slots:
            if self._closed:
                return self._failure(request_id, "ServiceException", "the local cloud is stopping")
            self.invocations += 1
            try:
                fault = self._fault(request_id)
                if fault is not None and fault.when == "before":
                    return self._fail_before(request_id, fault)
                return self._invoke_on_worker(request_id, event_json, fault)
            except Exception as exc:
                self.sink.error("cloud", f"{self.name}: invocation machinery failed: {exc!r}")
                return self._failure(request_id, "ServiceException", f"local cloud error: {exc!r}")

    def bump_generation(self) -> None:
        """Code changed on disk: idle workers are retired, busy ones after their call."""
        with self._lock:
            self.generation += 1
            stale, self._idle = self._idle, []
        for worker in stale:
            self._retire(worker)

    def stop(self, grace: float = 1.0) -> None:
        """Refuse further invocations; let idle workers exit (within `grace` seconds, so
        that they finish cleanly), kill busy ones and stragglers."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            idle = set(self._idle)
            self._idle = []
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.ctrl.send(("stop",))
        deadline = time.monotonic() + grace
        for worker in workers:
            if worker in idle:
                worker.process.join(max(deadline - time.monotonic(), 0))
            self._retire(worker, graceful=False)
        self.executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ internals

    def _failure(
        self, request_id: str, error_type: str, message: str, **kwargs: Any
    ) -> InvocationResult:
        return InvocationResult(
            request_id, False, error={"errorType": error_type, "errorMessage": message}, **kwargs
        )

    def _fault(self, request_id: str) -> FaultRule | None:
        """Apply the profile's latency to this invocation; the fault rule that fires, if any."""
        if self.faults is None:
            return None
        delay = self.faults.latency("lambda", function=self.name, detail=f"request {request_id}")
        if delay:
            time.sleep(delay)
        rule = self.faults.pick("lambda", function=self.name)
        if rule is not None and rule.when == "before":
            self._record(rule, request_id, "the handler did not run")
        return rule

    def _record(self, rule: FaultRule, request_id: str, what: str) -> None:
        assert self.faults is not None
        detail = f"{self.name} {rule.error} ({what})"
        self.faults.record(rule, detail, function=self.name, request=request_id)

    def _fail_before(self, request_id: str, fault: FaultRule) -> InvocationResult:
        """An injected failure before any handler runs: nothing happened, the caller fails."""
        if fault.error == "timeout":
            # The caller waits the function's whole timeout, as for a sandbox that hangs.
            time.sleep(self.spec.timeout_s)
            return self._timed_out(request_id, {"duration_ms": self.spec.timeout_s * 1000})
        return self._failure(
            request_id, "ServiceException", "Lambda could not run the function (injected fault)"
        )

    def _timed_out(self, request_id: str, common: dict[str, Any]) -> InvocationResult:
        text = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
        self.sink.function_line(self.spec.logical_id, "stderr", f"{_iso_now()} {request_id} {text}")
        return self._failure(request_id, "Sandbox.Timedout", text, timed_out=True, **common)

    def _checkout(self) -> _Worker | None:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive and worker.generation == self.generation:
                    if _usable(worker):
                        return worker
                    self.sink.info(
                        "cloud",
                        f"{self.name}: worker {worker.process.pid} died while idle (exit code "
                        f"{worker.process.exitcode}); the next invocation gets a fresh one",
                    )
                self._retire_later(worker)
        return None

    def _retire_later(self, worker: _Worker) -> None:
        threading.Thread(target=self._retire, args=(worker,), daemon=True).start()

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed and worker.alive and worker.generation == self.generation:
                self._idle.append(worker)
                return
        self._retire(worker)

    def _spawn(self) -> _Worker:
        config = WorkerConfig(
            function_name=self.spec.name,
            handler=self.spec.handler,
            code_dir=str(self.spec.code_dir),
            environment=self.environment,
            invoked_function_arn=self.spec.arn,
            project_root=self.project_root,
            layer_dirs=tuple(str(d) for d in self.spec.layer_dirs),
        )
        ctrl_parent, ctrl_child = self._ctx.Pipe(duplex=True)
        logs_read, logs_write = self._ctx.Pipe(duplex=False)
        process = start_process(
            worker_main, (config, ctrl_child, logs_write), f"parley-local-{self.spec.logical_id}"
        )
        # Only the child holds these ends now: EOF on them means the child is gone.
        ctrl_child.close()
        logs_write.close()
        log_thread = threading.Thread(
            target=self._pump_logs,
            args=(logs_read,),
            name=f"logs-{self.spec.logical_id}-{process.pid}",
            daemon=True,
        )
        log_thread.start()
        worker = _Worker(process, ctrl_parent, self.generation, log_thread)
        with self._lock:
            self._all.add(worker)
            if process.pid is not None:
                self.spawned_pids.append(process.pid)
            closed = self._closed
        if closed:
            self._retire(worker, graceful=False)
        return worker

    def _pump_logs(self, conn: Connection) -> None:
        with contextlib.suppress(EOFError, OSError):  # EOF: the worker is gone
            while True:
                stream, text = conn.recv()
                self.sink.function_line(self.spec.logical_id, stream, text)
        conn.close()

    def _retire(self, worker: _Worker, graceful: bool = True) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.alive = False
        if graceful and worker.process.is_alive():
            with contextlib.suppress(OSError):
                worker.ctrl.send(("stop",))
            worker.process.join(1.0)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5.0)
        worker.ctrl.close()
        worker.log_thread.join(1.0)

    def _recv(self, worker: _Worker, timeout: float) -> tuple[Any, ...] | None:
        """The next message from `worker`; None on timeout; ("exit",) if it died."""
        try:
            if not worker.ctrl.poll(timeout):
                return None
            message: tuple[Any, ...] = worker.ctrl.recv()
        except (EOFError, OSError):
            return ("exit",)
        return message

    def _ready_worker(self, request_id: str) -> tuple[_Worker, float | None] | InvocationResult:
        """A warm worker, else a fresh one once its init is done (with its init time)."""
        worker = self._checkout()
        if worker is not None:
            return worker, None
        worker = self._spawn()
        self.cold_starts += 1
        message = self._recv(worker, max(INIT_TIMEOUT_S, self.spec.timeout_s))
        if message is None or message[0] != "ready":
            self._retire(worker, graceful=False)
            return self._init_failure(request_id, message)
        return worker, float(message[1])

    def _invoke_on_worker(
        self, request_id: str, event_json: str, fault: FaultRule | None = None
    ) -> InvocationResult:
        timeout = self.spec.timeout_s
        while True:
            ready = self._ready_worker(request_id)
            if isinstance(ready, InvocationResult):
                return ready
            worker, init_ms = ready
            cold = init_ms is not None
            start = time.monotonic()
            deadline_ms = ids.now_ms() + int(timeout * 1000)
            try:
                worker.ctrl.send(("invoke", request_id, event_json, deadline_ms, _trace_header()))
            except OSError:
                # It died between its check-out and now: the invocation never reached it,
                # so it goes to another sandbox, as Lambda would place it.
                self._retire(worker, graceful=False)
                if cold:
                    return self._failure(
                        request_id, "Runtime.ExitError", "the worker process is gone"
                    )
                continue
            break
        message = self._recv(worker, timeout)
        duration = (time.monotonic() - start) * 1000
        common: dict[str, Any] = {
            "duration_ms": duration,
            "cold_start": cold,
            "init_ms": init_ms,
        }
        if message is None:
            self._retire(worker, graceful=False)
            return self._timed_out(request_id, common)
        if message[0] == "exit":
            self._retire(worker, graceful=False)
            code = worker.process.exitcode
            text = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            if self._closed:
                text = "the local cloud is stopping"
            self.sink.function_line(self.spec.logical_id, "stderr", text)
            return self._failure(request_id, "Runtime.ExitError", text, **common)
        worker.invocations += 1
        if fault is not None:
            return self._fail_after(request_id, worker, fault, start, common)
        self._checkin(worker)
        if message[0] == "result":
            return InvocationResult(request_id, True, payload=json.loads(message[2]), **common)
        error = dict(message[2]) if isinstance(message[2], dict) else {"errorMessage": "unknown"}
        return InvocationResult(request_id, False, error=error, **common)

    def _fail_after(
        self,
        request_id: str,
        worker: _Worker,
        fault: FaultRule,
        start: float,
        common: dict[str, Any],
    ) -> InvocationResult:
        """An injected failure after the handler ran: its effects stay, the caller fails."""
        self._record(fault, request_id, "after the handler ran")
        if fault.error == "timeout":
            # The handler's reply never arrives: the caller waits out the timeout, and the
            # sandbox is reset.
            time.sleep(max(self.spec.timeout_s - (time.monotonic() - start), 0.0))
            self._retire(worker, graceful=False)
            common = {**common, "duration_ms": self.spec.timeout_s * 1000}
            return self._timed_out(request_id, common)
        self._checkin(worker)
        return self._failure(
            request_id,
            "ServiceException",
            "Lambda failed after the function ran (injected fault)",
            **common,
        )

    def _init_failure(self, request_id: str, message: tuple[Any, ...] | None) -> InvocationResult:
        if message is None:
            text = f"init phase did not finish within {INIT_TIMEOUT_S:.0f} s"
            self.sink.function_line(self.spec.logical_id, "stderr", text)
            return self._failure(request_id, "Sandbox.Timedout", text, cold_start=True)
        if message[0] == "init_error":
            return InvocationResult(request_id, False, error=dict(message[1]), cold_start=True)
        text = "the worker process exited during init"
        if self._closed:
            text = "the local cloud is stopping"
        return self._failure(request_id, "Runtime.ExitError", text, cold_start=True)


def _usable(worker: _Worker) -> bool:
    """Whether an idle worker can take an invocation: its process is alive and it has said
    nothing since its last reply (an idle worker's pipe is readable only at its EOF)."""
    if not worker.process.is_alive():
        return False
    try:
        return not worker.ctrl.poll(0)
    except (EOFError, OSError):
        return False


def _trace_header() -> str:
    root = ids.trace_id().removeprefix("Root=")
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=0;Lineage=1:{os.urandom(4).hex()}:0"


def _iso_now() -> str:
    return ids.iso_time(ids.now_ms())


def lambda_environment(
    spec: FunctionSpec,
    *,
    region: str,
    endpoint_url: str,
    base: dict[str, str],
) -> dict[str, str]:
    """The full environment of a function's worker, as Lambda would set it (plus moto)."""
    env = dict(base)
    env.update(spec.environment)
    version = "$LATEST"
    day = time.strftime("%Y/%m/%d", time.gmtime())
    python = spec.runtime  # e.g. python3.13
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{day}/[{version}]{os.urandom(16).hex()}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{python}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            # Never read the developer's ~/.aws: nothing local may reach real AWS.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env
