"""Services wired to the in-memory fakes (`tests/fakes/`), one fresh world per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from parley import frames
from parley.models import SendFrame
from parley.services.conversations import ConversationService
from parley.services.groups import GroupService
from parley.services.live import LiveService
from parley.services.messages import MessageService
from parley.services.push import PushService

from tests.fakes.gateway import FakeGateway
from tests.fakes.repos import FakeRepos, FixedClock


@dataclass
class World:
    repos: FakeRepos
    gateway: FakeGateway
    push: PushService
    messages: MessageService
    conversations: ConversationService
    groups: GroupService
    live: LiveService
    metrics: list[tuple[str, float]]
    push_errors: list[Any]

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.repos.clock, FixedClock)
        return self.repos.clock

    def send(self, sender: str, frame: SendFrame, **options: Any) -> dict[str, Any]:
        """Send as the `send` route does; the `ack` frame its handler replies with."""
        sent = self.messages.send(sender, frame, **options)
        return frames.ack(sent.message, frame.id)

    def sync(
        self,
        user_id: str,
        cursors: dict[str, int],
        limit: int,
        request_id: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Sync as the `sync` route does; the `sync` frame its handler replies with."""
        result = self.conversations.sync(user_id, cursors, limit, request_id, **options)
        return frames.sync(result.conversations, result.complete, request_id)


def build_world(
    *,
    inline_max: int = 50,
    batch_users: int = 100,
    max_members: int = 10_000,
    relay_max: int = 50,
) -> World:
    repos = FakeRepos(FixedClock())
    gateway = FakeGateway()
    metrics: list[tuple[str, float]] = []
    push_errors: list[Any] = []
    push = PushService(
        connections=repos.connections,
        members=repos.members,
        messages=repos.messages,
        gateway=gateway,
        queue=repos.queue,
        clock=repos.clock,
        inline_max=inline_max,
        batch_users=batch_users,
        threads=4,
        metric=lambda name, value: metrics.append((name, value)),
    )
    messages = MessageService(
        messages=repos.messages,
        members=repos.members,
        conversations=repos.conversations,
        membership=repos.membership,
        users=repos.users,
        push=push,
        clock=repos.clock,
        on_push_error=lambda *args, **kwargs: push_errors.append((args, kwargs)),
        events=repos.events,
    )
    conversations = ConversationService(
        messages=repos.messages,
        members=repos.members,
        conversations=repos.conversations,
    )
    groups = GroupService(
        conversations=repos.conversations,
        members=repos.members,
        membership=repos.membership,
        messages=repos.messages,
        users=repos.users,
        push=push,
        clock=repos.clock,
        max_members=max_members,
    )
    live = LiveService(
        conversations=conversations,
        members=repos.members,
        messages=repos.messages,
        connections=repos.connections,
        users=repos.users,
        push=push,
        clock=repos.clock,
        relay_max=relay_max,
    )
    return World(repos, gateway, push, messages, conversations, groups, live, metrics, push_errors)


@pytest.fixture
def world() -> Iterator[World]:
    w = build_world()
    for user in ("alice", "bob", "carol", "dave", "erin"):
        w.repos.users.add(user)
    yield w
    if w.push._pool is not None:
        w.push._pool.shutdown(wait=True)
