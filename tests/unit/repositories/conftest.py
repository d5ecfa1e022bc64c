"""Real botocore clients with a Stubber: no network, exact control over AWS answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber


class Stubbed:
    """A client, its stubber, and every request's parameters as the client built them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.stub = Stubber(client)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.requests.append((model.name, params))

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == operation]


def _stubbed(service: str, **kwargs: Any) -> Iterator[Stubbed]:
    client = boto3.client(service, region_name="us-east-1", **kwargs)
    stubbed = Stubbed(client)
    with stubbed.stub:
        yield stubbed
        stubbed.stub.assert_no_pending_responses()


@pytest.fixture
def dynamodb() -> Iterator[Stubbed]:
    yield from _stubbed("dynamodb")


@pytest.fixture
def sqs() -> Iterator[Stubbed]:
    yield from _stubbed("sqs")


@pytest.fixture
def apigw() -> Iterator[Stubbed]:
    yield from _stubbed(
        "apigatewaymanagementapi", endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/v1"
    )


def cancelled(dynamodb: Stubbed, *reasons: str) -> None:
    """The next TransactWriteItems is cancelled with these reasons, one per item."""
    dynamodb.stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        response_meta={},
        modeled_fields={"CancellationReasons": [{"Code": r} for r in reasons]},
    )
