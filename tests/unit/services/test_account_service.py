"""AccountService and AccountJobService on the fakes (protocol 12): the deletion's order
(schedule, commit, logout), the erasure's rules (nothing for an unmarked profile, groups
left, every countable message of the user deleted, a cursor when time runs short), the
export's record, ration and link, and an owner's departure."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parley import passwords
from parley.errors import (
    Forbidden,
    InvalidParam,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UserNotFound,
)
from parley.records import ExportRecord
from parley.services.accounts import AccountJobService, AccountService, Outcome
from parley.services.auth import AuthService
from parley.services.devices import DeviceService
from parley_memory.accounts import AccountJobsOutbox, Accounts, ExportBucket, SentMessages
from parley_memory.devices import MemoryDevices

from tests.unit.services.conftest import World
from tests.unit.services.test_auth_sessions import KEYS, PASSWORD, Harness, harness
from tests.unit.services.test_event_service import DM, Chat

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return passwords.hash_password(PASSWORD)


@pytest.fixture
def h(alice_hash: str) -> Harness:
    return harness(alice_hash)


def account_service(h: Harness) -> tuple[AccountService, Accounts, AccountJobsOutbox]:
    accounts, jobs = Accounts(h.repos.store), AccountJobsOutbox()
    service = AccountService(
        accounts=accounts, jobs=jobs, clock=h.repos.clock, auth=h.auth, objects=ExportBucket()
    )
    return service, accounts, jobs


# ---- DELETE /me ------------------------------------------------------------------------


def test_a_wrong_password_deletes_nothing_and_schedules_nothing(h: Harness) -> None:
    service, accounts, jobs = account_service(h)
    # WHEN alice asks with a wrong password
    with pytest.raises(Unauthenticated):
        service.delete("alice", "not the password")
    # THEN nothing was scheduled nor marked
    assert jobs.sent == [] and not accounts.is_deleted("alice")


def test_the_job_is_scheduled_delayed_before_the_commit_then_logins_end(h: Harness) -> None:
    service, _, jobs = account_service(h)
    pair = h.auth.login("alice", PASSWORD)
    # WHEN alice deletes her account
    service.delete("alice", PASSWORD)
    # THEN a delayed job came first, then an immediate one; the profile is marked
    assert jobs.sent == [
        ({"kind": "erase", "userId": "alice"}, True),
        ({"kind": "erase", "userId": "alice"}, False),
    ]
    profile = h.repos.users.get("alice")
    assert profile is not None and "deletedAt" in profile and "passwordHash" not in profile
    # AND her login ended (sockets closed), and neither the login nor a refresh works
    assert h.closed_users == [("alice", None)]
    with pytest.raises(Unauthenticated):
        h.auth.authenticate(pair["accessToken"])
    with pytest.raises(Unauthenticated):
        h.auth.login("alice", PASSWORD)
    # AND she is unknown to others, though her id stays taken
    assert h.repos.users.existing(["alice"]) == set()
    assert h.repos.users.profiles(["alice"]) == {}


def test_a_schedule_that_fails_commits_nothing(h: Harness) -> None:
    service, accounts, jobs = account_service(h)
    jobs.fail = Unavailable()
    with pytest.raises(Unavailable):
        service.delete("alice", PASSWORD)
    assert not accounts.is_deleted("alice")
    h.auth.login("alice", PASSWORD)


# ---- exports -----------------------------------------------------------------------------


def test_exports_are_rationed_to_three_a_day(h: Harness) -> None:
    service, _, jobs = account_service(h)
    # WHEN alice asks for three exports THEN each is pending with its job
    ids = [service.request_export("alice")["exportId"] for _ in range(3)]
    assert [job for job, _ in jobs.sent] == [
        {"kind": "export", "userId": "alice", "exportId": i} for i in ids
    ]
    assert service.get_export("alice", ids[0]) == {"status": "pending"}
    # THEN a fourth within the day is 1005, and a day later one is allowed again
    with pytest.raises(RateLimited):
        service.request_export("alice")
    h.clock.advance(DAY_MS)
    assert service.request_export("alice")["exportId"]


def test_an_export_is_only_its_owners_and_only_for_a_day(h: Harness) -> None:
    service, accounts, _ = account_service(h)
    export_id = service.request_export("alice")["exportId"]
    accounts.export_ready("alice", export_id, f"exports/{export_id}.json")
    # THEN alice gets a link of at most 300 s
    link = service.get_export("alice", export_id)
    assert link["status"] == "ready" and link["expiresIn"] == 300
    assert link["url"].startswith(f"memory://exports/{export_id}.json")
    # AND bob does not see it, nor does anyone a malformed id
    with pytest.raises(UserNotFound):
        service.get_export("bob", export_id)
    with pytest.raises(InvalidParam):
        service.get_export("alice", "not-an-id")
    # AND past its day it is gone
    h.clock.advance(DAY_MS)
    with pytest.raises(UserNotFound):
        service.get_export("alice", export_id)


# ---- the job -----------------------------------------------------------------------------


class Jobs:
    """An AccountJobService over the world's services, with alice's account in it."""

    def __init__(self, world: World, alice_hash: str) -> None:
        repos = world.repos
        repos.store.users.pop(("alice", "profile"))
        repos.users.create("alice", alice_hash, "Alice", 0)
        self.accounts = Accounts(repos.store)
        self.jobs = AccountJobsOutbox()
        self.bucket = ExportBucket()
        self.devices = MemoryDevices()
        self.auth = AuthService(
            users=repos.users,
            sessions=repos.sessions,
            keys=lambda: KEYS,
            clock=repos.clock,
            issuer="parley",
            audience="parley-clients",
            access_ttl=900,
            refresh_ttl=3600,
        )
        self.service = AccountJobService(
            accounts=self.accounts,
            users=repos.users,
            members=repos.members,
            conversations=repos.conversations,
            sent=SentMessages(repos.store),
            jobs=self.jobs,
            messages=world.messages,
            groups=world.groups,
            auth=self.auth,
            devices=self.devices,
            device_service=DeviceService(
                devices=self.devices,
                platforms=None,
                enabled=frozenset({"webpush"}),
                policy="https",
                vapid_public_key=lambda: "",
                clock=repos.clock,
            ),
            objects=self.bucket,
            clock=repos.clock,
            page=2,
        )

    def erase(self, job: Any = None, time_left: int = 60_000) -> Outcome:
        return self.service.erase(job or {"kind": "erase", "userId": "alice"}, lambda: time_left)


@pytest.fixture
def jobs(world: World, alice_hash: str) -> Jobs:
    return Jobs(world, alice_hash)


def group_with_alice(world: World) -> Chat:
    """GROUP: alice (owner), bob (admin), carol; alice wrote twice, bob once."""
    world.groups.create("alice", "team", ["bob", "carol"])
    group = world.repos.members.for_user("bob")[0]["conversationId"]
    world.groups.set_role("alice", group, "bob", "admin")
    chat = Chat(world, group)
    chat.text("alice", "one")
    chat.text("bob", "bob's")
    chat.text("alice", "two")
    return chat


def test_a_job_for_an_unmarked_profile_does_nothing(world: World, jobs: Jobs) -> None:
    chat = group_with_alice(world)
    before = json.dumps(world.repos.store.messages, default=str, sort_keys=True)
    assert jobs.erase() is Outcome.NOT_DELETED
    assert json.dumps(world.repos.store.messages, default=str, sort_keys=True) == before
    assert world.repos.members.get(chat.conversation, "alice") is not None


def test_the_erasure_leaves_groups_and_deletes_every_countable_message(
    world: World, jobs: Jobs
) -> None:
    # GIVEN alice owns a group with an admin (bob), wrote in it and in a direct conversation,
    # and blocks erin
    chat = group_with_alice(world)
    dm = Chat(world, DM)
    dm.text("alice", "hi bob")
    world.repos.users.block("alice", "erin", 0)
    jobs.accounts.mark_deleted("alice", 1)
    # WHEN the job runs
    assert jobs.erase() is Outcome.ERASED
    # THEN she left the group after handing it to bob (the admin), with member_left
    assert world.repos.members.get(chat.conversation, "alice") is None
    assert world.repos.members.get(chat.conversation, "bob")["role"] == "owner"  # type: ignore[index]
    log = world.repos.messages.after(chat.conversation, 0, 100)
    assert [m["body"].get("event") for m in log if m["body"]["type"] == "system"][-1] == (
        "member_left"
    )
    # AND each of her countable messages is deleted by her, bob's is untouched
    for conversation in (chat.conversation, DM):
        for m in world.repos.messages.after(conversation, 0, 100):
            if m["senderId"] == "alice" and m["body"]["type"] not in ("system", "delete"):
                assert m["body"] == {"type": "deleted"} and m["deleted"]["by"] == "alice"
            if m["senderId"] == "bob" and m["body"]["type"] == "text":
                assert m["body"]["text"] == "bob's"
    # AND her block is gone, and the group is found by its left# marker from now on
    assert jobs.accounts.blocked_users("alice") == []
    assert jobs.accounts.left_groups("alice") == [chat.conversation]
    # AND a second run stores nothing more
    count = sum(len(v) for v in world.repos.store.messages.values())
    assert jobs.erase() is Outcome.ERASED
    assert sum(len(v) for v in world.repos.store.messages.values()) == count


def test_the_partner_of_a_deleted_account_can_no_longer_write_to_it(
    world: World, jobs: Jobs
) -> None:
    # GIVEN alice and bob talked directly, then alice's account was deleted
    dm = Chat(world, DM)
    dm.text("alice", "hi bob")
    dm.text("bob", "hi alice")
    jobs.accounts.mark_deleted("alice", 1)
    # WHEN the job runs
    assert jobs.erase() is Outcome.ERASED
    # THEN bob's next message there is refused (1004), not stored for nobody
    before = world.repos.messages.seqs(DM)
    with pytest.raises(Forbidden):
        dm.text("bob", "are you there?")
    assert world.repos.messages.seqs(DM) == before


def test_a_run_short_of_time_queues_its_cursor(world: World, jobs: Jobs) -> None:
    # GIVEN alice deleted, with messages in the group
    chat = group_with_alice(world)
    jobs.accounts.mark_deleted("alice", 1)
    # WHEN the job runs with less time left than its reserve
    assert jobs.erase(time_left=1) is Outcome.CONTINUED
    # THEN its continuation names where to resume, and resuming finishes the work
    [(job, delayed)] = jobs.jobs.sent
    assert not delayed and job["userId"] == "alice" and job["seq"] == 0
    assert jobs.erase(job) is Outcome.ERASED
    texts = [
        m for m in world.repos.messages.after(chat.conversation, 0, 100) if m["senderId"] == "alice"
    ]
    assert all(m["body"]["type"] != "text" for m in texts)


def test_an_export_gathers_what_the_user_sent_without_secrets(world: World, jobs: Jobs) -> None:
    chat = group_with_alice(world)
    Chat(world, DM).text("alice", "hi bob")
    record: ExportRecord = {
        "exportId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "status": "pending",
        "createdAt": 0,
        "expiresAt": 10**12,
    }
    jobs.accounts.put_export("alice", record)
    assert jobs.service.export("alice", "01ARZ3NDEKTSV4RRFFQ69G5FAV") is Outcome.EXPORTED
    data, content_type = jobs.bucket.objects["exports/01ARZ3NDEKTSV4RRFFQ69G5FAV.json"]
    exported = json.loads(data)
    assert content_type == "application/json"
    assert exported["profile"] == {"userId": "alice", "displayName": "Alice", "createdAt": 0}
    assert {m["conversationId"] for m in exported["messages"]} == {chat.conversation, DM}
    assert all(m.get("body", {}).get("text") != "bob's" for m in exported["messages"])
    # AND a written export is not written twice
    assert jobs.service.export("alice", "01ARZ3NDEKTSV4RRFFQ69G5FAV") is Outcome.GONE


def test_a_lone_owner_leaves_an_empty_group(world: World) -> None:
    world.groups.create("alice", "solo", [])
    group = world.repos.members.for_user("alice")[0]["conversationId"]
    assert world.groups.depart("alice", group) is True
    assert world.repos.members.all(group) == []
    assert world.groups.depart("alice", group) is False
