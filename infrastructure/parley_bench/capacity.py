"""DynamoDB item sizes and request units, by DynamoDB's published rules.

Sizes (DynamoDB developer guide, "Item sizes and formats"):

* an attribute is the UTF-8 length of its name plus the size of its value;
* a string is its UTF-8 length, binary its byte length;
* a number is about one byte per two significant digits plus one byte;
* a boolean or null is one byte;
* a list or map is 3 bytes plus, per element, its size plus one byte;
* a set is the sum of its elements.

Units (on-demand):

* a write is ceil(size / 1 KB) write units, size being the larger of the item before and
  after the write; each secondary index whose entry the write creates, changes or removes
  costs ceil(entry / 1 KB) more (an entry is the table keys, the index keys and the
  projected attributes; an index whose key attributes the item lacks is not written; a
  changed index key is a delete plus a put). Transactional items bill twice;
* a strongly consistent read is ceil(size / 4 KB) read units, an eventually consistent
  one half of that; a Query sums the sizes of the items it reads (full items, or index
  entries for an index, whatever the projection expression) and rounds up once; every
  read costs at least one 4 KB unit, even when nothing is found.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley_bench.prices import DDB_READ_UNIT_BYTES, DDB_WRITE_UNIT_BYTES

Item = Mapping[str, Any]  # a DynamoDB item in wire form: {"name": {"S": "..."}}


def _digits(number: str) -> int:
    text = number.strip().lstrip("+-").lower()
    if "e" in text:
        text = text.split("e", 1)[0]
    text = text.replace(".", "").lstrip("0").rstrip("0")
    return max(1, len(text))


def value_size(value: Mapping[str, Any]) -> int:
    """The size in bytes of one attribute value (`{"S": "abc"}` -> 3)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return math.ceil(_digits(str(raw)) / 2) + 1
    if kind == "B":
        data = raw if isinstance(raw, bytes | bytearray) else base64.b64decode(raw)
        return len(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in raw)
    if kind == "NS":
        return sum(math.ceil(_digits(str(v)) / 2) + 1 for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Item | None) -> int:
    """The size of an item in bytes (0 for None)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / DDB_WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / DDB_READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# ---- table schemas -------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()
    local: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str  # logical id in the template
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def key_of(self, item: Item) -> dict[str, Any]:
        return {k: item[k] for k in self.keys if k in item}

    def index(self, name: str | None) -> Index | None:
        return next((i for i in self.indexes if i.name == name), None)

    def entry(self, index: Index, item: Item | None) -> dict[str, Any] | None:
        """The index entry `item` has in `index` (None when it lacks an index key)."""
        if not item or any(k not in item for k in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        names = set(self.keys) | set(index.keys)
        if index.projection == "INCLUDE":
            names |= set(index.include)
        return {k: v for k, v in item.items() if k in names}


def schemas_from_template(resources: Mapping[str, Any]) -> dict[str, TableSchema]:
    """Every `AWS::DynamoDB::Table` of a parsed template, keyed by logical id."""
    out: dict[str, TableSchema] = {}
    for logical, res in resources.items():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = res.get("Properties", {})
        keys = tuple(k["AttributeName"] for k in props.get("KeySchema", []))
        indexes: list[Index] = []
        for kind, local in (("GlobalSecondaryIndexes", False), ("LocalSecondaryIndexes", True)):
            for ix in props.get(kind, []) or []:
                projection = ix.get("Projection", {})
                indexes.append(
                    Index(
                        name=ix["IndexName"],
                        keys=tuple(k["AttributeName"] for k in ix["KeySchema"]),
                        projection=projection.get("ProjectionType", "KEYS_ONLY"),
                        include=tuple(projection.get("NonKeyAttributes", []) or []),
                        local=local,
                    )
                )
        out[logical] = TableSchema(logical, keys, tuple(indexes))
    return out


# ---- units of one operation ------------------------------------------------------------------


@dataclass
class Units:
    """Request units one DynamoDB call consumed (table and indexes together)."""

    read: float = 0.0
    write: float = 0.0
    index_write: float = 0.0  # included in `write`; kept apart for the report
    detail: list[str] = field(default_factory=list)

    def add(self, other: Units) -> None:
        self.read += other.read
        self.write += other.write
        self.index_write += other.index_write
        self.detail += other.detail


def write_cost(
    schema: TableSchema,
    old: Item | None,
    new: Item | None,
    *,
    applied: bool = True,
    transactional: bool = False,
) -> Units:
    """Units of one item write that changed `old` into `new` (or failed its condition)."""
    factor = 2 if transactional else 1
    if not applied:
        # A failed condition still bills the write (sized by the existing item).
        return Units(write=factor * write_units(item_size(old)), detail=["condition failed"])
    units = Units(write=factor * write_units(max(item_size(old), item_size(new))))
    for index in schema.indexes:
        before, after = schema.entry(index, old), schema.entry(index, new)
        if before == after:
            continue
        keys_same = (
            before is not None
            and after is not None
            and all(before.get(k) == after.get(k) for k in index.keys)
        )
        if keys_same:
            extra = write_units(item_size(after))
        else:
            extra = (write_units(item_size(before)) if before is not None else 0) + (
                write_units(item_size(after)) if after is not None else 0
            )
        units.write += extra
        units.index_write += extra
        units.detail.append(f"{index.name}+{extra}")
    return units


def read_cost(sizes: Iterable[int], consistent: bool, *, per_item: bool = False) -> Units:
    """Units of a read: one rounding over the sum (GetItem/Query) or per item (BatchGet)."""
    sizes = list(sizes)
    if per_item:
        return Units(read=sum(read_units(s, consistent) for s in sizes) if sizes else 0.0)
    return Units(read=read_units(sum(sizes), consistent))
