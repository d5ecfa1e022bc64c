"""Build the shared layer without the packages the Lambda runtime already has.

`sam build` runs this through `layers/parley/Makefile` (`BuildMethod: makefile`). SAM's
own Python builder installs every transitive dependency, so aws-xray-sdk brought botocore
(30 MB) into the layer, where it shadowed the runtime's botocore (the one the runtime's
boto3 is pinned to) and every cold start paid for it. Here pip resolves the requirements
for the runtime's platform, then installs the resolved versions minus `RUNTIME_PROVIDED`,
with `--no-deps` so nothing brings them back.

Output: `<target>/` (the layer's `python/` directory) holding the dependencies and the
`parley` package. Only the standard library and pip are needed, so any Python 3 can build
the layer for the runtime's Python.
"""

from __future__ import annotations

import argparse
import json
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


def build(requirements: Path, source: Path, target: Path) -> list[str]:
    """Install the layer into `target`; the `name==version` pins it holds."""
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
    return pins


def main(argv: list[str] | None = None) -> None:
    """Command line: `build_layer.py --target DIR` (the Makefile passes SAM's ARTIFACTS_DIR)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", type=Path, required=True, help="the layer's python/ dir")
    parser.add_argument("--requirements", type=Path, default=HERE / "requirements.txt")
    parser.add_argument("--source", type=Path, default=HERE / "parley")
    args = parser.parse_args(argv)
    pins = build(args.requirements, args.source, args.target)
    print(f"layer: {len(pins)} distributions and {args.source.name}/ in {args.target}")


if __name__ == "__main__":
    main()
