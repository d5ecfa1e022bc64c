"""Fault profiles (parsing, scopes, seeded draws, counters) and the fault proxy's wire answers.

The wire answers are fed to a real botocore client in place of the HTTP response, so the
SDK's own parser and retry handler decide what they are, as they would against AWS.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from parley_local.cli import build_parser, main
from parley_local.fault_proxy import (
    DYNAMODB_ERRORS,
    SECRETSMANAGER_ERRORS,
    dynamodb_error,
    merge_batch,
    queue_name,
    request_tables,
    secretsmanager_error,
    split_batch,
)
from parley_local.faults import (
    BUILTIN_PROFILES,
    FaultInjector,
    FaultProfileError,
    caller_function,
    check_scopes,
    load_profile,
    parse_profile,
)
from parley_local.logs import LogSink

BRIEF_EXAMPLE: dict[str, Any] = {
    "seed": 7,
    "faults": [
        {
            "kind": "dynamodb",
            "error": "ProvisionedThroughputExceededException",
            "probability": 0.05,
            "function": "SendFunction",
            "table": "MessagesTable",
            "operation": "PutItem",
        },
        {"kind": "dynamodb", "error": "timeout", "probability": 0.05},
        {"kind": "connections", "status": 410, "probability": 0.05, "function": "FanoutFunction"},
        {"kind": "sqs", "error": "partial", "probability": 0.05, "queue": "PushQueue"},
        {
            "kind": "lambda",
            "error": "timeout",
            "when": "after",
            "probability": 0.05,
            "function": "SendFunction",
        },
        {"kind": "latency", "target": "dynamodb", "ms": 50, "probability": 0.1},
    ],
}


def _profile(*rules: dict[str, Any], seed: int = 1) -> Any:
    return parse_profile({"seed": seed, "faults": list(rules)}, "test")


def _injector(*rules: dict[str, Any], seed: int = 1) -> tuple[FaultInjector, io.StringIO]:
    stream = io.StringIO()
    injector = FaultInjector(
        _profile(*rules, seed=seed),
        LogSink(stream, json_logs=True),
        tables={"MessagesTable": "parley-messages", "UsersTable": "parley-users"},
        queues={"PushQueue": "parley-push"},
    )
    return injector, stream


# ---------------------------------------------------------------- parsing


def test_secrets_manager_rules_parse_with_their_labels_scopes_and_kind() -> None:
    # GIVEN a profile faulting Secrets Manager for one function and one operation
    profile = _profile(
        {
            "kind": "secretsmanager",
            "error": "ThrottlingException",
            "probability": 0.5,
            "function": "SendFunction",
            "operation": "GetSecretValue",
        },
        {"kind": "secretsmanager", "error": "InternalServiceError", "probability": 0.3},
        {"kind": "secretsmanager", "error": "timeout", "probability": 0.01},
    )

    # THEN each rule is counted under `secretsmanager:<error>`, with its scopes
    assert [r.label for r in profile.rules] == [
        "secretsmanager:ThrottlingException",
        "secretsmanager:InternalServiceError",
        "secretsmanager:timeout",
    ]
    assert profile.rules[0].scope == {"function": "SendFunction", "operation": "GetSecretValue"}
    assert profile.kinds == {"secretsmanager"}
    assert (
        "secretsmanager:ThrottlingException 50% (function=SendFunction,operation=GetSecretValue)"
        in profile.describe()
    )
    # AND the built-in all5 leaves Secrets Manager out (see its docstring)
    assert "secretsmanager" not in load_profile("all5").kinds


def test_the_documented_shape_parses_into_rules_with_labels_and_scopes() -> None:
    profile = parse_profile(BRIEF_EXAMPLE, "soak.json")
    assert profile.seed == 7
    assert [r.label for r in profile.rules] == [
        "dynamodb:ProvisionedThroughputExceededException",
        "dynamodb:timeout:applied",
        "connections:410",
        "sqs:partial",
        "lambda:timeout:after",
        "latency:dynamodb",
    ]
    assert profile.rules[0].scope == {
        "function": "SendFunction",
        "table": "MessagesTable",
        "operation": "PutItem",
    }
    assert profile.to_json() == {"name": "soak.json", **BRIEF_EXAMPLE}
    assert "dynamodb:timeout:applied 5%" in profile.describe()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "is a JSON object"),
        ({"seed": 1, "faults": [], "extra": 1}, "unknown top-level field(s): extra"),
        ({"seed": "7", "faults": []}, "seed must be an integer"),
        ({"seed": 1}, "'faults' must be a list"),
        ({"faults": ["x"]}, "faults[0]: a rule is a JSON object"),
        ({"faults": [{"kind": "disk", "probability": 1}]}, "unknown kind 'disk'"),
        (
            {"faults": [{"kind": "sqs", "error": "partial", "probability": 1, "table": "T"}]},
            "unknown field(s) for kind 'sqs': table",
        ),
        ({"faults": [{"kind": "sqs", "error": "partial"}]}, "'probability' is required"),
        (
            {"faults": [{"kind": "lambda", "error": "error", "probability": 1}]},
            "'when' is required",
        ),
        (
            {"faults": [{"kind": "dynamodb", "error": "Boom", "probability": 1}]},
            "error 'Boom' is not one of",
        ),
        ({"faults": [{"kind": "connections", "status": 404, "probability": 1}]}, "status 404"),
        ({"faults": [{"kind": "connections", "status": True, "probability": 1}]}, "status True"),
        (
            {"faults": [{"kind": "sqs", "error": "partial", "probability": 1.5}]},
            "probability 1.5 is outside [0, 1]",
        ),
        (
            {"faults": [{"kind": "sqs", "error": "partial", "probability": -0.1}]},
            "outside [0, 1]",
        ),
        (
            {"faults": [{"kind": "sqs", "error": "partial", "probability": "0.5"}]},
            "probability must be a number",
        ),
        (
            {"faults": [{"kind": "lambda", "error": "error", "when": "during", "probability": 1}]},
            "when 'during' is not one of",
        ),
        (
            {"faults": [{"kind": "latency", "target": "lambda", "ms": 0, "probability": 1}]},
            "ms must be an integer",
        ),
        (
            {
                "faults": [
                    {"kind": "latency", "target": "lambda", "ms": 5, "probability": 1, "table": "T"}
                ]
            },
            "'table' is a scope of target 'dynamodb' only",
        ),
        (
            {
                "faults": [
                    {
                        "kind": "dynamodb",
                        "error": "timeout",
                        "probability": 1,
                        "operation": "PutItems",
                    }
                ]
            },
            "dynamodb has no operation 'PutItems'",
        ),
        (
            {
                "faults": [
                    {
                        "kind": "sqs",
                        "error": "partial",
                        "probability": 1,
                        "operation": "SendMessage",
                    }
                ]
            },
            "unknown field(s) for kind 'sqs': operation",
        ),
        (
            {
                "faults": [
                    {
                        "kind": "dynamodb",
                        "error": "ThrottlingException",
                        "probability": 1,
                        "applied": False,
                    }
                ]
            },
            "'applied' (true/false) is for error 'timeout'",
        ),
        (
            {"faults": [{"kind": "sqs", "error": "partial", "probability": 1, "queue": ""}]},
            "'queue' must be a non-empty string",
        ),
        (
            {"faults": [{"kind": "secretsmanager", "error": "AccessDenied", "probability": 1}]},
            "error 'AccessDenied' is not one of",
        ),
        ({"faults": [{"kind": "secretsmanager", "probability": 1}]}, "'error' is required"),
        (
            {
                "faults": [
                    {
                        "kind": "secretsmanager",
                        "error": "timeout",
                        "probability": 1,
                        "table": "T",
                    }
                ]
            },
            "unknown field(s) for kind 'secretsmanager': table",
        ),
        (
            {
                "faults": [
                    {
                        "kind": "secretsmanager",
                        "error": "timeout",
                        "probability": 1,
                        "operation": "GetSecret",
                    }
                ]
            },
            "secretsmanager has no operation 'GetSecret'",
        ),
    ],
)
def test_bad_profiles_are_refused_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(FaultProfileError) as raised:
        parse_profile(data)
    assert message in str(raised.value)


def test_a_profile_file_is_read_and_its_errors_name_it(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(BRIEF_EXAMPLE))
    assert load_profile(str(good)).name == str(good)

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FaultProfileError, match=r"bad\.json: not JSON"):
        load_profile(str(bad))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"faults": [{"kind": "x", "probability": 1}]}))
    with pytest.raises(FaultProfileError, match=r"wrong\.json: faults\[0\]: unknown kind"):
        load_profile(str(wrong))
    with pytest.raises(FaultProfileError, match="built-in profiles: all5"):
        load_profile(str(tmp_path / "missing.json"))


def test_the_built_in_all5_profile_faults_five_percent_of_every_kind() -> None:
    profile = load_profile("all5")
    assert set(BUILTIN_PROFILES) == {"all5"}
    by_kind: dict[str, float] = {}
    for rule in profile.rules:
        key = rule.target if rule.kind == "latency" else rule.kind
        by_kind[f"{rule.kind}:{key}"] = by_kind.get(f"{rule.kind}:{key}", 0) + rule.probability
    assert {k: round(v, 6) for k, v in by_kind.items()} == {
        "dynamodb:dynamodb": 0.05,
        "connections:connections": 0.05,
        "sqs:sqs": 0.05,
        "lambda:lambda": 0.05,
        "latency:dynamodb": 0.05,
        "latency:connections": 0.05,
        "latency:sqs": 0.05,
        "latency:lambda": 0.05,
    }
    labels = {rule.label for rule in profile.rules}
    assert {"dynamodb:timeout:applied", "dynamodb:timeout:unapplied", "connections:410"} <= labels


def test_scopes_must_name_logical_ids_of_the_template() -> None:
    profile = parse_profile(BRIEF_EXAMPLE)
    stack = {
        "functions": ["SendFunction", "FanoutFunction"],
        "tables": ["MessagesTable"],
        "queues": ["PushQueue"],
    }
    check_scopes(profile, **stack)
    with pytest.raises(FaultProfileError, match="no table 'MessagesTable' in the template"):
        check_scopes(profile, **{**stack, "tables": ["UsersTable"]})
    with pytest.raises(FaultProfileError, match=r"faults\[2\]: no function 'FanoutFunction'"):
        check_scopes(profile, **{**stack, "functions": ["SendFunction"]})
    with pytest.raises(FaultProfileError, match="no queue 'PushQueue'"):
        check_scopes(profile, **{**stack, "queues": []})


def test_the_cli_refuses_a_bad_profile_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_parser().parse_args(["--faults", "all5"]).faults == "all5"
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"faults": [{"kind": "sqs", "error": "partial", "probability": 2}]}))
    assert main(["--faults", str(bad)]) == 2
    assert "faults:" in capsys.readouterr().err


# ---------------------------------------------------------------- scopes and draws


def test_a_rule_fires_only_inside_its_scope() -> None:
    injector, _ = _injector(
        {
            "kind": "dynamodb",
            "error": "ThrottlingException",
            "probability": 1,
            "function": "SendFunction",
            "table": "MessagesTable",
            "operation": "PutItem",
        },
        {"kind": "sqs", "error": "partial", "probability": 1, "queue": "PushQueue"},
    )
    send = {"function": "SendFunction", "operation": "PutItem"}
    assert injector.pick("dynamodb", tables=["parley-messages"], **send) is not None
    # a transaction touching the table matches too
    assert injector.pick("dynamodb", tables=["parley-users", "parley-messages"], **send)
    assert injector.pick("dynamodb", tables=["parley-users"], **send) is None
    assert injector.pick("dynamodb", tables=["parley-messages"], function="SyncFunction") is None
    assert (
        injector.pick(
            "dynamodb", tables=["parley-messages"], function="SendFunction", operation="Query"
        )
        is None
    )
    assert injector.pick("dynamodb", tables=["parley-messages"], operation="PutItem") is None
    assert injector.pick("sqs", queue="parley-push") is not None
    assert injector.pick("sqs", queue="parley-erase") is None
    assert injector.pick("connections") is None


def test_draws_are_seeded_per_rule() -> None:
    rule = {"kind": "connections", "status": 500, "probability": 0.3}

    def decisions(seed: int) -> list[bool]:
        injector, _ = _injector(rule, seed=seed)
        return [injector.pick("connections") is not None for _ in range(2000)]

    first = decisions(7)
    assert first == decisions(7)
    assert first != decisions(8)
    assert 0.25 < sum(first) / len(first) < 0.35
    never, _ = _injector({**rule, "probability": 0})
    always, _ = _injector({**rule, "probability": 1})
    assert not any(never.pick("connections") for _ in range(100))
    assert all(always.pick("connections") for _ in range(100))


def test_replacing_the_profile_restarts_the_draws_and_keeps_the_counters() -> None:
    injector, _ = _injector({"kind": "connections", "status": 429, "probability": 1})
    rule = injector.pick("connections")
    assert rule is not None
    injector.record(rule, "test")
    injector.replace(_profile())
    assert injector.pick("connections") is None
    assert injector.counts() == {"connections:429": 1}


def test_latency_adds_up_the_rules_that_fire_and_counts_each() -> None:
    injector, _ = _injector(
        {"kind": "latency", "target": "dynamodb", "ms": 30, "probability": 1},
        {
            "kind": "latency",
            "target": "dynamodb",
            "ms": 20,
            "probability": 1,
            "table": "UsersTable",
        },
        {"kind": "latency", "target": "lambda", "ms": 500, "probability": 1},
    )
    assert injector.latency("dynamodb", tables=["parley-users"]) == pytest.approx(0.05)
    assert injector.latency("dynamodb", tables=["parley-messages"]) == pytest.approx(0.03)
    assert injector.latency("sqs") == 0
    assert injector.counts() == {"latency:dynamodb": 3}


def test_every_injected_fault_is_one_structured_log_line_and_a_counter() -> None:
    injector, stream = _injector(
        {"kind": "dynamodb", "error": "timeout", "applied": False, "probability": 1}
    )
    rule = injector.pick("dynamodb", function="SendFunction")
    assert rule is not None
    injector.record(rule, "PutItem timed out", function="SendFunction", tables=["t"])
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["source"] == "fault"
    assert line["message"] == "injected dynamodb:timeout:unapplied: PutItem timed out"
    assert (line["rule"], line["function"], line["tables"]) == (0, "SendFunction", ["t"])
    assert injector.snapshot() == {
        "profile": {
            "name": "test",
            "seed": 1,
            "faults": [
                {"kind": "dynamodb", "error": "timeout", "applied": False, "probability": 1}
            ],
        },
        "injected": {"dynamodb:timeout:unapplied": 1},
    }


def test_the_calling_function_comes_from_the_sdks_app_id() -> None:
    agent = "Boto3/1.40 md/Botocore#1.40 ua/2.1 cfg/retry-mode#standard app/SendFunction Botocore/1"
    assert caller_function(agent) == "SendFunction"
    assert caller_function("Boto3/1.40 Botocore/1.40") is None


# ---------------------------------------------------------------- wire answers


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


def _client_answering(service: str, status: int, headers: dict[str, str], body: bytes) -> Any:
    """A real client whose every HTTP exchange gets this answer; `.sent` counts attempts."""
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(
        service,
        endpoint_url="http://127.0.0.1:1",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    client.sent = 0

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        client.sent += 1
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send", answer)
    return client


@pytest.mark.parametrize("error", sorted(DYNAMODB_ERRORS))
def test_dynamodb_errors_are_parsed_into_the_sdks_exception_and_retried(
    error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the proxy's answer for `error`, on every attempt (and no real back-off)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    status, headers, body = dynamodb_error(error)
    dynamodb = _client_answering("dynamodb", status, headers, body)
    expected = getattr(dynamodb.exceptions, error)

    # WHEN a PutItem is made THEN the SDK raised that exact class, after all its retries
    with pytest.raises(expected) as raised:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "x"}})
    assert raised.value.response["Error"]["Code"] == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 3
    assert dynamodb.sent == 4


@pytest.mark.parametrize(
    ("error", "status"), [("ThrottlingException", 400), ("InternalServiceError", 500)]
)
def test_secrets_manager_errors_are_parsed_into_the_sdks_exception_and_retried(
    error: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the proxy's answer for `error`, on every attempt (and no real back-off)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    assert set(SECRETSMANAGER_ERRORS) == {"ThrottlingException", "InternalServiceError"}
    answer_status, headers, body = secretsmanager_error(error)
    assert answer_status == status
    secrets = _client_answering("secretsmanager", status, headers, body)
    # (ThrottlingException is a common error, not modelled: botocore's ClientError carries it)
    expected = getattr(secrets.exceptions, error, secrets.exceptions.ClientError)

    # WHEN a secret is read THEN the SDK raised that class with that code, after its retries
    with pytest.raises(expected) as raised:
        secrets.get_secret_value(SecretId="signing")
    assert raised.value.response["Error"] == {"Code": error, "Message": body_message(body)}
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 3
    assert secrets.sent == 4


def body_message(body: bytes) -> str:
    message: str = json.loads(body)["Message"]
    return message


def test_powertools_reports_an_unreadable_secret_as_the_error_parley_maps_to_2001(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN Powertools' secrets provider on a client that is throttled on every attempt
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    monkeypatch.setattr("time.sleep", lambda seconds: None)
    secrets = _client_answering("secretsmanager", *secretsmanager_error("ThrottlingException"))
    provider = SecretsProvider(boto3_client=secrets)

    # WHEN the signing secret is read THEN it raised GetParameterError (what
    # parley.runtime.signing_keys turns into Unavailable, 2001), not a botocore error
    with pytest.raises(GetParameterError, match="ThrottlingException"):
        provider.get("signing")


def test_the_sqs_partial_answer_is_what_the_sdk_reads_as_failed_entries() -> None:
    # GIVEN a batch whose entry "b" is chosen to fail
    payload = {
        "QueueUrl": "http://127.0.0.1:5000/123456789012/parley-push",
        "Entries": [{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}],
    }
    forward, failures = split_batch(payload, {"b"})
    # THEN only "a" is forwarded
    assert forward is not None
    assert [e["Id"] for e in forward["Entries"]] == ["a"]
    assert forward["QueueUrl"] == payload["QueueUrl"]
    upstream = {"Successful": [{"Id": "a", "MessageId": "m", "MD5OfMessageBody": "x"}]}
    merged = merge_batch(upstream, failures)

    # WHEN the SDK reads the merged answer THEN "a" succeeded, "b" failed on SQS's side
    sqs = _client_answering(
        "sqs", 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(merged).encode()
    )
    answer = sqs.send_message_batch(QueueUrl=payload["QueueUrl"], Entries=payload["Entries"])
    assert [s["Id"] for s in answer["Successful"]] == ["a"]
    assert answer["Failed"] == [
        {
            "Id": "b",
            "SenderFault": False,
            "Code": "InternalError",
            "Message": "We encountered an internal error. Please try again.",
        }
    ]
    assert sqs.sent == 1
    # AND a batch whose every entry fails is not forwarded at all
    assert split_batch(payload, {"a", "b"})[0] is None
    assert queue_name(payload["QueueUrl"]) == "parley-push"
    assert queue_name(None) is None


def test_the_tables_of_a_request_are_found_wherever_dynamodb_names_them() -> None:
    assert request_tables("GetItem", {"TableName": "a"}) == {"a"}
    assert request_tables("BatchWriteItem", {"RequestItems": {"a": [], "b": []}}) == {"a", "b"}
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "a", "Item": {}}},
            {"ConditionCheck": {"TableName": "b"}},
            {"Update": {"TableName": "a"}},
        ]
    }
    assert request_tables("TransactWriteItems", transact) == {"a", "b"}
    assert request_tables("ListTables", None) == set()
