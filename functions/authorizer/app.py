"""`$connect` REQUEST authorizer: verifies `?token=` and passes the identity to every route."""

from __future__ import annotations

from typing import Any

from parley import runtime
from parley.errors import ParleyError
from parley.observability import instrumented, logger


def _policy(
    principal_id: str, effect: str, resource: str, context: dict[str, Any]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token") or ""
    try:
        principal = runtime.auth_service().authenticate(token)
    except ParleyError as err:
        logger.info("connect refused", extra={"code": int(err.code), "reason": err.message})
        # API Gateway answers the handshake with 401 for this exact message.
        raise Exception("Unauthorized") from None
    logger.append_keys(userId=principal.user_id)
    return _policy(
        principal.user_id,
        "Allow",
        str(event.get("methodArn", "*")),
        {
            "userId": principal.user_id,
            "sessionId": principal.session_id,
            "tokenExp": principal.expires_at,
        },
    )
