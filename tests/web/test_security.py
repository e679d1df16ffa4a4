"""The rate limiter, the CSP's LiveKit origins and the client address, in isolation."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from bot.web.security import (
    Rate,
    RateLimiter,
    client_address,
    content_security_policy,
    livekit_connect_sources,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(Rate(3, 60), clock=clock)

    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(20.0)
    assert limiter.acquire("b") == 0.0  # addresses are independent

    clock.now += 20
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_refused_requests_do_not_dig_the_hole_deeper():
    clock = Clock()
    limiter = RateLimiter(Rate(1, 10), clock=clock)
    limiter.acquire("a")

    waits = [limiter.acquire("a") for _ in range(50)]

    assert max(waits) == pytest.approx(10.0)
    clock.now += 10
    assert limiter.acquire("a") == 0.0


def test_memory_is_bounded_by_forgetting_the_least_recent_address():
    clock = Clock()
    limiter = RateLimiter(Rate(1, 60), max_addresses=3, clock=clock)

    for address in ("a", "b", "c"):
        limiter.acquire(address)
    limiter.acquire("a")  # a is now the most recent
    for index in range(1000):
        limiter.acquire(f"spray-{index}")
        assert len(limiter) <= 3

    assert len(limiter) == 3


def test_rate_must_be_positive():
    with pytest.raises(ValueError, match="at least one"):
        Rate(0, 60)


def test_livekit_origins_are_allowed_under_both_schemes():
    assert livekit_connect_sources(["wss://rtc.example.org", "ws://127.0.0.1:7880/"]) == [
        "wss://rtc.example.org",
        "https://rtc.example.org",
        "ws://127.0.0.1:7880",
        "http://127.0.0.1:7880",
    ]
    assert livekit_connect_sources(["https://*.livekit.cloud"]) == [
        "https://*.livekit.cloud",
        "wss://*.livekit.cloud",
    ]


@pytest.mark.parametrize(
    "origin",
    [
        "wss://x.example; script-src *",
        "wss://x.example/path",
        "ftp://x.example",
        "*",
        "wss://",
        "x.example",
    ],
)
def test_anything_but_a_plain_origin_is_refused(origin):
    with pytest.raises(ValueError, match="not a LiveKit origin"):
        content_security_policy([origin])


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("not-an-ip", "unknown"),
    ],
)
def test_client_address_groups_ipv6_by_64(remote, expected):
    request = make_mocked_request("GET", "/").clone(remote=remote)

    assert client_address(request, trust_forwarded_for=False) == expected


def test_forwarded_for_counts_only_when_trusted():
    request = make_mocked_request(
        "GET", "/", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.9"}
    ).clone(remote="127.0.0.1")

    assert client_address(request, trust_forwarded_for=False) == "127.0.0.1"
    assert client_address(request, trust_forwarded_for=True) == "203.0.113.9"
