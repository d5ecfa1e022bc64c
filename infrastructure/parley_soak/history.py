"""What a soak run saw, as plain data: the input of the checker and of the table.

Nothing here does I/O, so the checker can be fed synthetic histories in unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: (userId, conversationId, seq): one member's copy of one message.
Copy = tuple[str, str, int]


@dataclass
class Send:
    """One message a simulated user sent, over all its attempts (one clientMsgId).

    Attributes:
        sender: the sending userId.
        conversation_id: where it went (``dm:a:b`` or a group id).
        client_msg_id: the id repeated on every attempt.
        started: monotonic seconds of the first attempt.
        attempts: how many times the frame went out.
        acked_seq: the ``seq`` of the ack, ``None`` if never acked.
        acked_at: monotonic seconds of the ack.
        errors: what each failed attempt met (``2001``, ``timeout``, ``connection``...).
        given_up: why the client stopped trying, ``None`` if it did not.
    """

    sender: str
    conversation_id: str
    client_msg_id: str
    started: float
    attempts: int = 0
    acked_seq: int | None = None
    acked_at: float | None = None
    errors: list[str] = field(default_factory=list)
    given_up: str | None = None


@dataclass(frozen=True)
class Stored:
    """One message as a member's final sync from zero returned it."""

    conversation_id: str
    seq: int
    sender: str
    client_msg_id: str


@dataclass(frozen=True)
class DeadLetter:
    """One item read (not consumed) from a dead-letter queue at the end of the run.

    ``message`` is the ``(conversationId, seq)`` its body names, ``None`` when the body
    names none (it then cannot be accounted for).
    """

    queue: str
    body: str
    message: tuple[str, int] | None


@dataclass
class History:
    """Everything the checker needs, and the figures the table prints.

    Attributes:
        members: every soak conversation's members (the sender included).
        sends: every message sent, in the order sending started.
        live: the first live push of each copy, monotonic seconds.
        final: each user's messages from their final sync from zero, in the order the
            replies listed them (repeats kept: a repeat is a violation).
        final_incomplete: users whose final sync did not finish (a violation: the
            check cannot vouch for what they hold).
        dead_letters: the dead-letter queues' contents at the end.
        faults: injected faults by kind (the local cloud's counters; empty without).
        profile: the fault profile's name, or ``"none"``.
    """

    members: dict[str, frozenset[str]] = field(default_factory=dict)
    sends: list[Send] = field(default_factory=list)
    live: dict[Copy, float] = field(default_factory=dict)
    final: dict[str, list[Stored]] = field(default_factory=dict)
    final_incomplete: set[str] = field(default_factory=set)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    profile: str = "none"
