"""Access tokens (JWT, HS256 pinned) and refresh tokens (`sid.gen.mac`): pure functions.

The stack's one signing secret is split into independent keys per purpose with HMAC, so a
refresh-token MAC can never be replayed as a JWT signature and vice versa.

Optionally, tokens of one external OpenID Connect issuer are accepted too
(:class:`ExternalVerifier`). Which verifier runs is decided by the token's `iss` alone, and
each verifier pins its own keys and algorithms: a token naming the external issuer is checked
only against that issuer's JWKS with asymmetric algorithms, any other token only with Parley's
HS256 key. So no token can make one verifier use the other's key material (algorithm
confusion), whatever its header says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parley.errors import Unauthenticated, Unavailable

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss", "aud", "jti"]
LEEWAY_SECONDS = 5
MAX_TOKEN_CHARS = 4096
# Only public-key algorithms for external issuers: an HMAC "key" from a JWKS would be public.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
EXTERNAL_REQUIRED_CLAIMS = ["iat", "exp", "iss", "aud"]
# The JWK key type each algorithm family needs.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_REFRESH_RE = re.compile(r"^([A-Za-z0-9_\-]{22})\.([1-9][0-9]{0,9})\.([A-Za-z0-9_\-]{43})$")


@dataclass(frozen=True)
class Keys:
    """Purpose-bound keys derived from the stack's signing secret."""

    jwt: bytes
    refresh: bytes
    challenge: bytes = b""
    text: bytes = b""  # the repeated-text hash (protocol 13)

    @classmethod
    def from_secret(cls, secret: str) -> Keys:
        root = secret.encode()
        return cls(
            jwt=hmac.new(root, b"parley/jwt/v1", hashlib.sha256).digest(),
            refresh=hmac.new(root, b"parley/refresh/v1", hashlib.sha256).digest(),
            challenge=hmac.new(root, b"parley/challenge/v1", hashlib.sha256).digest(),
            text=hmac.new(root, b"parley/repeated-text/v1", hashlib.sha256).digest(),
        )


@dataclass(frozen=True)
class Principal:
    """Who a verified access token speaks for."""

    user_id: str
    session_id: str
    expires_at: int
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_session_id() -> str:
    return _b64(os.urandom(16))


def issue_access_token(
    keys: Keys,
    *,
    user_id: str,
    session_id: str,
    now: int,
    ttl: int,
    issuer: str,
    audience: str,
    token_id: str | None = None,
) -> str:
    """A signed JWT with `sub, sid, iat, exp, iss, aud, jti` (HS256 is deterministic: the
    same claims, `token_id` included, give the same token)."""
    import jwt

    claims = {
        "sub": user_id,
        "sid": session_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "iss": issuer,
        "aud": audience,
        "jti": token_id or secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, keys.jwt, algorithm=ALGORITHM, headers={"typ": "JWT"})


def verify_access_token(keys: Keys, token: str, *, issuer: str, audience: str) -> Principal:
    """Verify signature (HS256 only), expiry, not-before, issuer, audience and required claims."""
    import jwt

    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("missing or malformed token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys.jwt,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid token") from None
    sub, sid, exp, jti = claims.get("sub"), claims.get("sid"), claims.get("exp"), claims.get("jti")
    if not (isinstance(sub, str) and isinstance(sid, str) and isinstance(exp, int)):
        raise Unauthenticated("invalid token")
    return Principal(user_id=sub, session_id=sid, expires_at=exp, token_id=str(jti))


def _refresh_mac(keys: Keys, session_id: str, generation: int) -> str:
    return _b64(hmac.new(keys.refresh, f"{session_id}.{generation}".encode(), "sha256").digest())


def issue_refresh_token(keys: Keys, session_id: str, generation: int) -> str:
    """`<sessionId>.<generation>.<mac>`: the server keeps only the session's current generation."""
    return f"{session_id}.{generation}.{_refresh_mac(keys, session_id, generation)}"


def parse_refresh_token(keys: Keys, token: str) -> tuple[str, int]:
    """The (sessionId, generation) of an authentic refresh token; 1003 for anything else."""
    match = _REFRESH_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise Unauthenticated("invalid refresh token")
    session_id, generation, mac = match.group(1), int(match.group(2)), match.group(3)
    if not hmac.compare_digest(mac, _refresh_mac(keys, session_id, generation)):
        raise Unauthenticated("invalid refresh token")
    return session_id, generation


def refresh_token_id(keys: Keys, session_id: str, generation: int) -> str:
    """The `jti` of the access token issued with refresh generation `generation`: derived,
    so the grace window can hand out the very same pair again without storing it."""
    return _refresh_mac(keys, session_id, generation)[:16]


# ---- registration challenge (protocol 13) --------------------------------------------------

_CHALLENGE_RE = re.compile(
    r"^([1-9][0-9]?)\.([0-9]{1,12})\.([A-Za-z0-9_\-]{22})\.([A-Za-z0-9_\-]{43})$"
)
MAX_SOLUTION_CHARS = 64


@dataclass(frozen=True)
class Challenge:
    """A verified, solved challenge: its nonce (to remember it as used) and its expiry."""

    nonce: str
    expires_at: int


def _challenge_mac(keys: Keys, payload: str) -> str:
    return _b64(hmac.new(keys.challenge, b"challenge/" + payload.encode(), "sha256").digest())


def issue_challenge(keys: Keys, *, now: int, ttl: int, difficulty: int) -> str:
    """`<difficulty>.<expiresAt>.<nonce>.<mac>`: everything the check needs is in the string,
    signed, so nothing is stored when it is issued."""
    payload = f"{difficulty}.{now + ttl}.{_b64(os.urandom(16))}"
    return f"{payload}.{_challenge_mac(keys, payload)}"


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits `digest` starts with."""
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def check_challenge(keys: Keys, challenge: object, solution: object, *, now: int) -> Challenge:
    """A challenge this server signed, not expired, whose SHA-256(challenge + solution)
    starts with its difficulty in zero bits; :class:`InvalidParam` (1001) otherwise.
    (Single use is the caller's: it remembers the nonce until `expires_at`.)"""
    from parley.errors import InvalidParam

    match = _CHALLENGE_RE.fullmatch(challenge) if isinstance(challenge, str) else None
    if match is None or not keys.challenge:
        raise InvalidParam("challenge is missing or malformed; get one at GET /auth/challenge")
    difficulty, expires_at, nonce, mac = match.groups()
    payload = f"{difficulty}.{expires_at}.{nonce}"
    if not hmac.compare_digest(mac, _challenge_mac(keys, payload)):
        raise InvalidParam("challenge was not issued by this server")
    if int(expires_at) <= now:
        raise InvalidParam("challenge expired; get a new one")
    if not isinstance(solution, str) or not 0 < len(solution) <= MAX_SOLUTION_CHARS:
        raise InvalidParam(f"solution must be 1-{MAX_SOLUTION_CHARS} characters")
    digest = hashlib.sha256((str(challenge) + solution).encode()).digest()
    if leading_zero_bits(digest) < int(difficulty):
        raise InvalidParam("solution does not solve the challenge")
    return Challenge(nonce=nonce, expires_at=int(expires_at))


def solve_challenge(challenge: str, difficulty: int) -> str:
    """The first counter whose SHA-256(challenge + counter) has `difficulty` zero bits
    (what a client does; ~2^difficulty hashes)."""
    prefix = challenge.encode()
    counter = 0
    while leading_zero_bits(hashlib.sha256(prefix + str(counter).encode()).digest()) < difficulty:
        counter += 1
    return str(counter)


# ---- external (OpenID Connect) access tokens ----------------------------------------------


def unverified_issuer(token: object) -> str | None:
    """The `iss` a JWT claims, read WITHOUT verification: only to pick the verifier that
    will then check the token with its own pinned keys; None for anything else."""
    import jwt

    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class ExternalVerifier:
    """Verifies access tokens of one OpenID Connect issuer against its JWKS.

    The key set is fetched with pyjwt's `PyJWKClient` and cached for `cache_seconds`; a token
    with a `kid` missing from the cached set forces at most one re-fetch per
    `refresh_cooldown` seconds (key rotation), so random `kid`s cannot make every request
    call the identity provider. One instance lives per container.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str],
        user_claim: str,
        jwks_url: str | None = None,
        jwks_client: Any = None,
        cache_seconds: float = 300,
        refresh_cooldown: float = 30,
        timeout: float = 3,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        unsafe = set(algorithms) - ASYMMETRIC_ALGORITHMS
        if not algorithms or unsafe:
            raise ValueError(f"external issuers need public-key algorithms, not {sorted(unsafe)}")
        if jwks_client is None:
            import jwt

            if not jwks_url:
                raise ValueError("an external issuer needs a JWKS URL")
            # The JWK-set cache expires (a key the issuer withdrew stops working within
            # `cache_seconds`); the per-kid cache would keep keys forever, so it stays off.
            jwks_client = jwt.PyJWKClient(
                jwks_url,
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=cache_seconds,
                timeout=timeout,
            )
        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.user_claim = user_claim
        self.jwks = jwks_client
        self.refresh_cooldown = refresh_cooldown
        self._monotonic = monotonic
        self._last_forced: float | None = None
        self._lock = threading.Lock()

    def claims(self, token: str) -> bool:
        """Whether `token` names this issuer (and so must be verified by it alone)."""
        return unverified_issuer(token) == self.issuer

    def verify(self, token: str) -> Principal:
        """Signature (JWKS key by `kid`, pinned algorithms), `exp`, `nbf`, `iss`, `aud`; the
        user id is the configured claim and must be a valid Parley userId."""
        import jwt

        from parley.ids import is_user_id

        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("missing or malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms or not isinstance(kid, str) or not kid:
            raise Unauthenticated("invalid token")
        key = self._key(kid)
        if key.key_type != _KEY_TYPES[alg[:2]]:
            # The JWK is of another kind than the token's algorithm needs: refuse, never adapt.
            raise Unauthenticated("invalid token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": EXTERNAL_REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        user_id, exp = claims.get(self.user_claim), claims.get("exp")
        if not is_user_id(user_id) or not isinstance(exp, int):
            raise Unauthenticated("the token's user claim is not a valid userId")
        assert isinstance(user_id, str)
        jti = claims.get("jti")
        return Principal(
            user_id=user_id, session_id="", expires_at=exp, token_id=str(jti) if jti else ""
        )

    def _key(self, kid: str) -> Any:
        """The JWKS key with `kid` (cached set first, one rate-limited re-fetch on a miss)."""
        import jwt

        try:
            key = self._match(self.jwks.get_jwk_set(), kid)
            if key is None and self._may_refresh():
                key = self._match(self.jwks.get_jwk_set(refresh=True), kid)
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("identity provider keys unavailable; retry") from None
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWTError):
            raise Unauthenticated("invalid token") from None
        if key is None:
            raise Unauthenticated("unknown signing key")
        return key

    def _may_refresh(self) -> bool:
        with self._lock:
            now = self._monotonic()
            if self._last_forced is not None and now - self._last_forced < self.refresh_cooldown:
                return False
            self._last_forced = now
            return True

    @staticmethod
    def _match(jwk_set: Any, kid: str) -> Any:
        for key in jwk_set.keys:
            if key.key_id == kid and key.public_key_use in ("sig", None):
                return key
        return None
