"""Integration fixtures: the template's resources in moto and a harness that drives the real
handlers with API Gateway- and SQS-shaped events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws
from parley import runtime

from tests.fakes.gateway import FakeGateway
from tests.support import events, iam_audit
from tests.support.handlers import load
from tests.support.stack import Stack, create_stack

PASSWORD = "correct horse battery"

# Before any boto3 client exists: every session created from now on records handlers' calls.
iam_audit.install()


@pytest.fixture(autouse=True)
def _iam_audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS call a handler makes must be allowed by its function's role in the
    transformed template (moto enforces no IAM; tests/support/iam_audit.py)."""
    with iam_audit.recording(monkeypatch.setattr, FakeGateway) as calls:
        yield
    denied = [str(f) for f in iam_audit.check(calls) if not f.verdict.allowed]
    if denied:
        pytest.fail("calls the function's role does not allow:\n" + "\n".join(denied))


def pytest_sessionfinish(session: pytest.Session) -> None:
    iam_audit.publish(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    iam_audit.collect(getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    iam_audit.report(terminalreporter.write_line)


class LambdaContext:
    function_name = "parley-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parley-test"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


CONTEXT = LambdaContext()


class Harness:
    """Calls handlers the way API Gateway and the SQS event source would."""

    def __init__(self, stack: Stack, gateway: FakeGateway) -> None:
        self.stack = stack
        self.gateway = gateway
        self.tokens: dict[str, dict[str, Any]] = {}

    # HTTP --------------------------------------------------------------------------------
    def http(self, function: str, method: str, route: str, **kwargs: Any) -> tuple[int, Any]:
        response = load(function).handler(events.http_event(method, route, **kwargs), CONTEXT)
        body = response.get("body")
        return response["statusCode"], json.loads(body) if body else None

    def register(self, user: str, password: str = PASSWORD, **extra: Any) -> tuple[int, Any]:
        return self.http(
            "http_auth",
            "POST",
            "/auth/register",
            body={"userId": user, "password": password, **extra},
        )

    def login(self, user: str, password: str = PASSWORD) -> dict[str, Any]:
        status, body = self.http(
            "http_auth", "POST", "/auth/login", body={"userId": user, "password": password}
        )
        assert status == 200, body
        self.tokens[user] = body
        return body

    def user(self, user: str) -> str:
        """Register and log in; the access token."""
        self.register(user)
        return str(self.login(user)["accessToken"])

    # WebSocket ---------------------------------------------------------------------------
    def connect(self, user: str, connection: str) -> dict[str, Any]:
        token = self.tokens[user]["accessToken"]
        # As API Gateway runs the handshake: the authorizer, then the route, both carrying
        # the query string with the token.
        auth_event = events.authorizer_event(token)
        auth_event["multiValueQueryStringParameters"] = {"token": [token]}
        policy = load("authorizer").handler(auth_event, CONTEXT)
        ctx = policy["context"]
        event = events.ws_event(
            "$connect",
            user=ctx["userId"],
            connection=connection,
            session=ctx["sessionId"],
            token_exp=ctx["tokenExp"],
        )
        event["queryStringParameters"] = {"token": token}
        event["multiValueQueryStringParameters"] = {"token": [token]}
        response = load("ws_connect").handler(event, CONTEXT)
        assert response["statusCode"] == 200
        return policy

    def disconnect(self, user: str, connection: str) -> dict[str, Any]:
        event = events.ws_event("$disconnect", user=user, connection=connection)
        return dict(load("ws_disconnect").handler(event, CONTEXT))

    def frame(
        self, route: str, body: Any = None, *, user: str, connection: str, raw: str | None = None
    ) -> dict[str, Any] | None:
        function = {"send": "ws_send", "sync": "ws_sync"}.get(route, "ws_live")
        event = events.ws_event(route, body, user=user, connection=connection, raw=raw)
        response = load(function).handler(event, CONTEXT)
        assert response["statusCode"] == 200
        return json.loads(response["body"]) if response.get("body") else None

    def send(
        self, user: str, connection: str, *, text: str = "hi", client_id: str, **target: Any
    ) -> dict[str, Any]:
        frame = {
            "action": "send",
            "id": f"r-{client_id}",
            "clientMsgId": client_id,
            "body": {"type": "text", "text": text},
            **target,
        }
        reply = self.frame("send", frame, user=user, connection=connection)
        assert reply is not None
        return reply

    def sync(
        self, user: str, connection: str, cursors: dict[str, int] | None = None, limit: int = 100
    ) -> dict[str, Any]:
        frame = {"action": "sync", "id": "s", "cursors": cursors or {}, "limit": limit}
        reply = self.frame("sync", frame, user=user, connection=connection)
        assert reply is not None
        return reply

    # SQS ---------------------------------------------------------------------------------
    def drain_queue(self, rounds: int = 20) -> int:
        """Run the fanout function over what the push queues hold (both lanes, as its two
        event sources do); how many records ran."""
        import boto3

        sqs = boto3.client("sqs")
        handled = 0
        queues = [self.stack.queue_url, self.stack.bulk_queue_url]
        for _ in range(rounds):
            ran = 0
            for url in queues:
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
                ).get("Messages", [])
                if not got:
                    continue
                event = events.sqs_event([m["Body"] for m in got])
                result = load("fanout").handler(event, CONTEXT)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                for i, message in enumerate(got):
                    if f"msg-{i}" not in failed:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                ran += len(got)
            if not ran:
                break
            handled += ran
        return handled


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        stack = create_stack()
        for key, value in stack.env().items():
            monkeypatch.setenv(key, value)
        runtime.reset()
        yield stack
        runtime.reset()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, aws: Stack) -> FakeGateway:
    fake = FakeGateway()
    monkeypatch.setattr(runtime, "gateway", lambda: fake)
    return fake


@pytest.fixture
def app(aws: Stack, gateway: FakeGateway) -> Harness:
    return Harness(aws, gateway)


@pytest.fixture
def no_refresh_grace(app: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """No refresh grace window (`RefreshGraceSeconds` 0): a spent refresh token presented
    again at once is reuse, as it is after the window."""
    monkeypatch.setenv("PARLEY_REFRESH_GRACE_SECONDS", "0")
    runtime.reset()


# ---- helpers added for the messaging-core suite --------------------------------------------


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's DynamoDB requests, as DynamoDB applies each write atomically.

    moto evaluates a ConditionExpression and then stores the item in two unlocked steps, so
    two threads can both "win" `attribute_not_exists(seq)` for the same key, which DynamoDB
    never allows. Concurrency tests use this so that they test the application's races,
    not moto's.
    """
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@pytest.fixture
def reconfigure(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway) -> Callable[..., None]:
    """Set `PARLEY_*` variables and rebuild the services from them (same FakeGateway)."""

    def apply(**env: object) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        runtime.reset()
        monkeypatch.setattr(runtime, "gateway", lambda: gateway)
        _share_secrets_client()

    return apply


def _share_secrets_client() -> None:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from tests.support.stack import client

    DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=client("secretsmanager"))


@pytest.fixture
def shared_secrets_client(aws: Stack) -> None:
    """Give Powertools' secrets provider the suite's long-lived client.

    `runtime.reset()` drops the provider, and a new one builds a new boto3 session that
    reloads every service model (~0.1 s per test). The secret is still read through
    Powertools from the moto stack, with the same caching.
    """
    _share_secrets_client()


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with 1 MiB and one pass instead of 19 MiB and two, for tests that only need
    accounts to exist.

    The parameters are stored in each hash, so verification follows them (and, the cheap
    hasher being current, no login rehashes); tests of the account routes themselves keep
    the production cost.
    """
    from argon2 import PasswordHasher
    from parley import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: cheap)
