"""The critical path of a send: how many AWS calls happen one after another between the
`send` frame arriving and the first post to the recipient.

A direct message goes through the real `ws_send` handler against moto with a fixed
latency added to every AWS call (so calls that run in parallel visibly overlap, as they
would against DynamoDB); the meter records each call's start, end and thread. The depth is
the longest chain of calls that do not overlap, among those that end before the first
`PostToConnection` starts (greedy by earliest end: optimal for interval chains).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley_bench.cost import TEXT, conn_id, seed_connection, seed_users, user_id
from parley_bench.meter import Call
from parley_bench.world import World

POST = "apigatewaymanagementapi.PostToConnection"


@dataclass
class Timeline:
    limiter: bool
    latency_ms: float
    calls: list[Call] = field(default_factory=list)
    started: float = 0.0
    depth: int = 0
    chain: list[Call] = field(default_factory=list)
    first_post_ms: float = 0.0
    invocation_ms: float = 0.0

    def rows(self) -> list[tuple[float, float, str, str, str]]:
        """(start ms, end ms, thread, call, what) relative to the frame's arrival."""
        out = []
        for call in sorted(self.calls, key=lambda c: c.start):
            what = call.params.get("TableName") or call.params.get("ConnectionId") or ""
            index = call.params.get("IndexName")
            if index:
                what = f"{what} ({index})"
            out.append(
                (
                    (call.start - self.started) * 1000,
                    (call.end - self.started) * 1000,
                    call.thread,
                    call.name,
                    str(what).replace("bench-", ""),
                )
            )
        return out


def longest_chain(calls: list[Call], before: float) -> list[Call]:
    """The most calls that ran one after another (no overlap), all ending by `before`."""
    chain: list[Call] = []
    last_end = float("-inf")
    for call in sorted((c for c in calls if c.end <= before), key=lambda c: c.end):
        if call.start >= last_end:
            chain.append(call)
            last_end = call.end
    return chain


def measure(limiter: bool = True, latency_ms: float = 20.0, repeats: int = 3) -> Timeline:
    """The send with the median time to first post among `repeats` sends."""
    timelines = []
    with World(limiter=limiter, inspect=False) as world:
        seed_users(world, [user_id(1), user_id(2)])
        seed_connection(user_id(1), conn_id(1))
        seed_connection(user_id(2), conn_id(2))
        world.send(user_id(1), conn_id(1), "warm-up", TEXT, to=user_id(2))
        world.meter.latency = latency_ms / 1000
        for i in range(repeats):
            with world.metered(f"send-{i}"):
                started = world.meter.clock()
                world.send(user_id(1), conn_id(1), f"cp{i}", TEXT, to=user_id(2))
                done = world.meter.clock()
            calls = [c for c in world.meter.calls if c.start >= started and c.end <= done]
            timeline = Timeline(limiter, latency_ms, calls, started)
            timeline.invocation_ms = (done - started) * 1000
            posts = [c for c in calls if c.name == POST]
            first = min((c.start for c in posts), default=done)
            timeline.first_post_ms = (first - started) * 1000
            timeline.chain = longest_chain(calls, first)
            timeline.depth = len(timeline.chain)
            timelines.append(timeline)
        world.meter.latency = 0.0
    timelines.sort(key=lambda t: t.first_post_ms)
    return timelines[len(timelines) // 2]
