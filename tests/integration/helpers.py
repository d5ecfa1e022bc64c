"""Helpers for the messaging-core integration suite: read the tables directly (to check what
was and was not written), call handlers with hand-made events, and seed long histories."""

from __future__ import annotations

import json
from typing import Any

from parley import ddb
from parley.repositories.messages import encode_message

from tests.integration.conftest import CONTEXT, Harness
from tests.support import events
from tests.support.handlers import as_the_test, load
from tests.support.stack import client

ULID_CHARS = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def is_ulid(value: object) -> bool:
    return isinstance(value, str) and len(value) == 26 and set(value) <= ULID_CHARS


# ---- tables -----------------------------------------------------------------------------


@as_the_test()
def scan(app: Harness, logical: str) -> list[dict[str, Any]]:
    """Every item of one of the template's tables (`UsersTable`, `MessagesTable`, ...)."""
    ddb_client = client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": app.stack.tables[logical]}
    items: list[dict[str, Any]] = []
    while True:
        page = ddb_client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return ddb.decode_all(items)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@as_the_test()
def get_item(app: Harness, logical: str, **key: str | int) -> dict[str, Any] | None:
    item = client("dynamodb").get_item(
        TableName=app.stack.tables[logical], Key=ddb.key(**key), ConsistentRead=True
    )
    return ddb.decode(item["Item"]) if "Item" in item else None


def stored_messages(app: Harness, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """The stored message items (all, or one conversation's), by conversation then seq."""
    rows = scan(app, "MessagesTable")
    if conversation_id is not None:
        rows = [r for r in rows if r["conversationId"] == conversation_id]
    return sorted(rows, key=lambda r: (r["conversationId"], r["seq"]))


def user_item(app: Harness, user_id: str) -> dict[str, Any] | None:
    return get_item(app, "UsersTable", pk=user_id, sk="profile")


def connection_item(app: Harness, connection_id: str) -> dict[str, Any] | None:
    return get_item(app, "ConnectionsTable", connectionId=connection_id)


def member_item(app: Harness, conversation_id: str, user_id: str) -> dict[str, Any] | None:
    return get_item(app, "MembersTable", conversationId=conversation_id, userId=user_id)


def nothing_stored(app: Harness) -> bool:
    """No message, conversation or membership was written."""
    return not (
        scan(app, "MessagesTable") or scan(app, "ConversationsTable") or scan(app, "MembersTable")
    )


def put_user(app: Harness, user_id: str) -> None:
    """A bare profile row (no password that works): a user that exists, without the cost of
    registering, for tests whose frames are refused before any account is used."""
    client("dynamodb").put_item(
        TableName=app.stack.tables["UsersTable"],
        Item=ddb.encode(
            {"pk": user_id, "sk": "profile", "passwordHash": "-", "displayName": user_id}
        ),
    )


def put_connection(app: Harness, user_id: str, connection_id: str, ttl: int) -> None:
    """A connection row as `$connect` writes it."""
    client("dynamodb").put_item(
        TableName=app.stack.tables["ConnectionsTable"],
        Item=ddb.encode(
            {
                "connectionId": connection_id,
                "userId": user_id,
                "sessionId": "s",
                "connectedAt": 0,
                "ttl": ttl,
            }
        ),
    )


def seed_messages(
    app: Harness, conversation_id: str, sender: str, seqs: range, text: str = "seeded"
) -> None:
    """Write messages straight into the table (fast setup for long histories).

    The conversation and its members must exist already (e.g. from one real send).
    """
    ddb_client = client("dynamodb")
    requests = [
        {
            "PutRequest": {
                "Item": encode_message(
                    {
                        "conversationId": conversation_id,
                        "seq": seq,
                        "messageId": f"01J0000000000000000000{seq:04d}",
                        "senderId": sender,
                        "clientMsgId": f"seed-{seq}",
                        "body": {"type": "text", "text": f"{text} {seq}"},
                        "ts": 1_700_000_000_000 + seq,
                    }
                )
            }
        }
        for seq in seqs
    ]
    for start in range(0, len(requests), 25):
        ddb_client.batch_write_item(
            RequestItems={app.stack.tables["MessagesTable"]: requests[start : start + 25]}
        )


# ---- handlers ---------------------------------------------------------------------------


def call(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke a function's handler with a ready event; its raw response."""
    return dict(load(function).handler(event, CONTEXT))


def ws_raw(
    route: str,
    frame: Any = None,
    *,
    user: str,
    connection: str,
    raw: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A WebSocket route's raw response (statusCode and the body string as sent)."""
    function = {"send": "ws_send", "sync": "ws_sync"}.get(route, "ws_live")
    event = events.ws_event(route, frame, user=user, connection=connection, raw=raw)
    if request_id is not None:
        event["requestContext"]["requestId"] = request_id
    return call(function, event)


def send_frame(
    app: Harness, frame: dict[str, Any], *, user: str = "alice", connection: str = "a1"
) -> dict[str, Any]:
    reply = app.frame("send", frame, user=user, connection=connection)
    assert reply is not None
    return reply


def send_raw(app: Harness, raw: str, *, user: str = "alice", connection: str = "a1") -> Any:
    reply = app.frame("send", raw=raw, user=user, connection=connection)
    assert reply is not None
    return reply


def text_frame(client_msg_id: str, text: str = "hi", **target: Any) -> dict[str, Any]:
    return {
        "action": "send",
        "id": f"r-{client_msg_id}",
        "clientMsgId": client_msg_id,
        "body": {"type": "text", "text": text},
        **target,
    }


def compact(value: Any) -> str:
    """JSON as a client would send it: compact, UTF-8 (not \\u-escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---- HTTP -------------------------------------------------------------------------------


def history(app: Harness, token: str, conversation_id: str, **query: str) -> tuple[int, Any]:
    return app.http(
        "http_conversations",
        "GET",
        "/conversations/{id}/messages",
        token=token,
        path={"id": conversation_id},
        query=query or None,
    )


def conversations(app: Harness, token: str) -> dict[str, dict[str, Any]]:
    """`GET /conversations` by conversationId."""
    status, body = app.http("http_conversations", "GET", "/conversations", token=token)
    assert status == 200, body
    return {c["conversationId"]: c for c in body["conversations"]}


def create_group(
    app: Harness, token: str, members: list[str], name: str = "team"
) -> dict[str, Any]:
    status, body = app.http(
        "http_groups", "POST", "/groups", token=token, body={"name": name, "members": members}
    )
    assert status == 201, body
    return dict(body)


def add_members(app: Harness, token: str, group: str, user_ids: list[str]) -> tuple[int, Any]:
    return app.http(
        "http_groups",
        "POST",
        "/groups/{id}/members",
        token=token,
        path={"id": group},
        body={"userIds": user_ids},
    )


def remove_member(app: Harness, token: str, group: str, user_id: str) -> tuple[int, Any]:
    return app.http(
        "http_groups",
        "DELETE",
        "/groups/{id}/members/{userId}",
        token=token,
        path={"id": group, "userId": user_id},
    )


def set_role(app: Harness, token: str, group: str, user_id: str, role: Any) -> tuple[int, Any]:
    return app.http(
        "http_groups",
        "PATCH",
        "/groups/{id}/members/{userId}",
        token=token,
        path={"id": group, "userId": user_id},
        body={"role": role},
    )


def system_events(
    app: Harness, token: str, conversation_id: str
) -> list[tuple[int, dict[str, Any]]]:
    """(seq, body) of every system message the caller can see in the history."""
    status, page = history(app, token, conversation_id, limit="100")
    assert status == 200, page
    return [(m["seq"], m["body"]) for m in page["messages"] if m["body"]["type"] == "system"]


def sync_entry(app: Harness, user: str, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's entry in the user's sync from nothing (None when left out)."""
    reply = app.frame("sync", {"action": "sync", "id": "s"}, user=user, connection=f"{user}-s")
    assert reply is not None and reply["type"] == "sync", reply
    return next((c for c in reply["conversations"] if c["conversationId"] == conversation_id), None)
