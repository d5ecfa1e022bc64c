"""The template's tables, queues, secret and attachment bucket created in moto, for
integration tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from parley_local.template import parse_template_text

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
WS_ENDPOINT = "wss://abcdef1234.execute-api.us-east-1.amazonaws.com"
WS_STAGE = "v1"

_TABLE_KEYS = (
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
)
_ENV = {
    "UsersTable": "PARLEY_USERS_TABLE",
    "SessionsTable": "PARLEY_SESSIONS_TABLE",
    "ConnectionsTable": "PARLEY_CONNECTIONS_TABLE",
    "ConversationsTable": "PARLEY_CONVERSATIONS_TABLE",
    "MembersTable": "PARLEY_MEMBERS_TABLE",
    "MessagesTable": "PARLEY_MESSAGES_TABLE",
    "LimitsTable": "PARLEY_LIMITS_TABLE",
    "AttachmentsTable": "PARLEY_ATTACHMENTS_TABLE",
    "DevicesTable": "PARLEY_DEVICES_TABLE",
    "FlagsTable": "PARLEY_FLAGS_TABLE",
}


@dataclass
class Stack:
    tables: dict[str, str] = field(default_factory=dict)
    queue_url: str = ""
    bulk_queue_url: str = ""  # the push queue's bulk lane (services/budget.py)
    dlq_url: str = ""
    erase_queue_url: str = ""
    account_jobs_queue_url: str = ""
    secret_arn: str = ""
    bucket: str = ""
    notify_queue_url: str = ""
    notify_dlq_url: str = ""
    vapid_secret_arn: str = ""

    def env(self) -> dict[str, str]:
        env = {_ENV[logical]: name for logical, name in self.tables.items() if logical in _ENV}
        env.update(
            PARLEY_PUSH_QUEUE_URL=self.queue_url,
            PARLEY_PUSH_BULK_QUEUE_URL=self.bulk_queue_url,
            PARLEY_SIGNING_SECRET_ARN=self.secret_arn,
            PARLEY_WS_API_ENDPOINT=WS_ENDPOINT,
            PARLEY_WS_STAGE=WS_STAGE,
            PARLEY_ATTACHMENTS_BUCKET=self.bucket,
            PARLEY_ERASE_QUEUE_URL=self.erase_queue_url,
            PARLEY_ACCOUNT_JOBS_QUEUE_URL=self.account_jobs_queue_url,
            PARLEY_NOTIFY_QUEUE_URL=self.notify_queue_url,
            PARLEY_NOTIFY_DLQ_URL=self.notify_dlq_url,
            PARLEY_VAPID_SECRET_ARN=self.vapid_secret_arn,
            # As `make dev` runs: tests create many accounts from one address.
            PARLEY_REGISTRATIONS_PER_HOUR="10000",
        )
        return env


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """A long-lived boto3 client (moto intercepts it inside every `mock_aws`): moto resets the
    default session for each test, and rebuilding clients was most of a test's setup time."""
    return _session().client(service)


def template_resources() -> dict[str, Any]:
    # A fresh copy each time: callers may change it. Parsing the template once per text
    # keeps a per-test stack from spending most of its setup in the YAML parser.
    return copy.deepcopy(_parsed_resources(TEMPLATE.read_text()))


@cache
def _parsed_resources(text: str) -> dict[str, Any]:
    return dict(parse_template_text(text)["Resources"])


def create_stack(prefix: str = "t") -> Stack:
    """Create every table of template.yaml (keys and indexes as declared) plus the queues."""
    ddb = client("dynamodb")
    stack = Stack()
    for logical, res in template_resources().items():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = {k: v for k, v in res["Properties"].items() if k in _TABLE_KEYS}
        name = f"{prefix}-{logical}"
        ddb.create_table(TableName=name, **props)
        stack.tables[logical] = name
    sqs = client("sqs")
    stack.dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    push_attributes = {
        "VisibilityTimeout": "0",
        "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
    }
    stack.queue_url = sqs.create_queue(QueueName=f"{prefix}-push", Attributes=push_attributes)[
        "QueueUrl"
    ]
    stack.bulk_queue_url = sqs.create_queue(
        QueueName=f"{prefix}-push-bulk", Attributes=push_attributes
    )["QueueUrl"]
    stack.erase_queue_url = sqs.create_queue(QueueName=f"{prefix}-erase")["QueueUrl"]
    stack.account_jobs_queue_url = sqs.create_queue(QueueName=f"{prefix}-account-jobs")["QueueUrl"]
    stack.bucket = f"{prefix.lower()}-attachments"
    client("s3").create_bucket(Bucket=stack.bucket)
    stack.secret_arn = client("secretsmanager").create_secret(
        Name=f"{prefix}-signing", SecretString="test-signing-secret-0123456789abcdef"
    )["ARN"]
    stack.notify_dlq_url = sqs.create_queue(QueueName=f"{prefix}-notify-dlq")["QueueUrl"]
    stack.notify_queue_url = sqs.create_queue(QueueName=f"{prefix}-notify")["QueueUrl"]
    stack.vapid_secret_arn = client("secretsmanager").create_secret(
        Name=f"{prefix}-vapid", SecretString="test-vapid-seed-0123456789abcdefghijklmnopqrstuvwxyz"
    )["ARN"]
    return stack
