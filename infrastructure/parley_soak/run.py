"""The soak's driver: simulated users over real WebSockets, and what they saw.

Every user is a :class:`parley_client.ParleyClient` (reconnect with backoff, then sync).
The sends are this module's, one attempt at a time (``attempts=1``), so that each retry
is counted: the protocol's client rule is applied here, visibly: wait for the ack; on
2001 (or 1005 with its wait), a timeout or a lost socket, send the same frame again with
the same ``clientMsgId``; give up only after :attr:`Settings.max_attempts` tries or
:attr:`Settings.give_up_after` seconds (a violation).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from parley_client.client import ParleyClient
from parley_client.errors import (
    ParleyClientError,
    ParleyClosedError,
    ParleyConnectionError,
    ParleyError,
    ParleyTimeoutError,
)
from parley_client.formatting import dm_conversation_id
from parley_client.http_client import HttpClient
from parley_client.options import ClientOptions

from parley_soak.history import DeadLetter, History, Send, Stored

T = TypeVar("T")

PASSWORD = "soak-test password 1"  # noqa: S105 - throwaway accounts of a soak
#: Error codes a send retries with the same clientMsgId: 2001 (send failed, retry) and
#: 1005 (rate limited: after its ``retryAfterMs``).
RETRY_CODES = frozenset({2001, 1005})
#: Sync rounds of the final sync from zero before it counts as incomplete.
FINAL_SYNC_ROUNDS = 500


@dataclass(frozen=True)
class Settings:
    """One soak's shape: who, how fast, how long, and the clients' patience."""

    users: int = 8
    groups: int = 3
    group_size: int = 4
    rate: float = 5.0
    duration: float = 60.0
    seed: int = 7
    #: Share of sends that go to a group (the rest are direct messages).
    group_share: float = 0.5
    #: Seconds each attempt waits for its ack.
    attempt_timeout: float = 10.0
    max_attempts: int = 20
    give_up_after: float = 90.0
    #: Seconds to wait after the last ack for late pushes before the final syncs.
    settle: float = 5.0


@dataclass
class Soak:
    """A run in progress: the accounts, their clients and the history being recorded."""

    settings: Settings
    rng: random.Random
    names: list[str] = field(default_factory=list)
    https: dict[str, HttpClient] = field(default_factory=dict)
    clients: dict[str, ParleyClient] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)
    history: History = field(default_factory=History)


def _retryable(exc: BaseException) -> bool:
    """Whether an HTTP call's failure is worth repeating (a server fault, not a refusal)."""
    if isinstance(exc, ParleyError):
        return exc.status is None or exc.status >= 500 or int(exc.code) in RETRY_CODES
    return isinstance(exc, ParleyTimeoutError | ParleyConnectionError)


async def retrying(call: Callable[[], Awaitable[T]], rng: random.Random, attempts: int = 12) -> T:
    """`call()` until it succeeds, repeating server faults with full-jitter backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except ParleyClientError as exc:
            if isinstance(exc, ParleyClosedError) or not _retryable(exc):
                raise
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(rng.uniform(0.0, min(3.0, 0.2 * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def _register(soak: Soak, http: HttpClient, name: str) -> None:
    """Register (a repeat that finds the account made by a failed-looking first try is
    fine: 1008) and log in."""

    async def register() -> None:
        try:
            await http.register(name, PASSWORD)
        except ParleyError as exc:
            if int(exc.code) != 1008:
                raise

    await retrying(register, soak.rng)
    await retrying(lambda: http.login(name, PASSWORD), soak.rng)


async def setup(soak: Soak, http_url: str, ws_url: str) -> None:
    """Accounts, groups, direct pairs and one connected client per user."""
    s = soak.settings
    prefix = "sk" + secrets.token_hex(3)
    soak.names = [f"{prefix}u{i:03d}" for i in range(s.users)]
    for name in soak.names:
        soak.https[name] = HttpClient(http_url, timeout=30.0)
    await asyncio.gather(*(_register(soak, soak.https[n], n) for n in soak.names))
    for name in soak.names:
        soak.targets[name] = []
    # Direct pairs: each user with the next two round the ring (a fixed set keeps the new
    # direct conversations under the per-hour limit however long the soak runs).
    for i, name in enumerate(soak.names):
        for step in (1, 2):
            peer = soak.names[(i + step) % s.users]
            if peer == name:
                continue
            conversation = dm_conversation_id(name, peer)
            if conversation in soak.history.members:
                continue
            soak.history.members[conversation] = frozenset({name, peer})
            soak.targets[name].append(conversation)
            soak.targets[peer].append(conversation)
    for g in range(s.groups):
        members = soak.rng.sample(soak.names, min(s.group_size, s.users))
        owner = members[0]
        created = await retrying(
            functools.partial(soak.https[owner].create_group, f"soak {g}", members[1:]),
            soak.rng,
        )
        conversation = str(created["conversationId"])
        soak.history.members[conversation] = frozenset(members)
        for member in members:
            soak.targets[member].append(conversation)
    options = ClientOptions(
        request_timeout=s.attempt_timeout,
        send_attempts=1,
        sync_on_connect=False,  # a fresh account has nothing to catch up on
        sync_on_reconnect=True,
        backoff_base=0.2,
        backoff_cap=2.0,
        gap_grace=0.5,
    )
    for name in soak.names:
        soak.clients[name] = await _connected(soak, name, ws_url, options)


async def _connected(soak: Soak, name: str, ws_url: str, options: ClientOptions) -> ParleyClient:
    """A connected client of `name` whose pushed messages are recorded as live copies."""
    for attempt in range(12):
        client = ParleyClient(ws_url, soak.https[name].token_provider, options)
        _record_pushes(soak, name, client)
        try:
            await client.connect()
        except (ParleyTimeoutError, ParleyConnectionError):
            await asyncio.sleep(soak.rng.uniform(0.0, min(3.0, 0.2 * 2**attempt)))
            continue
        return client
    raise ParleyConnectionError(f"{name} could not connect")


def _record_pushes(soak: Soak, name: str, client: ParleyClient) -> None:
    """Note the first push of every (conversation, seq) this client's socket receives.

    The client delivers pushed and synced messages alike, so the socket's frames are
    looked at before its core takes them: a ``message`` frame is always a push (sync
    results come inside a ``sync`` reply).
    """
    core = client._core
    take = core.receive_data
    live = soak.history.live

    def receive(raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if isinstance(frame, dict) and frame.get("type") == "message":
            conversation, seq = frame.get("conversationId"), frame.get("seq")
            if isinstance(conversation, str) and isinstance(seq, int):
                live.setdefault((name, conversation, seq), time.monotonic())
        take(raw)

    # The client has no hook that tells a push from a sync result; wrap its input.
    setattr(core, "receive_data", receive)  # noqa: B010 - a method, not an attribute


async def send_one(soak: Soak, sender: str, conversation: str) -> None:
    """One message, sent until acked or given up, recorded in the history."""
    s = soak.settings
    client = soak.clients[sender]
    members = soak.history.members[conversation]
    direct = conversation.startswith("dm:")
    peer = next(iter(members - {sender})) if direct else None
    send = Send(sender, conversation, secrets.token_hex(16), time.monotonic())
    soak.history.sends.append(send)
    text = f"soak {send.client_msg_id}"
    while True:
        send.attempts += 1
        delay = 0.0
        try:
            ack = await client.send(
                text,
                to=peer,
                conversation_id=None if direct else conversation,
                client_msg_id=send.client_msg_id,
                attempts=1,
                timeout=s.attempt_timeout,
            )
        except ParleyError as exc:
            send.errors.append(str(int(exc.code)))
            if int(exc.code) not in RETRY_CODES:
                send.given_up = f"error {int(exc.code)} ({exc})"
                return
            delay = (exc.retry_after_ms or 0) / 1000
        except ParleyClosedError:
            send.given_up = "client closed"
            return
        except ParleyTimeoutError:
            send.errors.append("timeout")
        except ParleyConnectionError:
            send.errors.append("connection lost")
        else:
            send.acked_seq = int(ack["seq"])
            send.acked_at = time.monotonic()
            if ack.get("conversationId") != conversation:
                send.given_up = f"acked in {ack.get('conversationId')}, not {conversation}"
            return
        if send.attempts >= s.max_attempts or time.monotonic() - send.started > s.give_up_after:
            send.given_up = f"no ack after {send.attempts} attempts ({', '.join(send.errors)})"
            return
        await asyncio.sleep(max(delay, soak.rng.uniform(0.0, min(5.0, 0.2 * 2**send.attempts))))


async def drive(soak: Soak, progress: bool) -> None:
    """Send at `rate` for `duration`, then wait for every send to end."""
    s = soak.settings
    pending: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    total = int(s.rate * s.duration)
    next_report = started
    for n in range(total):
        due = started + n / s.rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        sender = soak.rng.choice(soak.names)
        groups = [c for c in soak.targets[sender] if not c.startswith("dm:")]
        directs = [c for c in soak.targets[sender] if c.startswith("dm:")]
        pool = groups if groups and (soak.rng.random() < s.group_share or not directs) else directs
        task = asyncio.create_task(send_one(soak, sender, soak.rng.choice(pool)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if progress and time.monotonic() >= next_report:
            next_report += 5.0
            _progress(soak, time.monotonic() - started)
    if pending:
        await asyncio.wait(pending)
    if progress:
        _progress(soak, time.monotonic() - started)


def _progress(soak: Soak, elapsed: float) -> None:
    sends = soak.history.sends
    acked = sum(1 for x in sends if x.acked_seq is not None)
    retries = sum(max(0, x.attempts - 1) for x in sends)
    print(
        f"soak {elapsed:5.0f}/{soak.settings.duration:.0f} s: sent {len(sends)}, acked {acked}, "
        f"retries {retries}, live copies {len(soak.history.live)}",
        file=sys.stderr,
        flush=True,
    )


async def settle(soak: Soak) -> None:
    """Give late pushes up to `settle` seconds (until every copy came live)."""
    deadline = time.monotonic() + soak.settings.settle
    history = soak.history

    def missing() -> bool:
        return any(
            (m, x.conversation_id, x.acked_seq) not in history.live
            for x in history.sends
            if x.acked_seq is not None
            for m in history.members[x.conversation_id]
            if m != x.sender
        )

    while time.monotonic() < deadline and missing():
        await asyncio.sleep(0.2)


async def sync_from_zero(soak: Soak, name: str) -> list[Stored] | None:
    """Every message of `name`'s conversations, by raw ``sync`` rounds from empty cursors
    (no client-side ordering or dedupe in between); ``None`` if it could not finish."""
    client = soak.clients[name]
    cursors: dict[str, int] = {}
    out: list[Stored] = []
    for _ in range(FINAL_SYNC_ROUNDS):
        frame = {"action": "sync", "cursors": dict(cursors), "limit": 500}
        try:
            reply = await retrying(functools.partial(client.request, frame), soak.rng)
        except ParleyClientError:
            return None
        for conv in reply.get("conversations") or []:
            conversation = str(conv["conversationId"])
            for message in conv.get("messages") or []:
                seq = int(message["seq"])
                out.append(
                    Stored(
                        conversation,
                        seq,
                        str(message.get("senderId")),
                        str(message.get("clientMsgId")),
                    )
                )
                cursors[conversation] = max(cursors.get(conversation, 0), seq)
        if reply.get("complete") is True:
            return out
    return None


async def final_syncs(soak: Soak) -> None:
    """Every user's sync from zero, into the history."""
    results = await asyncio.gather(*(sync_from_zero(soak, n) for n in soak.names))
    for name, stored in zip(soak.names, results, strict=True):
        if stored is None:
            soak.history.final_incomplete.add(name)
        else:
            soak.history.final[name] = stored


async def run_soak(
    http_url: str,
    ws_url: str,
    settings: Settings,
    *,
    aws_endpoint: str | None = None,
    progress: bool = True,
) -> History:
    """Run one soak against a Parley endpoint and return what it saw.

    With `aws_endpoint` (the local cloud's moto), the dead-letter queues are read at the
    end; the fault counters come from the gateway's ``/_local/faults`` when it has one.
    """
    soak = Soak(settings, random.Random(settings.seed))
    try:
        await setup(soak, http_url, ws_url)
        await drive(soak, progress)
        await settle(soak)
        await final_syncs(soak)
    finally:
        await asyncio.gather(*(c.close() for c in soak.clients.values()), return_exceptions=True)
    profile, faults = await asyncio.to_thread(fault_counters, http_url)
    soak.history.profile, soak.history.faults = profile, faults
    if aws_endpoint is not None:
        soak.history.dead_letters = await asyncio.to_thread(read_dead_letters, aws_endpoint)
    return soak.history


def fault_counters(http_url: str) -> tuple[str, dict[str, int]]:
    """``(profile, {kind: injected})`` from the local cloud's counters; ``("none", {})``
    where the endpoint has none (a cloud without faults, or AWS)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{http_url}/_local/faults", timeout=10) as response:
            data: Any = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return "none", {}
    if not isinstance(data, dict):
        return "none", {}
    injected = data.get("injected") if isinstance(data.get("injected"), dict) else {}
    return profile_label(data.get("profile")), {str(k): int(v) for k, v in (injected or {}).items()}


def profile_label(profile: Any) -> str:
    """How the table names a profile of `/_local/faults`: ``name (seed n)``, a file by its
    stem (``dynamodb-throttled``, not its path); ``none`` without one."""
    if isinstance(profile, dict):  # {"name", "seed", "faults"}
        name = str(profile.get("name"))
        name = Path(name).stem if name.endswith(".json") else name
        return f"{name} (seed {profile.get('seed')})"
    return profile if isinstance(profile, str) else "none"


def message_named(body: str) -> tuple[str, int] | None:
    """The ``(conversationId, seq)`` a queue item names: a work item's ``message``, a
    notify item's own fields, or an older item's ``frame``."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for ref in (data.get("message"), data, data.get("frame")):
        if (
            isinstance(ref, dict)
            and isinstance(ref.get("conversationId"), str)
            and type(ref.get("seq")) is int
        ):
            return ref["conversationId"], ref["seq"]
    return None


def read_dead_letters(endpoint_url: str, region: str = "us-east-1") -> list[DeadLetter]:
    """Every item of every dead-letter queue at `endpoint_url` (moto), left in place: each
    is received with a visibility timeout long enough to list it once."""
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto takes any
    )
    out: list[DeadLetter] = []
    urls = sqs.list_queues().get("QueueUrls", [])
    for url in (u for u in urls if "deadletter" in u.rsplit("/", 1)[-1].lower()):
        name = url.rsplit("/", 1)[-1]
        while True:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0
            ).get("Messages", [])
            if not got:
                break
            out.extend(DeadLetter(name, m["Body"], message_named(m["Body"])) for m in got)
    return out
