"""Password hashing with the standard library's scrypt (memory-hard), constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# n=2**14, r=8 uses 16 MiB and ~50 ms: OWASP's minimum for scrypt, fitting a 256 MB Lambda.
_N, _R, _P, _LEN = 2**14, 8, 1, 32
_SCHEME = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=64 * 1024 * 1024
    )


def hash_password(password: str) -> str:
    """A self-describing hash: `scrypt$n$r$p$salt$key` (parameters stored for future upgrades)."""
    salt = os.urandom(16)
    key = _derive(password, salt, _N, _R, _P, _LEN)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


# Checked against when the user does not exist, so unknown users cost the same time.
DUMMY_HASH = f"{_SCHEME}${_N}${_R}${_P}${_b64(b'parley-dummy-salt')}${_b64(b'0' * _LEN)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; always runs the full KDF."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = _unb64(key)
        actual = _derive(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
