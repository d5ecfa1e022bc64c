"""One in-memory implementation of Parley's ports (`parley.ports`), for the unit tests
(`tests/fakes`) and the benchmarks (`parley_bench.memory`).

:class:`Memory` is one store with a repository of each kind over it, plus the gateway and
the push queue; see :mod:`parley_memory.store` for the latency and metering hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley_memory.edges import Delivery, Gateway, NotifyOutbox, PushQueue
from parley_memory.events import Events
from parley_memory.store import Access, Latency, Probe, Repository, Store, Write
from parley_memory.tables import (
    Connections,
    Conversations,
    Limits,
    Members,
    Membership,
    Messages,
    Sessions,
    Users,
    client_error,
)

__all__ = [
    "Access",
    "Connections",
    "Conversations",
    "Delivery",
    "Events",
    "Gateway",
    "Latency",
    "Limits",
    "Members",
    "Membership",
    "Memory",
    "Messages",
    "NotifyOutbox",
    "Probe",
    "PushQueue",
    "Repository",
    "Sessions",
    "Store",
    "Users",
    "Write",
    "client_error",
]


@dataclass
class Memory:
    """One store and everything over it."""

    store: Store = field(default_factory=Store)

    def __post_init__(self) -> None:
        self.users = Users(self.store)
        self.sessions = Sessions(self.store)
        self.connections = Connections(self.store)
        self.conversations = Conversations(self.store)
        self.members = Members(self.store)
        self.messages = Messages(self.store)
        self.events = Events(self.store)
        self.membership = Membership(self.store)
        self.limits = Limits(self.store)
        self.queue = PushQueue(self.store)
        self.gateway = Gateway(self.store)
