"""The per-sender fan-out budget against moto through the real handlers (issue 15, group
amplification): one account flooding a large group is refused with 1005 before anything is
stored, while another member's sends into the same group still go out. Each AWS call is
checked against the function's role by the IAM audit."""

from __future__ import annotations

import pytest
from parley import runtime
from parley.repositories.abuse import AbuseCountersRepository
from parley.services.budget import FanoutBudget

from tests.integration.conftest import Harness
from tests.integration.helpers import create_group, put_user, send_frame, stored_messages

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")


def test_a_flooding_sender_is_refused_and_the_group_still_hears_others(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 60-member group, and a budget of 200 member deliveries a minute (59 a message)
    token = app.user("alice")
    app.user("bob")
    others = [f"user{i:04d}" for i in range(58)]
    for user in others:
        put_user(app, user)
    group = str(create_group(app, token, ["bob", *others])["conversationId"])
    limits = app.stack.tables["LimitsTable"]
    budget = FanoutBudget(
        counters=AbuseCountersRepository(limits), clock=runtime.SYSTEM_CLOCK, per_minute=200
    )
    monkeypatch.setattr(runtime.message_service(), "fanout_budget", budget)

    def send(user: str, client_id: str) -> dict[str, object]:
        frame = {
            "action": "send",
            "id": client_id,
            "conversationId": group,
            "clientMsgId": client_id,
            "body": {"type": "text", "text": "flood"},
        }
        return send_frame(app, frame, user=user, connection=f"{user}-c")

    # WHEN alice sends four messages in a row
    replies = [send("alice", f"a{i}") for i in range(4)]
    # THEN three are stored and the fourth answers 1005 with the wait, storing nothing
    assert [r["type"] for r in replies[:3]] == ["ack"] * 3
    assert replies[3]["type"] == "error" and replies[3]["code"] == 1005
    assert 0 < int(replies[3]["retryAfterMs"]) <= 60_000  # type: ignore[call-overload]
    seqs = [m["seq"] for m in stored_messages(app, group)]
    assert seqs == list(range(1, 5))  # the group's creation and alice's three
    # AND bob, in the same group, is not held back by alice's flood
    assert send("bob", "b0")["type"] == "ack"
