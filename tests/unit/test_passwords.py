"""`parley.passwords`: scrypt hashes, constant-time verification, the dummy hash."""

from __future__ import annotations

import pytest
from parley import passwords


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


def test_hash_is_self_describing_and_salted(stored: str) -> None:
    # GIVEN two hashes of the same password
    # WHEN they are inspected
    # THEN each is `scrypt$n$r$p$salt$key` with the OWASP parameters, and the salts differ
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert salt and key
    again = passwords.hash_password("correct horse battery staple")
    assert again != stored
    assert again.split("$")[4] != salt
    assert "correct horse" not in stored


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


@pytest.mark.parametrize("password", ["", "password", "0" * 32, "parley-dummy-salt"])
def test_dummy_hash_never_verifies(password: str) -> None:
    # GIVEN the dummy hash used for unknown users
    # WHEN plausible passwords (including the dummy key and salt) are checked
    # THEN none verifies
    assert passwords.verify_password(password, passwords.DUMMY_HASH) is False


def test_dummy_hash_is_well_formed_so_the_kdf_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the dummy hash
    # WHEN a password is checked against it
    # THEN the full KDF runs with the production parameters (same cost as a real user)
    seen: list[tuple[int, int, int]] = []
    real = passwords._derive

    def spy(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
        seen.append((n, r, p))
        return real(password, salt, n, r, p, length)

    monkeypatch.setattr(passwords, "_derive", spy)
    assert not passwords.verify_password("anything", passwords.DUMMY_HASH)
    assert seen == [(2**14, 8, 1)]
