"""Response headers and a per-address rate limit for the join routes.

A join link carries a one-time code in its path and the page it opens uses the microphone,
so every response under the join prefixes goes out with headers that keep the page from
being framed, cached, leaking its address through a Referer, or running any script that
this server did not send. The rate limit keeps anyone from guessing codes or hammering
Runway through the credentials route.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

# A LiveKit server address as an operator writes it: scheme, host (optionally a leading
# wildcard label, which CSP understands) and port. Anything else could smuggle a directive.
_ORIGIN = re.compile(r"^(?P<scheme>wss?|https?)://(?P<host>(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)/?$")
# livekit-client opens the signalling websocket and, when that fails, asks the same server
# over http(s) why (`/rtc/validate`), so each origin is allowed under both schemes.
_PAIRED_SCHEME = {"wss": "https", "https": "wss", "ws": "http", "http": "ws"}


def livekit_connect_sources(origins: Iterable[str]) -> list[str]:
    """The CSP `connect-src` entries for the configured LiveKit servers.

    Raises ValueError for anything that is not a plain origin, so a typo fails at start-up
    instead of producing a policy that blocks every call.
    """
    sources: list[str] = []
    for origin in origins:
        match = _ORIGIN.match(origin.strip())
        if match is None:
            raise ValueError(f"not a LiveKit origin (scheme://host[:port]): {origin!r}")
        scheme, host = match["scheme"], match["host"].lower()
        for candidate in (f"{scheme}://{host}", f"{_PAIRED_SCHEME[scheme]}://{host}"):
            if candidate not in sources:
                sources.append(candidate)
    return sources


def content_security_policy(livekit_origins: Sequence[str]) -> str:
    """The policy for join pages: only this server's files, and talk only to it and LiveKit."""
    connect = " ".join(["'self'", *livekit_connect_sources(livekit_origins)])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob: mediastream:",
            f"connect-src {connect}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def security_headers(csp: str, prefixes: tuple[str, ...]) -> Middleware:
    """A middleware that adds the join headers to every response under `prefixes`.

    It matches on the path rather than on registered routes so that the 404 and 405 answers
    aiohttp gives for near-miss join URLs carry the same headers. A handler that sets its
    own Cache-Control (the cacheable vendor script) keeps it; everything else is no-store.
    """
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "microphone=(self), camera=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "X-Robots-Tag": "noindex, nofollow",
    }

    def decorate(response: web.StreamResponse) -> None:
        response.headers.update(headers)
        response.headers.setdefault("Cache-Control", "no-store")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(prefixes):
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as error:
            decorate(error)
            raise
        decorate(response)
        return response

    return middleware


@dataclass(frozen=True, slots=True)
class Rate:
    """`requests` per `per_seconds`, with bursts up to `requests`."""

    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate needs at least one request per positive period")


@dataclass(frozen=True, slots=True)
class JoinRateLimits:
    """Per-address limits for the join routes.

    The page (and its avatar picture) allows reloads; credentials and end reports are asked
    for once per call, so a few tries cover a flaky connection while guessing stays hopeless.
    `trust_forwarded_for` is for deployments behind a reverse proxy on this machine: without
    it every member would share the proxy's address and its bucket.
    """

    page: Rate = Rate(30, 60.0)
    credentials: Rate = Rate(10, 60.0)
    ended: Rate = Rate(10, 60.0)
    picture: Rate = Rate(30, 60.0)
    max_addresses: int = 10_000
    trust_forwarded_for: bool = False


DEFAULT_RATE_LIMITS = JoinRateLimits()


class RateLimiter:
    """A token bucket per client address, holding at most `max_addresses` buckets.

    The least recently seen address is forgotten first, so memory stays bounded whatever
    the number of clients; a forgotten address merely starts again with a full bucket.
    """

    def __init__(
        self,
        rate: Rate,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(rate.requests)
        self._refill_per_second = rate.requests / rate.per_seconds
        self._max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, address: str) -> float:
        """Take one token for `address`: 0.0 when allowed, else seconds until a token is due."""
        now = self._clock()
        tokens, last = self._buckets.pop(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._refill_per_second
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self._max_addresses:
            self._buckets.popitem(last=False)
        return wait


def client_address(request: web.Request, *, trust_forwarded_for: bool) -> str:
    """The key a client is rate limited under.

    IPv6 clients usually own a whole /64, so they are grouped by it; otherwise one person
    could rotate through addresses. With `trust_forwarded_for`, the right-most
    X-Forwarded-For entry (the one the local proxy appended) is used.
    """
    raw = request.remote or ""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded.strip():
            raw = forwarded.split(",")[-1].strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
