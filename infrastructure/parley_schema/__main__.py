"""`python -m parley_schema`: write the protocol documents (`make schema`), or `--check` them.

Usage: `python -m parley_schema [--check] [--out docs/schema]`. With `--check` nothing is
written; the exit status is 1 and the stale files are named when a committed document
differs from what the models generate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley_schema.http import build_openapi
from parley_schema.ws import build_asyncapi

DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "asyncapi.json": build_asyncapi,
    "openapi.json": build_openapi,
}


def render(document: dict[str, Any]) -> str:
    """The committed text of a document: indented JSON, UTF-8, one final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale(out: Path) -> list[Path]:
    """The documents under `out` that differ from what the models generate."""
    return [
        out / name
        for name, build in DOCUMENTS.items()
        if not (out / name).is_file() or (out / name).read_text() != render(build())
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or check) every document; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m parley_schema", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/schema"))
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        different = stale(args.out)
        for path in different:
            print(f"{path} is stale: run `make schema`", file=sys.stderr)
        return 1 if different else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in DOCUMENTS.items():
        (args.out / name).write_text(render(build()))
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
