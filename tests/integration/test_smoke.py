from __future__ import annotations

from tests.integration.conftest import Harness


def test_two_users_chat_then_sync(app: Harness) -> None:
    # GIVEN alice and bob, both connected
    app.user("alice")
    app.user("bob")
    app.connect("alice", "a1")
    app.connect("bob", "b1")
    # WHEN alice sends to bob
    ack = app.send("alice", "a1", to="bob", client_id="m1", text="hello")
    # THEN the ack is seq 1 and bob's connection got the message
    assert ack["type"] == "ack" and ack["seq"] == 1 and ack["conversationId"] == "dm:alice:bob"
    pushed = app.gateway.frames("b1", "message")
    assert [m["body"]["text"] for m in pushed] == ["hello"]
    assert app.gateway.frames("a1") == []
    reply = app.sync("bob", "b1")
    assert reply["complete"] is True
    assert reply["conversations"][0]["messages"][0]["seq"] == 1
