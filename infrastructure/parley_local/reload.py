"""Code reload: when a `.py` file of a function or of one of its layers changes, that
function's next calls get fresh workers (`--no-reload` turns this off)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from parley_local.lambda_runtime import FunctionRuntime
from parley_local.logs import LogSink

POLL_S = 1.0


def code_fingerprint(directories: Iterable[Path]) -> tuple[tuple[str, int], ...]:
    """(path, mtime_ns) of every Python file under `directories`, to notice code changes."""
    seen: list[tuple[str, int]] = []
    for directory in directories:
        for root, dirs, files in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    try:
                        seen.append((path, os.stat(path).st_mtime_ns))
                    except OSError:
                        continue
    return tuple(sorted(seen))


class CodeWatcher:
    """A thread that polls the functions' code and layer folders for changes."""

    def __init__(self, runtimes: dict[str, FunctionRuntime], sink: LogSink) -> None:
        self.runtimes = runtimes
        self.sink = sink
        self._watched = {
            name: [runtime.spec.code_dir, *runtime.spec.layer_dirs]
            for name, runtime in runtimes.items()
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parley-local-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it ends within one poll)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _watch(self) -> None:
        all_dirs = sorted({d for dirs in self._watched.values() for d in dirs})
        prints = {d: code_fingerprint([d]) for d in all_dirs}
        while not self._stop.wait(POLL_S):
            changed = set()
            for directory in all_dirs:
                now = code_fingerprint([directory])
                if now != prints[directory]:
                    prints[directory] = now
                    changed.add(directory)
            if not changed:
                continue
            affected = [n for n, dirs in self._watched.items() if changed.intersection(dirs)]
            for name in affected:
                self.runtimes[name].bump_generation()
            self.sink.info(
                "cloud",
                f"code changed; fresh workers for {', '.join(sorted(affected))} on next call",
            )
