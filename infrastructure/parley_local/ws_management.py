"""The `@connections` management API: `POST|GET|DELETE /{stage}/@connections/{id}`.

An unknown or closed id gets 410 with `x-amzn-ErrorType: GoneException`, a message over
128 KB 413 `PayloadTooLargeException`: boto3's unchanged `apigatewaymanagementapi` client
raises those exceptions. Signatures are not checked.

With a fault profile, latency rules (target `connections`) delay every call, and
`connections` rules make a `PostToConnection` to an open connection answer 500
(`InternalServerErrorException`), 429 (`LimitExceededException`, which the SDK retries)
or 410 (`GoneException`, as a stale connection index would get): nothing is sent to the
socket. The caller is told apart by its SDK's `app/<function>` User-Agent part.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from parley_local import ids
from parley_local.faults import FaultInjector, caller_function
from parley_local.frames import MESSAGE_LIMIT
from parley_local.logs import LogSink
from parley_local.responses import answer_or, json_response, message_response
from parley_local.ws_connection import NORMAL, LiveConnection


class ManagementApi:
    """Serves `@connections` for the connections a WebSocket gateway holds."""

    def __init__(
        self,
        connections: dict[str, LiveConnection],
        stages: list[str],
        sink: LogSink,
        faults: FaultInjector | None = None,
    ) -> None:
        self.connections = connections
        self.stages = stages
        self.sink = sink
        self.faults = faults

    async def handle(self, request: web.Request) -> web.Response:
        """One `@connections` request."""
        return await answer_or(self._handle, request, self._bug)

    def _bug(self, exc: Exception) -> web.Response:
        # A gateway bug: answer like API Gateway, and say why.
        self.sink.error("ws", f"@connections error: {exc!r}")
        return message_response(500, "Internal server error")

    def _gone(self, conn_id: str) -> web.Response:
        return message_response(
            410,
            f"connection {conn_id} is gone",
            headers={"x-amzn-ErrorType": "GoneException", "x-amzn-RequestId": ids.request_id()},
        )

    async def _fault(
        self, request: web.Request, conn_id: str, open_connection: bool
    ) -> web.Response | None:
        """The profile's latency for this call; an injected answer to a POST, if one fires."""
        assert self.faults is not None
        function = caller_function(request.headers.get("User-Agent", ""))
        delay = self.faults.latency("connections", function=function, detail=request.method)
        if delay:
            await asyncio.sleep(delay)
        if request.method != "POST" or not open_connection:
            return None
        rule = self.faults.pick("connections", function=function)
        if rule is None:
            return None
        await request.read()
        self.faults.record(
            rule, f"PostToConnection {conn_id} answered {rule.status}", function=function
        )
        headers = {"x-amzn-RequestId": ids.request_id()}
        if rule.status == 410:
            return self._gone(conn_id)
        if rule.status == 429:
            headers["x-amzn-ErrorType"] = "LimitExceededException"
            return message_response(429, "Too Many Requests", headers=headers)
        headers["x-amzn-ErrorType"] = "InternalServerErrorException"
        return message_response(500, "Internal server error", headers=headers)

    async def _handle(self, request: web.Request) -> web.Response:
        stage = request.match_info.get("stage")
        if stage is not None and stage not in self.stages:
            return message_response(403, "Forbidden")
        conn_id = request.match_info["connection_id"]
        method = request.method
        live = self.connections.get(conn_id)
        if method not in ("POST", "GET", "DELETE"):
            return message_response(405, "Method Not Allowed")
        if self.faults is not None:
            injected = await self._fault(request, conn_id, live is not None and not live.closing)
            if injected is not None:
                return injected
        if live is None or live.closing:
            self.sink.info("ws", f"{method} @connections/{conn_id} -> 410 Gone")
            return self._gone(conn_id)
        headers = {"x-amzn-RequestId": ids.request_id()}
        if method == "POST":
            data = await request.read()
            if len(data) > MESSAGE_LIMIT:
                return message_response(
                    413,
                    "Message too long",
                    headers={**headers, "x-amzn-ErrorType": "PayloadTooLargeException"},
                )
            try:
                payload: str | bytes = data.decode("utf-8")
            except UnicodeDecodeError:
                payload = data
            if not await live.send(payload):
                return self._gone(conn_id)
            self.sink.debug("ws", f"POST @connections/{conn_id} ({len(data)} bytes)")
            return web.Response(status=200, headers=headers)
        if method == "GET":
            return json_response(
                200,
                {
                    "connectedAt": ids.iso_time(live.info.connected_at),
                    "identity": {
                        "sourceIp": live.info.source_ip,
                        "userAgent": live.info.user_agent or "",
                    },
                    "lastActiveAt": ids.iso_time(live.last_active_ms),
                },
                headers=headers,
            )
        self.sink.info("ws", f"DELETE @connections/{conn_id}")
        live.close_soon(NORMAL, "Connection deleted")
        return web.Response(status=204, headers=headers)
