"""``python -m parley_client`` runs the ``parley`` CLI."""

import sys

from .cli import main

sys.exit(main())
