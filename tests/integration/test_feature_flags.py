"""Feature flags against moto through the real handlers (issue 17): each gated feature on
and off. The flags document reaches Powertools' AppConfigStore the way AppConfig serves it:
the functions' appconfigdata client answers StartConfigurationSession and
GetLatestConfiguration through a botocore Stubber (moto has no AppConfigData), and the IAM
audit checks both calls against each function's role."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from parley import aws, runtime

from tests.fakes.repos import FixedClock
from tests.integration.conftest import Harness
from tests.integration.helpers import create_group, put_user, stored_messages
from tests.integration.test_attachments import file_frame, token, uploaded
from tests.integration.test_events import Sender, acked, code
from tests.integration.test_observability import Capture, assert_small_dimensions, stdout

__all__ = ["stdout"]  # the fixture, shared with the observability tests

pytestmark = pytest.mark.usefixtures("shared_secrets_client", "cheap_password_hashing")

Flags = Callable[..., "AppConfigData"]


def off(*names: str) -> dict[str, Any]:
    """A document with `names` off for everyone (every other flag at its default)."""
    return {name: {"default": False} for name in names}


class _Body(io.BytesIO):
    """An HTTP body as botocore reads it (urllib3's `stream` and `read`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class AppConfigData:
    """Answers the functions' appconfigdata client at the HTTP layer (botocore `before-send`,
    after the IAM audit has seen each call): a session per container, then `document`
    (None: every call fails with 500)."""

    def __init__(self, document: dict[str, Any] | None) -> None:
        self.document = document
        self.calls: list[str] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        operation = "GetLatestConfiguration" if "/configuration?" in request.url else "Start"
        self.calls.append(operation)
        if self.document is None:
            return AWSResponse(request.url, 500, {}, _Body(b"{}"))
        if operation == "Start":
            body = json.dumps({"InitialConfigurationToken": "token-1"}).encode()
            return AWSResponse(request.url, 201, {"Content-Type": "application/json"}, _Body(body))
        headers = {
            "Content-Type": "application/json",
            "Next-Poll-Configuration-Token": "token-2",
            "Next-Poll-Interval-In-Seconds": "60",
        }
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(self.document).encode()))


@pytest.fixture
def flags(reconfigure: Callable[..., None]) -> Iterator[Flags]:
    """Serve a flags document to the functions as AppConfig would (PARLEY_FLAGS_* set, and
    the appconfigdata client answered); each call is a new container reading it."""

    def serve(document: dict[str, Any] | None, **env: object) -> AppConfigData:
        reconfigure(
            PARLEY_FLAGS_APPLICATION="app1",
            PARLEY_FLAGS_ENVIRONMENT="env1",
            PARLEY_FLAGS_PROFILE="prof1",
            PARLEY_FLAGS_MAX_AGE="300",
            **env,
        )
        service = AppConfigData(document)
        aws.client("appconfigdata").meta.events.register("before-send.appconfigdata", service)
        return service

    yield serve
    runtime.reset()


@pytest.fixture
def team(app: Harness) -> str:
    """alice (owner), bob and carol in a group, with alice's first message (seq 2)."""
    for user in ("alice", "bob", "carol"):
        app.user(user)
    return str(create_group(app, token(app, "alice"), ["bob", "carol"])["conversationId"])


EVENTS = {
    "edit": lambda target: {"type": "edit", "target": target, "text": "edited"},
    "delete": lambda target: {"type": "delete", "target": target},
    "reaction": lambda target: {"type": "reaction", "target": target, "key": "+1", "on": True},
}


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_a_rich_message_kind_switched_off_answers_1001_and_stores_nothing(
    app: Harness, team: str, flags: Flags, kind: str
) -> None:
    # GIVEN a message in the group, and the kind's flag off
    send = Sender(app, team)
    target = acked(send("alice", {"type": "text", "text": "hello"}))
    flags(off(kind))
    stored = len(stored_messages(app, team))
    # WHEN alice sends that kind
    reply = send("alice", EVENTS[kind](target))
    # THEN 1001 naming the feature, nothing stored
    assert code(reply) == 1001 and f"'{kind}'" in reply["message"]
    assert len(stored_messages(app, team)) == stored
    # AND another kind still works
    other = next(k for k in sorted(EVENTS) if k not in (kind, "delete"))
    assert acked(send("alice", EVENTS[other](target))) > target


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_a_rich_message_kind_switched_on_is_acked(
    app: Harness, team: str, flags: Flags, kind: str
) -> None:
    # GIVEN every other rich kind off, this one on
    send = Sender(app, team)
    target = acked(send("alice", {"type": "text", "text": "hello"}))
    flags({**off(*(k for k in EVENTS if k != kind)), kind: {"default": True}})
    # THEN alice's message of that kind is acked and stored
    assert acked(send("alice", EVENTS[kind](target))) == target + 1


def test_file_messages_follow_their_flag(app: Harness, team: str, flags: Flags) -> None:
    # GIVEN an uploaded file, and file messages off
    attachment = uploaded(app, "alice", team)
    flags(off("file"))
    frame = file_frame("f1", team, attachment, caption="notes")
    # WHEN alice sends it THEN 1001 naming the feature, and the file is not claimed
    reply = app.frame("send", frame, user="alice", connection="a1")
    assert reply is not None and code(reply) == 1001 and "'file'" in reply["message"]
    # WHEN the flag is on again (a new container reads the new document)
    flags({"file": {"default": True}})
    # THEN the same send is acked
    reply = app.frame("send", frame, user="alice", connection="a1")
    assert reply is not None and reply["type"] == "ack"


ACTIONS: dict[str, Callable[[str], dict[str, Any]]] = {
    "typing": lambda c: {"action": "typing", "conversationId": c, "state": "start"},
    "read": lambda c: {"action": "read", "id": "r", "conversationId": c, "seq": 1},
    "presence": lambda c: {"action": "presence", "id": "p", "userIds": ["bob"]},
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_live_feature_kill_switch_answers_1007_naming_it(
    app: Harness, team: str, flags: Flags, action: str
) -> None:
    # GIVEN the action's kill switch off
    flags(off(action))
    # WHEN alice uses it THEN 1007 naming the feature
    reply = app.frame(action, ACTIONS[action](team), user="alice", connection="a1")
    assert reply is not None and reply.get("code") == 1007
    assert f"'{action}'" in reply["message"]
    # AND nothing was relayed to the other members
    assert not app.gateway.frames("b1") and not app.gateway.frames("c1")


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_live_feature_switched_on_works(
    app: Harness, team: str, flags: Flags, action: str
) -> None:
    # GIVEN only the other live features off
    flags(off(*(a for a in ACTIONS if a != action)))
    # WHEN alice uses it THEN no error
    reply = app.frame(action, ACTIONS[action](team), user="alice", connection="a1")
    assert reply is None or reply.get("type") != "error", reply


def test_me_tells_what_is_on_for_the_caller(app: Harness, flags: Flags) -> None:
    # GIVEN reactions off except for app admins, typing off, and a raised fan-out budget
    app.user("alice")
    app.user("root")
    admins_only = {
        "default": False,
        "rules": {
            "admins": {
                "when_match": True,
                "conditions": [{"action": "EQUALS", "key": "admin", "value": True}],
            }
        },
    }
    document = {
        "reaction": admins_only,
        "typing": {"default": False},
        "fanoutDeliveriesPerMinute": {"default": 80_000, "boolean_type": False},
    }
    flags(document, PARLEY_ADMIN_USERS="root")
    # WHEN each asks GET /me
    _, alice = app.http("http_users", "GET", "/me", token=token(app, "alice"))
    _, root = app.http("http_users", "GET", "/me", token=token(app, "root"))
    # THEN the features are theirs
    assert alice["features"]["reaction"] is False and root["features"]["reaction"] is True
    assert alice["features"]["typing"] is False and alice["features"]["edit"] is True
    assert alice["features"]["fanoutDeliveriesPerMinute"] == 80_000


def test_the_fanout_budget_flag_overrides_the_parameter(
    app: Harness,
    flags: Flags,
    reconfigure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a 60-member group (59 deliveries a message) and a flag budget of 10,000
    # deliveries a minute for everyone, where the stack's parameter allows 50,000
    owner = app.user("alice")
    others = [f"user{i:04d}" for i in range(59)]
    for user in others:
        put_user(app, user)
    group = str(create_group(app, owner, others)["conversationId"])
    flags({"fanoutDeliveriesPerMinute": {"default": 10_000, "boolean_type": False}})
    # The budget counts per fixed minute: its clock stands still at a minute's start, so a
    # minute boundary passing during the 170 sends cannot reset it.
    budget = runtime.message_service().fanout_budget
    assert budget is not None
    monkeypatch.setattr(budget, "clock", FixedClock((time.time_ns() // 60_000_000_000) * 60_000))
    send = Sender(app, group)
    # WHEN alice sends 170 messages in the minute (169 x 59 = 9,971; the 170th passes 10,000)
    replies = [send("alice", {"type": "text", "text": f"m{i}"}) for i in range(170)]
    # THEN the flag's budget refuses the 170th with 1005 naming it
    assert all(r["type"] == "ack" for r in replies[:169])
    assert code(replies[169]) == 1005 and "10000" in replies[169]["message"]


def test_an_unreadable_flags_document_keeps_every_feature_on(app: Harness, flags: Flags) -> None:
    # GIVEN flags configured, but AppConfigData failing
    app.user("alice")
    service = flags(None)
    # WHEN alice asks GET /me twice
    for _ in range(2):
        status, body = app.http("http_users", "GET", "/me", token=token(app, "alice"))
        # THEN each request succeeds with every feature at its default
        assert status == 200 and body["features"]["reaction"] is True
    # AND AppConfig was not asked again for the second (a failure backs off for max_age)
    assert service.calls and set(service.calls) == {"Start"}
    first = len(service.calls)
    app.http("http_users", "GET", "/me", token=token(app, "alice"))
    assert len(service.calls) == first


def test_the_document_is_read_once_per_container_not_per_request(
    app: Harness, team: str, flags: Flags
) -> None:
    # GIVEN flags served
    service = flags({"typing": {"default": True}})
    # WHEN alice types five times
    for _ in range(5):
        assert app.frame("typing", ACTIONS["typing"](team), user="alice", connection="a1") is None
    # THEN one session and one configuration read served them all
    assert service.calls == ["Start", "GetLatestConfiguration"]


def test_a_path_that_asks_no_flag_never_reads_appconfig(app: Harness, flags: Flags) -> None:
    # GIVEN flags configured, and alice and bob
    app.user("alice")
    app.user("bob")
    service = flags({"edit": {"default": False}})
    # WHEN alice sends a text message in their direct conversation (no flag gates it)
    reply = app.frame(
        "send",
        {
            "action": "send",
            "id": "r",
            "to": "bob",
            "clientMsgId": "c1",
            "body": {"type": "text", "text": "hi"},
        },
        user="alice",
        connection="a1",
    )
    # THEN it is acked without any AppConfig call
    assert reply is not None and reply["type"] == "ack"
    assert service.calls == []


def test_each_evaluation_is_counted_per_flag_and_outcome_and_failures_are_counted(
    app: Harness, team: str, flags: Flags, stdout: Capture
) -> None:
    # GIVEN typing off
    flags(off("typing"))
    stdout()
    # WHEN alice types and reads
    app.frame("typing", ACTIONS["typing"](team), user="alice", connection="a1")
    app.frame("read", ACTIONS["read"](team), user="alice", connection="a1")
    out = stdout()
    # THEN one count per flag and outcome, with the usual small dimensions
    assert out.values("FeatureFlag.typing.off") == [1.0]
    assert out.values("FeatureFlag.read.on") == [1.0]
    assert_small_dimensions(out)
    # WHEN the document cannot be read in a new container
    flags(None)
    stdout()
    app.frame("typing", ACTIONS["typing"](team), user="alice", connection="a1")
    out = stdout()
    # THEN the failure is counted and logged, and the default (on) decided
    assert out.values("FeatureFlagsReadErrors") == [1.0]
    assert out.values("FeatureFlag.typing.on") == [1.0]
    assert out.lines("feature flags unreadable; last known kept")
