"""Login latency with Argon2id (issue 15), and the auth function's memory size.

A login's time is almost all the password hash: Argon2id at OWASP's parameters (19 MiB,
t=2, p=1) is CPU-bound on one thread, and Lambda gives a function `MemorySize / 1769` of a
vCPU. This runs the real `AuthService.login` over the in-memory repositories (the hash,
the limiter's counters, the session and the tokens, with no network) to measure the CPU a
login takes on one full core here, then models each memory size: CPU / vCPU share plus the
login's sequential DynamoDB round trips. A first login with a legacy scrypt hash also pays
one Argon2id hash (the rehash); that case is measured too.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any

MEMORY_SIZES_MB = (256, 512, 1024, 1769)
# Before the password check: the account's and the address's counters (2 conditional
# writes) and the user's item; after it: both refunds, then the session's put.
LOGIN_ROUND_TRIPS = 6
TARGET_MS = 150.0
# Room for a Lambda (Graviton) core slower than this machine's and for a busy host: the
# memory size is chosen with the login's CPU counted this many times.
CPU_MARGIN = 1.5
PASSWORD = "correct horse battery"  # noqa: S105 - the benchmark account's password


def _cpu_ms(action: Callable[[], object], runs: int) -> float:
    """The fastest of `runs`: on a small shared machine the minimum is the best estimate
    of the CPU an action needs (every slower run waited for the other tenants)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def _legacy_scrypt(password: str) -> str:
    salt = b"parley-bench-salt"
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"scrypt$16384$8$1${b64(salt)}${b64(key)}"


def measure(runs: int, memory_of_auth: int, round_trip_ms: float) -> dict[str, Any]:
    """The CPU of a login (and of its parts) on one core here, and the modeled latency and
    Lambda cost of a login at each memory size."""
    from parley import passwords, tokens
    from parley.services.auth import AuthService
    from parley.services.limits import RateLimiter
    from parley_memory import Limits, Sessions, Store, Users

    from parley_bench.prices import PRICES
    from parley_bench.sdkcpu import vcpu_share

    store = Store()
    clock = _Clock()
    users = Users(store)
    auth = AuthService(
        users=users,
        sessions=Sessions(store),
        keys=lambda: tokens.Keys.from_secret("bench"),
        clock=clock,
        issuer="parley",
        audience="parley-clients",
        access_ttl=900,
        refresh_ttl=3600,
        limiter=RateLimiter(
            limits=Limits(store),
            clock=clock,
            frames_per_second=50,
            frame_burst=100,
            sends_per_minute=600,
            failed_logins=10**9,
            connects_per_minute=60,
            window_seconds=60,
            failed_logins_per_account=10**9,
        ),
    )
    users.create("alice", passwords.hash_password(PASSWORD), "Alice", 0)
    stored = passwords.hash_password(PASSWORD)
    legacy = _legacy_scrypt(PASSWORD)

    def first_login_of_a_legacy_account() -> None:
        # Back to the scrypt hash each time: the login verifies it, then stores Argon2id.
        user = users.get("bob")
        users.replace_password_hash("bob", user.get("passwordHash", "") if user else "", legacy)
        auth.login("bob", PASSWORD)

    users.create("bob", legacy, "Bob", 0)
    cpu = {
        "verify_ms": _cpu_ms(lambda: passwords.verify_password(PASSWORD, stored), runs),
        "hash_ms": _cpu_ms(lambda: passwords.hash_password(PASSWORD), runs),
        "scrypt_verify_ms": _cpu_ms(lambda: passwords.verify_password(PASSWORD, legacy), runs),
        "login_ms": _cpu_ms(lambda: auth.login("alice", PASSWORD), runs),
        "wrong_password_ms": _cpu_ms(_wrong(auth), runs),
        "legacy_login_ms": _cpu_ms(first_login_of_a_legacy_account, runs),
    }
    waits_ms = LOGIN_ROUND_TRIPS * round_trip_ms
    sizes = []
    for memory in sorted({*MEMORY_SIZES_MB, memory_of_auth}):
        share = vcpu_share(memory)
        latency = cpu["login_ms"] / share + waits_ms
        sizes.append(
            {
                "memory_mb": memory,
                "vcpu_share": share,
                "login_ms": latency,
                "legacy_login_ms": cpu["legacy_login_ms"] / share + waits_ms,
                "cost_per_million": memory / 1024 * latency / 1000 * PRICES.lambda_gb_second * 1e6,
            }
        )
    fitting = [
        s["memory_mb"]
        for s in sizes
        if cpu["login_ms"] * CPU_MARGIN / s["vcpu_share"] + waits_ms <= TARGET_MS
    ]
    return {
        "runs": runs,
        "target_ms": TARGET_MS,
        "cpu_margin": CPU_MARGIN,
        "smallest_fitting_mb": min(fitting) if fitting else None,
        "parameters": {
            "memory_kib": passwords.MEMORY_KIB,
            "time_cost": passwords.TIME_COST,
            "parallelism": passwords.PARALLELISM,
        },
        "cpu": cpu,
        "round_trips": LOGIN_ROUND_TRIPS,
        "round_trip_ms": round_trip_ms,
        "auth_memory_mb": memory_of_auth,
        "sizes": sizes,
    }


class _Clock:
    """Real time (tokens are checked against it), in milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def _wrong(auth: Any) -> Callable[[], None]:
    from parley.errors import Unauthenticated

    def attempt() -> None:
        try:
            auth.login("alice", "not the password")
        except Unauthenticated:
            return

    return attempt
