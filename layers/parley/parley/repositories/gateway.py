"""The `@connections` management API: post to, and close, live WebSocket connections."""

from __future__ import annotations

from typing import Any

from parley.ports import PostResult
from parley.repositories.base import AwsClient, error_code

__all__ = ["ConnectionGateway", "PostResult"]

_THROTTLED = {"LimitExceededException", "ThrottlingException", "TooManyRequestsException"}


class ConnectionGateway(AwsClient):
    """Posts frames through API Gateway's management API (endpoint built in one place)."""

    service = "apigatewaymanagementapi"

    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        super().__init__(client, endpoint_url=endpoint_url)

    def post(self, connection_id: str, data: bytes) -> PostResult:
        """Send one frame; never raises for delivery failures (the caller decides retries)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            code = error_code(exc)
            if code == "GoneException":
                return PostResult.GONE
            if code in _THROTTLED:
                return PostResult.THROTTLED
            return PostResult.FAILED
        except BotoCoreError:
            return PostResult.FAILED
        return PostResult.DELIVERED

    def close(self, connection_id: str) -> bool:
        """Close a connection (API Gateway then runs $disconnect); False if already gone."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if error_code(exc) == "GoneException":
                return False
            raise
        return True
