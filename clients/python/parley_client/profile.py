"""Token storage for the ``parley`` CLI: one JSON file per profile, mode 0600."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def config_dir() -> Path:
    """``$PARLEY_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/parley``, else ``~/.config/parley``."""
    explicit = os.environ.get("PARLEY_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "parley"


class ProfileStore:
    """Reads and writes ``<config dir>/<name>.json``.

    The file holds the login of one profile (``userId``, ``accessToken``,
    ``refreshToken``, and the URLs used). It is written atomically and only its
    owner may read it (0600, in a 0700 directory).
    """

    def __init__(self, name: str, directory: Path | None = None) -> None:
        if not _PROFILE_NAME.match(name):
            raise ValueError(
                f"bad profile name {name!r}: use letters, digits, '_', '.', '-' (max 64)"
            )
        self.name = name
        self.directory = directory if directory is not None else config_dir()
        self.path = self.directory / f"{name}.json"

    def load(self) -> dict[str, Any]:
        """The stored data, ``{}`` when there is none (or it is unreadable JSON)."""
        try:
            mode = self.path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        """Replace the stored data atomically; the file is created with mode 0600."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.chmod(self.path, 0o600)

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the stored data (``None`` removes a key) and save."""
        data = self.load()
        for key, value in fields.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self.save(data)
        return data

    def delete(self) -> bool:
        """Remove the file; True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
