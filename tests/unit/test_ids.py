"""`parley.ids`: userId rules, conversation ids and ULIDs (protocol section 2)."""

from __future__ import annotations

import time

import pytest
from parley import ids
from parley.errors import ConversationNotFound, InvalidParam

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


# ---- userId ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    [
        "abc",  # 3 chars: the shortest allowed
        "a" * 32,  # 32 chars: the longest allowed
        "0bc",  # may start with a digit
        "a.b",
        "a_b",
        "a-b",
        "alice.smith_99-x",
        "9" * 32,
    ],
)
def test_valid_user_ids_are_accepted(user_id: str) -> None:
    # GIVEN a userId within the protocol's rules
    # WHEN it is checked
    # THEN it is accepted and returned unchanged
    assert ids.is_user_id(user_id)
    assert ids.check_user_id(user_id) == user_id


@pytest.mark.parametrize(
    "user_id",
    [
        "ab",  # 2 chars: one too short
        "a" * 33,  # 33 chars: one too long
        "",
        "_abc",  # must start with a letter or digit
        ".abc",
        "-abc",
        "Alice",  # no upper case
        "alice!",
        "al ice",
        "alice@x",
        "ali:ce",  # would break dm ids
        "alice#x",
        "alicé",  # no non-ASCII letters
        "\uff41\uff42\uff43",  # full-width letters are not a-z
        "alice\n",  # a trailing newline is not "end of string"
        "\nalice",
    ],
)
def test_invalid_user_ids_are_refused(user_id: str) -> None:
    # GIVEN a userId breaking one rule
    # WHEN it is checked
    # THEN it is refused with 1001 naming the field
    assert not ids.is_user_id(user_id)
    with pytest.raises(InvalidParam) as caught:
        ids.check_user_id(user_id, "to")
    assert caught.value.message.startswith("to ")


@pytest.mark.parametrize("value", [None, 123, b"alice", ["alice"], {"a": 1}])
def test_non_string_user_ids_are_refused(value: object) -> None:
    # GIVEN a value that is not a string
    # WHEN it is checked as a userId
    # THEN it is refused (no exception other than InvalidParam)
    assert not ids.is_user_id(value)
    with pytest.raises(InvalidParam):
        ids.check_user_id(value)


# ---- direct conversations ----------------------------------------------------------------


def test_dm_id_sorts_the_two_user_ids() -> None:
    # GIVEN two users
    # WHEN the direct conversation id is built in either order
    # THEN it is the same `dm:<smaller>:<larger>`
    assert ids.dm_id("bob", "alice") == "dm:alice:bob"
    assert ids.dm_id("alice", "bob") == "dm:alice:bob"


def test_dm_id_sorts_by_code_point_not_length() -> None:
    # GIVEN ids where the shorter one sorts later
    # WHEN the dm id is built
    # THEN plain string order decides
    assert ids.dm_id("zed", "aaaa") == "dm:aaaa:zed"
    assert ids.dm_id("abc1", "abc") == "dm:abc:abc1"


def test_note_to_self_is_a_dm_with_itself() -> None:
    # GIVEN one user on both sides
    # WHEN the dm id is built and parsed back
    # THEN it is `dm:<a>:<a>` with both members equal
    assert ids.dm_id("alice", "alice") == "dm:alice:alice"
    assert ids.dm_members("dm:alice:alice") == ("alice", "alice")


def test_dm_members_returns_the_sorted_pair() -> None:
    # GIVEN a well-formed dm id
    # WHEN its members are read
    # THEN they come back in order
    assert ids.dm_members("dm:alice:bob") == ("alice", "bob")


@pytest.mark.parametrize(
    "conversation_id",
    [
        "dm:bob:alice",  # unsorted
        "dm:alice",  # one member
        "dm:alice:bob:carol",  # three members
        "dm::bob",
        "dm:alice:",
        "dm:Al:bob",  # not userIds
        "dm:ab:bob",  # 2-char userId
        "dx:alice:bob",
        "grp:alice:bob",
        "alice:bob",
        "",
    ],
)
def test_dm_members_refuses_malformed_or_unsorted_ids(conversation_id: str) -> None:
    # GIVEN a string that is not a canonical dm id
    # WHEN its members are read
    # THEN it is an unknown conversation (2002)
    with pytest.raises(ConversationNotFound):
        ids.dm_members(conversation_id)


# ---- conversation ids --------------------------------------------------------------------


def test_conversation_type_of_dm_and_group() -> None:
    # GIVEN a dm id and a group id
    # WHEN their type is asked
    # THEN it is "dm" and "group"
    assert ids.conversation_type("dm:alice:bob") == "dm"
    assert ids.conversation_type(ids.new_group_id()) == "group"


@pytest.mark.parametrize(
    "conversation_id",
    [
        "grp:",
        "grp:not-a-ulid",
        "grp:01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 chars
        "grp:01ARZ3NDEKTSV4RRFFQ69G5FAVX",  # 27 chars
        "grp:01arz3ndektsv4rrffq69g5fav",  # lower case
        "grp:01ARZ3NDEKTSV4RRFFQ69G5FAI",  # I is not Crockford
        "grp:01ARZ3NDEKTSV4RRFFQ69G5FAU",  # U is not Crockford
        "GRP:01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "group:01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "dm:bob:alice",
        "x",
        "",
    ],
)
def test_conversation_type_refuses_unknown_shapes(conversation_id: str) -> None:
    # GIVEN an id of no known shape
    # WHEN its type is asked
    # THEN it is an unknown conversation (2002)
    with pytest.raises(ConversationNotFound):
        ids.conversation_type(conversation_id)


def test_check_conversation_id_accepts_well_formed_ids() -> None:
    # GIVEN well-formed dm and group ids
    # WHEN they are checked
    # THEN they are returned unchanged
    gid = "grp:01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert ids.check_conversation_id(gid) == gid
    assert ids.check_conversation_id("dm:alice:bob") == "dm:alice:bob"


@pytest.mark.parametrize("value", [None, 5, "", "x" * 81, ["dm:alice:bob"]])
def test_check_conversation_id_refuses_non_ids_with_1001(value: object) -> None:
    # GIVEN a value that is not even a plausible id (wrong type, empty, too long)
    # WHEN it is checked
    # THEN it is a bad parameter (1001)
    with pytest.raises(InvalidParam):
        ids.check_conversation_id(value)


def test_check_conversation_id_refuses_malformed_strings_with_2002() -> None:
    # GIVEN a plausible-looking but unknown id
    # WHEN it is checked
    # THEN it is an unknown conversation (2002)
    with pytest.raises(ConversationNotFound):
        ids.check_conversation_id("grp:nope")


# ---- ULIDs -------------------------------------------------------------------------------


def test_ulid_has_26_crockford_characters() -> None:
    # GIVEN a fresh ULID
    # WHEN its form is inspected
    # THEN it is 26 Crockford base32 characters and matches the module's pattern
    for _ in range(200):
        ulid = ids.new_ulid()
        assert len(ulid) == 26
        assert set(ulid) <= CROCKFORD
        assert ids.ULID_RE.fullmatch(ulid)


def _decode_time(ulid: str) -> int:
    value = 0
    for ch in ulid[:10]:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    return value


def test_ulid_encodes_the_given_millisecond_time() -> None:
    # GIVEN a millisecond timestamp
    # WHEN a ULID is made for it
    # THEN its first 10 characters decode back to that timestamp
    for ms in (0, 1, 1_700_000_000_123, 2**48 - 1):
        assert _decode_time(ids.new_ulid(ms)) == ms


def test_ulid_defaults_to_the_current_time() -> None:
    # GIVEN no explicit time
    # WHEN a ULID is made
    # THEN its time part is now (within a second)
    before = int(time.time() * 1000)
    ulid = ids.new_ulid()
    after = int(time.time() * 1000)
    assert before - 1000 <= _decode_time(ulid) <= after + 1000


def test_ulids_sort_by_time() -> None:
    # GIVEN ULIDs made at increasing milliseconds
    # WHEN they are sorted as strings
    # THEN the order is the order of time
    made = [ids.new_ulid(1_700_000_000_000 + i) for i in range(0, 5000, 7)]
    assert sorted(made) == made
    assert ids.new_ulid(1) < ids.new_ulid(2) < ids.new_ulid(2**40)


def test_ulids_are_unique_within_one_millisecond() -> None:
    # GIVEN many ULIDs made for the same millisecond
    # WHEN they are compared
    # THEN none repeats (80 random bits each)
    made = {ids.new_ulid(1_700_000_000_000) for _ in range(10_000)}
    assert len(made) == 10_000


def test_group_ids_are_prefixed_ulids() -> None:
    # GIVEN a new group id
    # WHEN it is inspected
    # THEN it is `grp:` and a ULID, and a group conversation
    gid = ids.new_group_id(1_700_000_000_000)
    assert gid.startswith("grp:")
    assert ids.ULID_RE.fullmatch(gid[4:])
    assert ids.conversation_type(gid) == "group"
