"""Connection limits (idle, maximum age), shutdown, code reload, and the command line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from parley_local import LocalCloud

from tests.integration.localcloud.helpers import (
    FIXTURE,
    TEMPLATE,
    make_cloud,
    pid_alive,
    recorded_event,
    run,
    stop_and_check,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.timeout(90)

IDLE, MAX_AGE = 1.0, 3.0


@pytest.fixture(scope="module")
def short_cloud() -> Iterator[LocalCloud]:
    instance = make_cloud(idle_timeout=IDLE, max_connection_age=MAX_AGE).start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


async def open_ws(cloud: LocalCloud) -> tuple[websockets.ClientConnection, str]:
    ws = await websockets.connect(ws_url(cloud), ping_interval=None)
    await ws.send(json.dumps({"action": "echo"}))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
    return ws, str(answer["event"]["requestContext"]["connectionId"])


def test_an_idle_connection_is_closed(short_cloud: LocalCloud) -> None:
    async def scenario() -> tuple[float, int | None, str]:
        ws, conn_id = await open_ws(short_cloud)
        started = time.monotonic()
        # WHEN the client stays silent past the idle timeout
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        rcvd = closed.value.rcvd
        return time.monotonic() - started, rcvd.code if rcvd else None, conn_id

    waited, code, conn_id = run(scenario())
    # THEN the gateway closes it (1001 Going away) and $disconnect runs
    assert code == 1001
    assert IDLE * 0.8 <= waited < IDLE + 5
    event = wait_until(lambda: recorded_event(short_cloud, "disconnect", conn_id))
    assert event["requestContext"]["disconnectStatusCode"] == 1001


def test_activity_keeps_a_connection_open_until_its_maximum_age(short_cloud: LocalCloud) -> None:
    async def scenario() -> tuple[float, int | None]:
        ws, _ = await open_ws(short_cloud)
        opened = time.monotonic()
        # WHEN the client keeps talking more often than the idle timeout
        try:
            while time.monotonic() - opened < MAX_AGE + 6:
                await ws.send(json.dumps({"action": "silent"}))
                await asyncio.sleep(IDLE / 3)
        except websockets.ConnectionClosed as exc:
            return time.monotonic() - opened, exc.rcvd.code if exc.rcvd else None
        return time.monotonic() - opened, None

    lived, code = run(scenario())
    # THEN it lives past the idle timeout, and is closed at its maximum age
    assert code == 1001
    assert MAX_AGE * 0.8 <= lived < MAX_AGE + 5


def test_stopping_the_cloud_closes_sockets_and_runs_disconnect(short_cloud: LocalCloud) -> None:
    async def scenario() -> tuple[int | None, str]:
        ws, conn_id = await open_ws(short_cloud)
        loop = asyncio.get_running_loop()
        # WHEN the cloud stops while the socket is open
        stopping = loop.run_in_executor(None, stop_and_check, short_cloud)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 20)
        await stopping
        rcvd = closed.value.rcvd
        return rcvd.code if rcvd else None, conn_id

    code, conn_id = run(scenario())
    # THEN the client is told the server is going away, and $disconnect ran first
    assert code == 1001
    lines = short_cloud.log_lines()
    assert any(f"DISCONNECT {conn_id} code=1001" in line for line in lines)
    assert not any(f"$disconnect {conn_id} failed" in line for line in lines)
    assert not short_cloud.running


@pytest.fixture(scope="module")
def mini_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The minimal template, copied where its code may be edited."""
    folder = tmp_path_factory.mktemp("mini")
    shutil.copytree(FIXTURE / "mini", folder, dirs_exist_ok=True)
    instance = make_cloud(folder / "template.yaml").start()
    try:
        yield instance
    finally:
        stop_and_check(instance)


def test_frames_without_a_route_get_forbidden(mini_cloud: LocalCloud) -> None:
    async def scenario() -> tuple[str, dict[str, str]]:
        # GIVEN an API with no authorizer, no $connect and no $default route
        async with websockets.connect(f"{mini_cloud.ws_url}/dev") as ws:
            await ws.send(json.dumps({"action": "hello"}))
            hello = await asyncio.wait_for(ws.recv(), 15)
            # WHEN a frame matches no route
            await ws.send(json.dumps({"action": "other"}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 15))
            return str(hello), refused

    hello, refused = run(scenario())
    # THEN known routes work and the others get API Gateway's Forbidden error frame
    assert hello == "one"
    assert refused["message"] == "Forbidden"
    assert set(refused) == {"message", "connectionId", "requestId"}


def test_changed_code_is_picked_up_by_fresh_workers(mini_cloud: LocalCloud) -> None:
    # GIVEN a warm worker running the handler as first written
    code = mini_cloud.functions["Fn"].spec.code_dir / "app.py"
    assert mini_cloud.invoke("Fn", {}).payload["body"] == "one"
    # WHEN the code changes on disk
    code.write_text(code.read_text().replace('"one"', '"two"'))
    # THEN the next calls run the new code
    wait_until(
        lambda: mini_cloud.invoke("Fn", {}).payload["body"] == "two", timeout=10, interval=0.3
    )
    mini_cloud.wait_for_log("code changed; fresh workers for Fn")


def test_ssm_parameters_are_created(mini_cloud: LocalCloud) -> None:
    parameter = mini_cloud.client("ssm").get_parameter(Name="/app/mode")["Parameter"]
    assert parameter["Value"] == "local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def test_the_command_line_runs_in_the_foreground_and_stops_on_ctrl_c() -> None:
    # GIVEN ports chosen through the environment variables
    http_port, ws_port = free_port(), free_port()
    env = {**os.environ, "PARLEY_HTTP_PORT": str(http_port), "PARLEY_WS_PORT": str(ws_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "parley_local", "--template", str(TEMPLATE), "--no-color"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    try:
        # WHEN it has started
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "parley-local exited early:\n" + "".join(lines)
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        banner = "".join(lines)
        # THEN it prints the URLs and how to try it
        assert f"http://127.0.0.1:{http_port}" in banner
        assert f"ws://127.0.0.1:{ws_port}" in banner
        assert "parley register alice" in banner
        assert f"curl http://127.0.0.1:{http_port}/health" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=30) as reply:
            assert json.loads(reply.read()) == {"status": "ok"}
        children = children_of(process.pid)
        assert children  # moto and the warm HealthFunction worker
        # WHEN it gets Ctrl-C
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # THEN it stops cleanly and leaves no process behind
    assert process.returncode == 0, output
    assert re.search(r"GET /health 200", banner + output)
    wait_until(lambda: not any(pid_alive(pid) for pid in children), timeout=10)


def test_the_command_line_reports_template_errors(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: !Ref Nope}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "parley_local",
            "-t",
            str(template),
            "--http-port",
            "0",
            "--ws-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Resources.Q.Properties.QueueName" in result.stderr
    assert "'Nope'" in result.stderr


def test_banner_names_the_urls_and_how_to_try_it(cloud: LocalCloud) -> None:
    from parley_local.cli import banner

    text = banner(cloud)
    assert f"HTTP API    {cloud.http_url}" in text
    assert f"WebSocket   {cloud.ws_url}" in text
    assert f"{cloud.ws_url}/test" in text
    assert cloud.aws_endpoint_url in text
    # not the default ports: the parley CLI is told where to go
    assert f"export PARLEY_HTTP_URL={cloud.http_url} PARLEY_WS_URL={cloud.ws_url}" in text
    assert "1 SQS event source;" in text
    assert "parley chat bob" in text


def test_main_reports_a_template_error_and_a_busy_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from parley_local.__main__ import main

    # GIVEN a template naming a missing resource THEN main answers 2, naming the place
    bad = tmp_path / "template.yaml"
    bad.write_text("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref X}}\n")
    assert main(["-t", str(bad), "--http-port", "0", "--ws-port", "0"]) == 2
    assert "Resources.Q.Properties.QueueName" in capsys.readouterr().err
    # GIVEN a port already taken THEN main answers 2 and says how to choose another
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["-t", str(TEMPLATE), "--http-port", str(port), "--ws-port", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err
    assert "PARLEY_HTTP_PORT" in err
    # AND a missing template is reported the same way
    assert main(["-t", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read template" in capsys.readouterr().err


def test_bad_environment_ports_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley_local.cli import main

    monkeypatch.setenv("PARLEY_HTTP_PORT", "eighty")
    with pytest.raises(SystemExit, match="PARLEY_HTTP_PORT"):
        main(["-t", str(TEMPLATE)])


def test_a_template_without_apis_still_answers_on_both_ports(tmp_path: Path) -> None:
    # GIVEN a template with one function and no API at all
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.13}\n"
    )
    cloud = make_cloud(tmp_path / "template.yaml").start()
    try:
        # THEN both ports answer 404 rather than hang, and the function still runs
        for url in (cloud.http_url, cloud.ws_url.replace("ws://", "http://")):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(url + "/anything", timeout=10)  # noqa: S310
            assert error.value.code == 404
        assert cloud.invoke("Fn", {}).payload == 1
    finally:
        stop_and_check(cloud)
