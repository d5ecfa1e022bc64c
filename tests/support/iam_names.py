"""How IAM names an AWS call: the action(s) and resource ARN(s) AWS authorizes for it.

Used by the IAM audit (tests/support/iam_audit.py). One rule per service, from the
operation's parameters and the request's URL; an operation without a rule raises `Unnamed`
so the audit fails rather than passes it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"


class Unnamed(ValueError):
    """An operation whose IAM action or resource this audit does not know yet."""


_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
_S3_BUCKET_OPERATIONS = {"ListObjects", "ListObjectsV2", "HeadBucket", "GetBucketLocation"}
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_CONNECTION_METHODS = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}
_CONNECTION_METHODS["GetConnection"] = "GET"


def arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def table_arn(region: str, table: str, index: str | None = None) -> str:
    suffix = f"/index/{index}" if index else ""
    return arn("dynamodb", region, f"table/{table}{suffix}")


def queue_arn(region: str, queue_url: str) -> str:
    return arn("sqs", region, urlsplit(queue_url).path.rstrip("/").rsplit("/", 1)[-1])


def connection_arn(url: str, method: str) -> str:
    """`@connections` resource of a management API URL (`https://{api}.execute-api.{region}.
    amazonaws.com/{stage}/@connections/{id}`): `{api}/{stage}/{METHOD}/@connections/{id}`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    api, _, rest = host.partition(".execute-api.")
    region = rest.split(".")[0]
    stage, _, path = unquote(parts.path).lstrip("/").partition("/")
    if not api or not region or not path.startswith("@connections/"):
        raise Unnamed(f"not an @connections URL: {url}")
    return arn("execute-api", region, f"{api}/{stage}/{method}/{path}")


def iam_requests(
    service: str, prefix: str, operation: str, params: dict[str, Any], region: str, url: str
) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM authorizes for one API call.

    `service` is botocore's service name (`dynamodb`, `apigatewaymanagementapi`), `prefix`
    the IAM prefix (its signing name: `dynamodb`, `execute-api`), `url` the request's URL.
    """
    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", table_arn(region, t)) for t in params["RequestItems"]]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [
                (f"dynamodb:{_TRANSACT[kind]}", table_arn(region, spec["TableName"]))
                for item in params["TransactItems"]
                for kind, spec in item.items()
            ]
        if "TableName" in params:
            return [
                (
                    f"dynamodb:{operation}",
                    table_arn(region, params["TableName"], params.get("IndexName")),
                )
            ]
    elif service == "sqs":
        action = operation.removesuffix("Batch")
        if "QueueUrl" in params:
            return [(f"sqs:{action}", queue_arn(region, params["QueueUrl"]))]
        if operation == "GetQueueUrl":
            return [(f"sqs:{action}", arn("sqs", region, params["QueueName"]))]
    elif service == "secretsmanager" and "SecretId" in params:
        secret = params["SecretId"]
        name = secret if secret.startswith("arn:") else arn(prefix, region, f"secret:{secret}")
        return [(f"secretsmanager:{operation}", name)]
    elif service == "sns":
        # A topic, a platform endpoint (Publish, DeleteEndpoint) or a platform application
        # (CreatePlatformEndpoint): the ARN named in the call is the resource.
        topic = (
            params.get("TopicArn")
            or params.get("TargetArn")
            or params.get("EndpointArn")
            or params.get("PlatformApplicationArn")
        )
        if topic:
            return [(f"sns:{operation.removesuffix('Batch')}", topic)]
    elif service == "s3" and "Bucket" in params:
        action = _S3_ACTIONS.get(operation, operation)
        if operation == "GetObject" and params.get("VersionId"):
            action = "GetObjectVersion"
        bucket = f"arn:{PARTITION}:s3:::{params['Bucket']}"
        if operation in _S3_BUCKET_OPERATIONS or "Key" not in params:
            return [(f"s3:{action}", bucket)]
        return [(f"s3:{action}", f"{bucket}/{params['Key']}")]
    elif service == "appconfigdata":
        if operation == "StartConfigurationSession":
            resource = arn(
                prefix,
                region,
                f"application/{params['ApplicationIdentifier']}"
                f"/environment/{params['EnvironmentIdentifier']}"
                f"/configuration/{params['ConfigurationProfileIdentifier']}",
            )
            return [(f"appconfig:{operation}", resource)]
        if operation == "GetLatestConfiguration":
            # The token stands for the session's profile (remembered by `_after_call`).
            return [(f"appconfig:{operation}", appconfig_sessions[params["ConfigurationToken"]])]
    elif service == "apigatewaymanagementapi" and operation in _CONNECTION_METHODS:
        return [
            (f"{prefix}:ManageConnections", connection_arn(url, _CONNECTION_METHODS[operation]))
        ]
    raise Unnamed(f"{service}.{operation}")


# AppConfig data: configuration token -> the profile's ARN its session was started for.
appconfig_sessions: dict[str, str] = {}
