"""Entry point of `python -m parley_local` and the `parley-local` console script.

Kept import-free on purpose: spawned worker processes import the parent's main module,
and must not pay for the gateways' imports.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from parley_local.cli import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
