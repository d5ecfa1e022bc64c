"""The `@connections` management API: `POST|GET|DELETE /{stage}/@connections/{id}`.

An unknown or closed id gets 410 with `x-amzn-ErrorType: GoneException`, a message over
128 KB 413 `PayloadTooLargeException`: boto3's unchanged `apigatewaymanagementapi` client
raises those exceptions. Signatures are not checked.
"""

from __future__ import annotations

from aiohttp import web

from parley_local import ids
from parley_local.frames import MESSAGE_LIMIT
from parley_local.logs import LogSink
from parley_local.responses import answer_or, json_response, message_response
from parley_local.ws_connection import NORMAL, LiveConnection


class ManagementApi:
    """Serves `@connections` for the connections a WebSocket gateway holds."""

    def __init__(
        self, connections: dict[str, LiveConnection], stages: list[str], sink: LogSink
    ) -> None:
        self.connections = connections
        self.stages = stages
        self.sink = sink

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

    async def _handle(self, request: web.Request) -> web.Response:
        stage = request.match_info.get("stage")
        if stage is not None and stage not in self.stages:
            return message_response(403, "Forbidden")
        conn_id = request.match_info["connection_id"]
        method = request.method
        live = self.connections.get(conn_id)
        if method not in ("POST", "GET", "DELETE"):
            return message_response(405, "Method Not Allowed")
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
