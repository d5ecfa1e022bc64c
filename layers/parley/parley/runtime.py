"""Composition root: builds repositories and services from the settings, once per container.

Handlers ask for the service they need; everything is created on first use so a function
pays only for what its path touches. Services are typed against the ports
(`parley.ports`); passing the DynamoDB repositories in here is what makes mypy check that
they implement them. Tests build services directly over the in-memory implementation
(`parley_memory`, through `tests/fakes`) instead.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from parley.clock import SYSTEM_CLOCK
from parley.config import settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.feature_flags import AppConfigStore

    from parley.features import Features
    from parley.ports import WebPushTransport
    from parley.repositories.abuse import AbuseCountersRepository
    from parley.repositories.accounts import (
        AccountJobsQueue,
        AccountsRepository,
        SentMessagesRepository,
    )
    from parley.repositories.attachments import AttachmentsRepository
    from parley.repositories.connections import ConnectionsRepository
    from parley.repositories.conversations import (
        ConversationsRepository,
        MembershipRepository,
        MembersRepository,
    )
    from parley.repositories.devices import DevicesRepository
    from parley.repositories.erasure_queue import ErasureQueueRepository
    from parley.repositories.events import EventsRepository
    from parley.repositories.flags import FlagsRepository
    from parley.repositories.gateway import ConnectionGateway
    from parley.repositories.limits import LimitsRepository
    from parley.repositories.messages import MessagesRepository
    from parley.repositories.notify_queue import NotifyQueueClient
    from parley.repositories.objects import ObjectsRepository
    from parley.repositories.platforms import SnsPlatforms
    from parley.repositories.queue import PushQueue
    from parley.repositories.sessions import SessionsRepository
    from parley.repositories.users import UsersRepository
    from parley.services.abuse import AbuseLimits
    from parley.services.accounts import AccountJobService, AccountService
    from parley.services.admin import AdminService
    from parley.services.attachments import AttachmentService
    from parley.services.auth import AuthService
    from parley.services.budget import FanoutBudget
    from parley.services.connections import ConnectionService
    from parley.services.conversations import ConversationService
    from parley.services.devices import DeviceService
    from parley.services.erasure import ErasureService
    from parley.services.groups import GroupService
    from parley.services.guard import WsGuard
    from parley.services.limits import RateLimiter
    from parley.services.live import LiveService
    from parley.services.messages import MessageService
    from parley.services.notifier import NotifierService
    from parley.services.push import PushService
    from parley.services.retention import Retention
    from parley.services.rtc import RtcService
    from parley.services.users import UserService
    from parley.tokens import ExternalVerifier, Keys


def _need(name: str) -> str:
    value = getattr(settings().require(name), name)
    assert isinstance(value, str)
    return value


@cache
def users() -> UsersRepository:
    from parley.repositories.users import UsersRepository

    return UsersRepository(_need("users_table"))


@cache
def sessions() -> SessionsRepository:
    from parley.repositories.sessions import SessionsRepository

    return SessionsRepository(_need("sessions_table"))


@cache
def connections() -> ConnectionsRepository:
    from parley.repositories.connections import ConnectionsRepository

    return ConnectionsRepository(_need("connections_table"))


@cache
def conversations() -> ConversationsRepository:
    from parley.repositories.conversations import ConversationsRepository

    return ConversationsRepository(_need("conversations_table"))


@cache
def members() -> MembersRepository:
    from parley.repositories.conversations import MembersRepository

    return MembersRepository(_need("members_table"))


@cache
def messages() -> MessagesRepository:
    from parley.repositories.messages import MessagesRepository

    return MessagesRepository(_need("messages_table"))


@cache
def attachments() -> AttachmentsRepository:
    from parley.repositories.attachments import AttachmentsRepository

    return AttachmentsRepository(_need("attachments_table"), _need("messages_table"))


@cache
def events() -> EventsRepository:
    from parley.repositories.events import EventsRepository

    # The attachments table is only written by the delete of a file message, which needs
    # file messages, which need the table: without it the name is never used.
    return EventsRepository(_need("messages_table"), settings().attachments_table or "")


@cache
def objects() -> ObjectsRepository:
    from parley.repositories.objects import ObjectsRepository

    return ObjectsRepository(_need("attachments_bucket"))


@cache
def attachment_service() -> AttachmentService:
    from parley.services.attachments import AttachmentService

    return AttachmentService(
        attachments=attachments(),
        objects=objects(),
        members=members(),
        users=users(),
        clock=SYSTEM_CLOCK,
        max_bytes=settings().max_attachment_bytes,
    )


@cache
def erasure_queue() -> ErasureQueueRepository:
    from parley.repositories.erasure_queue import ErasureQueueRepository

    return ErasureQueueRepository(_need("erase_queue_url"), settings().erase_delay_seconds)


@cache
def erasure_service() -> ErasureService:
    from parley.services.erasure import ErasureService

    return ErasureService(attachments=attachments(), objects=objects())


@cache
def membership() -> MembershipRepository:
    from parley.repositories.conversations import MembershipRepository

    return MembershipRepository(
        _need("conversations_table"),
        _need("members_table"),
        _need("messages_table"),
        # Every function that changes membership writes the `left#` markers of removals.
        users_table=_need("users_table"),
    )


@cache
def limits() -> LimitsRepository:
    from parley.repositories.limits import LimitsRepository

    return LimitsRepository(_need("limits_table"))


@cache
def limiter() -> RateLimiter | None:
    """The rate limiter, or None where no limits table is configured."""
    from parley.services.limits import RateLimiter

    cfg = settings()
    if not cfg.limits_table:
        return None
    return RateLimiter(
        limits=limits(),
        clock=SYSTEM_CLOCK,
        frames_per_second=cfg.frames_per_second,
        frame_burst=cfg.frame_burst,
        sends_per_minute=cfg.sends_per_minute,
        failed_logins=cfg.failed_logins_per_window,
        connects_per_minute=cfg.connects_per_minute,
        window_seconds=cfg.rate_window_seconds,
        failed_logins_per_account=cfg.failed_logins_per_account,
        login_window_seconds=cfg.login_window_seconds,
        registrations_per_hour=cfg.registrations_per_hour,
    )


@cache
def flags() -> FlagsRepository | None:
    """The flags table, or None where the stack gives the function none."""
    from parley.repositories.flags import FlagsRepository

    table = settings().flags_table
    return FlagsRepository(table) if table else None


@cache
def admin_service() -> AdminService:
    from parley.services.admin import AdminService

    return AdminService(
        admins=settings().admin_user_set(),
        flags=flags(),
        auth=auth_service,
        messages=message_service,
    )


@cache
def _abuse_counters() -> AbuseCountersRepository | None:
    """The limits table's counters, shared by the abuse limits and the fan-out budget (one
    repository per container); None where no limits table is configured."""
    from parley.repositories.abuse import AbuseCountersRepository

    table = settings().limits_table
    return AbuseCountersRepository(table) if table else None


@cache
def abuse() -> AbuseLimits | None:
    """The protocol 13 per-account limits, or None where no limits table is configured."""
    from parley.services.abuse import AbuseLimits

    cfg = settings()
    counters = _abuse_counters()
    if counters is None:
        return None
    return AbuseLimits(
        counters=counters,
        flags=flags(),
        clock=SYSTEM_CLOCK,
        groups_per_day=cfg.groups_per_day,
        members_per_hour=cfg.members_added_per_hour,
        direct_per_hour=cfg.direct_conversations_per_hour,
        repeated_texts=cfg.repeated_text_conversations,
        repeat_window_seconds=cfg.repeated_text_window_seconds,
        connections_per_user=cfg.connections_per_user,
        text_key=lambda: signing_keys().text,
    )


@cache
def fanout_budget() -> FanoutBudget | None:
    """The per-sender fan-out budget, or None where no limits table is configured."""
    from parley.services.budget import FanoutBudget

    cfg = settings()
    counters = _abuse_counters()
    if counters is None:
        return None
    return FanoutBudget(
        counters=counters,
        clock=SYSTEM_CLOCK,
        per_minute=cfg.fanout_deliveries_per_minute,
        free_members=cfg.inline_fanout_max,
        bulk_share=cfg.fanout_bulk_share_percent / 100,
        features=features(),
    )


@cache
def features() -> Features:
    """Feature flags (issue 17) from AppConfig, cached for `PARLEY_FLAGS_MAX_AGE` seconds;
    without `PARLEY_FLAGS_APPLICATION`, every flag at its default."""
    from parley import aws
    from parley.features import Features
    from parley.observability import count, flag_metric, logger

    cfg = settings()

    def failed(exc: Exception) -> None:
        count("FeatureFlagsReadErrors")
        logger.warning("feature flags unreadable; last known kept", extra={"error": repr(exc)})

    def connect() -> AppConfigStore:
        from aws_lambda_powertools.utilities.feature_flags import AppConfigStore

        return AppConfigStore(
            environment=cfg.flags_environment,
            application=cfg.flags_application,
            name=cfg.flags_profile,
            max_age=cfg.flags_max_age,
            boto3_client=aws.client("appconfigdata"),
        )

    return Features(
        connect=connect if cfg.flags_application else None,
        admins=cfg.admin_user_set(),
        region=os.environ.get("AWS_REGION", ""),
        max_age=cfg.flags_max_age,
        on_evaluation=flag_metric,
        on_error=failed,
        debug=logger.debug,
    )


@cache
def gateway() -> ConnectionGateway:
    from parley.aws import management_endpoint
    from parley.repositories.gateway import ConnectionGateway

    return ConnectionGateway(management_endpoint(_need("ws_api_endpoint"), _need("ws_stage")))


@cache
def push_queue() -> PushQueue:
    from parley.repositories.queue import PushQueue

    return PushQueue(_need("push_queue_url"))


@cache
def push_bulk_queue() -> PushQueue:
    """The push queue's bulk lane (services/budget.py, docs/architecture.md)."""
    from parley.repositories.queue import PushQueue

    return PushQueue(_need("push_bulk_queue_url"))


def edge_secret() -> str | None:
    """The secret CloudFront's edge sends with every request it forwards (None: the stack
    has no edge in front of the HTTP API). Powertools Parameters caches it for max_age."""
    cfg = settings()
    if not cfg.edge_secret_arn:
        return None
    return secret(cfg.edge_secret_arn, cfg.secret_max_age)


def secret(arn: str, max_age: int | None) -> str:
    """A secret's value through Powertools Parameters (cached for `max_age`; None: its
    default), read with Parley's client settings: a Secrets Manager that does not
    answer fails the read after the 5 s read timeout of `parley.aws` instead of botocore's
    default 60 s, which outlasts the function's own timeout. A read that fails (throttled,
    down, timed out) once the cache expired is a dependency failure the client retries
    (`Unavailable`, 2001), not an internal error (3001) that makes it give a send up."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        from parley.aws import client

        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(
            boto3_client=client("secretsmanager")
        )
    try:
        return str(parameters.get_secret(arn, max_age=max_age))
    except parameters.exceptions.GetParameterError as exc:
        from parley.errors import Unavailable

        raise Unavailable("a secret is unavailable; retry") from exc


def signing_keys() -> Keys:
    """Keys from the stack's signing secret (Powertools Parameters caches it for max_age)."""
    cfg = settings()
    return _keys_for(secret(_need("signing_secret_arn"), cfg.secret_max_age))


@cache
def _keys_for(secret: str) -> Keys:
    from parley.tokens import Keys

    return Keys.from_secret(secret)


@cache
def external_verifier() -> ExternalVerifier | None:
    """The verifier of the configured OpenID Connect issuer (its JWKS cache lives as long as
    the container), or None when no external issuer is configured."""
    from parley.tokens import ExternalVerifier

    cfg = settings()
    if not cfg.oidc_issuer:
        return None
    return ExternalVerifier(
        issuer=cfg.oidc_issuer,
        audience=cfg.oidc_audience,
        algorithms=cfg.oidc_algorithm_list(),
        user_claim=cfg.oidc_user_claim,
        jwks_url=cfg.oidc_jwks_url,
    )


@cache
def push_service() -> PushService:
    from parley.observability import count, timing
    from parley.services.push import PushService

    cfg = settings()
    return PushService(
        connections=connections(),
        members=members(),
        messages=messages(),
        gateway=gateway(),
        queue=push_queue() if cfg.push_queue_url else None,
        # Only the send and fanout functions route work to the bulk lane.
        bulk_queue=push_bulk_queue() if cfg.push_bulk_queue_url else None,
        clock=SYSTEM_CLOCK,
        inline_max=cfg.inline_fanout_max,
        batch_users=cfg.fanout_batch_users,
        threads=cfg.fanout_threads,
        metric=count,
        timing=timing,
        # Offline push: only the functions that send messages are given the queue.
        notify=notify_outbox() if cfg.notify_queue_url else None,
        push_all_max=cfg.push_all_members_max,
    )


@cache
def notify_outbox() -> NotifyQueueClient:
    """The NotifyQueue as the fan-out writes it (no dead-letter URL: it never gives up an
    item itself, the notifier does)."""
    from parley.repositories.notify_queue import NotifyQueueClient

    return NotifyQueueClient(_need("notify_queue_url"))


@cache
def auth_service() -> AuthService:
    from parley.services.auth import AuthService, ChallengePolicy

    cfg = settings()
    sockets = bool(cfg.connections_table and cfg.ws_api_endpoint and cfg.ws_stage)

    def close_login(user_id: str, session_id: str) -> None:
        if sockets:
            connection_service().close_session(user_id, session_id)

    def close_user(user_id: str, keep_session: str | None) -> None:
        if sockets:
            connection_service().close_user(user_id, keep_session)

    challenge = None
    if cfg.registration_challenge == "pow":
        # Used challenges are remembered in the Limits table (a conditional put with TTL).
        challenge = ChallengePolicy(
            difficulty=cfg.challenge_difficulty, ttl=cfg.challenge_ttl, used=limits()
        )

    return AuthService(
        users=users(),
        sessions=sessions(),
        keys=signing_keys,
        clock=SYSTEM_CLOCK,
        issuer=cfg.jwt_issuer,
        audience=cfg.jwt_audience,
        access_ttl=cfg.access_token_ttl,
        refresh_ttl=cfg.refresh_token_ttl,
        on_logout=close_login,
        on_revoke_user=close_user,
        limiter=limiter(),
        external=external_verifier(),
        refresh_grace=cfg.refresh_grace_seconds,
        max_lifetime=cfg.session_max_lifetime,
        challenge=challenge,
    )


@cache
def connection_service() -> ConnectionService:
    from parley.services.connections import ConnectionService

    cfg = settings()
    return ConnectionService(
        connections=connections(),
        users=users(),
        gateway=gateway() if cfg.ws_api_endpoint and cfg.ws_stage else None,
        clock=SYSTEM_CLOCK,
        ttl_seconds=cfg.connection_ttl,
        abuse=abuse(),
    )


@cache
def retention() -> Retention | None:
    """`MessageRetentionDays` (protocol 12); None when messages are kept forever, so that
    no read or write changes at all."""
    days = settings().message_retention_days
    if not days:
        return None
    from parley.observability import count, logger
    from parley.services.retention import Retention

    return Retention(
        days=days, messages=messages(), clock=SYSTEM_CLOCK, on_error=logger.warning, metric=count
    )


@cache
def message_service() -> MessageService:
    from parley.observability import logger
    from parley.services.messages import MessageService

    cfg = settings()
    return MessageService(
        messages=messages(),
        members=members(),
        conversations=conversations(),
        membership=membership(),
        users=users(),
        push=push_service(),
        clock=SYSTEM_CLOCK,
        on_push_error=logger.warning,
        limiter=limiter(),
        events=events(),
        # Only where the stack gives the function the attachments (file bodies: 1001).
        files=attachment_service() if cfg.attachments_table and cfg.attachments_bucket else None,
        erasures=erasure_queue() if cfg.erase_queue_url else None,
        abuse=abuse(),
        fanout_budget=fanout_budget(),
        retention=retention(),
        features=features(),
    )


@cache
def conversation_service() -> ConversationService:
    from parley.services.conversations import ConversationService

    return ConversationService(
        messages=messages(),
        members=members(),
        conversations=conversations(),
        retention=retention(),
    )


@cache
def group_service() -> GroupService:
    from parley.services.groups import GroupService

    cfg = settings()
    return GroupService(
        conversations=conversations(),
        members=members(),
        membership=membership(),
        messages=messages(),
        users=users(),
        push=push_service() if cfg.ws_api_endpoint and cfg.ws_stage else None,
        clock=SYSTEM_CLOCK,
        max_members=cfg.max_group_size,
        abuse=abuse(),
        retention=retention(),
    )


@cache
def live_service() -> LiveService:
    from parley.services.live import LiveService

    return LiveService(
        conversations=conversation_service(),
        members=members(),
        messages=messages(),
        connections=connections(),
        users=users(),
        push=push_service(),
        clock=SYSTEM_CLOCK,
        relay_max=settings().inline_fanout_max,
        abuse=abuse(),
        features=features(),
    )


@cache
def rtc_service() -> RtcService:
    from parley.services.rtc import RtcService, split_urls

    cfg = settings()

    def turn_secret() -> str:
        return secret(_need("turn_secret_arn"), cfg.secret_max_age)

    return RtcService(
        stun_urls=split_urls(cfg.stun_urls),
        turn_urls=split_urls(cfg.turn_urls),
        ttl=cfg.turn_ttl,
        turn_secret=turn_secret,
        clock=SYSTEM_CLOCK,
    )


@cache
def user_service() -> UserService:
    from parley.services.users import UserService

    return UserService(users=users(), members=members(), clock=SYSTEM_CLOCK)


@cache
def ws_guard() -> WsGuard:
    from parley.services.guard import WsGuard

    cfg = settings()
    return WsGuard(
        connections=connections(),
        gateway=gateway() if cfg.ws_api_endpoint and cfg.ws_stage else None,
        auth=auth_service(),
        limiter=limiter(),
        clock=SYSTEM_CLOCK,
        sessions=sessions() if cfg.sessions_table else None,
        recheck_seconds=cfg.session_recheck_seconds,
    )


# ---- offline push (protocol 10) ---------------------------------------------------------


@cache
def devices() -> DevicesRepository:
    from parley.repositories.devices import DevicesRepository

    return DevicesRepository(_need("devices_table"))


@cache
def push_platforms() -> SnsPlatforms | None:
    """SNS for the native platforms whose application ARN is set; None when neither is."""
    from parley.repositories.platforms import SnsPlatforms

    cfg = settings()
    apps = {"fcm": cfg.fcm_application_arn, "apns": cfg.apns_application_arn}
    enabled = {platform: arn for platform, arn in apps.items() if arn}
    return SnsPlatforms(enabled) if enabled else None


@cache
def vapid_seed() -> str:
    """The VAPID secret, read once per container: the key never changes (a new one would
    orphan every subscription), so it needs no cache expiry."""
    return secret(_need("vapid_secret_arn"), None)


@cache
def device_service(vapid_public_key: Callable[[], str]) -> DeviceService:
    """The devices API; `vapid_public_key` comes from the function (the layer ships no
    elliptic-curve code: docs/architecture.md, "Offline push")."""
    from parley.services.devices import DeviceService

    cfg = settings()
    platforms = push_platforms()
    enabled = {"webpush", *(platforms.applications if platforms else {})}
    return DeviceService(
        devices=devices(),
        platforms=platforms,
        enabled=frozenset(enabled),
        policy="loopback" if cfg.push_endpoint_policy == "loopback" else "https",
        vapid_public_key=vapid_public_key,
        clock=SYSTEM_CLOCK,
    )


@cache
def notifier_service(webpush: WebPushTransport) -> NotifierService:
    """The notifier over the function's Web Push transport."""
    from parley.repositories.notify_queue import NotifyQueueClient
    from parley.services.notifier import NotifierService

    cfg = settings()
    return NotifierService(
        messages=messages(),
        members=members(),
        devices=devices(),
        webpush=webpush,
        platforms=push_platforms(),
        queue=NotifyQueueClient(_need("notify_queue_url"), _need("notify_dlq_url")),
        ttl=cfg.push_ttl,
        previews=cfg.push_previews,
        features=features(),
    )


# ---- account erasure and export (protocol 12) ---------------------------------------------


@cache
def accounts() -> AccountsRepository:
    from parley.repositories.accounts import AccountsRepository

    return AccountsRepository(_need("users_table"))


@cache
def account_jobs() -> AccountJobsQueue:
    from parley.repositories.accounts import AccountJobsQueue

    cfg = settings()
    return AccountJobsQueue(_need("account_jobs_queue_url"), cfg.account_erase_delay_seconds)


@cache
def sent_messages() -> SentMessagesRepository:
    from parley.repositories.accounts import SentMessagesRepository

    return SentMessagesRepository(_need("messages_table"))


@cache
def account_service() -> AccountService:
    """`DELETE /me` (where the stack gives the function the sessions: the auth function)
    and the exports (where it gives the bucket: the users function)."""
    from parley.services.accounts import AccountService

    cfg = settings()
    return AccountService(
        accounts=accounts(),
        jobs=account_jobs(),
        clock=SYSTEM_CLOCK,
        auth=auth_service() if cfg.sessions_table else None,
        objects=objects() if cfg.attachments_bucket else None,
    )


def _no_vapid_key() -> str:
    """The account jobs function removes devices; it never answers the VAPID key."""
    return ""


@cache
def account_job_service() -> AccountJobService:
    from parley.observability import logger
    from parley.services.accounts import AccountJobService

    return AccountJobService(
        accounts=accounts(),
        users=users(),
        members=members(),
        conversations=conversations(),
        sent=sent_messages(),
        jobs=account_jobs(),
        messages=message_service(),
        groups=group_service(),
        auth=auth_service(),
        devices=devices(),
        device_service=device_service(_no_vapid_key),
        objects=objects(),
        clock=SYSTEM_CLOCK,
        on_skip=logger.info,
    )


def reset() -> None:
    """Forget every cached object (tests change the environment between cases)."""
    from aws_lambda_powertools.utilities import parameters

    from parley import aws, config

    parameters.clear_caches()  # type: ignore[no-untyped-call]
    config.settings.cache_clear()
    aws.client.cache_clear()
    for value in list(globals().values()):
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()
