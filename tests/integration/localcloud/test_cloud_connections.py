"""The `@connections` management API, driven by boto3's unchanged apigatewaymanagementapi."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
import websockets
from parley_local import LocalCloud
from websockets.asyncio.client import ClientConnection

from tests.integration.localcloud.helpers import STAGE, recorded_event, run, wait_until, ws_url

pytestmark = pytest.mark.timeout(60)


def management_client(cloud: LocalCloud, stage: str = STAGE) -> Any:
    """What a handler builds: `!GetAtt WebSocketApi.ApiEndpoint` + stage, ws -> http."""
    endpoint = cloud.ws_url.replace("ws://", "http://", 1) + f"/{stage}"
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def open_connection(cloud: LocalCloud, user: str = "dave") -> tuple[ClientConnection, str]:
    ws = await websockets.connect(ws_url(cloud, f"allow-{user}"), user_agent_header="agent/2")
    await ws.send(json.dumps({"action": "echo"}))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
    return ws, str(answer["event"]["requestContext"]["connectionId"])


def test_post_get_and_delete_with_boto3(cloud: LocalCloud) -> None:
    client = management_client(cloud)

    async def scenario() -> dict[str, Any]:
        ws, conn_id = await open_connection(cloud)
        loop = asyncio.get_running_loop()
        # WHEN the server posts text and bytes to the connection
        await loop.run_in_executor(
            None, lambda: client.post_to_connection(ConnectionId=conn_id, Data=b'{"push": 1}')
        )
        text = await asyncio.wait_for(ws.recv(), 15)
        await loop.run_in_executor(
            None, lambda: client.post_to_connection(ConnectionId=conn_id, Data=b"\xff\x00")
        )
        binary = await asyncio.wait_for(ws.recv(), 15)
        # AND asks about it
        info = await loop.run_in_executor(None, lambda: client.get_connection(ConnectionId=conn_id))
        # AND deletes it
        await loop.run_in_executor(None, lambda: client.delete_connection(ConnectionId=conn_id))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 15)
        return {"text": text, "binary": binary, "info": info, "conn_id": conn_id}

    result = run(scenario())
    # THEN the client got both frames, as text and as binary
    assert result["text"] == '{"push": 1}'
    assert result["binary"] == b"\xff\x00"
    # AND GetConnection answered like API Gateway
    info = result["info"]
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/2"}
    assert isinstance(info["ConnectedAt"], dt.datetime)
    assert info["LastActiveAt"] >= info["ConnectedAt"]
    # AND the deleted connection ran $disconnect and is gone (410 -> GoneException)
    conn_id = result["conn_id"]
    wait_until(lambda: recorded_event(cloud, "disconnect", conn_id))
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=conn_id, Data=b"late")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=conn_id)
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId=conn_id)


def test_unknown_connection_is_gone(cloud: LocalCloud) -> None:
    # WHEN a raw POST names no live connection
    request = urllib.request.Request(
        f"http://127.0.0.1:{cloud.ws_port}/{STAGE}/@connections/AAAAAAAAAAA%3D",
        data=b"hello",
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - a local http URL
    # THEN it is API Gateway's 410, with the error type botocore reads
    assert error.value.code == 410
    assert error.value.headers["x-amzn-ErrorType"] == "GoneException"
    assert "message" in json.loads(error.value.read())


def test_management_paths_without_stage_and_with_a_wrong_stage(cloud: LocalCloud) -> None:
    async def scenario() -> tuple[int, int, str]:
        ws, conn_id = await open_connection(cloud, "erin")
        loop = asyncio.get_running_loop()

        def post(path: str) -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{cloud.ws_port}{path}", data=b"direct", method="POST"
            )
            try:
                return int(urllib.request.urlopen(request, timeout=10).status)  # noqa: S310
            except urllib.error.HTTPError as exc:
                return exc.code

        no_stage = await loop.run_in_executor(None, post, f"/@connections/{conn_id}")
        received = await asyncio.wait_for(ws.recv(), 15)
        wrong = await loop.run_in_executor(None, post, f"/prod/@connections/{conn_id}")
        await ws.close()
        return no_stage, wrong, str(received)

    no_stage, wrong, received = run(scenario())
    assert (no_stage, received) == (200, "direct")
    assert wrong == 403


def test_posts_over_128_kb_are_refused(cloud: LocalCloud) -> None:
    client = management_client(cloud)

    async def scenario() -> str:
        ws, conn_id = await open_connection(cloud, "frank")
        loop = asyncio.get_running_loop()

        def post() -> str:
            try:
                client.post_to_connection(ConnectionId=conn_id, Data=b"x" * (128 * 1024 + 1))
            except client.exceptions.PayloadTooLargeException:
                return "PayloadTooLargeException"
            return "accepted"

        outcome = await loop.run_in_executor(None, post)
        await ws.close()
        return outcome

    assert run(scenario()) == "PayloadTooLargeException"


def test_a_handler_uses_the_management_api_unchanged(cloud: LocalCloud) -> None:
    async def scenario() -> tuple[dict[str, Any], str]:
        ws, conn_id = await open_connection(cloud, "gina")
        # WHEN the post route's handler calls get_connection, posts to a gone id, posts
        # back to its caller and deletes the connection
        await ws.send(json.dumps({"action": "post", "text": "from handler", "delete": True}))
        pushed = json.loads(await asyncio.wait_for(ws.recv(), 15))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 15)
        return pushed, conn_id

    pushed, conn_id = run(scenario())
    # THEN every call worked from inside the worker, GoneException included
    assert pushed["posted"] == "from handler"
    assert pushed["gone"] == "GoneException"
    assert pushed["sourceIp"] == "127.0.0.1"
    wait_until(lambda: recorded_event(cloud, "disconnect", conn_id))
