"""Runtime configuration: one frozen dataclass, read from the environment at cold start.

Resource names have no defaults: a function that needs a table and was not given one fails
at import with the variable named, not later with a confusing AWS error. Values arrive as
the environment's strings and are parsed here (`int` from decimal text, `bool` from
`1/0/true/false/yes/no/on/off/t/f/y/n`); a value that does not parse or is out of its bounds
fails the cold start, with every problem named in one :class:`SettingsError`. Plain Python
on purpose: every function reads its settings, and most never need pydantic.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlparse

ENV_PREFIX = "PARLEY_"
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


class SettingsError(ValueError):
    """Every problem found in the settings, each naming its `PARLEY_*` variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} configuration {noun}: " + "; ".join(problems))


def _bounded(default: int, ge: int, le: int | None = None) -> Any:
    """An integer field with its inclusive bounds (checked at construction)."""
    return dataclasses.field(default=default, metadata={"ge": ge, "le": le})


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


@dataclass(frozen=True)
class Settings:
    """Everything a Parley function may read from its environment (all `PARLEY_*`)."""

    users_table: str | None = None
    sessions_table: str | None = None
    connections_table: str | None = None
    conversations_table: str | None = None
    members_table: str | None = None
    messages_table: str | None = None
    limits_table: str | None = None
    push_queue_url: str | None = None
    # The push queue's bulk lane (services/budget.py): given to the functions that route to it.
    push_bulk_queue_url: str | None = None
    signing_secret_arn: str | None = None
    # The secret CloudFront adds to every request it forwards when the stack's optional
    # edge (EdgeProtection=on) is in front of the HTTP API; empty = no edge.
    edge_secret_arn: str = ""
    turn_secret_arn: str | None = None
    ws_api_endpoint: str | None = None
    ws_stage: str | None = None
    attachments_table: str | None = None
    attachments_bucket: str | None = None
    max_attachment_bytes: int = _bounded(25 * 1024 * 1024, ge=1, le=5 * 1024**3)

    # Offline push (protocol 10).
    devices_table: str | None = None
    notify_queue_url: str | None = None
    notify_dlq_url: str | None = None
    vapid_secret_arn: str | None = None
    push_endpoint_policy: str = "https"
    push_contact: str = "mailto:push@example.invalid"
    push_ttl: int = _bounded(86400, ge=0, le=2419200)
    push_previews: bool = False
    fcm_application_arn: str = ""
    apns_application_arn: str = ""
    # Groups larger than this notify only the members a message mentions.
    push_all_members_max: int = _bounded(100, ge=0, le=10000)
    # A deleted file's erasure (protocol 9.2), delivered after a delay longer than a send
    # can last (SQS allows 0-900 s; the template keeps it over the send's timeout).
    erase_queue_url: str | None = None
    erase_delay_seconds: int = _bounded(15, ge=0, le=900)
    # Account erasure and export (protocol 12): the jobs queue, and the delay of the
    # erasure a deletion schedules (longer than the request can last: the template keeps
    # it over the auth function's timeout).
    account_jobs_queue_url: str | None = None
    account_erase_delay_seconds: int = _bounded(30, ge=0, le=900)

    jwt_issuer: str = "parley"
    jwt_audience: str = "parley-clients"
    access_token_ttl: int = _bounded(900, ge=60, le=86400)
    refresh_token_ttl: int = _bounded(30 * 86400, ge=3600, le=365 * 86400)
    secret_max_age: int = _bounded(300, ge=0)
    # Sessions (issue 15): the same refresh token presented again within the grace window
    # gets the same new pair; a login ends `session_max_lifetime` after it began, however
    # often it is refreshed; open sockets re-read their login at most this often.
    refresh_grace_seconds: int = _bounded(30, ge=0, le=600)
    session_max_lifetime: int = _bounded(90 * 86400, ge=3600, le=3650 * 86400)
    session_recheck_seconds: int = _bounded(30, ge=1, le=3600)

    inline_fanout_max: int = _bounded(50, ge=0, le=1000)
    fanout_batch_users: int = _bounded(100, ge=1, le=1000)
    fanout_threads: int = _bounded(16, ge=1, le=128)
    max_group_size: int = _bounded(10000, ge=2, le=1_000_000)
    connection_ttl: int = _bounded(2 * 3600 + 600, ge=60)

    stun_urls: str = ""
    turn_urls: str = ""
    turn_ttl: int = _bounded(3600, ge=60, le=86400)

    frames_per_second: int = _bounded(50, ge=1)
    frame_burst: int = _bounded(100, ge=1)
    sends_per_minute: int = _bounded(600, ge=1)
    failed_logins_per_window: int = _bounded(20, ge=1)
    connects_per_minute: int = _bounded(60, ge=1)
    rate_window_seconds: int = _bounded(60, ge=1)
    # Protocol 13: failed logins per account per login window, registrations per address
    # per hour, and the registration challenge (`off` or `pow`, with its difficulty in bits).
    failed_logins_per_account: int = _bounded(10, ge=1)
    login_window_seconds: int = _bounded(900, ge=1, le=86400)
    registrations_per_hour: int = _bounded(10, ge=1)
    registration_challenge: str = "off"
    challenge_difficulty: int = _bounded(20, ge=1, le=32)
    challenge_ttl: int = _bounded(300, ge=30, le=3600)
    # Protocol 13 per-account abuse limits (services/abuse.py) and the app admins (12).
    groups_per_day: int = _bounded(50, ge=1)
    members_added_per_hour: int = _bounded(2000, ge=1)
    direct_conversations_per_hour: int = _bounded(30, ge=1)
    repeated_text_conversations: int = _bounded(10, ge=0)  # 0: not counted
    repeated_text_window_seconds: int = _bounded(600, ge=1, le=86400)
    connections_per_user: int = _bounded(20, ge=1, le=1000)
    # Issue 15: member deliveries one sender may cause per minute (services/budget.py); at
    # least the largest group, so that one message can always go out.
    fanout_deliveries_per_minute: int = _bounded(50_000, ge=10_000)
    # Past this percentage of it already spent in the window, the sender's fan-out work goes
    # to the bulk push queue (100: never).
    fanout_bulk_share_percent: int = _bounded(20, ge=0, le=100)
    admin_users: str = ""
    flags_table: str | None = None
    # Protocol 12: days a message is kept (0: forever); older ones expire by TTL and reads
    # hide them meanwhile (services/retention.py). At most 100 years of days.
    message_retention_days: int = _bounded(0, ge=0, le=36500)

    # External identity (optional): access tokens of one OpenID Connect issuer.
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_algorithms: str = "RS256,ES256"
    oidc_user_claim: str = "sub"

    # Feature flags (issue 17, parley.features): the AppConfig application, environment and
    # feature-flags profile, and how long a read document is kept; no application: no flags.
    flags_application: str = ""
    flags_environment: str = ""
    flags_profile: str = ""
    flags_max_age: int = _bounded(30, ge=1, le=3600)

    # Debugging aid: message bodies in the send log line, honoured only in `dev`.
    environment: str | None = None
    log_bodies: bool = False

    def __post_init__(self) -> None:
        problems = [
            problem
            for field in dataclasses.fields(self)
            if (problem := _out_of_bounds(field, getattr(self, field.name)))
        ]
        problems += self._oidc_problems()
        if self.push_endpoint_policy not in ("https", "loopback"):
            problems.append("PARLEY_PUSH_ENDPOINT_POLICY must be https or loopback")
        if self.registration_challenge not in ("off", "pow"):
            problems.append("PARLEY_REGISTRATION_CHALLENGE must be off or pow")
        if self.registration_challenge == "pow" and not self.limits_table:
            # Used challenges are remembered in the limits table (RateLimits=enabled).
            problems.append("PARLEY_REGISTRATION_CHALLENGE=pow needs PARLEY_LIMITS_TABLE")
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Settings from field names to the environment's strings; unknown names are ignored.

        Every value that does not parse, and every bound or rule it breaks, is reported at
        once in one :class:`SettingsError`.
        """
        parsed: dict[str, Any] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):
            if field.name in values:
                try:
                    parsed[field.name] = _parse(field, values[field.name])
                except ValueError as exc:
                    problems.append(f"{_env_name(field.name)} {exc}")
        try:
            # A value that did not parse is left at its default: the bounds and rules of
            # the others are still checked, so one error names every problem.
            built = cls(**parsed)
        except SettingsError as err:
            problems += err.problems
        if problems:
            raise SettingsError(problems)
        return built

    def _oidc_problems(self) -> list[str]:
        if not self.oidc_issuer:
            return []
        from parley.tokens import ASYMMETRIC_ALGORITHMS

        problems = []
        if not (self.oidc_jwks_url and self.oidc_audience and self.oidc_user_claim):
            problems.append("PARLEY_OIDC_ISSUER needs PARLEY_OIDC_JWKS_URL and _AUDIENCE")
        if self.oidc_issuer == self.jwt_issuer:
            # Tokens are routed to a verifier by `iss`: the two issuers must differ.
            problems.append("PARLEY_OIDC_ISSUER must differ from PARLEY_JWT_ISSUER")
        url = urlparse(self.oidc_jwks_url)
        loopback = url.hostname in {"127.0.0.1", "localhost", "::1"}
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            problems.append("PARLEY_OIDC_JWKS_URL must be https")
        algorithms = self.oidc_algorithm_list()
        if not algorithms or not set(algorithms) <= ASYMMETRIC_ALGORITHMS:
            problems.append(
                "PARLEY_OIDC_ALGORITHMS must be public-key algorithms "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        return problems

    def admin_user_set(self) -> frozenset[str]:
        """The app admins' userIds (`AdminUsers`, comma-separated)."""
        return frozenset(u.strip() for u in self.admin_users.split(",") if u.strip())

    def oidc_algorithm_list(self) -> list[str]:
        """The configured external-token algorithms, in order."""
        return [a.strip() for a in self.oidc_algorithms.split(",") if a.strip()]

    @property
    def bodies_in_logs(self) -> bool:
        """True only when PARLEY_LOG_BODIES is set and PARLEY_ENVIRONMENT is `dev`."""
        return self.log_bodies and self.environment == "dev"

    def require(self, *names: str) -> Settings:
        """Fail fast (at cold start) when a needed setting is missing."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(_env_name(n) for n in missing)
            raise RuntimeError(f"missing configuration: {env}")
        return self


def _parse(field: dataclasses.Field[Any], raw: str) -> object:
    """One environment string as the field's type (ValueError saying what was expected)."""
    kind = str(field.type).replace(" ", "")
    if kind in {"str", "str|None"}:
        return raw
    text = raw.strip()
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"must be a boolean (true/false), not {raw!r}")
    if kind == "int":
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if text.isascii() and text.lstrip("+-").isdigit() and len(text) <= 18:
            return int(text)
        raise ValueError(f"must be an integer, not {raw!r}")
    raise TypeError(f"unsupported settings type {field.type!r} of {field.name}")


def _out_of_bounds(field: dataclasses.Field[Any], value: object) -> str | None:
    ge, le = field.metadata.get("ge"), field.metadata.get("le")
    if not isinstance(value, int) or (ge is None and le is None):
        return None
    if (ge is not None and value < ge) or (le is not None and value > le):
        bounds = f"between {ge} and {le}" if le is not None else f"at least {ge}"
        return f"{_env_name(field.name)} must be {bounds}, not {value}"
    return None


@cache
def settings() -> Settings:
    """The settings of this process, read once from `PARLEY_*` environment variables."""
    values = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in os.environ.items()
        if name.startswith(ENV_PREFIX) and value != ""
    }
    return Settings.from_mapping(values)
