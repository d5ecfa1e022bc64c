"""`python -m parley_soak`: see :mod:`parley_soak.cli`."""

import os

# Quiet, local-only defaults before any Parley module is imported by the local cloud.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from parley_soak.cli import main

raise SystemExit(main())
