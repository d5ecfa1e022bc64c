"""The soak's verdict: Parley's guarantees checked against one :class:`History`.

Each rule names what it found, so a failing soak says which guarantee broke, where:

* ``given up``: a client stopped resending a message (protocol: resend until acked);
* ``lost``: an acked message is in no member's sync from zero (durable ack);
* ``duplicate``: one (sender, clientMsgId) stored at two seqs (idempotent send);
* ``wrong seq``: stored, but not at the seq its ack named;
* ``gap``: a member's sync from zero lacks seqs below the conversation's newest;
* ``repeated seq``: a sync from zero returned one seq twice in a conversation;
* ``inconsistent``: two members' syncs hold different messages at one seq;
* ``undelivered``: a member got a stored message neither live nor by sync;
* ``unknown message``: a stored message no client sent (a soak user's, not a system one);
* ``sync incomplete``: a user's final sync could not finish;
* ``dead letter``: a dead-letter item that names no stored message of the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from parley_soak.history import Copy, History, Stored

#: A system message's clientMsgId prefix (protocol 4: ``sys-<messageId>``).
SYSTEM_PREFIX = "sys-"


@dataclass(frozen=True)
class Violation:
    """One broken guarantee: its rule (see the module doc) and where it broke."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def _views(history: History) -> dict[str, dict[str, list[Stored]]]:
    """``{conversationId: {userId: [Stored...]}}`` from the final syncs."""
    views: dict[str, dict[str, list[Stored]]] = defaultdict(dict)
    for user, stored in history.final.items():
        for message in stored:
            views[message.conversation_id].setdefault(user, []).append(message)
    return views


def _check_views(
    views: dict[str, dict[str, list[Stored]]], out: list[Violation]
) -> dict[str, dict[int, Stored]]:
    """Per conversation, the log every member's view agrees on; reports repeats, gaps
    and disagreements on the way."""
    logs: dict[str, dict[int, Stored]] = {}
    for conversation, by_user in sorted(views.items()):
        log: dict[int, Stored] = {}
        for user, messages in sorted(by_user.items()):
            repeats = sorted(seq for seq, n in Counter(m.seq for m in messages).items() if n > 1)
            if repeats:
                out.append(
                    Violation(
                        "repeated seq",
                        f"{user}'s sync of {conversation} returned seq {_seqs(repeats)} twice",
                    )
                )
            for message in messages:
                first = log.setdefault(message.seq, message)
                if first != message:
                    out.append(
                        Violation(
                            "inconsistent",
                            f"{conversation} seq {message.seq}: {user} got "
                            f"{message.sender}/{message.client_msg_id}, another member "
                            f"{first.sender}/{first.client_msg_id}",
                        )
                    )
        logs[conversation] = log
        newest = max(log)
        for user, messages in sorted(by_user.items()):
            missing = sorted(set(range(1, newest + 1)) - {m.seq for m in messages})
            if missing:
                out.append(
                    Violation(
                        "gap",
                        f"{user}'s sync of {conversation} lacks seq {_seqs(missing)} "
                        f"(newest {newest})",
                    )
                )
    return logs


def check(history: History) -> list[Violation]:
    """Every violation of the guarantees in `history`, in a stable order; empty if none."""
    out: list[Violation] = []
    logs = _check_views(_views(history), out)
    delivered: set[Copy] = set(history.live)
    for user, stored in history.final.items():
        delivered.update((user, m.conversation_id, m.seq) for m in stored)
    places: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for conversation, log in logs.items():
        for seq, message in log.items():
            places[(conversation, message.sender, message.client_msg_id)].add(seq)
    for (conversation, sender, client_msg_id), seqs in sorted(places.items()):
        if len(seqs) > 1:
            out.append(
                Violation(
                    "duplicate",
                    f"{sender}/{client_msg_id} stored at seqs {_seqs(sorted(seqs))} "
                    f"of {conversation}",
                )
            )
    sent = {(s.conversation_id, s.sender, s.client_msg_id) for s in history.sends}
    for send in history.sends:
        key = (send.conversation_id, send.sender, send.client_msg_id)
        name = f"{send.sender}/{send.client_msg_id} in {send.conversation_id}"
        if send.given_up is not None:
            out.append(
                Violation("given up", f"{name} after {send.attempts} attempts: {send.given_up}")
            )
        seqs = places.get(key, set())
        if send.acked_seq is not None and not seqs:
            out.append(
                Violation("lost", f"{name}, acked at seq {send.acked_seq}, is stored nowhere")
            )
        elif send.acked_seq is not None and send.acked_seq not in seqs:
            out.append(
                Violation(
                    "wrong seq",
                    f"{name} acked at seq {send.acked_seq}, stored at {_seqs(sorted(seqs))}",
                )
            )
        for seq in sorted(seqs):
            for member in sorted(history.members.get(send.conversation_id, ())):
                if member not in history.final_incomplete and (
                    (member, send.conversation_id, seq) not in delivered
                ):
                    out.append(
                        Violation(
                            "undelivered",
                            f"{name} (seq {seq}) reached {member} neither live nor by sync",
                        )
                    )
    soak_users = {user for members in history.members.values() for user in members}
    for (conversation, sender, client_msg_id), seqs in sorted(places.items()):
        if (
            sender in soak_users
            and not client_msg_id.startswith(SYSTEM_PREFIX)
            and (conversation, sender, client_msg_id) not in sent
        ):
            out.append(
                Violation(
                    "unknown message",
                    f"{sender}/{client_msg_id} at seq {_seqs(sorted(seqs))} of {conversation} "
                    "was sent by no client",
                )
            )
    out.extend(
        Violation("sync incomplete", f"{user}'s final sync from zero did not finish")
        for user in sorted(history.final_incomplete)
    )
    for item in history.dead_letters:
        if item.message is None:
            out.append(
                Violation("dead letter", f"an item of {item.queue} names no message: {item.body}")
            )
        elif item.message[1] not in logs.get(item.message[0], {}):
            out.append(
                Violation(
                    "dead letter",
                    f"an item of {item.queue} names {item.message[0]} seq {item.message[1]}, "
                    "which no member's sync holds",
                )
            )
    return out


def _seqs(seqs: list[int]) -> str:
    """Seqs as ``3, 4, 5`` (at most ten, then ``...``)."""
    text = ", ".join(str(s) for s in seqs[:10])
    return text + (", ..." if len(seqs) > 10 else "")
