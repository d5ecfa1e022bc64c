"""Password hashing: Argon2id (argon2-cffi) with OWASP's parameters; scrypt hashes of older
releases are still verified, and :func:`needs_rehash` tells the login to upgrade them.

argon2 is imported on first use, not with this module: only the functions that hash (the
auth function) pay for loading it, never the authorizer or the WebSocket routes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

# OWASP Password Storage Cheat Sheet, Argon2id's first configuration: m=19 MiB, t=2, p=1.
# One hash takes ~50 ms on one vCPU; docs/benchmarks.md measures it at the auth function's
# memory size (Lambda's CPU share grows with memory).
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
_SALT_LEN, _HASH_LEN = 16, 32
_ARGON2 = "$argon2id$"

# Older releases stored `scrypt$n$r$p$salt$key`: verified, then rehashed at the next login.
_SCRYPT = "scrypt"
_SCRYPT_MAX_N = 2**20

# Checked against when the user does not exist (or has no password), so unknown users cost
# the same time as known ones. A real hash of a random password, with the current parameters.
DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$FPfIcrI9N9wXJAd72vLgnA"
    "$XTFhWYoKfR0/VpZl1rA4boNGMpDra8Z3++AdT/93LFs"
)


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=TIME_COST,
        memory_cost=MEMORY_KIB,
        parallelism=PARALLELISM,
        hash_len=_HASH_LEN,
        salt_len=_SALT_LEN,
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """A self-describing Argon2id hash (PHC string: parameters, salt and key)."""
    return _hasher().hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (Argon2id, or a legacy scrypt hash); always runs
    the full KDF for a well-formed hash."""
    if not isinstance(stored, str):
        return False
    if stored.startswith(_ARGON2):
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return _hasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(password, stored)


def needs_rehash(stored: str) -> bool:
    """True when `stored` is not Argon2id with today's parameters (scrypt, or older costs):
    the login that just verified it stores a fresh hash."""
    if not stored.startswith(_ARGON2):
        return True
    from argon2.exceptions import InvalidHashError

    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != _SCRYPT or not 2 <= int(n) <= _SCRYPT_MAX_N:
            return False
        expected = _unb64(key)
        actual = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
