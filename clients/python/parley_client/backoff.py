"""Jittered exponential backoff."""

from __future__ import annotations

import random

_MAX_EXPONENT = 32


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): uniform in ``[0, min(cap, base * 2**attempt)]``.

    This is the "full jitter" schedule, which spreads a crowd of reconnecting clients
    evenly instead of letting them retry in waves.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * 2 ** min(attempt, _MAX_EXPONENT))
    return (rng or random).uniform(0.0, max(0.0, ceiling))
