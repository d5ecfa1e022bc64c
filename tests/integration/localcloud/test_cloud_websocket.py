"""The WebSocket API through real sockets: handshake, authorizer, routes, limits, $disconnect."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import websockets
from parley_local import LocalCloud
from websockets.asyncio.client import ClientConnection

from tests.integration.localcloud.helpers import (
    STAGE,
    recorded_event,
    run,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.timeout(60)

CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{11}=$")


async def echo(ws: ClientConnection, payload: Any) -> dict[str, Any]:
    """Send a frame to the echo route and return what the function saw."""
    await ws.send(payload if isinstance(payload, str | bytes) else json.dumps(payload))
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
    return answer


async def connection_id(ws: ClientConnection) -> str:
    answer = await echo(ws, {"action": "echo"})
    return str(answer["event"]["requestContext"]["connectionId"])


def handshake_status(cloud: LocalCloud, url: str) -> int:
    async def attempt() -> int:
        try:
            async with websockets.connect(url, open_timeout=15):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    return run(attempt())


def test_connect_runs_the_authorizer_then_connect_with_api_gateway_events(
    cloud: LocalCloud,
) -> None:
    async def scenario() -> str:
        # GIVEN a client with a token the authorizer allows
        async with websockets.connect(
            ws_url(cloud, "allow-alice") + "&extra=1", user_agent_header="tests/1.0"
        ) as ws:
            # WHEN it is connected THEN the socket works
            return await connection_id(ws)

    conn_id = run(scenario())
    assert CONNECTION_ID.match(conn_id)
    # AND $connect got API Gateway's CONNECT event, with the authorizer's output
    event = wait_until(lambda: recorded_event(cloud, "connect", conn_id))
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "$connect"
    assert ctx["eventType"] == "CONNECT"
    assert ctx["connectionId"] == conn_id
    assert ctx["stage"] == STAGE
    assert ctx["apiId"] == cloud.ref("WebSocketApi")
    assert ctx["domainName"] == f"127.0.0.1:{cloud.ws_port}"
    assert ctx["messageDirection"] == "IN"
    assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tests/1.0"}
    assert isinstance(ctx["connectedAt"], int)
    assert isinstance(ctx["requestTimeEpoch"], int)
    authorizer = ctx["authorizer"]
    assert authorizer["principalId"] == "alice"
    assert authorizer["userId"] == "alice"
    assert authorizer["admin"] is False
    assert authorizer["level"] == 3
    assert isinstance(authorizer["integrationLatency"], int)
    assert event["queryStringParameters"] == {"token": "allow-alice", "extra": "1"}
    assert event["multiValueQueryStringParameters"]["extra"] == ["1"]
    assert event["headers"]["Host"] == f"127.0.0.1:{cloud.ws_port}"
    assert event["multiValueHeaders"]["User-Agent"] == ["tests/1.0"]
    assert event["isBase64Encoded"] is False


def test_messages_follow_the_route_selection_expression(cloud: LocalCloud) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(ws_url(cloud, "allow-bob")) as ws:
            return [
                await echo(ws, {"action": "echo", "n": 1}),
                await echo(ws, {"action": "unknown"}),
                await echo(ws, "not json at all"),
                await echo(ws, ["a", "list"]),
            ]

    named, unknown, not_json, a_list = run(scenario())
    # THEN a known action goes to its route, anything else to $default
    assert named["event"]["requestContext"]["routeKey"] == "echo"
    assert unknown["event"]["requestContext"]["routeKey"] == "$default"
    assert not_json["event"]["requestContext"]["routeKey"] == "$default"
    assert a_list["event"]["requestContext"]["routeKey"] == "$default"
    # AND the MESSAGE event has API Gateway's shape, with the connection's authorizer
    event = named["event"]
    ctx = event["requestContext"]
    assert ctx["eventType"] == "MESSAGE"
    assert CONNECTION_ID.match(ctx["messageId"])
    assert ctx["authorizer"]["principalId"] == "bob"
    assert ctx["identity"] == {"sourceIp": "127.0.0.1"}
    assert json.loads(event["body"]) == {"action": "echo", "n": 1}
    assert event["isBase64Encoded"] is False
    assert not_json["event"]["body"] == "not json at all"


def test_one_way_routes_send_nothing_back(cloud: LocalCloud) -> None:
    async def scenario() -> dict[str, Any]:
        async with websockets.connect(ws_url(cloud)) as ws:
            # WHEN a frame goes to a route without a RouteResponse, then one to echo
            await ws.send(json.dumps({"action": "silent"}))
            # THEN the first frame back is echo's: the silent route's return was dropped
            return await echo(ws, {"action": "echo", "marker": "second"})

    answer = run(scenario())
    assert json.loads(answer["event"]["body"])["marker"] == "second"


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),  # no identity source: the authorizer is not even called
        ("deny", 403),
        ("raise", 401),
        ("string", 401),
        ("noprincipal", 500),
        ("badcontext", 500),
        ("crash-me", 500),
    ],
)
def test_handshake_refusals(cloud: LocalCloud, token: str | None, status: int) -> None:
    # WHEN a client connects with that token THEN the handshake fails with API GW's status
    assert handshake_status(cloud, ws_url(cloud, token)) == status


def test_missing_token_does_not_call_the_authorizer(cloud: LocalCloud) -> None:
    before = len([line for line in cloud.log_lines() if "authorizing token=" in line])
    assert handshake_status(cloud, ws_url(cloud, None)) == 401
    line = cloud.wait_for_log("identity source missing")
    assert "401" in line
    after = len([line for line in cloud.log_lines() if "authorizing token=" in line])
    assert after == before


def test_a_non_2xx_connect_answer_rejects_the_handshake(cloud: LocalCloud) -> None:
    assert handshake_status(cloud, ws_url(cloud) + "&reject=403") == 403
    assert handshake_status(cloud, ws_url(cloud) + "&reject=429") == 429


def test_posting_to_a_connection_inside_its_own_connect_is_gone(cloud: LocalCloud) -> None:
    async def scenario() -> str:
        # WHEN $connect posts to its own connection before it has returned
        async with websockets.connect(ws_url(cloud) + "&selfpost=1") as ws:
            return await connection_id(ws)

    conn_id = run(scenario())

    # THEN the post failed with GoneException (the socket opens after $connect)
    def outcome() -> str | None:
        table = cloud.ref("Table")
        item = cloud.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": f"connect#{conn_id}"}, "sk": {"S": "event"}}
        )
        return item.get("Item", {}).get("selfpost", {}).get("S")

    assert wait_until(outcome) == "GoneException"


def test_a_subprotocol_is_agreed_only_when_connect_answers_it(cloud: LocalCloud) -> None:
    async def scenario(query: str) -> str | None:
        async with websockets.connect(
            ws_url(cloud) + query, subprotocols=[websockets.Subprotocol("chat.v1")]
        ) as ws:
            return ws.subprotocol

    assert run(scenario("&protocol=chat.v1")) == "chat.v1"
    # none agreed: the handshake carries no Sec-WebSocket-Protocol (browsers then refuse)
    assert run(scenario("")) is None


def test_stage_paths(cloud: LocalCloud) -> None:
    # GIVEN the stage in the path, no path at all, or an unknown stage
    assert handshake_status(cloud, ws_url(cloud, path="")) == 101
    assert handshake_status(cloud, ws_url(cloud, path=f"/{STAGE}")) == 101
    assert handshake_status(cloud, ws_url(cloud, path="/nostage")) == 403


def test_a_crashing_handler_answers_internal_server_error(cloud: LocalCloud) -> None:
    async def scenario() -> tuple[dict[str, Any], str]:
        async with websockets.connect(ws_url(cloud)) as ws:
            conn_id = await connection_id(ws)
            await ws.send(json.dumps({"action": "crash"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 15)), conn_id

    frame, conn_id = run(scenario())
    # THEN the client gets API Gateway's error frame
    assert frame["message"] == "Internal server error"
    assert frame["connectionId"] == conn_id
    assert CONNECTION_ID.match(frame["requestId"])
    # AND the traceback is in the log, under the function's name
    line = cloud.wait_for_log("ValueError: boom from crash")
    assert "CrashFunction" in line


def test_a_handler_over_its_timeout_is_killed_and_answers_an_error(cloud: LocalCloud) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with websockets.connect(ws_url(cloud)) as ws:
            await ws.send(json.dumps({"action": "sleep", "seconds": 3}))
            timed_out = json.loads(await asyncio.wait_for(ws.recv(), 15))
            # AND the function works again (a fresh worker) for a quick call
            await ws.send(json.dumps({"action": "sleep", "seconds": 0}))
            quick = json.loads(await asyncio.wait_for(ws.recv(), 15))
            return timed_out, quick

    timed_out, quick = run(scenario())
    assert timed_out["message"] == "Internal server error"
    assert quick == {"slept": 0}
    cloud.wait_for_log("Task timed out after 1.00 seconds")


def test_a_frame_over_32_kb_closes_with_1009(cloud: LocalCloud) -> None:
    async def scenario() -> tuple[int | None, str]:
        async with websockets.connect(ws_url(cloud), max_size=None) as ws:
            conn_id = await connection_id(ws)
            # WHEN one frame carries 32 KB + 1 byte
            await ws.send("x" * (32 * 1024 + 1))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
            rcvd = closed.value.rcvd
            return (rcvd.code if rcvd else None), conn_id

    code, conn_id = run(scenario())
    # THEN the socket is closed with 1009, and $disconnect says so
    assert code == 1009
    event = wait_until(lambda: recorded_event(cloud, "disconnect", conn_id))
    assert event["requestContext"]["disconnectStatusCode"] == 1009


def test_a_fragmented_message_up_to_128_kb_is_passed_on(cloud: LocalCloud) -> None:
    async def scenario() -> dict[str, Any]:
        async with websockets.connect(ws_url(cloud), max_size=None) as ws:
            # WHEN a 100 KB message comes in 4 KB fragments
            body = json.dumps({"action": "echo", "pad": "p" * 100_000})
            await ws.send([body[i : i + 4096] for i in range(0, len(body), 4096)])
            answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            return answer

    answer = run(scenario())
    # THEN the function got it whole
    assert answer["event"]["requestContext"]["routeKey"] == "echo"
    assert len(json.loads(answer["event"]["body"])["pad"]) == 100_000


def test_a_message_over_128_kb_closes_with_1009(cloud: LocalCloud) -> None:
    async def scenario() -> int | None:
        async with websockets.connect(ws_url(cloud), max_size=None) as ws:
            body = "m" * (128 * 1024 + 10)
            await ws.send([body[i : i + 8192] for i in range(0, len(body), 8192)])
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert run(scenario()) == 1009


def test_client_close_runs_disconnect_with_api_gateway_event(cloud: LocalCloud) -> None:
    async def scenario() -> str:
        async with websockets.connect(ws_url(cloud, "allow-carol")) as ws:
            conn_id = await connection_id(ws)
            await ws.close(code=4000, reason="bye now")
            return conn_id

    conn_id = run(scenario())
    event = wait_until(lambda: recorded_event(cloud, "disconnect", conn_id))
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "$disconnect"
    assert ctx["eventType"] == "DISCONNECT"
    assert ctx["disconnectStatusCode"] == 4000
    assert ctx["disconnectReason"] == "bye now"
    assert ctx["authorizer"]["principalId"] == "carol"
    assert set(event["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}


def test_a_dropped_tcp_connection_also_runs_disconnect(cloud: LocalCloud) -> None:
    async def scenario() -> str:
        ws = await websockets.connect(ws_url(cloud))
        conn_id = await connection_id(ws)
        ws.transport.abort()  # no close frame
        return conn_id

    conn_id = run(scenario())
    event = wait_until(lambda: recorded_event(cloud, "disconnect", conn_id))
    assert event["requestContext"]["disconnectStatusCode"] == 1006
