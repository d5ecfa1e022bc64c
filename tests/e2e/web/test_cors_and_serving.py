"""Protocol 1.1 section 14 without a browser: the template's CORS, the local gateway's
preflights, and what the web server serves."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from parley_local import LocalCloud
from parley_local.web_server import WebServer, origins
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.e2e.helpers import make_cloud, stop_and_check

ROOT = Path(__file__).resolve().parents[3]


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    """(status, headers with lower-case names, body) of one plain HTTP request."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        connection.request(method, parts.path or "/", headers=headers or {})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def run_apart(scenario: Any) -> None:
    """asyncio.run(scenario) on a thread of its own: the browser tests' Playwright holds
    this thread's event loop while their package fixture lives."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(scenario)
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if failure:
        raise failure[0]


def preflight(cloud: LocalCloud, origin: str | None) -> Any:
    headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    if origin is not None:
        headers["Origin"] = origin
    return fetch(f"{cloud.http_url}/auth/login", "OPTIONS", headers)


class _NoManagedPolicies:
    """The translator's managed-policy lookup, offline (policies are given as ARNs)."""

    def load(self) -> dict[str, str]:
        return {}


def _http_api_cors(origins: list[str]) -> Any:
    """The HTTP API's `x-amazon-apigateway-cors` after SAM's transform, given AllowedOrigins
    as CloudFormation hands a CommaDelimitedList to the transform (a list)."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://parley-artifacts/" + props[key].strip("/")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        translated = transform(template, {"AllowedOrigins": origins}, _NoManagedPolicies())
    return translated["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]


def test_the_template_allows_only_the_allowed_origins() -> None:
    # GIVEN the template as written
    template = yaml_parse((ROOT / "template.yaml").read_text())
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    # THEN CORS exists only when AllowedOrigins is not empty, and allows exactly those
    condition, allowed, otherwise = cors["Fn::If"]
    assert (condition, otherwise) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})
    assert allowed["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert template["Parameters"]["AllowedOrigins"]["Type"] == "CommaDelimitedList"
    assert template["Conditions"]["HasAllowedOrigins"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "AllowedOrigins"}]}, ""]}]
    }
    # AND a browser may send the token and JSON with every method the API has
    assert set(allowed["AllowHeaders"]) == {"authorization", "content-type"}
    assert {"GET", "POST", "PATCH", "DELETE"} <= set(allowed["AllowMethods"])


def test_sam_turns_it_into_the_api_cors_of_exactly_those_origins() -> None:
    # WHEN SAM transforms the template with two origins
    web = ["https://chat.example.com", "https://www.example.com"]
    cors = _http_api_cors(web)
    # THEN API Gateway gets them as its allowOrigins, under the same condition
    condition, allowed, otherwise = cors["Fn::If"]
    assert (condition, otherwise) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})
    assert allowed["allowOrigins"] == web
    assert allowed["allowHeaders"] == ["authorization", "content-type"]
    assert allowed["maxAge"] == 600


def test_a_preflight_from_the_web_client_is_allowed(web_cloud: LocalCloud) -> None:
    assert web_cloud.web_port is not None
    for origin in origins(web_cloud.web_port):  # on 127.0.0.1 and on localhost
        # GIVEN a browser preflight from the web client's origin
        status, headers, _ = preflight(web_cloud, origin)
        # THEN the gateway answers it and allows that origin, the method and the header
        assert status == 204
        assert headers["access-control-allow-origin"] == origin
        assert "POST" in headers["access-control-allow-methods"]
        assert "content-type" in headers["access-control-allow-headers"]
    # AND the answer to the real request carries the origin too
    status, headers, _ = fetch(
        f"{web_cloud.http_url}/health", headers={"Origin": origins(web_cloud.web_port)[1]}
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == origins(web_cloud.web_port)[1]


def test_a_preflight_from_another_origin_gets_no_cors_headers(web_cloud: LocalCloud) -> None:
    # GIVEN origins that are not the web client's (another site, another port)
    assert web_cloud.web_port is not None
    for origin in ("https://evil.example.com", f"http://127.0.0.1:{web_cloud.web_port + 1}"):
        # WHEN they send a preflight, and a real request
        _, headers, _ = preflight(web_cloud, origin)
        _, plain, _ = fetch(f"{web_cloud.http_url}/health", headers={"Origin": origin})
        # THEN neither answer allows them: the browser refuses the call
        assert "access-control-allow-origin" not in headers
        assert "access-control-allow-origin" not in plain


def test_an_options_request_without_origin_is_not_a_preflight(web_cloud: LocalCloud) -> None:
    # GIVEN an OPTIONS request with no Origin (not from a browser)
    status, headers, _ = preflight(web_cloud, None)
    # THEN it is routed like any request (no OPTIONS route: 404) and has no CORS headers
    assert status == 404
    assert not any(name.startswith("access-control-") for name in headers)


def test_the_web_server_hands_out_the_api_urls_and_the_sdk(web_cloud: LocalCloud) -> None:
    # WHEN the page asks where the APIs are
    status, headers, body = fetch(f"{web_cloud.web_url}/config.json")
    # THEN it gets this cloud's URLs, never cached
    assert status == 200
    assert json.loads(body) == {"httpUrl": web_cloud.http_url, "wsUrl": web_cloud.ws_url}
    assert headers["cache-control"] == "no-store"
    # AND a path out of the root is not served
    status, _, _ = fetch(f"{web_cloud.web_url}/..%2F..%2Fpyproject.toml")
    assert status == 404
    status, _, _ = fetch(f"{web_cloud.web_url}/config.json", "POST")
    assert status == 405


def test_a_built_client_is_served_with_the_sdk_as_one_module(tmp_path: Path) -> None:
    # GIVEN a built client: its page, a hashed asset and the SDK bundle
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Parley</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("export {};")
    (tmp_path / "parley.js").write_text("export class HttpClient {}")
    outside = tmp_path.parent / "secret.txt"
    outside.write_text("not served")
    server = WebServer(
        tmp_path,
        http_url="http://127.0.0.1:1",
        ws_url="ws://127.0.0.1:2",
        storage_url="http://127.0.0.1:3",
    )

    async def scenario() -> None:
        async with TestClient(TestServer(server.app())) as client:
            # WHEN the browser loads the page, the SDK and an asset
            page = await client.get("/")
            sdk = await client.get("/parley.js")
            asset = await client.get("/assets/index-abc.js")
            escape = await client.get("/%2E%2E/secret.txt")
            # THEN each comes with its type; only hashed assets are cached for good
            assert page.status == 200 and "Parley" in await page.text()
            # (the APIs, and storage for uploads and image previews: nothing else)
            csp = page.headers["Content-Security-Policy"]
            assert (
                "connect-src 'self' http://127.0.0.1:1 ws://127.0.0.1:2 http://127.0.0.1:3;" in csp
            )
            assert "img-src 'self' data: blob: http://127.0.0.1:3;" in csp
            assert sdk.status == 200
            assert sdk.headers["Content-Type"].startswith("text/javascript")
            assert sdk.headers["Cache-Control"] == "no-cache"
            assert asset.headers["Cache-Control"].endswith("immutable")
            # AND nothing outside the root is served
            assert escape.status == 404

    run_apart(scenario())


def test_an_unbuilt_client_says_how_to_build_it(tmp_path: Path) -> None:
    # GIVEN no build (no Node on this machine)
    server = WebServer(tmp_path / "dist", http_url="http://127.0.0.1:1", ws_url="ws://x:2")

    async def scenario() -> None:
        async with TestClient(TestServer(server.app())) as client:
            # WHEN the page or the SDK is asked for
            page = await client.get("/")
            sdk = await client.get("/parley.js")
            # THEN the page says how to build it, and the SDK is not found
            assert page.status == 503
            assert "make web" in await page.text()
            assert sdk.status == 404

    assert not server.built
    run_apart(scenario())


def test_a_taken_web_port_leaves_the_apis_running_without_the_client() -> None:
    # GIVEN the web port is taken by another program
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cloud = make_cloud(web_port=taken.getsockname()[1])
        # WHEN the cloud starts
        cloud.start()
        try:
            # THEN the APIs run, the web client is not served and the log says why
            assert cloud.web_url is None
            cloud.wait_for_log("the web client is not served")
            status, _, body = fetch(f"{cloud.http_url}/health")
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            # AND no origin is allowed (AllowedOrigins keeps its empty default)
            _, headers, _ = preflight(cloud, f"http://127.0.0.1:{taken.getsockname()[1]}")
            assert "access-control-allow-origin" not in headers
        finally:
            stop_and_check(cloud)


def test_the_banner_and_the_command_line_name_the_web_client(web_cloud: LocalCloud) -> None:
    from parley_local.cli import DEFAULT_WEB_PORT, banner, build_parser

    # GIVEN a cloud serving the web client WHEN the banner is printed THEN it names its URL
    text = banner(web_cloud)
    assert f"Web client  {web_cloud.web_url}   (the SDK at {web_cloud.web_url}/parley.js)" in text
    assert f"open {web_cloud.web_url} in a browser" in text
    # AND the command line takes a web port, or none at all
    assert build_parser().parse_args(["--web-port", "4000"]).web_port == 4000
    assert build_parser().parse_args(["--no-web"]).no_web is True
    assert DEFAULT_WEB_PORT == 3002
