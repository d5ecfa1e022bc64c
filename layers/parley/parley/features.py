"""Feature flags (issue 17): which features are on for a caller, from AWS AppConfig.

The flags document is Powertools Feature Flags' schema, hosted in AppConfig (the template's
`FeatureFlagsProfile`) and read with Powertools' `AppConfigStore` from the variables every
function is given: `PARLEY_FLAGS_APPLICATION`, `PARLEY_FLAGS_ENVIRONMENT`,
`PARLEY_FLAGS_PROFILE` and `PARLEY_FLAGS_MAX_AGE` (the cache's seconds). Without an
application every flag is at its default, which is the behaviour Parley had before flags.

Rules see the caller's context (:func:`context`): `userId`, `bucket` (the userId's stable
0-99 share bucket, SHA-256 based, so the same on every container and deploy), `region`,
`admin`, and where the call knows them `conversationType` and `conversationSize`.

A flag costs no AWS call per request: the store keeps the document for `max_age` seconds
per container. A document that cannot be read or does not validate keeps the last good
one (or the defaults before any), logged and counted: flags never fail a request.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from parley.errors import InvalidParam, UnknownAction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.feature_flags import FeatureFlags

# Flag names: the keys of the flags document and of `GET /me`'s `features`.
EDIT: Final = "edit"
DELETE: Final = "delete"
REACTION: Final = "reaction"
FILE: Final = "file"
PUSH_PREVIEWS: Final = "pushPreviews"
FANOUT_BUDGET: Final = "fanoutDeliveriesPerMinute"
TYPING: Final = "typing"
PRESENCE: Final = "presence"
READ: Final = "read"

# Each rich-message kind's flag (a `send` of that body type; 1001 when off).
BODY_FLAGS: Final = {"edit": EDIT, "delete": DELETE, "reaction": REACTION, "file": FILE}
# Each live action's kill switch (1007 when off).
ACTION_FLAGS: Final = {"typing": TYPING, "presence": PRESENCE, "read": READ}
# The boolean flags and their default (on: Parley without flags).
BOOLEAN_DEFAULTS: Final[dict[str, bool]] = {
    EDIT: True,
    DELETE: True,
    REACTION: True,
    FILE: True,
    PUSH_PREVIEWS: True,
    TYPING: True,
    PRESENCE: True,
    READ: True,
}
# The fan-out budget's override: 0 (its default) keeps `FanoutDeliveriesPerMinute`; a value
# below the largest group would refuse that group's every message, so it is ignored.
FANOUT_BUDGET_MIN: Final = 10_000
NUMERIC_DEFAULTS: Final[dict[str, int]] = {FANOUT_BUDGET: 0}
BUCKETS: Final = 100


class Store(Protocol):
    """Where the flags document comes from (Powertools' `StoreProvider` shape)."""

    def get_configuration(self) -> dict[str, Any]:
        """The flags document (raises when it cannot be read)."""
        ...


def bucket(user_id: str) -> int:
    """The user's share bucket, 0-99: the first 8 bytes of SHA-256(userId) modulo 100.

    Never Python's `hash` (salted per process): the bucket must be the same on every
    container and after every deploy, or a 10% rollout would reshuffle its users."""
    digest = hashlib.sha256(user_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def context(
    user_id: str,
    *,
    admin: bool,
    region: str | None = None,
    conversation_type: str | None = None,
    conversation_size: int | None = None,
) -> dict[str, Any]:
    """The attributes a rule may test (docs/operations.md, "Feature flags")."""
    ctx: dict[str, Any] = {
        "userId": user_id,
        "bucket": bucket(user_id),
        "region": region if region is not None else os.environ.get("AWS_REGION", ""),
        "admin": admin,
    }
    if conversation_type is not None:
        ctx["conversationType"] = conversation_type
    if conversation_size is not None:
        ctx["conversationSize"] = conversation_size
    return ctx


class _LastKnownStore:
    """The configured store, keeping the last document that read and validated.

    Powertools answers the caller's default when its store fails and raises on a document
    that does not validate; this keeps the last good document instead (a flag rolled back
    stays rolled back through an AppConfig outage) and reports each failure."""

    def __init__(
        self,
        inner: Store,
        on_error: Callable[[Exception], None],
        backoff: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.on_error = on_error
        self.backoff = backoff
        self.clock = clock
        self.quiet_until = 0.0
        self.last: dict[str, Any] = {}
        self.refused: object = None  # the last document that did not validate

    def get_raw_configuration(self) -> dict[str, Any]:
        return self.get_configuration()

    def get_configuration(self) -> dict[str, Any]:
        if self.clock() < self.quiet_until:
            # AppConfig failed a moment ago: not asked again on every request meanwhile.
            return self.last
        try:
            document = self.inner.get_configuration()
            if document is not self.last and document is not self.refused:
                # Reported once per cached copy, not on every evaluation until it expires.
                self.refused = document
                from aws_lambda_powertools.utilities.feature_flags.schema import SchemaValidator

                SchemaValidator(schema=document).validate()
                self.last, self.refused = document, None
        except Exception as exc:  # any store failure keeps the last document
            self.quiet_until = self.clock() + self.backoff
            self.on_error(exc)
        return self.last


def _ignore(*_: Any, **__: Any) -> None:
    return None


@dataclass(eq=False, kw_only=True)
class Features:
    """Evaluates flags for one caller; with neither `store` nor `connect`, no flags: every
    flag at its default."""

    store: Store | None = None
    # Builds the store on the first evaluation instead (AppConfigStore creates its boto3
    # client and imports Powertools' engine: a path that never asks a flag pays nothing).
    connect: Callable[[], Store] | None = None
    admins: frozenset[str] = frozenset()
    region: str = ""
    max_age: int = 30  # also how long a failed read is not retried
    # Observability hooks (parley.observability in the functions, nothing in unit tests).
    on_evaluation: Callable[[str, str], None] = _ignore  # (flag, outcome): a metric
    on_error: Callable[[Exception], None] = _ignore  # an unreadable document
    debug: Callable[..., None] = _ignore
    _flags: FeatureFlags | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _engine(self) -> FeatureFlags | None:
        if self.store is None and self.connect is None:
            return None
        with self._lock:
            if self._flags is None:
                # Imported on the first evaluation only: a path that never asks pays nothing.
                from aws_lambda_powertools.utilities.feature_flags import FeatureFlags

                # Before any good document (or without one) the store hands over `{}`: every
                # flag at its default, which is not worth a warning per container.
                warnings.filterwarnings("ignore", message="Feature flags schema is empty")
                inner = self.store
                if inner is None and self.connect is not None:
                    inner = self.connect()
                assert inner is not None
                store = _LastKnownStore(inner, self.on_error, self.max_age)
                self._flags = FeatureFlags(store=store)  # type: ignore[arg-type]
            return self._flags

    def context(self, user_id: str, **extra: Any) -> dict[str, Any]:
        """The caller's rule context (see :func:`context`); `extra` adds rule keys such as
        `conversationType` and `conversationSize` (None values are left out)."""
        ctx = context(user_id, admin=user_id in self.admins, region=self.region)
        ctx.update({key: value for key, value in extra.items() if value is not None})
        return ctx

    def _value(self, name: str, default: bool | int, ctx: Mapping[str, Any]) -> Any:
        engine = self._engine()
        if engine is None:
            return default
        try:
            return engine.evaluate(name=name, context=dict(ctx), default=default)
        except Exception as exc:  # a rule Powertools cannot apply: the default, reported
            self.on_error(exc)
            return default

    def enabled(self, name: str, user_id: str, **extra: Any) -> bool:
        """Whether the boolean flag `name` is on for this caller."""
        default = BOOLEAN_DEFAULTS[name]
        value = self._value(name, default, self.context(user_id, **extra))
        on = value if isinstance(value, bool) else default
        self.on_evaluation(name, "on" if on else "off")
        self.debug("feature flag", flag=name, value=on)
        return on

    def number(self, name: str, user_id: str, **extra: Any) -> int:
        """The numeric flag `name` for this caller (its default, 0, when not overridden)."""
        default = NUMERIC_DEFAULTS[name]
        value = self._value(name, default, self.context(user_id, **extra))
        number = value if isinstance(value, int) and not isinstance(value, bool) else default
        self.on_evaluation(name, "override" if number != default else "default")
        self.debug("feature flag", flag=name, value=number)
        return number

    def fanout_budget(self, user_id: str, configured: int, **extra: Any) -> int:
        """The sender's fan-out budget: the flag's override, or `configured`
        (FanoutDeliveriesPerMinute) when it has none or it is below the largest group."""
        override = self.number(FANOUT_BUDGET, user_id, **extra)
        return override if override >= FANOUT_BUDGET_MIN else configured

    def require_body(self, kind: str, user_id: str, **extra: Any) -> None:
        """Refuse (1001, naming the feature) a body type whose flag is off."""
        name = BODY_FLAGS.get(kind)
        if name is not None and not self.enabled(name, user_id, **extra):
            raise InvalidParam(f"{kind} messages are disabled (feature {name!r} is off)")

    def require_action(self, action: str, user_id: str, **extra: Any) -> None:
        """Refuse (1007, naming the feature) a live action whose kill switch is off."""
        name = ACTION_FLAGS[action]
        if not self.enabled(name, user_id, **extra):
            raise UnknownAction(f"{action} is disabled (feature {name!r} is off)")

    def for_user(self, user_id: str, *, fanout_configured: int) -> dict[str, bool | int]:
        """Every flag's value for this caller, as `GET /me` answers them."""
        out: dict[str, bool | int] = {
            name: self.enabled(name, user_id) for name in BOOLEAN_DEFAULTS
        }
        out[FANOUT_BUDGET] = self.fanout_budget(user_id, fanout_configured)
        return out


NO_FLAGS: Final = Features()
