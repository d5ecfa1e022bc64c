"""The IAM audit itself (tests/support/iam_*.py): how it names calls, how it evaluates the
roles, and that it sees handlers' calls, also from the I/O pool's threads.

Every other integration test is audited by the autouse fixture in conftest.py; `pytest
tests/integration` prints the number of distinct grants the run used, and
`PARLEY_IAM_AUDIT=path` writes them out.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from parley import aws, concurrency

from tests.integration.conftest import Harness
from tests.support import iam_audit
from tests.support.handlers import Invocation, running
from tests.support.iam_audit import Call
from tests.support.iam_names import Unnamed, iam_requests
from tests.support.iam_policy import listed, role_statements

REGION = "us-east-1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table"
ENV = (("PARLEY_MESSAGES_TABLE", "t-MessagesTable"), ("PARLEY_USERS_TABLE", "t-UsersTable"))


def names(service: str, operation: str, params: dict[str, Any], url: str = "") -> list[Any]:
    prefix = {"apigatewaymanagementapi": "execute-api", "appconfigdata": "appconfig"}
    return iam_requests(service, prefix.get(service, service), operation, params, REGION, url)


# ---- naming calls ------------------------------------------------------------------------


def test_dynamodb_calls_name_the_table_and_the_index() -> None:
    assert names("dynamodb", "Query", {"TableName": "m", "IndexName": "byUser"}) == [
        ("dynamodb:Query", f"{TABLE}/m/index/byUser")
    ]
    assert names("dynamodb", "GetItem", {"TableName": "m"}) == [("dynamodb:GetItem", f"{TABLE}/m")]


def test_batches_and_transactions_are_authorized_per_table_and_item() -> None:
    batch = names("dynamodb", "BatchGetItem", {"RequestItems": {"a": {}, "b": {}}})
    assert batch == [
        ("dynamodb:BatchGetItem", f"{TABLE}/a"),
        ("dynamodb:BatchGetItem", f"{TABLE}/b"),
    ]
    items = [{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]
    assert names("dynamodb", "TransactWriteItems", {"TransactItems": items}) == [
        ("dynamodb:PutItem", f"{TABLE}/a"),
        ("dynamodb:ConditionCheckItem", f"{TABLE}/b"),
    ]


def test_queues_secrets_topics_and_buckets_have_their_arns() -> None:
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/t-push"
    assert names("sqs", "SendMessageBatch", {"QueueUrl": url}) == [
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:t-push")
    ]
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    assert names("secretsmanager", "GetSecretValue", {"SecretId": secret}) == [
        ("secretsmanager:GetSecretValue", secret)
    ]
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    assert names("sns", "PublishBatch", {"TopicArn": topic}) == [("sns:Publish", topic)]
    assert names("s3", "HeadObject", {"Bucket": "b", "Key": "k/1"}) == [
        ("s3:GetObject", "arn:aws:s3:::b/k/1")
    ]
    assert names("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "k/"}) == [
        ("s3:ListBucket", "arn:aws:s3:::b")
    ]


def test_appconfig_and_connections_name_their_resources() -> None:
    start = {
        "ApplicationIdentifier": "app1",
        "EnvironmentIdentifier": "env1",
        "ConfigurationProfileIdentifier": "prof1",
    }
    assert names("appconfigdata", "StartConfigurationSession", start) == [
        (
            "appconfig:StartConfigurationSession",
            "arn:aws:appconfig:us-east-1:123456789012:"
            "application/app1/environment/env1/configuration/prof1",
        )
    ]
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/@connections/Xy%3D"
    assert names("apigatewaymanagementapi", "DeleteConnection", {}, url) == [
        (
            "execute-api:ManageConnections",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/DELETE/@connections/Xy=",
        )
    ]


def test_an_operation_the_audit_cannot_name_is_reported_not_passed() -> None:
    with pytest.raises(Unnamed):
        names("dynamodb", "ExecuteStatement", {"Statement": "SELECT 1"})


# ---- evaluating roles --------------------------------------------------------------------


def cfn(*statements: Any, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """A translated template with one function whose role holds `statements`."""
    return {
        "Parameters": {"OidcIssuer": {"Default": ""}},
        "Conditions": {"HasOidc": {"Fn::Not": [{"Fn::Equals": [{"Ref": "OidcIssuer"}, ""]}]}},
        "Resources": {
            "MessagesTable": {"Type": "AWS::DynamoDB::Table"},
            "UsersTable": {"Type": "AWS::DynamoDB::Table"},
            "SendFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": {"Fn::GetAtt": ["SendFunctionRole", "Arn"]},
                    "Environment": {
                        "Variables": {
                            "PARLEY_MESSAGES_TABLE": {"Ref": "MessagesTable"},
                            "PARLEY_USERS_TABLE": {"Ref": "UsersTable"},
                            "PARLEY_OIDC_ISSUER": {"Ref": "OidcIssuer"},
                            **(env or {}),
                        }
                    },
                },
            },
            "SendFunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyDocument": {"Statement": list(statements)}}]},
            },
        },
    }


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def allowed(template: dict[str, Any], action: str, resource: str, **env: str) -> bool:
    invocation = Invocation("ws_send", tuple(sorted({**dict(ENV), **env}.items())))
    [finding] = iam_audit.check([Call(invocation, action, resource)], template)
    return finding.verdict.allowed


MESSAGES = {"Fn::GetAtt": ["MessagesTable", "Arn"]}


def test_actions_match_with_wildcards_and_without_case() -> None:
    template = cfn(allow(["dynamodb:Get*", "DynamoDB:query"], MESSAGES))
    assert allowed(template, "dynamodb:GetItem", f"{TABLE}/t-MessagesTable")
    assert allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable")
    assert not allowed(template, "dynamodb:PutItem", f"{TABLE}/t-MessagesTable")


def test_resources_resolve_to_the_names_the_handler_saw() -> None:
    # GIVEN grants on the table and on one of its indexes
    template = cfn(
        allow("dynamodb:Query", MESSAGES),
        allow("dynamodb:Query", {"Fn::Sub": "${MessagesTable.Arn}/index/byClientMsgId"}),
    )
    # THEN the table and that index are allowed, another index and another table are not
    assert allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable")
    assert allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable/index/byClientMsgId")
    assert not allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable/index/other")
    assert not allowed(template, "dynamodb:Query", f"{TABLE}/t-UsersTable")
    # AND a stack with other names resolves to those
    other = {"PARLEY_MESSAGES_TABLE": "fz-MessagesTable"}
    assert allowed(template, "dynamodb:Query", f"{TABLE}/fz-MessagesTable", **other)


def test_resource_wildcards_cover_indexes_and_connections() -> None:
    template = cfn(
        allow("dynamodb:Query", {"Fn::Sub": "${MessagesTable.Arn}/index/*"}),
        allow(
            "execute-api:ManageConnections",
            {
                "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
                ":api/v1/POST/@connections/*"
            },
        ),
    )
    assert allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable/index/byUser")
    assert not allowed(template, "dynamodb:Query", f"{TABLE}/t-MessagesTable")
    post = "arn:aws:execute-api:us-east-1:123456789012:api/v1/POST/@connections/c1"
    assert allowed(template, "execute-api:ManageConnections", post)
    delete = post.replace("/POST/", "/DELETE/")
    assert not allowed(template, "execute-api:ManageConnections", delete)


def test_conditions_follow_the_settings_of_the_invocation() -> None:
    # GIVEN a grant that only deployments with an OpenID issuer have
    users = {"Fn::GetAtt": ["UsersTable", "Arn"]}
    no_value = {"Ref": "AWS::NoValue"}
    template = cfn({"Fn::If": ["HasOidc", allow("dynamodb:PutItem", users), no_value]})
    # THEN it applies when the handler ran with an issuer, and not otherwise
    user = f"{TABLE}/t-UsersTable"
    assert allowed(template, "dynamodb:PutItem", user, PARLEY_OIDC_ISSUER="https://id.example")
    assert not allowed(template, "dynamodb:PutItem", user)


def test_deny_wins_and_conditional_allows_grant_nothing() -> None:
    resource = f"{TABLE}/t-MessagesTable"
    denied = cfn(allow("dynamodb:*", MESSAGES), {**allow("dynamodb:Scan", "*"), "Effect": "Deny"})
    assert allowed(denied, "dynamodb:Query", resource)
    assert not allowed(denied, "dynamodb:Scan", resource)
    conditional = cfn(allow("dynamodb:Query", MESSAGES, Condition={"Bool": {"x": "true"}}))
    assert not allowed(conditional, "dynamodb:Query", resource)
    negated = cfn({"Effect": "Allow", "Action": "dynamodb:Query", "NotResource": MESSAGES})
    assert not allowed(negated, "dynamodb:Query", resource)
    assert allowed(negated, "dynamodb:Query", f"{TABLE}/t-UsersTable")


def test_every_function_of_the_template_has_a_role_the_audit_reads() -> None:
    template = iam_audit.template()
    for directory, function in iam_audit.function_ids().items():
        statements = role_statements(template, function)
        assert isinstance(statements, list), directory


# ---- recording -----------------------------------------------------------------------------


def test_calls_from_the_io_pool_count_for_the_handler_that_submitted_them(app: Harness) -> None:
    # GIVEN a handler running (as the send function), which hands a query to the I/O pool
    table = app.stack.tables["MessagesTable"]

    def newest() -> Any:
        return aws.client("dynamodb").query(
            TableName=table,
            KeyConditionExpression="conversationId = :c",
            ExpressionAttributeValues={":c": {"S": "dm:alice:bob"}},
            Limit=1,
        )

    token = running.set(Invocation("ws_send", ENV))
    try:
        concurrency.submit(newest).result()
    finally:
        running.reset(token)
    # WHEN the test's calls are looked at
    calls = iam_audit.RECORDER.calls
    # THEN the pool thread's call is the send function's, on that table, and allowed
    assert [(c.invocation.function, c.action, c.resource) for c in calls] == [
        ("ws_send", "dynamodb:Query", f"{TABLE}/{table}")
    ]
    assert [f.verdict.granted_by for f in iam_audit.check(calls)] == ["MessagesTable.Arn"]


def test_a_send_records_its_writes_and_posts(app: Harness) -> None:
    # GIVEN alice and bob online
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    iam_audit.RECORDER.take()
    # WHEN alice sends bob a message
    app.send("alice", "a1", client_id="m1", to="bob")
    # THEN the audit saw the send function store it and post it to bob's connection
    calls = {(c.invocation.function, c.action, c.resource) for c in iam_audit.RECORDER.calls}
    messages = f"{TABLE}/{app.stack.tables['MessagesTable']}"
    assert ("ws_send", "dynamodb:PutItem", messages) in calls
    post = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/POST/@connections/b1"
    assert ("ws_send", "execute-api:ManageConnections", post) in calls
    assert all(f.verdict.allowed for f in iam_audit.check(iam_audit.RECORDER.calls))


def test_a_secret_read_from_the_cache_is_still_the_handlers_read(app: Harness) -> None:
    # GIVEN alice registered and logged in: the auth function read the signing secret, and
    # Powertools keeps it in its cache (this process plays every function's container)
    app.user("alice")
    iam_audit.RECORDER.take()
    # WHEN the authorizer checks her token, with the secret served from that cache
    app.connect("alice", "a1")
    # THEN the authorizer's read is audited all the same
    calls = {(c.invocation.function, c.action, c.resource) for c in iam_audit.RECORDER.calls}
    assert ("authorizer", "secretsmanager:GetSecretValue", app.stack.secret_arn) in calls


def test_a_missing_permission_is_caught(app: Harness) -> None:
    # GIVEN the template without the send function's write to the messages table
    template = copy.deepcopy(iam_audit.template())
    statements = role_statements(template, "SendFunction")
    on_messages = [s for s in statements if MESSAGES in listed(s.get("Resource"))]
    for statement in on_messages:
        statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:PutItem"]
    # WHEN alice sends bob a message
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.send("alice", "a1", client_id="m1", to="bob")
    calls = iam_audit.RECORDER.take()
    # THEN the audit names the write that the role would refuse
    denied = [f for f in iam_audit.check(calls, template) if not f.verdict.allowed]
    messages = f"{TABLE}/{app.stack.tables['MessagesTable']}"
    assert [(f.function, f.call.action, f.call.resource) for f in denied] == [
        ("SendFunction", "dynamodb:PutItem", messages)
    ]
