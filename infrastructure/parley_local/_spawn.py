"""Starting `spawn` child processes that do not re-import the parent's `__main__`.

`multiprocessing`'s spawn start method re-imports the parent's main module in every child
(so that functions defined there can be unpickled). The local cloud's children only run
`parley_local` functions, so that import is pure cost (pytest, a CLI...) and a trap: a
script that starts a `LocalCloud` without an `if __name__ == "__main__":` guard would
start it again in every child. `start_process` leaves the main module out of the child's
preparation data for the duration of one `start()`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()


def start_process(
    target: Callable[..., Any], args: tuple[Any, ...], name: str
) -> multiprocessing.process.BaseProcess:
    """Start `target(*args)` in a new daemonic spawn process and return it."""
    ctx = multiprocessing.get_context("spawn")
    process = ctx.Process(target=target, args=args, name=name, daemon=True)
    with _lock:
        original = multiprocessing.spawn.get_preparation_data

        def preparation_data(name: str) -> dict[str, Any]:
            data: dict[str, Any] = original(name)
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
            return data

        multiprocessing.spawn.get_preparation_data = preparation_data
        try:
            process.start()
        finally:
            multiprocessing.spawn.get_preparation_data = original
    return process
