"""The in-memory fakes keep the DynamoDB repositories' contracts (so service tests mean
something): conditional writes, projections, paging, transaction failure mapping."""

from __future__ import annotations

import inspect

import pytest
from botocore.exceptions import ClientError
from parley import frames
from parley.errors import Conflict, ConversationNotFound, Forbidden, PayloadTooLarge, Unavailable
from parley.records import ConversationWork, Message
from parley.repositories import connections as connections_repo
from parley.repositories import conversations as conversations_repo
from parley.repositories import limits as limits_repo
from parley.repositories import messages as messages_repo
from parley.repositories import queue as queue_repo
from parley.repositories import sessions as sessions_repo
from parley.repositories import users as users_repo
from parley.repositories.conversations import SeqTaken, member_row
from parley_memory import Access, Gateway, Latency, Members, Messages, Store
from parley_memory import PushQueue as MemoryQueue
from parley_memory import store as memory_store

from tests.fakes import repos as fakes
from tests.fakes.repos import FakeRepos, FixedClock, StepClock

CID = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"


def message(seq: int, sender: str = "alice", client_msg_id: str = "c") -> Message:
    return {
        "conversationId": CID,
        "seq": seq,
        "messageId": f"m{seq}",
        "senderId": sender,
        "clientMsgId": client_msg_id,
        "body": {"type": "text", "text": "x"},
        "ts": seq,
    }


def conversation_work() -> ConversationWork:
    return {
        "kind": "conversation",
        "conversationId": CID,
        "frame": frames.message(message(1)),
        "exclude": None,
        "extraUsers": [],
        "correlationId": None,
    }


@pytest.fixture
def repos() -> FakeRepos:
    repos = FakeRepos()
    repos.add_conversation(CID)
    for user in ("alice", "bob", "carol"):
        repos.add_member(CID, user)
    return repos


def test_clocks() -> None:
    # GIVEN a fixed and a stepping clock
    # WHEN read repeatedly
    # THEN the fixed one stands still until moved; the stepping one advances each reading
    fixed = FixedClock(10)
    assert fixed.now_ms() == fixed.now_ms() == 10
    fixed.advance(5)
    assert fixed.now_ms() == 15
    step = StepClock(100, 3)
    assert [step.now_ms() for _ in range(3)] == [100, 103, 106]


def test_put_if_absent_and_find_by_client_id(repos: FakeRepos) -> None:
    # GIVEN a stored message
    # WHEN the same seq is put again, and the sender's clientMsgId is looked up
    # THEN the second put loses and the lookup returns the full first copy, per sender
    assert repos.messages.put_if_absent(message(1, client_msg_id="k"))
    assert not repos.messages.put_if_absent(message(1, sender="bob"))
    assert repos.messages.find_by_client_id(CID, "alice", "k") == message(1, client_msg_id="k")
    assert repos.messages.find_by_client_id(CID, "bob", "k") is None
    assert repos.messages.last_seq(CID) == 1


def test_lose_every_put(repos: FakeRepos) -> None:
    # GIVEN the hook making every put lose
    # WHEN a message is put
    # THEN it is refused and not stored
    repos.messages.lose_every_put = True
    assert not repos.messages.put_if_absent(message(1))
    assert repos.messages.seqs(CID) == []


def test_stored_messages_are_copies(repos: FakeRepos) -> None:
    # GIVEN a stored message
    # WHEN the caller mutates what it put or what it read
    # THEN the stored message is unchanged
    original = message(1)
    repos.messages.put_if_absent(original)
    original["body"]["text"] = "changed"
    read = repos.messages.after(CID, 0, 1)[0]
    read["body"]["text"] = "also changed"
    assert repos.messages.after(CID, 0, 1)[0]["body"]["text"] == "x"


def test_after_and_before_windows(repos: FakeRepos) -> None:
    # GIVEN messages 1..10
    # WHEN windows are read
    # THEN after is ascending above the cursor; before is the page just below, ascending
    for seq in range(1, 11):
        repos.messages.put_if_absent(message(seq, client_msg_id=f"c{seq}"))
    assert [m["seq"] for m in repos.messages.after(CID, 7, 2)] == [8, 9]
    assert [m["seq"] for m in repos.messages.before(CID, 6, 1, 3)] == [3, 4, 5]
    assert [m["seq"] for m in repos.messages.before(CID, 3, 2, 10)] == [2]
    assert repos.messages.before(CID, 2, 2, 10) == []


def test_own_maps_are_stored_and_read_only_through_newest_and_after_with_own(
    repos: FakeRepos,
) -> None:
    # GIVEN a direct message with an `own` map after one stored without (as before the map)
    dm = "dm:alice:bob"
    repos.add_message(dm, 1, "alice")
    repos.messages.put_if_absent({**message(2, "bob"), "conversationId": dm}, {"bob": 2})
    # WHEN it is read back every way
    # THEN newest and after_with_own give the newest map ({} for a message without one);
    # after, before and find_by_client_id hand out the protocol's fields only
    assert repos.messages.newest(dm) == (2, {"bob": 2}, None, 2)
    assert repos.messages.newest_many([dm, CID]) == {
        dm: (2, {"bob": 2}, None, 2),
        CID: (0, {}, 0, None),
    }
    page, own = repos.messages.after_with_own(dm, 0, 10)
    assert ([m["seq"] for m in page], own) == ([1, 2], {"bob": 2})
    assert repos.messages.after_with_own(dm, 0, 1)[1] == {}
    assert repos.messages.after_with_own(dm, 5, 1) == ([], {})
    found = repos.messages.find_by_client_id(dm, "bob", "c")
    assert found is not None
    for wire in [*repos.messages.after(dm, 0, 10), *repos.messages.before(dm, 3, 1, 10), found]:
        assert "own" not in wire
    assert repos.messages.own_of(dm, 2) == {"bob": 2}
    assert repos.messages.own_of(dm, 1) is None


def test_member_projections(repos: FakeRepos) -> None:
    # GIVEN membership rows with readSeq
    # WHEN read through the index, a page and directly
    # THEN the index and pages leave readSeq out, as the table's projections do
    assert repos.members.for_user("alice") == [
        {"conversationId": CID, "userId": "alice", "role": "member", "joinedSeq": 1}
    ]
    assert repos.members.all(CID)[0] == {"userId": "alice", "role": "member", "joinedSeq": 1}
    row = repos.members.get(CID, "alice")
    assert row is not None
    assert row["readSeq"] == 0


def test_member_paging(repos: FakeRepos) -> None:
    # GIVEN three members
    # WHEN paged two at a time
    # THEN pages continue after the last userId and the last page has no continuation
    rows, after = repos.members.page(CID, 2)
    assert ([r["userId"] for r in rows], after) == (["alice", "bob"], "bob")
    rows, after = repos.members.page(CID, 2, after)
    assert ([r["userId"] for r in rows], after) == (["carol"], None)


def test_advance_read_only_forward(repos: FakeRepos) -> None:
    # GIVEN readSeq 0
    # WHEN advanced to 3, then 2, then 3
    # THEN only the first moves it; an unknown member is refused
    assert repos.members.advance_read(CID, "alice", 3)
    assert not repos.members.advance_read(CID, "alice", 2)
    assert not repos.members.advance_read(CID, "alice", 3)
    assert not repos.members.advance_read(CID, "ghost", 9)
    assert repos.members.read_seqs("alice", [CID, "dm:x:y"]) == {CID: 3}


def test_change_failure_mapping(repos: FakeRepos) -> None:
    # GIVEN a group of three and a limit of four
    # WHEN changes hit each failing condition
    # THEN the same errors as the DynamoDB repository are raised, and nothing is applied
    repos.messages.put_if_absent(message(1))
    change = repos.membership.change
    with pytest.raises(SeqTaken):
        change(CID, message(1), add=[member_row(CID, "dave", "member", 1, 0)], max_members=4)
    with pytest.raises(PayloadTooLarge):
        change(
            CID,
            message(2),
            add=[member_row(CID, u, "member", 2, 0) for u in ("d", "e")],
            max_members=4,
        )
    with pytest.raises(Conflict):
        change(CID, message(2), add=[member_row(CID, "bob", "member", 2, 0)], max_members=4)
    with pytest.raises(Forbidden):
        change(CID, message(2), remove=["ghost"], max_members=4)
    with pytest.raises(Forbidden):
        change(CID, message(2), set_role=("bob", "owner"), demote="carol", max_members=4)
    with pytest.raises(ConversationNotFound):
        change("grp:01ARZ3NDEKTSV4RRFFQ69G5FA0", message(2), remove=["bob"], max_members=4)
    assert repos.messages.seqs(CID) == [1]
    assert len(repos.members.all(CID)) == 3
    assert repos.membership.transactions == []


def test_change_applies_atomically(repos: FakeRepos) -> None:
    # GIVEN a valid addition and removal
    # WHEN applied
    # THEN the message, the rows and the member count all change together
    repos.membership.change(
        CID,
        message(1),
        add=[member_row(CID, "dave", "member", 1, 0)],
        remove=["carol"],
        max_members=4,
    )
    assert repos.messages.seqs(CID) == [1]
    assert [m["userId"] for m in repos.members.all(CID)] == ["alice", "bob", "dave"]
    conv = repos.conversations.get(CID)
    assert conv is not None
    assert conv["memberCount"] == 3


def test_create_dm_once(repos: FakeRepos) -> None:
    # GIVEN a dm created
    # WHEN created again
    # THEN False the second time
    rows = [member_row("dm:a11:b22", u, "member", 1, 0) for u in ("a11", "b22")]
    conv = {"conversationId": "dm:a11:b22", "type": "dm", "memberCount": 2}
    assert repos.membership.create_dm(conv, rows) is True
    assert repos.membership.create_dm(conv, rows) is False


def test_sessions_and_users(repos: FakeRepos) -> None:
    # GIVEN a session and a user
    # WHEN rotated, revoked, created twice
    # THEN the conditional semantics hold
    repos.sessions.create("s", "alice", 0, 100)
    with pytest.raises(ClientError):
        repos.sessions.create("s", "alice", 0, 100)
    assert repos.sessions.rotate("s", 1, 10, 200)
    assert not repos.sessions.rotate("s", 1, 10, 200)
    repos.sessions.revoke("s", 20)
    assert not repos.sessions.rotate("s", 2, 30, 200)
    repos.users.add("alice")
    with pytest.raises(Conflict):
        repos.users.add("alice")
    repos.users.set_last_seen("ghost", 5)
    assert repos.users.get("ghost") is None


def test_push_queue_records_and_fails() -> None:
    # GIVEN the fake queue
    # WHEN items are sent, then the queue fails
    # THEN items are recorded as JSON, then Unavailable is raised
    from tests.fakes.repos import PushQueue

    queue = PushQueue()
    queue.send_all([{"kind": "users", "userIds": ("a",)}])
    assert queue.items == [{"kind": "users", "userIds": ["a"]}]
    queue.fail = True
    with pytest.raises(Unavailable):
        queue.send_all([{"kind": "x"}])


# ---- the fakes keep up with the real repositories ----------------------------------------


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and member.__module__.startswith("parley.")
    }


@pytest.mark.parametrize(
    ("real", "fake"),
    [
        (users_repo.UsersRepository, fakes.UsersRepository),
        (sessions_repo.SessionsRepository, fakes.SessionsRepository),
        (connections_repo.ConnectionsRepository, fakes.ConnectionsRepository),
        (conversations_repo.ConversationsRepository, fakes.ConversationsRepository),
        (conversations_repo.MembersRepository, fakes.MembersRepository),
        (conversations_repo.MembershipRepository, fakes.MembershipRepository),
        (messages_repo.MessagesRepository, fakes.MessagesRepository),
        (queue_repo.PushQueue, fakes.PushQueue),
        (limits_repo.LimitsRepository, fakes.LimitsRepository),
    ],
)
def test_fakes_have_every_public_method_with_the_same_parameters(real: type, fake: type) -> None:
    # GIVEN a DynamoDB repository and its fake
    # WHEN their public methods are compared
    # THEN the fake has each one, with the same parameter names, kinds and defaults
    fake_methods = _public_methods_any(fake)
    for name, signature in _public_methods(real).items():
        assert name in fake_methods, f"{fake.__name__} lacks {name}"
        expected = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
        actual = [(p.name, p.kind, p.default) for p in fake_methods[name].parameters.values()]
        assert actual == expected, f"{fake.__name__}.{name}"


def _public_methods_any(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


# ---- the in-memory store's indexes and hooks ---------------------------------------------


def test_connection_index_follows_puts_moves_and_deletes() -> None:
    # GIVEN a connection re-put under another user, and one deleted
    # WHEN each user's connections are looked up by the `byUser` index
    # THEN each connection is found under its current user only
    repos = FakeRepos()
    repos.connections.add("c1", "alice")
    repos.connections.add("c2", "alice")
    repos.connections.add("c1", "bob")
    repos.connections.delete("c2")
    assert repos.connections.by_user("alice", 0) == []
    assert [c["connectionId"] for c in repos.connections.by_user("bob", 0)] == ["c1"]


def test_member_indexes_follow_changes(repos: FakeRepos) -> None:
    # GIVEN carol removed and dave added by a membership change
    # WHEN memberships are read by user and members in order
    # THEN the `byUser` index and the ordered member list both reflect it
    repos.membership.change(
        CID,
        message(1),
        add=[member_row(CID, "dave", "member", 1, 0)],
        remove=["carol"],
        max_members=9,
    )
    assert repos.members.for_user("carol") == []
    assert [m["conversationId"] for m in repos.members.for_user("dave")] == [CID]
    rows, after = repos.members.page(CID, 2, "alice")
    assert ([r["userId"] for r in rows], after) == (["bob", "dave"], None)


def test_probe_sees_what_each_call_read_and_wrote() -> None:
    # GIVEN a store with a probe
    # WHEN a member is read, a read position advanced and a message put twice
    # THEN each call is reported with its table, the items read, and the writes (the
    # refused put as a write whose condition failed)
    seen: list[Access] = []
    store = Store(probe=seen.append)
    store.seed_member(member_row(CID, "alice", "member", 1, 0))
    members, messages = Members(store), Messages(store)
    members.get(CID, "alice")
    members.advance_read(CID, "alice", 4)
    messages.put_if_absent(message(1))
    messages.put_if_absent(message(1, sender="bob"))
    get, update, put, refused = seen
    assert (get.operation, get.table, get.consistent) == ("GetItem", "MembersTable", True)
    assert get.read[0]["userId"] == "alice"
    assert update.writes[0].old is not None and update.writes[0].old["readSeq"] == 0
    assert update.writes[0].new is not None and update.writes[0].new["readSeq"] == 4
    assert (put.operation, put.writes[0].old, put.writes[0].applied) == ("PutItem", None, True)
    assert refused.writes[0].applied is False


def test_latency_is_slept_per_call_by_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a store with a latency per kind of call
    # WHEN a DynamoDB call, a post and a queue send are made
    # THEN each waits its own kind's latency
    slept: list[float] = []
    monkeypatch.setattr(memory_store.time, "sleep", slept.append)
    store = Store(latency=Latency(dynamodb=0.005, post=0.02, sqs=0.01))
    Members(store).get(CID, "alice")
    Gateway(store).post("c1", b"{}")
    MemoryQueue(store).send_all([])
    MemoryQueue(store).send_all([conversation_work()])
    assert slept == [0.005, 0.02, 0.01]
