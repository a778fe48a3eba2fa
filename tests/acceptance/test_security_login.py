"""The login limiter (issue 14): per account from any address, per address over any
accounts (spraying), X-Forwarded-For believed only from trusted proxies, and unknown
e-mails costing a password check like known ones."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from kernel.clock import ManualClock
from web import security
from web.security import LoginLimiter, client_address, hash_password, verify_or_waste


def limiter() -> tuple[LoginLimiter, ManualClock]:
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))
    return LoginLimiter(clock.now), clock


def test_one_pair_is_blocked_after_five_failures() -> None:
    lim, clock = limiter()
    for _ in range(5):
        assert lim.wait("a@x.vn", "10.0.0.1") is None
        lim.failed("a@x.vn", "10.0.0.1")
    assert lim.wait("a@x.vn", "10.0.0.1") is not None
    assert lim.wait("b@x.vn", "10.0.0.1") is None
    clock.advance(timedelta(minutes=16))
    assert lim.wait("a@x.vn", "10.0.0.1") is None


def test_an_account_is_locked_whatever_the_addresses() -> None:
    lim, _clock = limiter()
    locked = [lim.failed("a@x.vn", f"10.0.{i}.1") for i in range(20)]
    assert locked == [False] * 19 + [True]  # told once, when it locks
    assert lim.wait("a@x.vn", "192.168.1.1") is not None


def test_spraying_from_one_address_is_limited() -> None:
    lim, _clock = limiter()
    for i in range(30):
        assert lim.wait(f"user{i}@x.vn", "10.0.0.9") is None
        lim.failed(f"user{i}@x.vn", "10.0.0.9")
    assert lim.wait("someone-else@x.vn", "10.0.0.9") is not None
    assert lim.wait("someone-else@x.vn", "10.0.0.10") is None


def test_forwarded_for_only_from_trusted_proxies() -> None:
    assert client_address("203.0.113.5", "1.2.3.4", []) == "203.0.113.5"
    assert client_address("10.0.0.2", "1.2.3.4", ["10.0.0.2"]) == "1.2.3.4"
    # a client's own forged entries come first; the proxy appends the real address
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4", ["10.0.0.2"]) == "1.2.3.4"
    assert client_address("10.0.0.2", "1.2.3.4, 10.0.0.3", ["10.0.0.2", "10.0.0.3"]) == "1.2.3.4"
    assert client_address(None, None, []) == "-"


def test_unknown_emails_take_as_long_as_known_ones() -> None:
    security.configure_passwords(type("W", (), {"password_time_cost": 2,
                                                "password_memory_kib": 16384})())
    stored = hash_password("mat-khau-that")
    verify_or_waste(None, "x")  # the dummy hash is made once

    def cost(stored_hash: str | None) -> float:
        start = time.perf_counter()
        for _ in range(5):
            verify_or_waste(stored_hash, "sai-mat-khau")
        return time.perf_counter() - start

    known, unknown = cost(stored), cost(None)
    assert 0.5 < unknown / known < 2, (known, unknown)
