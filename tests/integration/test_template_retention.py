"""`MessageRetentionDays` in template.yaml (protocol 12): the parameter and its bounds, TTL on
the messages table, the setting every message reader and writer gets, and the one grant it
adds (a group function's UpdateItem, only when retention is on)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from parley.config import Settings, SettingsError

from tests.integration.test_template import _translated, source
from tests.integration.test_template_attachments import actions_on, resource

MESSAGES = {"Fn::GetAtt": ["MessagesTable", "Arn"]}
# The functions that write messages (each must be able to set a previous message's
# `expiresAt`) and those that read them for clients (history, sync, the list's unread).
WRITERS = ("SendFunction", "AdminFunction", "AccountJobsFunction")
READERS = ("SyncFunction", "ConversationsFunction")


def test_the_parameter_keeps_messages_forever_unless_set() -> None:
    # GIVEN the parameter
    parameter = source()["Parameters"]["MessageRetentionDays"]
    # THEN it is a number of days, 0 (forever) by default, never negative
    assert parameter["Type"] == "Number"
    assert parameter["Default"] == 0
    assert parameter["MinValue"] == 0
    # AND the settings read it with the same bounds
    assert Settings().message_retention_days == 0
    assert Settings.from_mapping({"message_retention_days": "30"}).message_retention_days == 30


@pytest.mark.parametrize("value", ["-1", "36501", "thirty"])
def test_settings_refuse_a_bad_value(value: str) -> None:
    # GIVEN a value the template would refuse too
    # WHEN the settings are read
    # THEN the cold start fails naming the variable
    with pytest.raises(SettingsError, match="PARLEY_MESSAGE_RETENTION_DAYS"):
        Settings.from_mapping({"message_retention_days": value})


def test_the_template_and_the_settings_bound_it_alike() -> None:
    # GIVEN the parameter's bounds (CloudFormation refuses a value outside them at deploy;
    # cfn-lint does not check a value against MinValue) and the setting's
    parameter = source()["Parameters"]["MessageRetentionDays"]
    [field] = [f for f in dataclasses.fields(Settings) if f.name == "message_retention_days"]
    # THEN they are the same, so no deployable value fails a cold start and no negative
    # value is deployable
    assert (field.metadata["ge"], field.metadata["le"]) == (
        parameter["MinValue"],
        parameter["MaxValue"],
    )


def test_the_messages_table_expires_items_by_expires_at() -> None:
    # GIVEN the messages table (no other item of it has an `expiresAt`)
    props = resource("MessagesTable")["Properties"]
    # THEN TTL reads `expiresAt`
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_every_function_gets_the_setting() -> None:
    # GIVEN the functions' shared environment
    env = source()["Globals"]["Function"]["Environment"]["Variables"]
    # THEN the retention reaches every reader and writer of messages
    assert env["PARLEY_MESSAGE_RETENTION_DAYS"] == {"Ref": "MessageRetentionDays"}
    for function in (*WRITERS, *READERS, "GroupsFunction"):
        own = resource(function)["Properties"].get("Environment", {}).get("Variables", {})
        assert "PARLEY_MESSAGE_RETENTION_DAYS" not in own


def test_writers_may_update_messages_and_readers_only_query() -> None:
    # GIVEN the writers and readers of messages
    # THEN every writer may already update a message (no new grant), every reader only reads
    for function in WRITERS:
        assert "dynamodb:UpdateItem" in actions_on(function, MESSAGES), function
    for function in READERS:
        assert actions_on(function, MESSAGES) <= {"dynamodb:Query", "dynamodb:BatchGetItem"}


def _groups_message_actions(cfn: dict[str, Any]) -> set[str]:
    role = next(
        r
        for name, r in cfn["Resources"].items()
        if name.startswith("GroupsFunctionRole") and r["Type"] == "AWS::IAM::Role"
    )
    found: set[str] = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                condition, yes, _ = statement["Fn::If"]
                if condition != "RetentionOn":
                    continue
                statement = yes
            if statement.get("Resource") == MESSAGES:
                actions = statement["Action"]
                found |= set(actions if isinstance(actions, list) else [actions])
    return found


def test_groups_may_update_messages_only_when_retention_is_on() -> None:
    # GIVEN the groups function, which writes system messages in transactions
    cfn = _translated("dev")
    # THEN its UpdateItem on the messages table hangs on RetentionOn
    assert cfn["Conditions"]["RetentionOn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MessageRetentionDays"}, "0"]}]
    }
    assert "dynamodb:UpdateItem" not in actions_on("GroupsFunction", MESSAGES)
    assert "dynamodb:UpdateItem" in _groups_message_actions(cfn)
