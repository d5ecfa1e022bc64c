"""Feature flag rules (issue 17): stable share buckets, shares respected over many users,
region and admin rules, non-boolean flags, and a store that fails or serves a bad document."""

from __future__ import annotations

from typing import Any

import pytest
from parley.errors import Code, ParleyError
from parley.features import (
    EDIT,
    FANOUT_BUDGET,
    NO_FLAGS,
    PRESENCE,
    PUSH_PREVIEWS,
    TYPING,
    Features,
    bucket,
)


class DictStore:
    """A flags document in memory (Powertools' StoreProvider shape); `fail` makes it raise."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fail = False
        self.reads = 0

    def get_configuration(self) -> dict[str, Any]:
        self.reads += 1
        if self.fail:
            raise RuntimeError("AppConfig unavailable")
        return self.document


def share(flag: str, percent: int, default: bool = False) -> dict[str, Any]:
    """`flag` on for the users whose bucket is below `percent`."""
    return {
        flag: {
            "default": default,
            "rules": {
                f"{percent}% of users": {
                    "when_match": not default,
                    "conditions": [
                        {
                            "action": "MODULO_RANGE",
                            "key": "bucket",
                            "value": {"BASE": 100, "START": 0, "END": percent - 1},
                        }
                    ],
                }
            },
        }
    }


def test_a_users_bucket_is_fixed_by_sha256_not_by_the_process() -> None:
    # GIVEN a few userIds WHEN bucketed THEN always the same 0-99 values (SHA-256 based, so
    # the same on every container and after every deploy)
    assert [bucket(u) for u in ("alice", "bob", "carol", "u-0", "user-12345")] == [
        7,
        50,
        2,
        21,
        10,
    ]


@pytest.mark.parametrize("percent", [1, 10, 50])
def test_a_share_rule_reaches_its_share_of_10000_users(percent: int) -> None:
    # GIVEN a flag on for `percent`% of users by bucket
    features = Features(store=DictStore(share(TYPING, percent)))
    # WHEN 10,000 synthetic users are evaluated
    on = sum(features.enabled(TYPING, f"user-{i}") for i in range(10_000))
    # THEN the share is respected within 1.5 points
    assert abs(on / 10_000 - percent / 100) <= 0.015


def test_a_rollout_only_grows_its_users() -> None:
    # GIVEN the same flag at 10% then 50%
    at10 = Features(store=DictStore(share(EDIT, 10)))
    at50 = Features(store=DictStore(share(EDIT, 50)))
    users = [f"user-{i}" for i in range(2000)]
    # THEN every user on at 10% is still on at 50% (a rollout never flips users back)
    first = {u for u in users if at10.enabled(EDIT, u)}
    assert first and first <= {u for u in users if at50.enabled(EDIT, u)}


def test_region_and_admin_rules() -> None:
    # GIVEN previews off in one region, and presence only for app admins
    document = {
        PUSH_PREVIEWS: {
            "default": True,
            "rules": {
                "not in eu-west-1": {
                    "when_match": False,
                    "conditions": [{"action": "EQUALS", "key": "region", "value": "eu-west-1"}],
                }
            },
        },
        PRESENCE: {
            "default": False,
            "rules": {
                "admins": {
                    "when_match": True,
                    "conditions": [{"action": "EQUALS", "key": "admin", "value": True}],
                }
            },
        },
    }
    in_eu = Features(store=DictStore(document), region="eu-west-1", admins=frozenset({"root"}))
    in_us = Features(store=DictStore(document), region="us-east-1")
    # THEN the region rule and the admin rule decide
    assert not in_eu.enabled(PUSH_PREVIEWS, "alice")
    assert in_us.enabled(PUSH_PREVIEWS, "alice")
    assert in_eu.enabled(PRESENCE, "root")
    assert not in_eu.enabled(PRESENCE, "alice")


def test_a_conversation_type_rule() -> None:
    # GIVEN typing off in groups
    document = {
        TYPING: {
            "default": True,
            "rules": {
                "groups": {
                    "when_match": False,
                    "conditions": [
                        {"action": "EQUALS", "key": "conversationType", "value": "group"}
                    ],
                }
            },
        }
    }
    features = Features(store=DictStore(document))
    # THEN it is refused in a group with 1007 naming the feature, and allowed in a DM
    features.require_action("typing", "alice", conversationType="dm")
    with pytest.raises(ParleyError) as refused:
        features.require_action("typing", "alice", conversationType="group")
    assert refused.value.code == Code.UNKNOWN_ACTION and "'typing'" in refused.value.message


def test_a_body_type_switched_off_answers_1001_naming_it() -> None:
    # GIVEN reactions off for everyone
    features = Features(store=DictStore({"reaction": {"default": False}}))
    # THEN a reaction is refused with 1001, a text body is not concerned
    features.require_body("text", "alice")
    with pytest.raises(ParleyError) as refused:
        features.require_body("reaction", "alice")
    assert refused.value.code == Code.INVALID_PARAM and "'reaction'" in refused.value.message


def test_the_fanout_budget_is_a_number_flag_with_a_floor() -> None:
    # GIVEN a non-boolean flag: 20,000 for admins, 500 (below any group) for bucket < 50
    document = {
        FANOUT_BUDGET: {
            "default": 0,
            "boolean_type": False,
            "rules": {
                "admins": {
                    "when_match": 20_000,
                    "conditions": [{"action": "EQUALS", "key": "admin", "value": True}],
                },
                "half": {
                    "when_match": 500,
                    "conditions": [
                        {
                            "action": "MODULO_RANGE",
                            "key": "bucket",
                            "value": {"BASE": 100, "START": 0, "END": 49},
                        }
                    ],
                },
            },
        }
    }
    features = Features(store=DictStore(document), admins=frozenset({"root"}))
    # THEN the override applies, a value under the floor keeps the configured budget, and
    # the default keeps it too
    assert features.fanout_budget("root", 50_000) == 20_000
    assert features.fanout_budget("carol", 50_000) == 50_000  # bucket 2: 500 is refused
    assert features.fanout_budget("bob", 50_000) == 50_000  # bucket 50: default


def test_without_a_store_every_flag_is_at_its_default() -> None:
    # GIVEN no flags (no PARLEY_FLAGS_APPLICATION) THEN /me's features are all on
    features = NO_FLAGS.for_user("alice", fanout_configured=50_000)
    assert features.pop(FANOUT_BUDGET) == 50_000
    assert features and all(v is True for v in features.values())


def test_an_unreadable_store_keeps_the_last_document_and_is_reported() -> None:
    # GIVEN edits off, read once
    store = DictStore({EDIT: {"default": False}})
    errors: list[Exception] = []
    now = [0.0]
    features = Features(store=store, on_error=errors.append, max_age=30)
    assert not features.enabled(EDIT, "alice")
    engine = features._engine()
    assert engine is not None
    engine.store.clock = lambda: now[0]  # type: ignore[attr-defined]
    # WHEN the store fails
    store.fail = True
    # THEN the last document still decides, the failure is reported once, and the store is
    # not asked again until the backoff has passed
    assert not features.enabled(EDIT, "alice")
    assert not features.enabled(EDIT, "bob")
    assert len(errors) == 1 and store.reads == 2
    now[0] = 31.0
    store.fail = False
    store.document = {EDIT: {"default": True}}
    assert features.enabled(EDIT, "alice")


def test_a_document_that_does_not_validate_keeps_the_defaults() -> None:
    # GIVEN a document whose flag has no default (invalid schema) from the first read
    store = DictStore({EDIT: {"rules": {}}})
    errors: list[Exception] = []
    outcomes: list[tuple[str, str]] = []
    features = Features(
        store=store, on_error=errors.append, on_evaluation=lambda f, o: outcomes.append((f, o))
    )
    # THEN the flag reads its default (on), never raises, and the failure is reported
    assert features.enabled(EDIT, "alice")
    assert errors and outcomes == [(EDIT, "on")]


def test_each_evaluation_is_logged_at_debug_and_reported() -> None:
    # GIVEN hooks for the debug log and the metric
    logged: list[dict[str, Any]] = []
    counted: list[tuple[str, str]] = []
    features = Features(
        store=DictStore({EDIT: {"default": False}}),
        debug=lambda message, **fields: logged.append({"message": message, **fields}),
        on_evaluation=lambda flag, outcome: counted.append((flag, outcome)),
    )
    # WHEN a boolean and the numeric flag are evaluated
    features.enabled(EDIT, "alice")
    features.fanout_budget("alice", 50_000)
    # THEN each is logged with its value and counted with its outcome (never the user)
    assert logged == [
        {"message": "feature flag", "flag": EDIT, "value": False},
        {"message": "feature flag", "flag": FANOUT_BUDGET, "value": 0},
    ]
    assert counted == [(EDIT, "off"), (FANOUT_BUDGET, "default")]


def test_the_fanout_budget_may_depend_on_the_groups_size() -> None:
    # GIVEN a larger budget for senders into groups over 5,000 members
    document = {
        FANOUT_BUDGET: {
            "default": 0,
            "boolean_type": False,
            "rules": {
                "large groups": {
                    "when_match": 100_000,
                    "conditions": [
                        {
                            "action": "KEY_GREATER_THAN_VALUE",
                            "key": "conversationSize",
                            "value": 5000,
                        }
                    ],
                }
            },
        }
    }
    features = Features(store=DictStore(document))
    # THEN the group's size decides
    assert features.fanout_budget("alice", 50_000, conversationSize=8000) == 100_000
    assert features.fanout_budget("alice", 50_000, conversationSize=300) == 50_000


def test_a_rule_that_cannot_be_applied_answers_the_default_and_is_reported() -> None:
    # GIVEN an engine whose evaluation fails
    errors: list[Exception] = []
    features = Features(store=DictStore({EDIT: {"default": False}}), on_error=errors.append)
    engine = features._engine()
    assert engine is not None

    def broken(**_: Any) -> Any:
        raise ValueError("rule")

    engine.evaluate = broken  # type: ignore[method-assign]
    # THEN the flag reads its default and the failure is reported, never raised
    assert features.enabled(EDIT, "alice") is True
    assert len(errors) == 1
