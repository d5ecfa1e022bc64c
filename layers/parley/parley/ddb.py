"""Tiny DynamoDB attribute-value codec for the flat items Parley stores.

boto3's TypeSerializer pulls in Decimal handling for every number; our items hold only
strings, integers, booleans and string lists, so a direct codec is both faster and stricter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Item = dict[str, Any]


def encode_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple | set) and all(isinstance(v, str) for v in value):
        return {"L": [{"S": v} for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def encode(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Python mapping as a DynamoDB item; `None` values are left out."""
    return {k: encode_value(v) for k, v in item.items() if v is not None}


def decode_value(value: Mapping[str, Any]) -> Any:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw) if "." not in raw else float(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "L":
        return [decode_value(v) for v in raw]
    if kind == "SS":
        return list(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: decode_value(v) for k, v in raw.items()}
    raise TypeError(f"unsupported attribute type {kind}")


def decode(item: Mapping[str, Any]) -> Item:
    """A DynamoDB item as a plain dict."""
    return {k: decode_value(v) for k, v in item.items()}


def decode_all(items: Iterable[Mapping[str, Any]]) -> list[Item]:
    return [decode(i) for i in items]


def key(**parts: str | int) -> dict[str, Any]:
    return encode(parts)


def chunks(seq: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
