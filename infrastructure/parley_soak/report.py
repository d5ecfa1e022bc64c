"""The soak's figures and its table: faults injected, retries, acks, latencies, and
how each copy of a message reached its member (live, or only by sync)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from parley_soak.checker import Violation
from parley_soak.history import History


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


@dataclass
class Figures:
    """What the table shows, computed once from a history."""

    sends: int = 0
    acked: int = 0
    given_up: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ack_ms: list[float] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    copies: int = 0
    live: int = 0
    dead_letters: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def by_sync_only(self) -> int:
        """Copies to other members that no push brought (the final sync did)."""
        return self.copies - self.live


def figures(history: History) -> Figures:
    """The table's figures: counts over every send, latencies over the acked ones.

    A copy is one acked message for one member other than its sender; it counts as
    live when a push brought it, its delivery latency from the send's first attempt.
    """
    out = Figures(faults=dict(history.faults), dead_letters=len(history.dead_letters))
    for send in history.sends:
        out.sends += 1
        out.retries += max(0, send.attempts - 1)
        out.errors.update(send.errors)
        if send.given_up is not None:
            out.given_up += 1
        if send.acked_seq is None or send.acked_at is None:
            continue
        out.acked += 1
        out.ack_ms.append((send.acked_at - send.started) * 1000)
        for member in sorted(history.members.get(send.conversation_id, ())):
            if member == send.sender:
                continue
            out.copies += 1
            pushed = history.live.get((member, send.conversation_id, send.acked_seq))
            if pushed is not None:
                out.live += 1
                out.delivery_ms.append(max(0.0, pushed - send.started) * 1000)
    return out


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.0f} / {percentile(values, 99):.0f}"


def table(history: History, violations: list[Violation]) -> str:
    """The soak's result as a two-column text table, violations (if any) below it."""
    f = figures(history)
    faults = sum(f.faults.values())
    rows: list[tuple[str, str]] = [("fault profile", history.profile)]
    rows.append(("faults injected", str(faults)))
    rows.extend((f"  {kind}", str(n)) for kind, n in sorted(f.faults.items()) if n)
    rows += [
        ("messages sent", str(f.sends)),
        ("acked", str(f.acked)),
        ("given up", str(f.given_up)),
        ("retries (same clientMsgId)", str(f.retries)),
    ]
    rows.extend((f"  after {kind}", str(n)) for kind, n in sorted(f.errors.items()))
    rows += [
        ("ack latency p50 / p99 ms", _ms(f.ack_ms)),
        ("delivery latency p50 / p99 ms", _ms(f.delivery_ms)),
        ("copies to members", str(f.copies)),
        ("  delivered live", str(f.live)),
        ("  only by sync", str(f.by_sync_only)),
        ("dead-letter items", str(f.dead_letters)),
        ("violations", str(len(violations))),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    if violations:
        lines.append("")
        lines.extend(f"VIOLATION {v}" for v in violations)
    return "\n".join(lines)


def summary_line(history: History, violations: list[Violation]) -> str:
    """One line for docs/benchmarks.md: the run's figures and its verdict."""
    f = figures(history)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(f.faults.items()) if n) or "none"
    return (
        f"{f.acked}/{f.sends} acked, {f.given_up} given up, {f.retries} retries; faults "
        f"{sum(f.faults.values())} ({kinds}); ack p50/p99 {_ms(f.ack_ms)} ms, delivery "
        f"p50/p99 {_ms(f.delivery_ms)} ms; {f.live} copies live, {f.by_sync_only} only by "
        f"sync; {f.dead_letters} dead letters; **{len(violations)} violations**"
    )
