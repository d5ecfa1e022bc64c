"""The WebSocket API: upgrades, `$connect` authorizer, routes, limits and `@connections`.

One aiohttp application serves, on one host:port (as API Gateway's domain does):

* WebSocket upgrades on `/` and `/{stage}`: the `$connect` REQUEST authorizer runs first
  (missing identity -> 401 without calling it), then the `$connect` route (non-2xx
  rejects the handshake); the socket opens only after both, so `@connections` answers
  410 for a connection still inside its own `$connect`;
* frames: the route selection expression picks the route (`$default` otherwise), events
  are API Gateway-shaped, two-way routes send the function's `body` back; a frame over
  32 KB closes with 1009, a message over 128 KB too; idle and maximum-age limits apply;
  `$disconnect` runs whenever a socket ends, from either side;
* the management API, `POST|GET|DELETE /{stage}/@connections/{id}` (`ws_management`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from parley_local import ids
from parley_local.authorizer import decide, identity_present
from parley_local.events.websocket import (
    WsConnection,
    method_arn,
    ws_authorizer_event,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)
from parley_local.faults import FaultInjector
from parley_local.frames import MESSAGE_LIMIT, FrameSizeGuard, install_guard
from parley_local.lambda_runtime import FunctionRuntime, InvocationResult
from parley_local.logs import LogSink
from parley_local.responses import message_response
from parley_local.routing import select_route
from parley_local.stack import WEBSOCKET_INTEGRATION_TIMEOUT_S, WebSocketApiSpec
from parley_local.ws_connection import GOING_AWAY, MESSAGE_TOO_BIG, LiveConnection
from parley_local.ws_management import ManagementApi

# aiohttp warns on every handshake whose subprotocols it does not pick; API Gateway picks
# one only when $connect answers it, so that is the normal case here.
logging.getLogger("aiohttp.websocket").setLevel(logging.ERROR)


class WebSocketGateway:
    """Serves one WebSocket API of the template."""

    def __init__(
        self,
        spec: WebSocketApiSpec,
        runtimes: dict[str, FunctionRuntime],
        sink: LogSink,
        *,
        region: str,
        account_id: str,
        port: int,
        idle_timeout: float = 600.0,
        max_connection_age: float = 7200.0,
        integration_timeout: float = WEBSOCKET_INTEGRATION_TIMEOUT_S,
        faults: FaultInjector | None = None,
    ) -> None:
        self.spec = spec
        self.runtimes = runtimes
        self.sink = sink
        self.region = region
        self.account_id = account_id
        self.port = port
        self.idle_timeout = idle_timeout
        self.max_connection_age = max_connection_age
        self.integration_timeout = integration_timeout
        self.connections: dict[str, LiveConnection] = {}
        self.management = ManagementApi(self.connections, spec.stages, sink, faults)
        self._handlers: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    # ------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MESSAGE_LIMIT * 2)
        manage = self.management.handle
        app.router.add_route("*", "/@connections/{connection_id}", manage)
        app.router.add_route("*", "/{stage}/@connections/{connection_id}", manage)
        app.router.add_route("GET", "/", self.handshake)
        app.router.add_route("GET", "/{stage}", self.handshake)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    async def not_found(self, request: web.Request) -> web.Response:
        return message_response(404, "Not Found")

    # ------------------------------------------------------------ handshake

    def _stage(self, request: web.Request) -> str | None:
        stage = request.match_info.get("stage")
        if stage is None:
            return self.spec.stages[0]
        return stage if stage in self.spec.stages else None

    async def _invoke(self, function: str, event: dict[str, Any]) -> InvocationResult:
        return await self.runtimes[function].ainvoke(event)

    def _reject(self, status: int, why: str, conn_id: str) -> web.Response:
        messages = {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}
        self.sink.info("ws", f"CONNECT {conn_id} rejected {status}: {why}")
        return message_response(status, messages.get(status, "Forbidden"))

    async def handshake(self, request: web.Request) -> web.StreamResponse:
        stage = self._stage(request)
        if stage is None:
            return message_response(403, "Forbidden")
        ws = _socket()
        if not ws.can_prepare(request).ok:
            return message_response(426, "Upgrade Required")
        if self._stopping:
            return message_response(503, "Service Unavailable")
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._handshake(request, ws, stage)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _handshake(
        self, request: web.Request, ws: web.WebSocketResponse, stage: str
    ) -> web.StreamResponse:
        conn = WsConnection(
            connection_id=ids.gateway_id(),
            api_id=self.spec.id,
            stage=stage,
            domain_name=request.host,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            connected_at=ids.now_ms(),
            headers=list(request.headers.items()),
            query=list(request.query.items()),
            port=self.port,
        )
        route = self.spec.routes.get("$connect")
        started = time.monotonic()
        if route is not None and route.authorizer is not None:
            authorizer = route.authorizer
            if not identity_present(authorizer.identity_sources, request.headers, request.query):
                return self._reject(401, "identity source missing", conn.connection_id)
            arn = method_arn(self.region, self.account_id, conn, "$connect")
            auth_started = time.monotonic()
            result = await self._invoke(authorizer.function, ws_authorizer_event(conn, arn))
            latency = int((time.monotonic() - auth_started) * 1000)
            decision = decide(result.ok, result.payload, result.error, arn)
            if not decision.allowed:
                if decision.status == 500:
                    self.sink.error("ws", f"authorizer {authorizer.function}: {decision.reason}")
                return self._reject(decision.status, decision.reason, conn.connection_id)
            conn.authorizer = {
                "principalId": decision.principal_id,
                "integrationLatency": latency,
                **decision.context,
            }
        if route is not None and route.function is not None:
            result = await self._invoke(route.function, ws_connect_event(conn))
            if not result.ok:
                return self._reject(
                    500, f"$connect failed: {result.error_type}", conn.connection_id
                )
            answer = result.payload if isinstance(result.payload, dict) else {}
            status = answer.get("statusCode")
            if status is not None:
                try:
                    code = int(status)
                except (TypeError, ValueError):
                    return self._reject(500, f"$connect statusCode {status!r}", conn.connection_id)
                if not 200 <= code < 300:
                    return self._reject(code, f"$connect answered {code}", conn.connection_id)
            # A subprotocol is agreed only if $connect answers it (as on API Gateway).
            headers = answer.get("headers")
            lowered = (
                {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
            )
            chosen = lowered.get("sec-websocket-protocol")
            if chosen:
                ws = _socket(str(chosen))
        if self._stopping:
            return message_response(503, "Service Unavailable")
        now_mono = time.monotonic()
        live = LiveConnection(conn, ws, now_mono, ids.now_ms(), now_mono)
        # From the upgrade on, every byte the client sends goes through the size guard
        # (installed only now, so a refused handshake's connection never meets it).
        guard = FrameSizeGuard()
        registered: list[LiveConnection] = []

        def on_violation() -> None:
            if registered:
                registered[0].close_soon(MESSAGE_TOO_BIG, "Message too big")

        if request.transport is not None:
            install_guard(request.transport, guard, on_violation)
        try:
            await ws.prepare(request)
        except (ConnectionError, RuntimeError):
            # The client left while $connect ran: the connection existed for the
            # function, so $disconnect follows, as on API Gateway.
            live.disconnect_code = 1006
            live.disconnect_reason = "Client left during the handshake"
            await self._finish(live)
            return ws
        registered.append(live)
        self.connections[conn.connection_id] = live
        if guard.violations:  # an oversized frame came before the socket was registered
            live.close_soon(MESSAGE_TOO_BIG, "Message too big")
        took = int((now_mono - started) * 1000)
        who = f" principal={conn.authorizer['principalId']}" if conn.authorizer else ""
        self.sink.info("ws", f"CONNECT {conn.connection_id} stage={stage}{who} ({took} ms)")
        watchdog = asyncio.create_task(self._watchdog(live))
        try:
            await self._read_loop(live)
        finally:
            watchdog.cancel()
            await self._finish(live)
        return ws

    async def _read_loop(self, live: LiveConnection) -> None:
        ws = live.ws
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                if live.closing:
                    continue  # nothing is routed once the gateway is closing the socket
                live.last_active_ms = ids.now_ms()
                live.last_active_mono = time.monotonic()
                data = msg.data
                self._spawn(live, self._route(live, data))
                continue
            if msg.type == WSMsgType.CLOSE:
                code = msg.data if isinstance(msg.data, int) and msg.data else 1005
                if live.disconnect_code is None:
                    live.disconnect_code = code
                    live.disconnect_reason = msg.extra or (
                        "Client-side close frame status not set" if code == 1005 else ""
                    )
                break
            if msg.type == WSMsgType.ERROR:
                if live.disconnect_code is None:
                    live.disconnect_code = ws.close_code or 1006
                    live.disconnect_reason = str(msg.data)
                break
            break  # CLOSING / CLOSED

    def _spawn(self, live: LiveConnection, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(self._guarded(coro))
        live.tasks.add(task)
        self._tasks.add(task)
        task.add_done_callback(live.tasks.discard)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a gateway bug must show, and not kill the socket
            self.sink.error("ws", f"gateway error: {exc!r}")

    # ------------------------------------------------------------ messages

    async def _send_error(self, live: LiveConnection, message: str, request_id: str) -> None:
        """API Gateway's error frame: `{"message", "connectionId", "requestId"}`."""
        frame = {
            "message": message,
            "connectionId": live.info.connection_id,
            "requestId": request_id,
        }
        await live.send(json.dumps(frame))

    async def _route(self, live: LiveConnection, data: str | bytes) -> None:
        conn_id = live.info.connection_id
        route_key = select_route(self.spec.route_selection_expression, data, self.spec.routes)
        route = self.spec.routes.get(route_key)
        event = ws_message_event(live.info, route_key, data)
        request_id = event["requestContext"]["requestId"]
        if route is None or route.function is None:
            self.sink.info("ws", f"MESSAGE {conn_id} no route for {route_key!r} -> Forbidden")
            await self._send_error(live, "Forbidden", request_id)
            return
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(
                self._invoke(route.function, event), self.integration_timeout
            )
        except TimeoutError:
            self.sink.warning("ws", f"MESSAGE {conn_id} route={route_key} integration timed out")
            await self._send_error(live, "Endpoint request timed out", request_id)
            return
        took = int((time.monotonic() - started) * 1000)
        if not result.ok:
            self.sink.info(
                "ws",
                f"MESSAGE {conn_id} route={route_key} -> {route.function} "
                f"failed: {result.error_type} ({took} ms)",
            )
            await self._send_error(live, "Internal server error", request_id)
            return
        cold = " cold" if result.cold_start else ""
        self.sink.info(
            "ws", f"MESSAGE {conn_id} route={route_key} -> {route.function} ({took} ms){cold}"
        )
        if route.two_way and isinstance(result.payload, dict):
            body = result.payload.get("body")
            if body is not None and body != "":
                await live.send(body if isinstance(body, str) else json.dumps(body))

    # ------------------------------------------------------------ limits and closing

    async def _watchdog(self, live: LiveConnection) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while not live.closing:
                now = time.monotonic()
                idle_at = live.last_active_mono + self.idle_timeout
                age_at = live.opened_mono + self.max_connection_age
                if now >= age_at:
                    self.sink.info("ws", f"CLOSE {live.info.connection_id}: maximum age reached")
                    await live.close(GOING_AWAY, "Going away")
                    return
                if now >= idle_at:
                    self.sink.info("ws", f"CLOSE {live.info.connection_id}: idle timeout")
                    await live.close(GOING_AWAY, "Going away")
                    return
                await asyncio.sleep(max(min(idle_at, age_at) - now, 0.01))

    async def _finish(self, live: LiveConnection) -> None:
        """The socket ended: forget it and run `$disconnect` (best effort, like AWS)."""
        conn_id = live.info.connection_id
        live.closing = True
        self.connections.pop(conn_id, None)
        code = live.disconnect_code or live.ws.close_code or 1006
        reason = live.disconnect_reason
        self.sink.info("ws", f"DISCONNECT {conn_id} code={code}" + (f" {reason}" if reason else ""))
        route = self.spec.routes.get("$disconnect")
        if route is None or route.function is None:
            return
        event = ws_disconnect_event(live.info, code, reason)
        result = await asyncio.shield(self._invoke(route.function, event))
        if not result.ok:
            self.sink.info("ws", f"$disconnect {conn_id} failed: {result.error_type}")

    async def shutdown(self, timeout: float = 15.0) -> None:
        """Close every socket (1001 Going away) and wait for their `$disconnect` calls."""
        self._stopping = True
        for live in list(self.connections.values()):
            live.close_soon(GOING_AWAY, "Going away")
        handlers = [t for t in self._handlers if not t.done()]
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=timeout)
            for task in pending:
                task.cancel()
        # Frames still being handled: their functions are about to be stopped.
        leftovers = [t for t in self._tasks if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=2.0)


def _socket(protocol: str | None = None) -> web.WebSocketResponse:
    """The server side of an upgrade; `protocol` is the subprotocol `$connect` agreed to.

    The frame size guard enforces the real limits; aiohttp's is only a backstop.
    """
    return web.WebSocketResponse(
        max_msg_size=2 * MESSAGE_LIMIT,
        compress=False,
        autoping=True,
        timeout=5.0,
        protocols=(protocol,) if protocol else (),
    )
