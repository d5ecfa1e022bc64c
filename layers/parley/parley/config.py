"""Runtime configuration: one validated model, read from the environment at cold start.

Resource names have no defaults: a function that needs a table and was not given one fails
at import with the variable named, not later with a confusing AWS error.
"""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlparse

# Declared the pydantic way, built without pydantic (parley.plainmodel): -100 ms per cold start.
from parley.plainmodel import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "PARLEY_"


class Settings(BaseModel):
    """Everything a Parley function may read from its environment (all `PARLEY_*`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    users_table: str | None = None
    sessions_table: str | None = None
    connections_table: str | None = None
    conversations_table: str | None = None
    members_table: str | None = None
    messages_table: str | None = None
    limits_table: str | None = None
    push_queue_url: str | None = None
    signing_secret_arn: str | None = None
    turn_secret_arn: str | None = None
    ws_api_endpoint: str | None = None
    ws_stage: str | None = None

    jwt_issuer: str = "parley"
    jwt_audience: str = "parley-clients"
    access_token_ttl: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl: int = Field(default=30 * 86400, ge=3600, le=365 * 86400)
    secret_max_age: int = Field(default=300, ge=0)

    inline_fanout_max: int = Field(default=50, ge=0, le=1000)
    fanout_batch_users: int = Field(default=100, ge=1, le=1000)
    fanout_threads: int = Field(default=16, ge=1, le=128)
    max_group_size: int = Field(default=10000, ge=2, le=1_000_000)
    connection_ttl: int = Field(default=2 * 3600 + 600, ge=60)

    stun_urls: str = ""
    turn_urls: str = ""
    turn_ttl: int = Field(default=3600, ge=60, le=86400)

    frames_per_second: int = Field(default=50, ge=1)
    frame_burst: int = Field(default=100, ge=1)
    sends_per_minute: int = Field(default=600, ge=1)
    failed_logins_per_window: int = Field(default=20, ge=1)
    connects_per_minute: int = Field(default=60, ge=1)
    rate_window_seconds: int = Field(default=60, ge=1)

    # External identity (optional): access tokens of one OpenID Connect issuer.
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_algorithms: str = "RS256,ES256"
    oidc_user_claim: str = "sub"

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        if not self.oidc_issuer:
            return self
        from parley.tokens import ASYMMETRIC_ALGORITHMS

        if not (self.oidc_jwks_url and self.oidc_audience and self.oidc_user_claim):
            raise ValueError("PARLEY_OIDC_ISSUER needs PARLEY_OIDC_JWKS_URL and _AUDIENCE")
        if self.oidc_issuer == self.jwt_issuer:
            # Tokens are routed to a verifier by `iss`: the two issuers must differ.
            raise ValueError("PARLEY_OIDC_ISSUER must differ from PARLEY_JWT_ISSUER")
        url = urlparse(self.oidc_jwks_url)
        loopback = url.hostname in {"127.0.0.1", "localhost", "::1"}
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            raise ValueError("PARLEY_OIDC_JWKS_URL must be https")
        algorithms = self.oidc_algorithm_list()
        if not algorithms or not set(algorithms) <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                "PARLEY_OIDC_ALGORITHMS must be public-key algorithms "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        return self

    def oidc_algorithm_list(self) -> list[str]:
        """The configured external-token algorithms, in order."""
        return [a.strip() for a in self.oidc_algorithms.split(",") if a.strip()]

    # Debugging aid: message bodies in the send log line, honoured only in `dev`.
    environment: str | None = None
    log_bodies: bool = False

    @property
    def bodies_in_logs(self) -> bool:
        """True only when PARLEY_LOG_BODIES is set and PARLEY_ENVIRONMENT is `dev`."""
        return self.log_bodies and self.environment == "dev"

    def require(self, *names: str) -> Settings:
        """Fail fast (at cold start) when a needed setting is missing."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise RuntimeError(f"missing configuration: {env}")
        return self


@cache
def settings() -> Settings:
    """The settings of this process, read once from `PARLEY_*` environment variables."""
    values = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in os.environ.items()
        if name.startswith(ENV_PREFIX) and value != ""
    }
    return Settings.model_validate(values)
