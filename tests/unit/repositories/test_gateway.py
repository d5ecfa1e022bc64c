"""ConnectionGateway against a stubbed management API: 410, throttling and failures."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from parley.repositories.gateway import ConnectionGateway, PostResult

from tests.unit.repositories.conftest import Stubbed


def gateway(apigw: Stubbed) -> ConnectionGateway:
    return ConnectionGateway("https://abc.execute-api.us-east-1.amazonaws.com/v1", apigw.client)


def test_post_delivers(apigw: Stubbed) -> None:
    # GIVEN a live connection
    # WHEN a frame is posted
    # THEN the result is DELIVERED and the exact bytes were sent to that connection
    apigw.stub.add_response(
        "post_to_connection", {}, {"ConnectionId": "conn-1", "Data": b'{"type":"pong"}'}
    )
    assert gateway(apigw).post("conn-1", b'{"type":"pong"}') is PostResult.DELIVERED


def test_post_to_gone_connection_is_gone(apigw: Stubbed) -> None:
    # GIVEN a connection that no longer exists (410 GoneException)
    # WHEN a frame is posted
    # THEN the result is GONE, no exception
    apigw.stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
    assert gateway(apigw).post("conn-1", b"x") is PostResult.GONE


@pytest.mark.parametrize(
    "code", ["LimitExceededException", "ThrottlingException", "TooManyRequestsException"]
)
def test_post_throttled(apigw: Stubbed, code: str) -> None:
    # GIVEN the management API throttling
    # WHEN a frame is posted
    # THEN the result is THROTTLED
    apigw.stub.add_client_error("post_to_connection", code, http_status_code=429)
    assert gateway(apigw).post("conn-1", b"x") is PostResult.THROTTLED


@pytest.mark.parametrize(
    ("code", "status"),
    [("ForbiddenException", 403), ("PayloadTooLargeException", 413), ("InternalFailure", 500)],
)
def test_post_other_client_errors_fail(apigw: Stubbed, code: str, status: int) -> None:
    # GIVEN any other service error
    # WHEN a frame is posted
    # THEN the result is FAILED, no exception
    apigw.stub.add_client_error("post_to_connection", code, http_status_code=status)
    assert gateway(apigw).post("conn-1", b"x") is PostResult.FAILED


class _Broken:
    """A client whose calls fail below the service (timeouts, connection errors)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def post_to_connection(self, **kwargs: Any) -> None:
        raise self.exc

    def delete_connection(self, **kwargs: Any) -> None:
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://x"),
        ReadTimeoutError(endpoint_url="https://x"),
    ],
)
def test_post_botocore_errors_fail(exc: Exception) -> None:
    # GIVEN a connection error or a timeout
    # WHEN a frame is posted
    # THEN the result is FAILED, no exception
    assert ConnectionGateway("https://x", _Broken(exc)).post("c", b"x") is PostResult.FAILED


def test_close_live_connection(apigw: Stubbed) -> None:
    # GIVEN a live connection
    # WHEN it is closed
    # THEN the answer is True and that connection was deleted
    apigw.stub.add_response("delete_connection", {}, {"ConnectionId": "conn-1"})
    assert gateway(apigw).close("conn-1") is True


def test_close_gone_connection_is_false(apigw: Stubbed) -> None:
    # GIVEN a connection already gone
    # WHEN it is closed
    # THEN the answer is False, no exception
    apigw.stub.add_client_error("delete_connection", "GoneException", http_status_code=410)
    assert gateway(apigw).close("conn-1") is False


def test_close_other_errors_raise(apigw: Stubbed) -> None:
    # GIVEN the management API failing otherwise
    # WHEN a connection is closed
    # THEN the error propagates
    from botocore.exceptions import ClientError

    apigw.stub.add_client_error("delete_connection", "ForbiddenException", http_status_code=403)
    with pytest.raises(ClientError):
        gateway(apigw).close("conn-1")
