"""Event payloads shaped as API Gateway and the SQS event source build them."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from parley_local.events.http_api import (
    HttpRequestInfo,
    MalformedResponse,
    http_v2_event,
    http_v2_response,
    is_text_content,
)
from parley_local.events.sqs import batch_item_failures, sqs_event
from parley_local.events.websocket import (
    WsConnection,
    method_arn,
    ws_authorizer_event,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)

CLF = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")
# requestContext keys of the Powertools sample events (apiGatewayWebSocketApi*.json)
WS_CONTEXT_KEYS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
}


def conn(**extra: Any) -> WsConnection:
    values: dict[str, Any] = {
        "connection_id": "ZfJ0NdQxIAMCEsQ=",
        "api_id": "abcdef1234",
        "stage": "v1",
        "domain_name": "127.0.0.1:3001",
        "source_ip": "127.0.0.1",
        "user_agent": "tests/1.0",
        "connected_at": 1_700_000_000_000,
        "headers": [("Host", "127.0.0.1:3001"), ("Sec-WebSocket-Version", "13")],
        "query": [("token", "t1"), ("tag", "a"), ("tag", "b")],
        "port": 3001,
    }
    values.update(extra)
    return WsConnection(**values)


def test_connect_event_has_api_gateway_shape() -> None:
    # GIVEN an authorised connection
    c = conn(authorizer={"principalId": "alice", "integrationLatency": 3, "userId": "alice"})
    # WHEN its $connect event is built
    event = ws_connect_event(c)
    ctx = event["requestContext"]
    # THEN it has the keys and values of API Gateway's CONNECT event
    assert set(event) == {
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
        "isBase64Encoded",
    }
    assert WS_CONTEXT_KEYS | {"authorizer"} == set(ctx)
    assert ctx["routeKey"] == "$connect"
    assert ctx["eventType"] == "CONNECT"
    assert ctx["messageDirection"] == "IN"
    assert CLF.match(ctx["requestTime"])
    assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tests/1.0"}
    assert ctx["authorizer"]["principalId"] == "alice"
    assert event["queryStringParameters"] == {"token": "t1", "tag": "b"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["headers"]["Host"] == "127.0.0.1:3001"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
    assert event["isBase64Encoded"] is False


def test_connect_without_query_has_no_query_maps() -> None:
    event = ws_connect_event(conn(query=[]))
    assert "queryStringParameters" not in event
    assert "authorizer" not in event["requestContext"]


def test_message_event() -> None:
    event = ws_message_event(conn(authorizer={"principalId": "p"}), "send", '{"action":"send"}')
    ctx = event["requestContext"]
    assert WS_CONTEXT_KEYS | {"messageId", "authorizer"} == set(ctx)
    assert ctx["eventType"] == "MESSAGE"
    assert ctx["routeKey"] == "send"
    assert ctx["identity"] == {"sourceIp": "127.0.0.1"}
    assert event["body"] == '{"action":"send"}'
    assert event["isBase64Encoded"] is False
    binary = ws_message_event(conn(), "$default", b"\x00\x01")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\x01"


def test_disconnect_event() -> None:
    event = ws_disconnect_event(conn(), 1001, "Going away")
    ctx = event["requestContext"]
    assert WS_CONTEXT_KEYS | {"disconnectStatusCode", "disconnectReason"} == set(ctx)
    assert ctx["eventType"] == "DISCONNECT"
    assert ctx["routeKey"] == "$disconnect"
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1001, "Going away")
    assert set(event["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}


def test_authorizer_event() -> None:
    c = conn(authorizer={"principalId": "leftover"})
    arn = method_arn("us-east-1", "123456789012", c, "$connect")
    event = ws_authorizer_event(c, arn)
    assert arn == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/$connect"
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == arn
    assert event["stageVariables"] == {}
    assert event["queryStringParameters"]["token"] == "t1"
    assert "authorizer" not in event["requestContext"]


def request(**extra: Any) -> HttpRequestInfo:
    values: dict[str, Any] = {
        "method": "post",
        "raw_path": "/items/a%20b",
        "raw_query": "x=1&x=2&y=z",
        "query": [("x", "1"), ("x", "2"), ("y", "z")],
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
            ("Cookie", "s=1; t=2"),
            ("User-Agent", "curl/8"),
        ],
        "body": b'{"k": 1}',
        "source_ip": "127.0.0.1",
    }
    values.update(extra)
    return HttpRequestInfo(**values)


def test_http_v2_event_shape() -> None:
    # WHEN a request becomes a 2.0 event
    event = http_v2_event(
        request(),
        route_key="POST /items/{id}",
        path_parameters={"id": "a b"},
        api_id="api1234567",
        stage="$default",
        account_id="123456789012",
        request_id="rid",
        now_ms=1_583_348_638_390,
    )
    # THEN it is what an HTTP API sends
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "x=1&x=2&y=z"
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "a,b"
    assert event["headers"]["content-type"] == "application/json"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "z"}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx == {
        "accountId": "123456789012",
        "apiId": "api1234567",
        "domainName": "127.0.0.1:3000",
        "domainPrefix": "127",
        "http": {
            "method": "POST",
            "path": "/items/a%20b",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "curl/8",
        },
        "requestId": "rid",
        "routeKey": "POST /items/{id}",
        "stage": "$default",
        "time": "04/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1_583_348_638_390,
    }


def test_http_v2_event_without_body_query_or_params() -> None:
    event = http_v2_event(
        request(raw_query="", query=[], body=b"", headers=[("Host", "h")]),
        route_key="$default",
        path_parameters={},
        api_id="a",
        stage="$default",
        account_id="1",
    )
    for absent in ("body", "queryStringParameters", "pathParameters", "cookies"):
        assert absent not in event
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/vnd.api+json", True),
        ("application/xml", True),
        ("application/x-www-form-urlencoded", False),  # HTTP APIs base64 form posts
        ("application/octet-stream", False),
        (None, False),
    ],
)
def test_which_bodies_are_base64(content_type: str | None, text: bool) -> None:
    assert is_text_content(content_type) is text
    headers = [("Content-Type", content_type)] if content_type else []
    event = http_v2_event(
        request(headers=headers, body=b"a=1"),
        route_key="$default",
        path_parameters={},
        api_id="a",
        stage="$default",
        account_id="1",
    )
    assert event["isBase64Encoded"] is (not text)
    assert event["body"] == ("a=1" if text else base64.b64encode(b"a=1").decode())


def test_response_with_status_code_passes_through() -> None:
    reply = http_v2_response(
        {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-n": 5},
            "multiValueHeaders": {"x-m": ["1", "2"]},
            "cookies": ["a=1", "b=2"],
            "body": '{"ok": true}',
        }
    )
    assert reply.status == 201
    assert ("x-n", "5") in reply.headers
    assert [v for k, v in reply.headers if k == "x-m"] == ["1", "2"]
    assert [v for k, v in reply.headers if k == "set-cookie"] == ["a=1", "b=2"]
    assert reply.body == b'{"ok": true}'


def test_inferred_responses() -> None:
    # GIVEN answers without statusCode THEN they are 200 application/json
    as_dict = http_v2_response({"hello": "world"})
    assert (as_dict.status, as_dict.body) == (200, b'{"hello": "world"}')
    assert ("content-type", "application/json") in as_dict.headers
    assert http_v2_response("plain").body == b"plain"
    assert http_v2_response(None).body == b"null"


def test_base64_response_body_is_decoded() -> None:
    reply = http_v2_response({"statusCode": 200, "body": "AAEC", "isBase64Encoded": True})
    assert reply.body == b"\x00\x01\x02"
    assert http_v2_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    "payload",
    [
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"statusCode": 200, "body": {"not": "string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": ["list"]}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_responses_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        http_v2_response(payload)


def test_sqs_event_shape() -> None:
    # GIVEN a message as ReceiveMessage returns it
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": "hello",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"StringValue": "push", "DataType": "String"},
            "blob": {"BinaryValue": b"\x01", "DataType": "Binary"},
        },
    }
    # WHEN the event is built
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    record = event["Records"][0]
    # THEN it is Lambda's SQS record
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "push",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "AQ==",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # not in the batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "b"}, None),
        ("not a dict", set()),
    ],
)
def test_batch_item_failures(payload: Any, expected: set[str] | None) -> None:
    assert batch_item_failures(payload, ["a", "b"]) == expected
