"""Install each extra alone into a clean venv and run its command, as a user would.

`pip install .[client]` must give a working `parley`, and `pip install .[local]` a working
`parley-local`: each extra's venv gets the project's wheel with that extra only (no dev
tools), then runs `<command> --help` and imports every module of the package the command
belongs to. The source is a snapshot of the files git sees (tracked and new, not ignored),
so stale build directories never leak into the wheel. pip's cache makes repeat runs fast.

Usage: `python .ci/check_extras.py` (from `make extras`; `.ci/run` runs it in CI).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# extra -> (console script, the package it runs)
CHECKS = {"client": ("parley", "parley_client"), "local": ("parley-local", "parley_local")}

IMPORT_ALL = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not module.name.endswith(".__main__"):
        importlib.import_module(module.name)
"""


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run a command; its stdout, or exit with its output when it fails."""
    done = subprocess.run(  # noqa: S603 (this script's own commands, no outside input)
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"FAILED: {' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def snapshot(dest: Path) -> Path:
    """Copy the files git sees (tracked and untracked, minus ignored ones) to `dest`."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def pip(*args: str | Path) -> str:
    return run(sys.executable, "-m", "pip", "--disable-pip-version-check", *args)


def check(extra: str, wheel: Path, scratch: Path) -> str:
    """Install `wheel[extra]` into a new venv and run the extra's command there."""
    command, package = CHECKS[extra]
    env = scratch / f"venv-{extra}"
    started = time.monotonic()
    # No pip inside the venv: the outer pip installs into it (`pip --python`), which saves
    # bootstrapping pip twice. --no-compile: bytecode is written on first import anyway.
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    pip("--python", python, "install", "--quiet", "--no-compile", f"{wheel}[{extra}]")
    usage = run(env / "bin" / command, "--help")
    if "usage:" not in usage:
        sys.exit(f"FAILED: `{command} --help` printed no usage:\n{usage}")
    run(python, "-c", IMPORT_ALL, package)
    return f"pip install .[{extra}]: `{command} --help` works ({time.monotonic() - started:.0f} s)"


def main() -> None:
    """Build the wheel once, then check every extra in parallel."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parley-extras-") as tmp:
        scratch = Path(tmp)
        source = snapshot(scratch / "src")
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", scratch / "dist", source)
        [wheel] = (scratch / "dist").glob("parley-*.whl")
        with ThreadPoolExecutor(len(CHECKS)) as pool:
            for line in pool.map(lambda extra: check(extra, wheel, scratch), CHECKS):
                print(line)
    print(f"extras checked in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
