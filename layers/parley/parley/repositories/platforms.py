"""FCM and APNs through SNS platform applications (protocol 10).

Registering a token creates a platform endpoint in the platform's application
(`CreatePlatformEndpoint` is idempotent for the same token and attributes); the notifier
publishes platform-specific JSON (`MessageStructure=json`) to it. A disabled endpoint (the
platform told SNS the token is dead) means the device is gone.
"""

from __future__ import annotations

import time
from typing import Any

from parley.errors import InvalidParam, Unavailable
from parley.ports import PublishOutcome
from parley.repositories.base import RETRYABLE, AwsClient, Sleep, error_code

__all__ = ["SnsPlatforms"]

_GONE = {"EndpointDisabled", "EndpointDisabledException", "NotFound", "NotFoundException"}
_RETRY = RETRYABLE | {"Throttled", "Throttling", "InternalError", "KMSThrottling"}


class SnsPlatforms(AwsClient):
    """SNS platform endpoints of the configured applications (`{platform: arn}`)."""

    service = "sns"

    def __init__(
        self,
        applications: dict[str, str],
        client: Any | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(client, sleep=sleep)
        self.applications = applications

    def create_endpoint(self, platform: str, token: str) -> str:
        """The endpoint ARN for `token`: 1001 when SNS refuses the token, 2001 when it fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            created = self.client.create_platform_endpoint(
                PlatformApplicationArn=self.applications[platform], Token=token
            )
        except ClientError as exc:
            if error_code(exc) in {"InvalidParameter", "InvalidParameterException"}:
                raise InvalidParam("token was refused by the platform") from None
            raise Unavailable() from exc
        except BotoCoreError as exc:
            raise Unavailable() from exc
        return str(created["EndpointArn"])

    def delete_endpoint(self, arn: str) -> None:
        """Delete the endpoint (idempotent; a failure leaves an unused endpoint, not an error
        worth failing the caller's request for)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_endpoint(EndpointArn=arn)
        except (ClientError, BotoCoreError):
            return

    def publish(self, arn: str, message: str) -> PublishOutcome:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.publish(TargetArn=arn, Message=message, MessageStructure="json")
        except ClientError as exc:
            code = error_code(exc)
            if code in _GONE:
                return PublishOutcome.DISABLED
            if code in _RETRY:
                return PublishOutcome.RETRY
            raise
        except BotoCoreError:
            return PublishOutcome.RETRY
        return PublishOutcome.SENT
