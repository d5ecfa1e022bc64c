"""DynamoDB sizes and units as the benchmarks count them (parley_bench.capacity)."""

from __future__ import annotations

import pytest
from parley_bench.capacity import (
    Index,
    TableSchema,
    item_size,
    read_cost,
    read_units,
    value_size,
    write_cost,
    write_units,
)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes, not characters
        ({"N": "7"}, 2),  # one digit: 1 byte + 1
        ({"N": "17957736001"}, 7),  # 11 significant digits: ceil(11 / 2) + 1
        ({"N": "1795773600000"}, 5),  # trailing zeros are trimmed: 8 digits
        ({"N": "-12.50"}, 3),  # sign and trailing zero are not digits
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": [{"S": "ab"}, {"S": "c"}]}, 3 + 3 + 2),
        ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
        ({"SS": ["ab", "cde"]}, 5),
    ],
)
def test_value_sizes_follow_dynamodb_rules(value: dict[str, object], size: int) -> None:
    # GIVEN an attribute value / THEN its size is DynamoDB's
    assert value_size(value) == size


def test_item_size_adds_names_and_values() -> None:
    item = {"pk": {"S": "alice"}, "n": {"N": "10"}}
    assert item_size(item) == (2 + 5) + (1 + 2)
    assert item_size(None) == 0


def test_units_round_up_with_a_minimum_of_one() -> None:
    assert [write_units(s) for s in (0, 1, 1024, 1025)] == [1, 1, 1, 2]
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(10, consistent=False) == 0.5
    assert read_units(0, consistent=False) == 0.5


SCHEMA = TableSchema(
    "Connections",
    ("connectionId",),
    (Index("byUser", ("userId", "connectionId"), "ALL"),),
)
MEMBERS = TableSchema(
    "Members",
    ("conversationId", "userId"),
    (Index("byUser", ("userId", "conversationId"), "INCLUDE", ("role",)),),
)


def test_a_put_writes_the_item_and_each_index_holding_its_keys() -> None:
    # GIVEN a new connection item (it has the byUser key)
    new = {"connectionId": {"S": "c1"}, "userId": {"S": "u1"}}
    units = write_cost(SCHEMA, None, new)
    # THEN one unit for the table and one for the index
    assert (units.write, units.index_write) == (2, 1)
    # An item without the index key is not written to the index.
    assert write_cost(SCHEMA, None, {"connectionId": {"S": "c2"}}).write == 1


def test_an_update_of_an_unprojected_attribute_does_not_write_the_index() -> None:
    old = {
        "conversationId": {"S": "c"},
        "userId": {"S": "u"},
        "role": {"S": "m"},
        "readSeq": {"N": "1"},
    }
    new = {**old, "readSeq": {"N": "2"}}
    assert write_cost(MEMBERS, old, new).write == 1
    # A projected attribute changes: the index entry is rewritten.
    assert write_cost(MEMBERS, old, {**old, "role": {"S": "admin"}}).write == 2


def test_a_changed_index_key_is_a_delete_plus_a_put_and_transactions_bill_twice() -> None:
    old = {"connectionId": {"S": "c1"}, "userId": {"S": "u1"}}
    new = {"connectionId": {"S": "c1"}, "userId": {"S": "u2"}}
    assert write_cost(SCHEMA, old, new).write == 1 + 2
    assert write_cost(SCHEMA, None, {"connectionId": {"S": "c9"}}, transactional=True).write == 2


def test_a_failed_condition_still_bills_the_write_but_no_index() -> None:
    old = {"connectionId": {"S": "c1"}, "userId": {"S": "u1"}}
    units = write_cost(SCHEMA, old, old, applied=False)
    assert (units.write, units.index_write) == (1, 0)


def test_a_query_rounds_the_sum_once_and_batch_get_per_item() -> None:
    assert read_cost([3000, 3000], consistent=True).read == 2
    assert read_cost([3000, 3000], consistent=False).read == 1
    assert read_cost([100, 100, 100], consistent=False, per_item=True).read == 1.5
    assert read_cost([], consistent=True).read == 1  # nothing found still costs a unit
