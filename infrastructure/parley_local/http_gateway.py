"""The HTTP API: routes from the template, payload format 2.0, CORS, API Gateway's errors."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from multidict import CIMultiDict

from parley_local import ids
from parley_local.events.http_api import (
    HttpRequestInfo,
    MalformedResponse,
    http_v2_event,
    http_v2_response,
)
from parley_local.faults import FaultInjector
from parley_local.flags import FlagsError, FlagStore, parse_flags
from parley_local.lambda_runtime import FunctionRuntime
from parley_local.logs import LogSink
from parley_local.responses import answer_or, json_response, message_response
from parley_local.routing import (
    CORS_RESPONSE_HEADERS,
    RouteMatch,
    cors_headers,
    is_preflight,
    match_route,
    preflight_headers,
)
from parley_local.stack import HttpApiSpec

FAULTS_PATH = "/_local/faults"  # the local cloud's own, before the template's routes
FLAGS_PATH = "/_local/flags"
MAX_BODY = 10 * 1024 * 1024  # HTTP APIs accept request bodies up to 10 MB
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}


def _message(status: int, message: str, request_id: str) -> web.Response:
    return message_response(status, message, {"apigw-requestid": request_id})


class HttpGateway:
    """Serves the template's HTTP APIs (SAM `HttpApi` events and ApiGatewayV2 routes)."""

    def __init__(
        self,
        apis: list[HttpApiSpec],
        runtimes: dict[str, FunctionRuntime],
        sink: LogSink,
        *,
        account_id: str,
        port: int,
        faults: FaultInjector | None = None,
        flags: FlagStore | None = None,
    ) -> None:
        self.apis = apis
        self.faults = faults
        self.flags = flags
        self.runtimes = runtimes
        self.sink = sink
        self.account_id = account_id
        self.port = port

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get(FAULTS_PATH, self.fault_counters)
        if self.flags is not None:
            app.router.add_get(FLAGS_PATH, self.get_flags)
            app.router.add_put(FLAGS_PATH, self.put_flags)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def fault_counters(self, request: web.Request) -> web.Response:
        """`GET /_local/faults`: the fault profile and the faults injected so far."""
        if self.faults is None:
            return json_response(200, {"profile": None, "injected": {}})
        return json_response(200, self.faults.snapshot())

    async def get_flags(self, request: web.Request) -> web.Response:
        """`GET /_local/flags`: the feature flags document served now."""
        assert self.flags is not None
        current = self.flags.current
        return web.Response(
            status=200,
            body=current.content,
            content_type="application/json",
            headers={"X-Parley-Flags-Version": str(current.number)},
        )

    async def put_flags(self, request: web.Request) -> web.Response:
        """`PUT /_local/flags`: serve a new document (400 and the reason if it is not one);
        functions see it once their Powertools cache expires."""
        assert self.flags is not None
        try:
            document = parse_flags(await request.read(), "PUT /_local/flags")
        except FlagsError as exc:
            self.sink.warning("flags", str(exc))
            return message_response(400, str(exc))
        version = self.flags.replace(document, "PUT /_local/flags")
        names = ", ".join(sorted(document)) or "none"
        self.sink.info("flags", f"version {version.number} from PUT /_local/flags (flags: {names})")
        return web.Response(
            status=200,
            body=version.content,
            content_type="application/json",
            headers={"X-Parley-Flags-Version": str(version.number)},
        )

    def _pick(self, method: str, path: str) -> tuple[HttpApiSpec, str, RouteMatch | None] | None:
        """(api, path within its stage, match) for the request, preferring a real match."""
        fallback: tuple[HttpApiSpec, str, RouteMatch | None] | None = None
        for api in self.apis:
            inner = path
            if api.stage != "$default":
                prefix = f"/{api.stage}"
                if path != prefix and not path.startswith(prefix + "/"):
                    continue
                inner = path[len(prefix) :] or "/"
            found = match_route(api.routes, method, inner)
            if found is not None and found.route.path != "$default":
                return api, inner, found
            if fallback is None or (fallback[2] is None and found is not None):
                fallback = (api, inner, found)
        return fallback

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request to any of the APIs."""

        def on_bug(exc: Exception) -> web.StreamResponse:
            # A gateway bug: answer like API Gateway, and say why.
            self.sink.error("http", f"gateway error on {request.method} {request.rel_url}: {exc!r}")
            return _message(500, "Internal Server Error", ids.gateway_id())

        return await answer_or(self._handle, request, on_bug)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        request_id = ids.gateway_id()
        started = time.monotonic()
        raw_path, _, raw_query = request.raw_path.partition("?")
        method = request.method.upper()
        picked = self._pick(method, raw_path)
        if picked is None:
            return self._log(request, _message(404, "Not Found", request_id), started)
        api, _, found = picked
        origin = request.headers.get("Origin")
        if api.cors is not None and is_preflight(method, request.headers):
            allowed = preflight_headers(api.cors, request.headers)
            response = web.Response(status=204, headers={"apigw-requestid": request_id, **allowed})
            return self._log(request, response, started, "CORS preflight")
        if found is None:
            return self._log(request, _message(404, "Not Found", request_id), started)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._log(
                request, _message(413, "Request Entity Too Large", request_id), started
            )
        info = HttpRequestInfo(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            query=list(request.query.items()),
            headers=list(request.headers.items()),
            body=body,
            source_ip=request.remote or "127.0.0.1",
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
            port=self.port,
        )
        route = found.route
        event = http_v2_event(
            info,
            route_key=route.route_key,
            path_parameters=found.path_parameters,
            api_id=api.id,
            stage=api.stage,
            account_id=self.account_id,
            request_id=request_id,
        )
        runtime = self.runtimes[route.function]
        try:
            result = await asyncio.wait_for(runtime.ainvoke(event), route.timeout_ms / 1000)
        except TimeoutError:
            response = _message(503, "Service Unavailable", request_id)
            return self._log(request, response, started, f"{route.function} integration timeout")
        if not result.ok:
            response = _message(500, "Internal Server Error", request_id)
            return self._log(request, response, started, f"{route.function} {result.error_type}")
        try:
            reply = http_v2_response(result.payload)
        except MalformedResponse as exc:
            self.sink.error("http", f"{route.function} returned a malformed response: {exc}")
            response = _message(500, "Internal Server Error", request_id)
            return self._log(request, response, started, route.function)
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in reply.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            if api.cors is not None and lower in CORS_RESPONSE_HEADERS:
                continue  # API Gateway replaces the backend's CORS headers with its own
            headers.add(name, value)
        if api.cors is not None:
            for name, value in cors_headers(api.cors, origin).items():
                headers[name] = value
        headers["apigw-requestid"] = request_id
        response = web.Response(status=reply.status, body=reply.body, headers=headers)
        cold = " cold" if result.cold_start else ""
        return self._log(request, response, started, f"{route.function}{cold}")

    def _log(
        self, request: web.Request, response: web.Response, started: float, note: str = ""
    ) -> web.Response:
        took = int((time.monotonic() - started) * 1000)
        text = f"{request.method} {request.rel_url} {response.status} ({took} ms)"
        if note:
            text += f" {note}"
        self.sink.info("http", text)
        return response
