"""Make moto's DynamoDB cost grow with what a request touches, not with the whole table.

Two of moto's DynamoDB operations do work in proportion to everything stored:

* `Table.query` walks and sorts *every* item of the table to answer a Query on the table's
  key or on a local secondary index, although both are confined to one partition key. A
  send's two Messages queries cost 20 ms each at 3,000 stored messages.
* `transact_write_items` deep-copies every table it touches before writing, to roll back
  on failure: a DM's first message or a registration copied the whole Members or Users
  table.

A third patch is not about growth: the server finds the service of every request by
listing moto's package directory (about 50 `isdir` calls), half a millisecond a request;
the answer for a host never changes, so it is remembered.

The local cloud's tables keep growing while it runs (every message is an item), so it
slowed down the longer it ran and a load test measured moto's growth, not Parley.

The fixes leave moto's own code to do everything that is observable (conditions, sort
order, paging, filters, limits, cancellation reasons): a Query sees the table narrowed to
the queried partition for the duration of the call (global secondary index queries span
partitions and are left alone), and a transaction's rollback copy shares the untouched
items and deep-copies only the ones the transaction names. They are applied in the moto
child process only, where DynamoDB requests are already served one at a time
(`aws._SerialDynamoDB`), so swapping an attribute cannot race another call. If moto's
internals ever change shape a patch declines to install and moto runs as is (only
slower); `tests/unit/localcloud/test_moto_speedups.py` compares patched and plain moto.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_MARK = "_parley_patched"  # set on every replacement, so install() and uninstall() know it


def install() -> dict[str, bool]:
    """Apply the patches; which ones are (or already were) in place."""
    return {
        "query": _install_query(),
        "transactions": _install_transactions(),
        "dispatch": _install_dispatch(),
    }


def uninstall() -> None:
    """Put moto's own methods back (tests compare the two)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as Dispatcher

    _restore(Table, "query")
    _restore(DynamoDBBackend, "transact_write_items")
    _restore(Dispatcher, "get_backend_for_host")


def _replace(owner: Any, name: str, make: Callable[[Any], Any]) -> bool:
    """Put `make(original)` in place of `owner.name`, once; False if `make` declines (None)."""
    original = getattr(owner, name)
    if getattr(original, _MARK, False):
        return True
    patched = make(original)
    if patched is None:
        return False
    setattr(patched, _MARK, True)
    setattr(owner, name, patched)
    return True


def _restore(owner: Any, name: str) -> None:
    current = getattr(owner, name)
    if getattr(current, _MARK, False):
        setattr(owner, name, current.__wrapped__)


def _install_dispatch() -> bool:
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication as Dispatcher
    except ImportError:  # pragma: no cover - moto[server] is a dev dependency
        return False
    return _replace(Dispatcher, "get_backend_for_host", _remembered)


def _remembered(original: Callable[..., Any]) -> Any:
    answers: dict[Any, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(self: Any, host: Any) -> Any:
        # Only called under the dispatcher's own lock, so the dict needs no lock of its own.
        if host not in answers:
            answers[host] = original(self, host)
        return answers[host]

    return get_backend_for_host


def _install_query() -> bool:
    try:
        from moto.dynamodb.models.table import Table
    except ImportError:  # pragma: no cover - moto[server] is a dev dependency
        return False

    def make(original: Callable[..., Any]) -> Any:
        try:
            signature = inspect.signature(original)
        except (TypeError, ValueError):  # pragma: no cover - moto changed beyond recognition
            return None
        if "hash_key" not in signature.parameters or "index_name" not in signature.parameters:
            return None  # not the shape this patch knows: leave moto alone
        return _partition_scoped(original, signature)

    return _replace(Table, "query", make)


def _install_transactions() -> bool:
    try:
        import moto.dynamodb.models as backend_module
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import DynamoType
    except ImportError:  # pragma: no cover - moto[server] is a dev dependency
        return False

    def make(original: Callable[..., Any]) -> Any:
        if getattr(backend_module, "copy", None) is not copy:
            return None  # the rollback copy is not made the way this patch knows
        return _shallow_rollback(original, backend_module, DynamoType)

    return _replace(DynamoDBBackend, "transact_write_items", make)


def _partition_scoped(original: Callable[..., Any], signature: inspect.Signature) -> Any:
    @functools.wraps(original)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            return original(self, *args, **kwargs)  # let moto report the misuse
        hash_key = bound.get("hash_key")
        index_name = bound.get("index_name")
        items = getattr(self, "items", None)
        local = index_name is None or any(
            getattr(index, "name", None) == index_name for index in (self.indexes or [])
        )
        if hash_key is None or not local or not isinstance(items, dict):
            return original(self, *args, **kwargs)
        narrowed: defaultdict[Any, Any] = defaultdict(dict)
        if hash_key in items:
            narrowed[hash_key] = items[hash_key]
        self.items = narrowed
        try:
            return original(self, *args, **kwargs)
        finally:
            # Writes never happen inside a Query, but keep whatever moto put there anyway.
            for key, value in narrowed.items():
                if key not in items and value:
                    items[key] = value
            self.items = items

    return query


class _RollbackCopy:
    """Stands in for the `copy` module inside one `transact_write_items` call.

    moto backs up each table the transaction names with `copy.deepcopy(table)` and puts the
    backup in place if any action fails. The backup made here shares every item the
    transaction does not name (a transaction only changes the items it names) and
    deep-copies the named ones, so the rollback restores exactly what a full copy would.
    """

    def __init__(self, touched: dict[str, set[tuple[Any, Any]]]) -> None:
        self.touched = touched

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        name = getattr(value, "name", None)
        keys = self.touched.get(name) if isinstance(name, str) else None
        if keys is None or not isinstance(getattr(value, "items", None), dict):
            return copy.deepcopy(value, memo)
        backup = copy.copy(value)
        items: defaultdict[Any, Any] = defaultdict(dict)
        for hash_key, partition in value.items.items():
            items[hash_key] = dict(partition) if isinstance(partition, dict) else partition
        for hash_key, range_key in keys:
            if hash_key not in value.items:
                continue
            partition = value.items[hash_key]
            if not isinstance(partition, dict):
                items[hash_key] = copy.deepcopy(partition)
            elif range_key is not None and range_key in partition:
                items[hash_key][range_key] = copy.deepcopy(partition[range_key])
        backup.items = items
        return backup


def _shallow_rollback(original: Callable[..., Any], module: Any, dynamo_type: type) -> Any:
    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: Any) -> Any:
        touched: dict[str, set[tuple[Any, Any]]] = defaultdict(set)
        try:
            for entry in transact_items:
                _, action = next(iter(entry.items()))
                table = self.tables.get(action.get("TableName"))
                if table is None:
                    continue
                key = action.get("Key") or action.get("Item") or {}
                hash_value = key[table.hash_key_attr]
                range_value = key[table.range_key_attr] if table.range_key_attr else None
                touched[table.name].add(
                    (
                        dynamo_type(hash_value),
                        dynamo_type(range_value) if range_value is not None else None,
                    )
                )
        except (AttributeError, KeyError, StopIteration, TypeError):
            return original(self, transact_items)  # malformed: moto answers as it always does
        module.copy = _RollbackCopy(touched)
        try:
            return original(self, transact_items)
        finally:
            module.copy = copy

    return transact_write_items
