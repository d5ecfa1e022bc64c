"""`parley.ddb`: the attribute-value codec for Parley's flat items."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from parley import ddb


@pytest.mark.parametrize(
    "item",
    [
        {"s": "text", "n": 42, "b": True, "f": False, "l": ["a", "b"]},
        {"zero": 0, "neg": -7, "big": 2**53, "empty": "", "none_list": []},
        {"unicode": "中文😀", "nl": "a\nb"},
    ],
)
def test_encode_decode_roundtrip(item: dict[str, Any]) -> None:
    # GIVEN a flat item of strings, integers, booleans and string lists
    # WHEN it is encoded and decoded
    # THEN the same item comes back with the same types
    back = ddb.decode(ddb.encode(item))
    assert back == item
    for k, v in item.items():
        assert type(back[k]) is type(v)


def test_encode_uses_dynamodb_type_tags() -> None:
    # GIVEN one value of each supported type
    # WHEN encoded
    # THEN it carries the DynamoDB type tags
    assert ddb.encode({"a": "x", "b": 1, "c": True, "d": ["x"]}) == {
        "a": {"S": "x"},
        "b": {"N": "1"},
        "c": {"BOOL": True},
        "d": {"L": [{"S": "x"}]},
    }


def test_booleans_are_not_numbers() -> None:
    # GIVEN True and False (which are ints in Python)
    # WHEN encoded
    # THEN they are BOOL, not N
    assert ddb.encode_value(True) == {"BOOL": True}
    assert ddb.encode_value(False) == {"BOOL": False}


def test_none_values_are_left_out() -> None:
    # GIVEN an item with a None value
    # WHEN encoded
    # THEN the attribute is absent
    assert ddb.encode({"a": "x", "b": None}) == {"a": {"S": "x"}}


@pytest.mark.parametrize("value", [1.5, {"nested": 1}, [1, 2], ["a", 1], b"bytes", object()])
def test_unsupported_values_are_refused(value: Any) -> None:
    # GIVEN a value Parley never stores (floats, maps, non-string lists, bytes)
    # WHEN encoded
    # THEN the codec refuses it
    with pytest.raises(TypeError):
        ddb.encode_value(value)


def test_tuples_and_sets_of_strings_become_lists() -> None:
    # GIVEN a tuple and a one-element set of strings
    # WHEN encoded
    # THEN both are L of S
    assert ddb.encode_value(("a", "b")) == {"L": [{"S": "a"}, {"S": "b"}]}
    assert ddb.encode_value({"a"}) == {"L": [{"S": "a"}]}


def test_decode_reads_what_boto3_writes() -> None:
    # GIVEN values serialised by boto3's own TypeSerializer (including types we never write)
    # WHEN decoded
    # THEN they come back as plain Python values
    ser = TypeSerializer()
    item = {
        "s": ser.serialize("x"),
        "n": ser.serialize(12),
        "b": ser.serialize(True),
        "null": ser.serialize(None),
        "m": ser.serialize({"k": "v", "n": 3}),
        "ss": ser.serialize({"only"}),
        "l": ser.serialize(["a", 1]),
    }
    assert ddb.decode(item) == {
        "s": "x",
        "n": 12,
        "b": True,
        "null": None,
        "m": {"k": "v", "n": 3},
        "ss": ["only"],
        "l": ["a", 1],
    }


def test_encode_is_readable_by_boto3() -> None:
    # GIVEN an encoded item
    # WHEN boto3's TypeDeserializer reads it
    # THEN it sees the same values
    item = {"a": "x", "b": 5, "c": False, "d": ["p", "q"]}
    des = TypeDeserializer()
    back = {k: des.deserialize(v) for k, v in ddb.encode(item).items()}
    assert back == {"a": "x", "b": 5, "c": False, "d": ["p", "q"]}


def test_decimal_numbers_decode_as_float() -> None:
    # GIVEN a stored number with a fraction
    # WHEN decoded
    # THEN it is a float (integers stay ints)
    assert ddb.decode_value({"N": "1.5"}) == 1.5
    assert ddb.decode_value({"N": "10"}) == 10


def test_unknown_attribute_types_are_refused() -> None:
    # GIVEN a binary attribute (never written by Parley)
    # WHEN decoded
    # THEN the codec refuses it
    with pytest.raises(TypeError):
        ddb.decode_value({"B": b"x"})


def test_key_and_decode_all() -> None:
    # GIVEN key parts and several items
    # WHEN encoded as a key and decoded in bulk
    # THEN each comes back as expected
    assert ddb.key(pk="alice", sk="profile") == {"pk": {"S": "alice"}, "sk": {"S": "profile"}}
    assert ddb.key(conversationId="c", seq=3) == {"conversationId": {"S": "c"}, "seq": {"N": "3"}}
    assert ddb.decode_all([{"a": {"S": "1"}}, {"a": {"S": "2"}}]) == [{"a": "1"}, {"a": "2"}]


@pytest.mark.parametrize(
    ("n", "size", "expected"),
    [(0, 25, []), (1, 25, [1]), (25, 25, [25]), (26, 25, [25, 1]), (100, 25, [25] * 4)],
)
def test_chunks(n: int, size: int, expected: list[int]) -> None:
    # GIVEN n items
    # WHEN chunked by size
    # THEN the chunks have the expected lengths and keep every item in order
    parts = list(ddb.chunks(list(range(n)), size))
    assert [len(p) for p in parts] == expected
    assert [x for p in parts for x in p] == list(range(n))
