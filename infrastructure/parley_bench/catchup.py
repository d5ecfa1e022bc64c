"""Catch-up: a user who missed `messages` messages over `conversations` conversations
reconnects and syncs until `complete`, through the real `ws_sync` handler against moto.

The backlog is written straight into moto in the shapes the repositories write (the sends
themselves are measured elsewhere). The client side follows the protocol: it keeps one
cursor per conversation (the last seq it received) and syncs again while `complete` is
false. Checked: every seq of every conversation arrives exactly once, none is skipped, and
every reply stays under 96 KB.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from parley_bench.cost import TEXT, conn_id, seed_connection, seed_users, user_id
from parley_bench.meter import Bill
from parley_bench.world import World

REPLY_LIMIT = 96 * 1024


@dataclass
class CatchUp:
    messages: int
    conversations: int
    limit: int
    frames: int = 0
    largest_frame: int = 0
    seconds: float = 0.0
    delivered: int = 0
    duplicates: int = 0
    missing: int = 0
    frame_sizes: list[int] = field(default_factory=list)
    bill: Bill | None = None

    @property
    def ok(self) -> bool:
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.delivered == self.messages
            and self.largest_frame < REPLY_LIMIT
        )


def _seed(world: World, conversations: int, per: int) -> list[str]:
    import boto3
    from parley import ddb, runtime
    from parley.repositories.conversations import member_row
    from parley.repositories.messages import encode_message

    reader = user_id(0)
    peers = [user_id(i) for i in range(1, conversations + 1)]
    seed_users(world, [reader, *peers])
    seed_connection(reader, conn_id(0))
    client = boto3.client("dynamodb")
    ids = []
    members, messages, convs = [], [], []
    for i, peer in enumerate(peers):
        a, b = sorted((reader, peer))
        cid = f"dm:{a}:{b}"
        ids.append(cid)
        convs.append(
            {
                "conversationId": cid,
                "type": "dm",
                "createdAt": 0,
                "createdBy": peer,
                "memberCount": 2,
            }
        )
        for user in (reader, peer):
            members.append(member_row(cid, user, "member", 1, 0))
        for seq in range(1, per + 1):
            messages.append(
                encode_message(
                    {
                        "conversationId": cid,
                        "seq": seq,
                        "messageId": f"01JB{i:04d}{seq:018d}",
                        "senderId": peer,
                        "clientMsgId": f"c{seq:06d}",
                        "body": {"type": "text", "text": TEXT},
                        "ts": 1_795_773_600_000 + seq,
                    }
                )
            )
    batches = [
        ("ConversationsTable", [ddb.encode(c) for c in convs]),
        ("MembersTable", [ddb.encode(m) for m in members]),
        ("MessagesTable", messages),
    ]
    for logical, items in batches:
        table = world.table(logical)
        for start in range(0, len(items), 25):
            chunk = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            client.batch_write_item(RequestItems={table: chunk})
    runtime.reset()
    return ids


def run(messages: int = 10_000, conversations: int = 50, limit: int = 500) -> CatchUp:
    """Time, frames and completeness from a plain run; the bill from a second, sized run
    (sizing every read would slow the first)."""
    result = _run(messages, conversations, limit, inspect=False)
    sized = _run(messages, conversations, limit, inspect=True)
    result.bill = sized.bill
    return result


def _run(messages: int, conversations: int, limit: int, *, inspect: bool) -> CatchUp:
    per = messages // conversations
    result = CatchUp(messages=per * conversations, conversations=conversations, limit=limit)
    with World(inspect=inspect) as world:
        ids = _seed(world, conversations, per)
        seen: dict[str, list[int]] = {cid: [] for cid in ids}
        cursors: dict[str, int] = {}
        reader, connection = user_id(0), conn_id(0)
        with world.metered("catch-up") as bill:
            started = time.perf_counter()
            for _ in range(10_000):
                frame = {"action": "sync", "id": "s", "cursors": cursors, "limit": limit}
                reply = world.ws("sync", frame, user=reader, connection=connection)
                assert reply is not None and reply["type"] == "sync", reply
                size = len(json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode())
                result.frame_sizes.append(size)
                for conv in reply["conversations"]:
                    got = [m["seq"] for m in conv["messages"]]
                    seen[conv["conversationId"]].extend(got)
                    if got:
                        cursors[conv["conversationId"]] = got[-1]
                if reply["complete"]:
                    break
            result.seconds = time.perf_counter() - started
        result.bill = bill
    result.frames = len(result.frame_sizes)
    result.largest_frame = max(result.frame_sizes, default=0)
    for got in seen.values():
        result.delivered += len(got)
        result.duplicates += len(got) - len(set(got))
        result.missing += len(set(range(1, per + 1)) - set(got))
    return result
