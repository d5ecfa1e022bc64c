"""`parley.tokens`: HS256-pinned access tokens and MAC'd refresh tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from parley import tokens
from parley.errors import Unauthenticated
from parley.tokens import Keys

KEYS = Keys.from_secret("test-signing-secret-0123456789abcdef")
OTHER_KEYS = Keys.from_secret("another-secret")
ISS, AUD = "parley", "parley-clients"


def now() -> int:
    return int(time.time())


def claims(**overrides: Any) -> dict[str, Any]:
    t = now()
    base: dict[str, Any] = {
        "sub": "alice",
        "sid": "S" * 22,
        "iat": t,
        "nbf": t,
        "exp": t + 900,
        "iss": ISS,
        "aud": AUD,
        "jti": "jti-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: bytes = KEYS.jwt, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def verify(token: str, keys: Keys = KEYS, iss: str = ISS, aud: str = AUD) -> tokens.Principal:
    return tokens.verify_access_token(keys, token, issuer=iss, audience=aud)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---- keys --------------------------------------------------------------------------------


def test_keys_are_derived_per_purpose_and_per_secret() -> None:
    # GIVEN keys derived from a secret
    # WHEN they are compared
    # THEN the JWT key, the refresh key and the secret itself all differ, deterministically
    assert KEYS.jwt != KEYS.refresh
    assert b"test-signing-secret-0123456789abcdef" not in (KEYS.jwt, KEYS.refresh)
    assert Keys.from_secret("test-signing-secret-0123456789abcdef") == KEYS
    assert OTHER_KEYS.jwt != KEYS.jwt


# ---- access tokens -----------------------------------------------------------------------


def test_issue_then_verify_roundtrip() -> None:
    # GIVEN a freshly issued access token
    # WHEN it is verified
    # THEN it names the user, the session and the expiry
    t = now()
    token = tokens.issue_access_token(
        KEYS, user_id="alice", session_id="sess-1", now=t, ttl=900, issuer=ISS, audience=AUD
    )
    principal = verify(token)
    assert principal.user_id == "alice"
    assert principal.session_id == "sess-1"
    assert principal.expires_at == t + 900
    assert principal.token_id


def test_issued_token_carries_every_required_claim_and_hs256() -> None:
    # GIVEN an issued token
    # WHEN its header and claims are read without verification
    # THEN it is HS256 with sub, sid, iat, nbf, exp, iss, aud and a unique jti
    t = now()
    make = lambda: tokens.issue_access_token(  # noqa: E731
        KEYS, user_id="alice", session_id="s", now=t, ttl=60, issuer=ISS, audience=AUD
    )
    token = make()
    header = jwt.get_unverified_header(token)
    body = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert body["sub"] == "alice"
    assert body["sid"] == "s"
    assert body["iat"] == body["nbf"] == t
    assert body["exp"] == t + 60
    assert (body["iss"], body["aud"]) == (ISS, AUD)
    assert body["jti"] != jwt.decode(make(), options={"verify_signature": False})["jti"]


def test_token_with_alg_none_is_refused() -> None:
    # GIVEN an unsigned token (`alg: none`) with valid claims
    # WHEN it is verified
    # THEN it is refused with 1003
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(Unauthenticated):
            verify(token)


def test_token_signed_with_another_key_is_refused() -> None:
    # GIVEN an HS256 token with valid claims signed with a different key
    # WHEN it is verified
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        verify(sign(claims(), key=OTHER_KEYS.jwt))


def test_token_signed_with_the_raw_secret_or_refresh_key_is_refused() -> None:
    # GIVEN tokens signed with the underived secret and with the refresh-purpose key
    # WHEN they are verified
    # THEN both are refused: only the JWT-purpose key signs access tokens
    for key in (b"test-signing-secret-0123456789abcdef", KEYS.refresh):
        with pytest.raises(Unauthenticated):
            verify(sign(claims(), key=key))


@pytest.mark.filterwarnings("ignore:The HMAC key")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_even_with_the_right_key(alg: str) -> None:
    # GIVEN a token signed with the right key but another algorithm
    # WHEN it is verified
    # THEN it is refused: the algorithm is pinned to HS256
    with pytest.raises(Unauthenticated):
        verify(sign(claims(), alg=alg))


def test_tampered_payload_is_refused() -> None:
    # GIVEN a valid token whose payload was changed to another user
    # WHEN it is verified
    # THEN it is refused with 1003
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(sub="mallory")).encode())
    with pytest.raises(Unauthenticated):
        verify(f"{header}.{forged}.{signature}")


def test_tampered_signature_is_refused() -> None:
    # GIVEN a valid token with one signature byte flipped
    # WHEN it is verified
    # THEN it is refused with 1003
    header, payload, signature = sign(claims()).split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 1
    with pytest.raises(Unauthenticated):
        verify(f"{header}.{payload}.{b64(bytes(raw))}")


@pytest.mark.parametrize(("field", "value"), [("iss", "evil"), ("aud", "someone-else")])
def test_wrong_issuer_or_audience_is_refused(field: str, value: str) -> None:
    # GIVEN a correctly signed token for another issuer or audience
    # WHEN it is verified
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        verify(sign(claims(**{field: value})))


def test_expired_token_is_refused() -> None:
    # GIVEN a token that expired 10 s ago (beyond the 5 s leeway)
    # WHEN it is verified
    # THEN it is refused with 1003 saying it expired
    t = now()
    with pytest.raises(Unauthenticated) as caught:
        verify(sign(claims(iat=t - 1000, nbf=t - 1000, exp=t - 10)))
    assert "expired" in caught.value.message


def test_token_within_leeway_is_accepted() -> None:
    # GIVEN a token that expired 2 s ago (within the 5 s clock-skew leeway)
    # WHEN it is verified
    # THEN it is accepted
    t = now()
    assert verify(sign(claims(iat=t - 100, nbf=t - 100, exp=t - 2))).user_id == "alice"


def test_token_not_yet_valid_is_refused() -> None:
    # GIVEN a token whose nbf is a minute in the future
    # WHEN it is verified
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        verify(sign(claims(nbf=now() + 60)))


@pytest.mark.parametrize("missing", ["sub", "iat", "exp", "iss", "aud", "jti"])
def test_missing_required_claim_is_refused(missing: str) -> None:
    # GIVEN a correctly signed token lacking one required claim
    # WHEN it is verified
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        verify(sign(claims(**{missing: None})))


def test_missing_session_claim_is_refused() -> None:
    # GIVEN a correctly signed token without `sid`
    # WHEN it is verified
    # THEN it is refused: a principal needs its login
    with pytest.raises(Unauthenticated):
        verify(sign(claims(sid=None)))


@pytest.mark.parametrize(("field", "value"), [("sub", 5), ("sid", 5), ("exp", "tomorrow")])
def test_mistyped_claims_are_refused(field: str, value: Any) -> None:
    # GIVEN a correctly signed token whose sub/sid/exp has the wrong type
    # WHEN it is verified
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        verify(sign(claims(**{field: value})))


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "a.b", "x" * 4097, None, 5, "....", "eyJ.eyJ.sig"]
)
def test_malformed_tokens_are_refused(token: Any) -> None:
    # GIVEN something that is not a JWT at all
    # WHEN it is verified
    # THEN it is refused with 1003, never another exception
    with pytest.raises(Unauthenticated):
        verify(token)


# ---- refresh tokens ----------------------------------------------------------------------


def test_session_ids_are_22_url_safe_characters_and_unique() -> None:
    # GIVEN new session ids
    # WHEN they are inspected
    # THEN each is 22 URL-safe characters (128 random bits) and they differ
    made = {tokens.new_session_id() for _ in range(1000)}
    assert len(made) == 1000
    for sid in made:
        assert len(sid) == 22
        assert all(c.isalnum() or c in "-_" for c in sid)


def test_refresh_token_format_is_sid_gen_mac() -> None:
    # GIVEN a refresh token for generation 7
    # WHEN it is split
    # THEN it is `<22-char sid>.7.<43-char mac>`
    sid = tokens.new_session_id()
    token = tokens.issue_refresh_token(KEYS, sid, 7)
    part_sid, part_gen, part_mac = token.split(".")
    assert (part_sid, part_gen) == (sid, "7")
    assert len(part_mac) == 43


@pytest.mark.parametrize("generation", [1, 2, 9, 10, 12345, 9_999_999_999])
def test_refresh_token_roundtrip_keeps_the_generation(generation: int) -> None:
    # GIVEN a refresh token for a generation
    # WHEN it is parsed
    # THEN the same session id and generation come back
    sid = tokens.new_session_id()
    assert tokens.parse_refresh_token(KEYS, tokens.issue_refresh_token(KEYS, sid, generation)) == (
        sid,
        generation,
    )


def test_refresh_token_mac_tamper_is_refused() -> None:
    # GIVEN a refresh token with each MAC character changed in turn
    # WHEN it is parsed
    # THEN every variant is refused with 1003
    sid = tokens.new_session_id()
    token = tokens.issue_refresh_token(KEYS, sid, 3)
    head, mac = token.rsplit(".", 1)
    for i in range(len(mac)):
        swapped = "A" if mac[i] != "A" else "B"
        with pytest.raises(Unauthenticated):
            tokens.parse_refresh_token(KEYS, f"{head}.{mac[:i]}{swapped}{mac[i + 1 :]}")


def test_refresh_token_with_changed_generation_is_refused() -> None:
    # GIVEN a generation-3 token whose generation was edited to 4 (MAC kept)
    # WHEN it is parsed
    # THEN it is refused: the MAC binds the generation
    sid = tokens.new_session_id()
    _, _, mac = tokens.issue_refresh_token(KEYS, sid, 3).split(".")
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, f"{sid}.4.{mac}")


def test_refresh_token_with_changed_session_is_refused() -> None:
    # GIVEN a token whose session id was swapped for another (MAC kept)
    # WHEN it is parsed
    # THEN it is refused
    _, gen, mac = tokens.issue_refresh_token(KEYS, tokens.new_session_id(), 1).split(".")
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, f"{tokens.new_session_id()}.{gen}.{mac}")


def test_refresh_token_from_another_secret_is_refused() -> None:
    # GIVEN a refresh token made with other keys
    # WHEN it is parsed with ours
    # THEN it is refused
    token = tokens.issue_refresh_token(OTHER_KEYS, tokens.new_session_id(), 1)
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, token)


def test_access_token_is_not_a_refresh_token() -> None:
    # GIVEN a valid access token
    # WHEN it is presented as a refresh token
    # THEN it is refused
    access = tokens.issue_access_token(
        KEYS, user_id="alice", session_id="s", now=now(), ttl=60, issuer=ISS, audience=AUD
    )
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, access)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s, m: f"{s}.0.{m}",  # generation 0
        lambda s, m: f"{s}.01.{m}",  # leading zero
        lambda s, m: f"{s}.-1.{m}",
        lambda s, m: f"{s}.12345678901.{m}",  # 11 digits
        lambda s, m: f"{s}.1.{m}.x",
        lambda s, m: f"{s}.1",
        lambda s, m: f"{s[:-1]}.1.{m}",  # 21-char sid
        lambda s, m: f"{s}.1.{m[:-1]}",  # 42-char mac
        lambda s, m: f"{s}.1.{m}=",
        lambda s, m: f" {s}.1.{m}",
        lambda s, m: f"{s}.1.{m}\n",
        lambda s, m: "",
    ],
)
def test_malformed_refresh_tokens_are_refused(mutate: Any) -> None:
    # GIVEN a refresh token of the wrong shape
    # WHEN it is parsed
    # THEN it is refused with 1003
    sid = tokens.new_session_id()
    mac = tokens.issue_refresh_token(KEYS, sid, 1).split(".")[2]
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, mutate(sid, mac))


@pytest.mark.parametrize("token", [None, 5, b"bytes", ["a"]])
def test_non_string_refresh_tokens_are_refused(token: Any) -> None:
    # GIVEN a refresh token that is not a string
    # WHEN it is parsed
    # THEN it is refused with 1003
    with pytest.raises(Unauthenticated):
        tokens.parse_refresh_token(KEYS, token)
