"""`parley.passwords`: Argon2id hashes (OWASP parameters), legacy scrypt hashes still
verified and flagged for rehash, the dummy hash."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from parley import passwords


def legacy_scrypt(password: str, n: int = 2**14) -> str:
    """A hash as releases before Argon2id stored it: `scrypt$n$r$p$salt$key`."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"scrypt${n}$8$1${b64(salt)}${b64(key)}"


@pytest.fixture(scope="module")
def stored() -> str:
    return passwords.hash_password("correct horse battery staple")


def test_hash_then_verify(stored: str) -> None:
    # GIVEN a stored hash of a password
    # WHEN the same password is checked
    # THEN it verifies
    assert passwords.verify_password("correct horse battery staple", stored)


def test_wrong_password_does_not_verify(stored: str) -> None:
    # GIVEN a stored hash
    # WHEN a different (even nearly equal) password is checked
    # THEN it does not verify
    for wrong in ("correct horse battery stapl", "Correct horse battery staple", ""):
        assert not passwords.verify_password(wrong, stored)


def test_hash_is_argon2id_with_owasp_parameters_and_salted(stored: str) -> None:
    # GIVEN two hashes of the same password
    # WHEN they are inspected
    # THEN each is an Argon2id PHC string with m=19 MiB, t=2, p=1, and the salts differ
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    again = passwords.hash_password("correct horse battery staple")
    assert again != stored
    assert again.split("$")[4] != stored.split("$")[4]
    assert "correct horse" not in stored
    assert not passwords.needs_rehash(stored)


def test_legacy_scrypt_hashes_still_verify_and_need_a_rehash() -> None:
    # GIVEN a hash stored by an older release (scrypt, n=2^14)
    legacy = legacy_scrypt("old password here")
    # WHEN it is checked
    # THEN the right password verifies, a wrong one does not, and it is flagged for rehash
    assert passwords.verify_password("old password here", legacy)
    assert not passwords.verify_password("old password her", legacy)
    assert passwords.needs_rehash(legacy)


def test_argon2id_hashes_with_weaker_parameters_need_a_rehash() -> None:
    # GIVEN an Argon2id hash made with lower costs than today's
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw pw pw pw")
    # WHEN checked
    # THEN it verifies but is flagged, like a malformed Argon2id string
    assert passwords.verify_password("pw pw pw pw", weak)
    assert passwords.needs_rehash(weak)
    assert passwords.needs_rehash("$argon2id$garbage")


def test_unicode_passwords_roundtrip() -> None:
    # GIVEN a password with non-ASCII characters
    # WHEN it is hashed and verified
    # THEN it verifies, and its NFC/NFD twin (different code points) does not
    stored = passwords.hash_password("pässwörd-中文-😀")
    assert passwords.verify_password("pässwörd-中文-😀", stored)
    assert not passwords.verify_password("pa\u0308sswörd-中文-😀", stored)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "scrypt$16384$8$1$salt",  # five fields
        "scrypt$16384$8$1$c2FsdA$a2V5$extra",  # seven fields
        "bcrypt$16384$8$1$c2FsdA$a2V5",  # another scheme
        "scrypt$abc$8$1$c2FsdA$a2V5",  # n not a number
        "scrypt$16384$x$1$c2FsdA$a2V5",
        "scrypt$16383$8$1$c2FsdA$a2V5",  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdA$a2V5",  # over the memory bound
        "scrypt$16384$8$1$c2FsdA$",  # empty key
        "scrypt$16384$8$1$!!!$a2V5",  # salt not base64
        "scrypt$16384$8$1$c2FsdA$a",  # key not base64
        "scrypt$-2$8$1$c2FsdA$a2V5",
    ],
)
def test_malformed_stored_hash_never_verifies(bad: str) -> None:
    # GIVEN a stored value that is not a well-formed hash
    # WHEN any password is checked against it
    # THEN the answer is False, never an exception
    assert passwords.verify_password("password", bad) is False


@pytest.mark.parametrize("password", ["", "password", "0" * 32, "parley-dummy-password"])
def test_dummy_hash_never_verifies(password: str) -> None:
    # GIVEN the dummy hash used for unknown users
    # WHEN plausible passwords are checked
    # THEN none verifies
    assert passwords.verify_password(password, passwords.DUMMY_HASH) is False


def test_dummy_hash_costs_what_a_real_hash_costs() -> None:
    # GIVEN the dummy hash
    # THEN it is an Argon2id hash with today's parameters (so the KDF runs at full cost)
    assert passwords.DUMMY_HASH.startswith("$argon2id$")
    assert not passwords.needs_rehash(passwords.DUMMY_HASH)


@pytest.mark.parametrize("bad", ["$argon2id$v=19$m=19456,t=2,p=1$bad", "$argon2i$x", None])
def test_malformed_argon2_values_never_verify(bad: object) -> None:
    assert passwords.verify_password("password", bad) is False  # type: ignore[arg-type]


_COLD_START = """
import importlib.util, sys, time
for name in ("authorizer", "ws_send", "ws_live", "ws_sync"):
    spec = importlib.util.spec_from_file_location(name, f"functions/{name}/app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
from parley import tokens
from parley.services.auth import AuthService
from parley.services.guard import WsGuard
from parley_memory import Sessions, Store, Users

store = Store()
keys = tokens.Keys.from_secret("s")
auth = AuthService(users=Users(store), sessions=Sessions(store), keys=lambda: keys,
                   clock=type("C", (), {"now_ms": lambda self: int(time.time() * 1000)})(),
                   issuer="parley", audience="parley-clients", access_ttl=900, refresh_ttl=3600)
Sessions(store).create("s1", "alice", int(time.time()), int(time.time()) + 3600)
token = tokens.issue_access_token(keys, user_id="alice", session_id="s1", now=int(time.time()),
                                  ttl=900, issuer="parley", audience="parley-clients")
auth.authenticate(token)
print("argon2" in sys.modules)
"""


def test_functions_that_never_hash_never_load_argon2() -> None:
    # GIVEN the authorizer and the WebSocket handlers, loaded as Lambda loads them
    # WHEN a token is verified against its login, as each of them does
    # THEN argon2 (and its native library) was never imported: only hashing loads it
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _COLD_START], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
