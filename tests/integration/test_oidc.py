"""External identity: access tokens of one OpenID Connect issuer, verified against its JWKS
(served here on loopback with keys made by the test), pinned per issuer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from parley import runtime
from parley.config import Settings, SettingsError

from tests.integration.conftest import PASSWORD, Harness
from tests.integration.test_accounts import ALL_ON
from tests.support.security import (
    assert_accepted,
    assert_refused,
    authorize,
    hs256,
    me,
    rebuild_runtime,
    stack_keys,
    unsigned,
    window_aligned_clock,
)

ISSUER = "https://idp.example.test/realms/parley"
AUDIENCE = "parley-app"


@dataclass
class IdP:
    """A JSON Web Key Set on 127.0.0.1 and the private keys behind it."""

    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    url: str = ""
    hits: int = 0
    jwks: dict[str, Any] = field(default_factory=dict)

    def token(
        self,
        sub: str = "ext-alice",
        *,
        alg: str = "RS256",
        kid: str | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = key or (self.rsa_key if alg.startswith(("RS", "PS")) else self.ec_key)
        default_kid = "rsa-1" if alg.startswith(("RS", "PS")) else "ec-1"
        return jwt.encode(payload, signer, algorithm=alg, headers={"kid": kid or default_kid})

    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


@pytest.fixture(scope="module")
def idp() -> Iterator[IdP]:
    server_idp = IdP(
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
    )
    server_idp.jwks = {
        "keys": [
            _jwk(server_idp.rsa_key, "rsa-1", "RS256"),
            _jwk(server_idp.ec_key, "ec-1", "ES256"),
        ]
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_idp.hits += 1
            body = json.dumps(server_idp.jwks).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_idp.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_idp
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def oidc(app: Harness, idp: IdP, monkeypatch: pytest.MonkeyPatch) -> IdP:
    """The stack configured for the test issuer (a fresh verifier: a fresh JWKS cache)."""
    monkeypatch.setenv("PARLEY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("PARLEY_OIDC_JWKS_URL", idp.url)
    monkeypatch.setenv("PARLEY_OIDC_AUDIENCE", AUDIENCE)
    rebuild_runtime(monkeypatch, app, window_aligned_clock())
    idp.hits = 0
    return idp


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_external_token_opens_a_socket_and_http_and_provisions_the_user(
    app: Harness, oidc: IdP, alg: str
) -> None:
    token = oidc.token("ext-alice", alg=alg, name="Alice\u202e Example")
    assert_accepted(app, token, "ext-alice")
    status, body = me(app, token)
    assert body == {
        "userId": "ext-alice",
        "displayName": "Alice Example",
        "admin": False,
        "features": ALL_ON,
    }
    profile = runtime.users().get("ext-alice")
    assert profile is not None and "passwordHash" not in profile
    assert profile["identityProvider"] == ISSUER
    # A provisioned user has no password: password login is impossible (same answer as
    # for an unknown user), and its userId cannot be registered again.
    status, body = app.http(
        "http_auth", "POST", "/auth/login", body={"userId": "ext-alice", "password": PASSWORD}
    )
    assert (status, body["code"]) == (401, 1003)
    status, body = app.register("ext-alice")
    assert (status, body["code"]) == (409, 1008)


def test_external_user_can_chat_with_a_password_user(app: Harness, oidc: IdP) -> None:
    app.user("bob")
    token = oidc.token("ext-alice")
    ctx = authorize(token)["context"]
    assert ctx["sessionId"] == ""
    app.tokens["ext-alice"] = {"accessToken": token}
    app.connect("ext-alice", "e1")
    app.connect("bob", "b1")
    ack = app.send("ext-alice", "e1", to="bob", client_id="hello")
    assert ack["conversationId"] == "dm:bob:ext-alice"
    assert [m["senderId"] for m in app.gateway.frames("b1", "message")] == ["ext-alice"]


def test_keys_are_fetched_once_and_cached_per_container(app: Harness, oidc: IdP) -> None:
    verifier = runtime.external_verifier()
    for user in ("ext-a", "ext-b", "ext-c"):
        assert_accepted(app, oidc.token(user), user)
        assert_accepted(app, oidc.token(user, alg="ES256"), user)
    assert runtime.external_verifier() is verifier
    assert oidc.hits == 1


def test_unknown_kid_is_refused_and_cannot_make_every_request_refetch(
    app: Harness, oidc: IdP
) -> None:
    assert_accepted(app, oidc.token(), "ext-alice")
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for n in range(5):
        assert_refused(app, oidc.token(kid=f"rotated-{n}", key=foreign))
    # One forced re-fetch (key rotation) within the cooldown, not one per request.
    assert oidc.hits <= 2


def test_a_known_kid_with_a_foreign_key_is_refused(app: Harness, oidc: IdP) -> None:
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(app, oidc.token(kid="rsa-1", key=foreign))


def test_algorithm_confusion_with_the_jwks_public_key_is_refused(app: Harness, oidc: IdP) -> None:
    # HS256 "signed" with the issuer's public key (anyone can fetch it from the JWKS).
    claims = jwt.decode(oidc.token(), options={"verify_signature": False})
    assert_refused(app, hs256(claims, oidc.rsa_public_pem(), {"kid": "rsa-1"}))
    assert_refused(app, unsigned(claims))
    # Even Parley's own HS256 key cannot vouch for a token naming the external issuer.
    assert_refused(app, hs256(claims, stack_keys(app).jwt))


def test_a_key_of_another_type_than_the_algorithm_is_refused(app: Harness, oidc: IdP) -> None:
    # ES256 header pointing at the RSA key's kid.
    assert_refused(app, oidc.token(alg="ES256", kid="rsa-1"))


def test_tokens_of_the_external_issuer_key_cannot_pass_as_parley_tokens(
    app: Harness, oidc: IdP
) -> None:
    app.user("alice")
    # Signed by the IdP but claiming Parley as issuer: the Parley verifier takes only HS256.
    forged = oidc.token("alice", iss="parley", aud="parley-clients", sid="x", jti="y")
    assert_refused(app, forged)
    # Parley's own tokens still work next to the external issuer.
    assert_accepted(app, app.tokens["alice"]["accessToken"], "alice")


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        # Times relative to when the test runs (parametrize runs at collection, which can
        # be many minutes earlier on a loaded machine): "+" means now plus that many seconds.
        {"exp": "-60"},
        {"nbf": "+600"},
        {"iss": "https://evil.example.test"},
        {"sub": "Not A Valid Id!"},
        {"sub": None},
        {"iat": None},
    ],
    ids=["aud", "expired", "nbf", "iss", "bad-user-id", "no-sub", "no-iat"],
)
def test_invalid_external_tokens_are_refused(
    app: Harness, oidc: IdP, claims: dict[str, Any]
) -> None:
    now = int(time.time())
    resolved = {
        k: now + int(v) if k in ("exp", "nbf") and isinstance(v, str) else v
        for k, v in claims.items()
    }
    assert_refused(app, oidc.token(**resolved))


def test_an_external_token_cannot_take_over_a_password_account(app: Harness, oidc: IdP) -> None:
    app.user("alice")
    assert_refused(app, oidc.token("alice"))
    assert "identityProvider" not in (runtime.users().get("alice") or {})


def test_only_the_configured_algorithms_are_accepted(
    app: Harness, idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("PARLEY_OIDC_JWKS_URL", idp.url)
    monkeypatch.setenv("PARLEY_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PARLEY_OIDC_ALGORITHMS", "RS256")
    rebuild_runtime(monkeypatch, app, window_aligned_clock())
    assert_accepted(app, idp.token(alg="RS256"), "ext-alice")
    assert_refused(app, idp.token(alg="ES256"))


def test_the_user_claim_is_configurable(
    app: Harness, idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("PARLEY_OIDC_JWKS_URL", idp.url)
    monkeypatch.setenv("PARLEY_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PARLEY_OIDC_USER_CLAIM", "preferred_username")
    rebuild_runtime(monkeypatch, app, window_aligned_clock())
    token = idp.token("0b9c-uuid-like-Subject", preferred_username="ext-carol")
    assert_accepted(app, token, "ext-carol")
    assert_refused(app, idp.token("ext-carol"))  # no preferred_username claim


def test_without_configuration_external_tokens_are_refused(app: Harness, idp: IdP) -> None:
    assert runtime.external_verifier() is None
    assert_refused(app, idp.token())


def test_an_unreachable_jwks_is_a_retryable_503_not_a_crash(
    app: Harness, idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("PARLEY_OIDC_JWKS_URL", "http://127.0.0.1:9/jwks.json")
    monkeypatch.setenv("PARLEY_OIDC_AUDIENCE", AUDIENCE)
    rebuild_runtime(monkeypatch, app, window_aligned_clock())
    token = idp.token()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(token)
    status, body = me(app, token)
    assert (status, body["code"]) == (503, 2001)


@pytest.mark.parametrize(
    "env",
    [
        {"oidc_algorithms": "HS256"},
        {"oidc_algorithms": "RS256,none"},
        {"oidc_jwks_url": "http://idp.example.test/jwks.json"},
        {"oidc_jwks_url": "file:///etc/passwd"},
        {"oidc_audience": ""},
        {"oidc_issuer": "parley"},
    ],
)
def test_unsafe_configurations_fail_at_cold_start(env: dict[str, str]) -> None:
    base = {
        "oidc_issuer": ISSUER,
        "oidc_jwks_url": "https://idp.example.test/jwks.json",
        "oidc_audience": AUDIENCE,
    }
    Settings.from_mapping(base)
    with pytest.raises(SettingsError):
        Settings.from_mapping({**base, **env})
