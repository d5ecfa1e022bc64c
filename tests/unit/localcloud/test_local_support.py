"""Small pure parts: log rendering, secret generation, ids, CLI parsing, worker helpers."""

from __future__ import annotations

import io
import json
import os
import re
import string
import sys
import time
from pathlib import Path

import pytest
from parley_local import ids
from parley_local._worker import LambdaContext, _set_sys_path
from parley_local.aws import scrubbed_environ
from parley_local.cli import build_parser, parse_overrides
from parley_local.lambda_runtime import lambda_environment
from parley_local.logs import LogSink, render_function_line
from parley_local.reload import code_fingerprint
from parley_local.resources.secretsmanager import generate_secret_string
from parley_local.stack import FunctionSpec
from parley_local.template import TemplateError

# ---------------------------------------------------------------------------- logs


def test_powertools_lines_are_rendered_compactly() -> None:
    # GIVEN a Powertools Logger JSON line with the usual noise and one extra key
    line = json.dumps(
        {
            "level": "INFO",
            "location": "handler:12",
            "message": "message stored",
            "timestamp": "2024-01-01 00:00:00,000+0000",
            "service": "parley",
            "cold_start": True,
            "function_name": "f",
            "function_request_id": "r",
            "xray_trace_id": "x",
            "conversationId": "dm:alice:bob",
            "seq": 3,
        }
    )
    # WHEN it is rendered
    level, lines = render_function_line(line)
    # THEN only level, message and the key fields remain
    assert level == "INFO"
    assert lines == ["INFO  message stored  conversationId=dm:alice:bob seq=3"]


def test_exceptions_in_powertools_lines_follow_on_their_own_lines() -> None:
    line = json.dumps(
        {"level": "ERROR", "message": "failed", "exception": "Traceback\n  File x\nValueError: v"}
    )
    level, lines = render_function_line(line)
    assert level == "ERROR"
    assert lines == ["ERROR failed", "Traceback", "  File x", "ValueError: v"]


def test_other_lines_stay_as_they_are() -> None:
    assert render_function_line("hello") == (None, ["hello"])
    assert render_function_line('{"not": "powertools"}') == (None, ['{"not": "powertools"}'])
    assert render_function_line("[ERROR] ValueError: x")[0] == "ERROR"
    emf = {"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "Sent"}]}]}, "Sent": [1.0]}
    assert render_function_line(json.dumps(emf)) == ("DEBUG", ["METRIC Sent=[1.0]"])


def test_sink_prefixes_lines_and_remembers_them() -> None:
    stream = io.StringIO()
    sink = LogSink(stream, color=False)
    sink.function_line("EchoFunction", "stdout", "plain")
    sink.info("http", "GET /health 200", took=3)
    sink.debug("cloud", "hidden at INFO")
    text = stream.getvalue()
    assert re.search(r"EchoFunction\s+\| plain", text)
    assert "GET /health 200  took=3" in text
    assert "hidden" not in text
    assert "\033[" not in text
    assert len(sink.lines()) == 2


def test_json_sink_keeps_function_lines_raw_and_writes_json_events() -> None:
    stream = io.StringIO()
    sink = LogSink(stream, json_logs=True)
    raw = '{"level":"INFO","message":"m"}'
    sink.function_line("F", "stdout", raw)
    sink.info("http", "GET / 200", status=200)
    first, second = stream.getvalue().splitlines()
    assert first == raw
    assert json.loads(second) == {
        "source": "http",
        "level": "INFO",
        "message": "GET / 200",
        "status": 200,
    }


def test_colours_only_when_asked_or_on_a_terminal() -> None:
    stream = io.StringIO()
    LogSink(stream, color=True).warning("cloud", "careful")
    assert "\033[" in stream.getvalue()


def test_debug_level_filters_function_debug_lines() -> None:
    stream = io.StringIO()
    sink = LogSink(stream, color=False)
    sink.function_line("F", "stdout", json.dumps({"level": "DEBUG", "message": "noisy"}))
    assert stream.getvalue() == ""
    verbose = LogSink(stream, color=False, level="DEBUG")
    verbose.function_line("F", "stdout", json.dumps({"level": "DEBUG", "message": "noisy"}))
    assert "noisy" in stream.getvalue()


# ---------------------------------------------------------------------------- secrets


def test_generated_secret_honours_options() -> None:
    value = generate_secret_string({"PasswordLength": 40, "ExcludePunctuation": True}, "w")
    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits)
    only_digits = generate_secret_string(
        {
            "PasswordLength": 8,
            "ExcludeLowercase": True,
            "ExcludeUppercase": True,
            "ExcludePunctuation": True,
        },
        "w",
    )
    assert only_digits.isdigit()
    no_a = generate_secret_string({"PasswordLength": 200, "ExcludeCharacters": "aA"}, "w")
    assert "a" not in no_a and "A" not in no_a
    assert len(generate_secret_string({}, "w")) == 32


def test_each_included_type_is_present_by_default() -> None:
    for _ in range(20):
        value = generate_secret_string({"PasswordLength": 4}, "w")
        assert any(c.islower() for c in value)
        assert any(c.isupper() for c in value)
        assert any(c.isdigit() for c in value)
        assert any(c in string.punctuation for c in value)


def test_secret_string_template() -> None:
    value = generate_secret_string(
        {"SecretStringTemplate": '{"user": "u"}', "GenerateStringKey": "password"}, "w"
    )
    document = json.loads(value)
    assert document["user"] == "u"
    assert len(document["password"]) == 32


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"SecretStringTemplate": "{}"}, "go together"),
        ({"SecretStringTemplate": "nope", "GenerateStringKey": "k"}, "not JSON"),
        ({"SecretStringTemplate": "[]", "GenerateStringKey": "k"}, "JSON object"),
        ({"PasswordLength": 0}, "1..4096"),
        (
            {
                "ExcludeLowercase": "true",
                "ExcludeUppercase": "true",
                "ExcludeNumbers": True,
                "ExcludePunctuation": True,
            },
            "every character",
        ),
    ],
)
def test_bad_generate_secret_string(spec: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        generate_secret_string(spec, "Resources.S.Properties.GenerateSecretString")


# ---------------------------------------------------------------------------- ids


def test_ids_look_like_aws_ones() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}=", ids.gateway_id())
    assert re.fullmatch(r"[a-z0-9]{10}", ids.api_id("Api", "stack"))
    assert ids.api_id("Api", "stack") == ids.api_id("Api", "stack")
    name = ids.physical_name("parley-local", "Table")
    assert re.fullmatch(r"parley-local-Table-[A-Z0-9]{12}", name)
    assert len(ids.physical_name("s" * 100, "Q" * 100, 80, ".fifo")) == 80
    assert ids.physical_name("s", "Q", 80, ".fifo").endswith(".fifo")
    assert ids.clf_time(1_731_324_924_553) == "11/Nov/2024:11:35:24 +0000"
    assert ids.iso_time(1_731_324_924_553) == "2024-11-11T11:35:24.553Z"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", ids.trace_id())


# ---------------------------------------------------------------------------- CLI


def test_parameter_overrides_parsing() -> None:
    assert parse_overrides(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_overrides(["ParameterKey=Env,ParameterValue=prod"]) == {"Env": "prod"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["novalue"])
    with pytest.raises(ValueError, match="no name"):
        parse_overrides(["=1"])


def test_cli_defaults_and_flags() -> None:
    parser = build_parser()
    args = parser.parse_args([])
    assert (args.template, args.workers, args.idle_timeout, args.max_connection_age) == (
        "template.yaml",
        4,
        600.0,
        7200.0,
    )
    assert args.http_port is None and args.ws_port is None  # env vars, then 3000/3001
    args = parser.parse_args(
        [
            "-t",
            "x.yaml",
            "--json",
            "--workers",
            "2",
            "--idle-timeout",
            "1.5",
            "--parameter-overrides",
            "A=1",
            "B=2",
            "--http-port",
            "0",
        ]
    )
    assert args.json and args.workers == 2 and args.idle_timeout == 1.5
    assert args.parameter_overrides == ["A=1", "B=2"]
    assert args.http_port == 0
    for bad in (["--workers", "0"], ["--http-port", "70000"], ["--idle-timeout", "-1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


# ---------------------------------------------------------------------------- worker bits


def test_lambda_context_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    context = LambdaContext("req-1", int(time.time() * 1000) + 2000, "arn:fn")
    assert context.function_name == "fn"
    assert context.memory_limit_in_mb == "256"  # a string, as in the real runtime
    assert context.function_version == "$LATEST"
    assert context.aws_request_id == "req-1"
    assert 1000 < context.get_remaining_time_in_millis() <= 2000
    assert "req-1" in repr(context)
    assert LambdaContext("r", 0, "a").get_remaining_time_in_millis() == 0


def test_sys_path_puts_code_and_layers_first_and_drops_project_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sys.path with the project root, a tests folder and site-packages
    project = tmp_path / "proj"
    site = project / ".venv" / "lib" / "site-packages"
    monkeypatch.setattr(
        sys, "path", ["", str(project), str(project / "tests"), str(site), "/usr/lib/python3"]
    )
    # WHEN a worker sets its path
    _set_sys_path("/code", str(project), ("/layer",))
    # THEN code, layers, then installed packages; no project folders
    assert sys.path == ["/code", "/layer", str(site), "/usr/lib/python3"]


def test_lambda_environment(tmp_path: Path) -> None:
    spec = FunctionSpec(
        logical_id="Fn",
        name="stack-Fn-ABC",
        arn="arn:aws:lambda:us-east-1:123456789012:function:stack-Fn-ABC",
        handler="app.handler",
        runtime="python3.13",
        code_dir=tmp_path,
        memory_mb=512,
        timeout_s=3,
        environment={"TABLE": "t", "AWS_ENDPOINT_URL": "https://real.aws"},
    )
    env = lambda_environment(spec, region="eu-west-1", endpoint_url="http://m", base={"PATH": "p"})
    assert env["PATH"] == "p"
    assert env["TABLE"] == "t"
    assert env["AWS_ENDPOINT_URL"] == "http://m"  # never real AWS
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "stack-Fn-ABC"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["AWS_CONFIG_FILE"] == os.devnull


def test_scrubbed_environ_drops_aws_and_app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("PARLEY_USERS_TABLE", "from-shell")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "shell")
    monkeypatch.setenv("KEEP_ME", "1")
    env = scrubbed_environ()
    assert "AWS_PROFILE" not in env
    assert "PARLEY_USERS_TABLE" not in env
    assert "POWERTOOLS_SERVICE_NAME" not in env
    assert env["KEEP_ME"] == "1"


def test_code_fingerprint_changes_with_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("ignored")
    before = code_fingerprint([tmp_path])
    assert [Path(p).name for p, _ in before] == ["app.py"]
    os.utime(tmp_path / "app.py", ns=(1, 1))
    assert code_fingerprint([tmp_path]) != before
