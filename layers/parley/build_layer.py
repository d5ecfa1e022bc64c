"""Build the shared layer without the packages the Lambda runtime already has.

`sam build` runs this through `layers/parley/Makefile` (`BuildMethod: makefile`). SAM's
own Python builder installs every transitive dependency, so aws-xray-sdk brought botocore
(30 MB) into the layer, where it shadowed the runtime's botocore (the one the runtime's
boto3 is pinned to) and every cold start paid for it. Here pip resolves the requirements
for the runtime's platform, then installs the resolved versions minus `RUNTIME_PROVIDED`,
with `--no-deps` so nothing brings them back.

Output: `<target>/` (the layer's `python/` directory) holding the dependencies and the
`parley` package, each module with the bytecode the runtime loads. Any Python 3 with pip
runs this script; the bytecode needs the runtime's Python (`--runtime-python`, by default
`python3.13` on the PATH, which `sam build` already needs for the functions). Without it the
build fails, unless `--source-only` says to ship source only, which every cold start then
compiles.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The python3.13 runtime's SDK and its dependency closure (`/var/runtime`).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
)

# template.yaml: Runtime python3.13, Architectures arm64 (Amazon Linux 2023, glibc 2.34).
PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
# Where Lambda mounts a layer's python/: the file names the bytecode records, for tracebacks.
LAYER_PATH = "/opt/python"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (`Python_Dateutil` == `python-dateutil`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(*args: str) -> None:
    target = [f"--platform={p}" for p in PLATFORMS]
    target += ["--implementation=cp", f"--python-version={PYTHON_VERSION}"]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # pip, with this script's own arguments and the pins it resolved
    subprocess.run([*command, "--only-binary=:all:", *target, *args], check=True)  # noqa: S603


def resolve(requirements: Path) -> dict[str, str]:
    """Every distribution the requirements need for the runtime: {name: version}."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        _pip("--dry-run", "--ignore-installed", f"--report={report}", "-r", str(requirements))
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}


def python_version(python: str) -> str | None:
    """The `major.minor` of the interpreter `python` runs, or None if it does not run."""
    try:
        # the interpreter the caller named, asked for its version only
        result = subprocess.run(  # noqa: S603
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def require_runtime_python(python: str) -> None:
    """Stop the build, before pip runs, unless `python` is the runtime's Python."""
    version = python_version(python)
    if version != PYTHON_VERSION:
        found = f"Python {version}" if version else "nothing that runs"
        raise SystemExit(
            f"{python!r} is {found}: the layer's bytecode needs Python {PYTHON_VERSION}, the"
            f" runtime's (bytecode of another version is ignored). Put python{PYTHON_VERSION}"
            " on the PATH, name one with RUNTIME_PYTHON=..., or build with SOURCE_ONLY=1 to"
            " ship a layer every cold start compiles."
        )


def compile_bytecode(python: str, target: Path) -> None:
    """Write `__pycache__/*.cpython-313.pyc` beside every module in `target`.

    Without them every cold start compiles Powertools, pyjwt and Parley from source: the
    layer is read-only, so nothing it compiles is kept for the next cold start.
    """
    command = [python, "-m", "compileall", "-q", str(target)]
    # unchecked-hash: a pyc's header records how the runtime validates it (PEP 552). The
    # default, a timestamp pyc, holds the source's mtime and size; a zip does not keep
    # mtimes reliably, and a pyc whose mtime does not match the source's is stale to the
    # import system, which then compiles the source on every cold start, without a word.
    # An unchecked-hash pyc is used as it is: the layer's source and bytecode only ever
    # change together, in a new build.
    command += ["--invalidation-mode", "unchecked-hash"]
    # -o 0: the runtime runs without -O, so it loads only the untagged pyc (an `.opt-1` or
    # `.opt-2` one would be ignored), and the asserts and docstrings stay (pydantic makes a
    # schema's descriptions from docstrings).
    command += ["-o", "0"]
    # Record each file as it is on Lambda, not as it was in the build's directory.
    command += ["-s", str(target), "-p", LAYER_PATH]
    # A fixed hash seed: the same source gives the same bytecode (set constants' order).
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, check=True, env=env)  # noqa: S603


def build(requirements: Path, source: Path, target: Path, runtime_python: str | None) -> list[str]:
    """Install the layer into `target`; the `name==version` pins it holds.

    `runtime_python` compiles it; None ships source only.
    """
    if runtime_python is not None:
        require_runtime_python(runtime_python)
    resolved = resolve(requirements)
    pins = sorted(
        f"{name}=={version}"
        for name, version in resolved.items()
        if canonical(name) not in RUNTIME_PROVIDED
    )
    target.mkdir(parents=True, exist_ok=True)
    # --no-compile: pip would write bytecode for the Python running pip, not the runtime's.
    _pip("--no-deps", "--no-compile", "--upgrade", f"--target={target}", *pins)
    shutil.copytree(
        source,
        target / source.name,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    if runtime_python is None:
        print(
            "WARNING: source only (SOURCE_ONLY): the layer ships no bytecode, so every cold"
            " start compiles Powertools, pyjwt and Parley from source.",
            file=sys.stderr,
        )
    else:
        compile_bytecode(runtime_python, target)
    return pins


def main(argv: list[str] | None = None) -> None:
    """Command line: `build_layer.py --target DIR` (the Makefile passes SAM's ARTIFACTS_DIR)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", type=Path, required=True, help="the layer's python/ dir")
    parser.add_argument("--requirements", type=Path, default=HERE / "requirements.txt")
    parser.add_argument("--source", type=Path, default=HERE / "parley")
    parser.add_argument(
        "--runtime-python",
        default=f"python{PYTHON_VERSION}",
        help=f"the Python {PYTHON_VERSION} that compiles the layer's bytecode",
    )
    parser.add_argument(
        "--source-only", action="store_true", help="ship no bytecode (cold starts compile it)"
    )
    args = parser.parse_args(argv)
    runtime_python = None if args.source_only else args.runtime_python
    pins = build(args.requirements, args.source, args.target, runtime_python)
    print(f"layer: {len(pins)} distributions and {args.source.name}/ in {args.target}")


if __name__ == "__main__":
    main()
