"""The HTTP handlers behind the optional edge (EdgeProtection=on), against moto: a request on
the execute-api URL (no CloudFront secret) is refused, one through CloudFront is served and
counted against its viewer's address, and the secret read is one the role allows (the IAM
audit of every integration test)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from parley.web import EDGE_HEADER, VIEWER_ADDRESS

from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import load

EDGE_SERVER = "130.176.0.10"  # a CloudFront server: API Gateway's sourceIp behind the edge


@pytest.fixture
def edge_secret(app: Harness, reconfigure: Callable[..., None]) -> str:
    """The stack with its edge on: the secret CloudFront sends, as the template makes it."""
    secret = "Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789AbCdEfGhIjKl"
    arn = boto3.client("secretsmanager").create_secret(Name="edge", SecretString=secret)["ARN"]
    reconfigure(PARLEY_EDGE_SECRET_ARN=arn, PARLEY_REGISTRATIONS_PER_HOUR=1)
    return secret


def register(user: str, headers: dict[str, str]) -> tuple[int, Any]:
    event = events.http_event(
        "POST",
        "/auth/register",
        body={"userId": user, "password": "pw-" + user * 3},
        source_ip=EDGE_SERVER,
    )
    event["headers"].update(headers)
    response = load("http_auth").handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def through_edge(secret: str, viewer: str) -> dict[str, str]:
    return {EDGE_HEADER: secret, VIEWER_ADDRESS: f"{viewer}:50123"}


def test_a_request_that_skipped_the_edge_is_refused_and_changes_nothing(edge_secret: str) -> None:
    # GIVEN the edge on; WHEN a client calls the execute-api URL (no or a guessed secret)
    for headers in ({}, {EDGE_HEADER: "guess"}):
        status, body = register("mallory", headers)
        # THEN 403 / 1004, and no account was made
        assert (status, body["code"]) == (403, 1004), body
    status, body = register("mallory", through_edge(edge_secret, "203.0.113.5"))
    assert status == 201, body


def test_through_the_edge_per_address_limits_count_viewers_not_cloudfront(
    edge_secret: str,
) -> None:
    # GIVEN one registration per address per hour, and every request arriving from the same
    # CloudFront server
    # WHEN two viewers register through the edge
    assert register("alice", through_edge(edge_secret, "203.0.113.1"))[0] == 201
    assert register("bob", through_edge(edge_secret, "2001:db8::2"))[0] == 201
    # THEN each had its own budget; a second registration from the first viewer is 429
    status, body = register("carol", through_edge(edge_secret, "203.0.113.1"))
    assert (status, body["code"]) == (429, 1005), body
