"""Security properties of template.yaml that checkov cannot see: every suppression says why,
the optional customer key reaches secrets, logs and environments, access logs cannot hold a
token, and the external-identity settings reach every function."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
NO_VALUE = {"Ref": "AWS::NoValue"}
CUSTOMER_KEY = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, NO_VALUE]}
OIDC = {
    "PARLEY_OIDC_ISSUER": "OidcIssuer",
    "PARLEY_OIDC_JWKS_URL": "OidcJwksUrl",
    "PARLEY_OIDC_AUDIENCE": "OidcAudience",
    "PARLEY_OIDC_ALGORITHMS": "OidcAlgorithms",
    "PARLEY_OIDC_USER_CLAIM": "OidcUserClaim",
}


@cache
def template() -> dict[str, Any]:
    return yaml_parse((ROOT / "template.yaml").read_text())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template()["Resources"].items() if r["Type"] == kind}


def test_every_checkov_suppression_names_its_check_and_says_why() -> None:
    skips = [
        (name, skip)
        for name, res in template()["Resources"].items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 60, f"{name}: {skip['id']} needs its reason"
    # Suppressed only where the reason holds: DLQ, VPC and reserved concurrency (functions)
    # and the conditional WebSocket access log; for the attachment bucket: the access log
    # (by parameter), versioning and replication (an expired or erased object must be gone);
    # for the optional edge's web ACL: the Log4j rule (no Java behind it).
    assert {s["id"] for _, s in skips} == {
        "CKV_AWS_192",
        "CKV_AWS_115",
        "CKV_AWS_116",
        "CKV_AWS_117",
        "CKV_AWS_95",
        "CKV_AWS_18",
        "CKV_AWS_21",
        "CKV_AWS_144",
    }


def test_the_customer_key_encrypts_secrets_log_groups_and_environments() -> None:
    for kind, prop in (
        ("AWS::SecretsManager::Secret", "KmsKeyId"),
        ("AWS::Logs::LogGroup", "KmsKeyId"),
    ):
        found = resources(kind)
        assert found
        for name, res in found.items():
            assert res["Properties"][prop] == CUSTOMER_KEY, name
    assert template()["Globals"]["Function"]["KmsKeyArn"] == CUSTOMER_KEY


@pytest.mark.parametrize(
    ("resource", "path"),
    [("HttpApi", ["AccessLogSettings"]), ("WebSocketStage", ["AccessLogSettings", "Fn::If", 1])],
)
def test_access_logs_name_no_path_query_or_header(resource: str, path: list[Any]) -> None:
    settings: Any = template()["Resources"][resource]["Properties"]
    for step in path:
        settings = settings[step]
    fields = json.loads(settings["Format"])
    variables = " ".join(fields.values()).lower()
    assert "$context.requestid" in variables
    for leak in ("path", "querystring", "header", "authorization", "token", "body"):
        assert leak not in variables, f"{resource} access log names {leak}"


def test_external_identity_is_optional_and_reaches_every_function() -> None:
    params = template()["Parameters"]
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    for variable, param in OIDC.items():
        assert params[param]["Default"] == ""
        assert env[variable] == {"Ref": param}
    assert template()["Conditions"]["HasOidc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OidcIssuer"}, ""]}]
    }


def test_make_test_runs_the_offline_iac_scan() -> None:
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^test:([^#\n]*)", makefile, flags=re.M)
    assert prerequisites and "iac" in prerequisites.group(1).split()
    recipe = re.search(r"^iac:.*\n\t(.*)", makefile, flags=re.M)
    assert recipe and "$(CHECKOV)" in recipe.group(1) and "--skip-download" in recipe.group(1)
    assert re.search(r"^CHECKOV := .*/bin/checkov$", makefile, flags=re.M)
    assert re.search(r"^fuzz:.*\n\tPARLEY_FUZZ_EXAMPLES=10000 ", makefile, flags=re.M)


def test_clients_are_given_tls_endpoints_only() -> None:
    # API Gateway serves execute-api endpoints over TLS only; the stack hands out no other.
    outputs = template()["Outputs"]
    assert outputs["WebSocketUrl"]["Value"]["Fn::Sub"].startswith("wss://")
    assert outputs["HttpApiUrl"]["Value"]["Fn::Sub"].startswith("https://")
    urls = [json.dumps(o["Value"]) for o in outputs.values()]
    assert not [u for u in urls if "http://" in u or "ws://" in u]


@pytest.mark.parametrize("resource", ["HttpApi", "WebSocketStage"])
def test_both_apis_throttle_at_the_stage(resource: str) -> None:
    # The first DoS bound, before any function runs (per-connection and per-user limits follow).
    settings = template()["Resources"][resource]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] > 0 and settings["ThrottlingRateLimit"] > 0


def test_external_tokens_get_their_crypto_layer_and_no_one_else_pays_for_it() -> None:
    # pyjwt verifies RS256/ES256 with `cryptography`, which it imports eagerly: the package
    # ships in a layer of its own, attached only when an external issuer is configured.
    layer = template()["Resources"]["OidcCryptoLayer"]
    assert layer["Condition"] == "HasOidc"
    requirements = (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").read_text()
    assert re.search(r"^cryptography\b", requirements, flags=re.M)
    main = (ROOT / "layers" / "parley" / "requirements.txt").read_text()
    assert "cryptography" not in main and "[crypto]" not in main
    assert template()["Globals"]["Function"]["Layers"] == [
        {"Ref": "ParleyLayer"},
        {"Fn::If": ["HasOidc", {"Ref": "OidcCryptoLayer"}, NO_VALUE]},
    ]
